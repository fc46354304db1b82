"""Linear probe: separable data is decoded almost perfectly, random labels stay at chance,
and the CLI aligns labels by id and prints the baseline side by side."""

import numpy as np
import pytest

from encoderkit.infer.cli import run
from encoderkit.cli import main
from encoderkit.infer.probe import probe


def test_separable_classes_reach_near_perfect_accuracy():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    centres = rng.normal(size=(3, 16)) * 4.0
    X = centres[y] + rng.normal(size=(120, 16))
    r = probe(X, y, "classification", folds=4)
    assert r.mean("accuracy") > 0.97
    assert r.mean("macro_f1") > 0.97
    assert r.scores["accuracy"].shape == (4,)


def test_random_labels_stay_at_chance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 8))
    y = rng.integers(0, 2, size=200)
    r = probe(X, y, "classification", folds=3)
    # chance is 0.5; 200 held-out predictions -> std of the mean accuracy ~0.035
    assert abs(r.mean("accuracy") - 0.5) < 0.1


def test_regression_matches_closed_form_linear_target():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 5))
    w = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    noise = 0.1
    y = X @ w + noise * rng.normal(size=150)
    r = probe(X, y, "regression", folds=5)
    # independent reference: R^2 = 1 - noise^2 / var(y), RMSE ~ noise
    expected_r2 = 1 - noise**2 / np.var(X @ w)
    assert r.mean("r2") == pytest.approx(expected_r2, abs=0.01)
    assert r.mean("rmse") == pytest.approx(noise, rel=0.3)


def test_bad_task_and_tiny_class_are_refused():
    X = np.zeros((10, 2))
    with pytest.raises(ValueError, match="'task' parameter"):
        probe(X, np.zeros(10), "clustering")
    with pytest.raises(ValueError, match="smallest class"):
        probe(np.random.default_rng(0).normal(size=(10, 2)), np.array([0] * 8 + [1] * 2), folds=5)


def test_cli_aligns_labels_by_id_and_prints_baseline(tmp_path, capsys):
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 30)
    X = (y[:, None] * 5.0 + rng.normal(size=(60, 4))).astype(np.float32)
    np.save(tmp_path / "emb.npy", X)
    ids = np.array([f"r{i}" for i in range(60)])
    np.save(tmp_path / "emb.ids.npy", ids)
    np.save(tmp_path / "base.npy", rng.normal(size=(60, 4)))
    order = rng.permutation(60)  # labels file in another order: must be aligned by id
    (tmp_path / "labels.csv").write_text("id,label\n" + "".join(f"{ids[i]},{y[i]}\n" for i in order))
    rc = run("probe", [f"embeddings={tmp_path / 'emb.npy'}", f"labels={tmp_path / 'labels.csv'}",
                       "task=classification", "folds=3", f"baseline={tmp_path / 'base.npy'}"])
    out = capsys.readouterr().out
    assert rc == 0
    rows = {line.split()[0]: float(line.split()[1]) for line in out.splitlines()
            if line.startswith(("embeddings", "baseline"))}
    assert rows["embeddings"] > 0.95
    assert rows["baseline"] < 0.8
    # errors are reported by encoderkit.cli.main: a missing parameter is a usage error (2)
    assert main(["probe", f"embeddings={tmp_path / 'emb.npy'}"]) == 2
    assert "missing required parameter labels" in capsys.readouterr().err
