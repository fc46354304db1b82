"""The UCR flow on the command line: a labelled archive file is ingested, fine-tuned on with
itself as ``task.labels``, and the test file is predicted and evaluated with itself as
labels (``.ts`` and UCR ``.tsv``, small hand-made files so it runs in seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit import cli

pytest.importorskip("aeon")

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.log_every=1", "train.progress=false", "data.max_tokens=512", "data.max_seqlen=64",
        "run.device=cpu"]


def _problem(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Sines and square waves of unequal lengths, a few values missing."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(n):
        t = np.arange(rng.integers(20, 40))
        wave = np.sin(t / 3.0 + rng.random())
        label = "Sine" if i % 2 else "Square"
        x = wave if label == "Sine" else np.sign(wave)
        x = x + 0.05 * rng.standard_normal(len(t))
        x[rng.integers(len(t))] = np.nan
        series.append(x)
        labels.append(label)
    return series, labels


def _cell(v: float) -> str:
    return "NaN" if np.isnan(v) else f"{v:.6f}"


def _write(path, kind: str, series: list[np.ndarray], labels: list[str]) -> None:
    if kind == "ts":
        lines = ["@problemName waves", "@timestamps false", "@missing true", "@univariate true",
                 "@equalLength false", "@classLabel true Sine Square", "@data"]
        lines += [",".join(_cell(v).replace("NaN", "?") for v in x) + f":{y}" for x, y in zip(series, labels)]
    else:  # UCR: numeric classes, padded with NaN to the longest series
        width = max(len(x) for x in series)
        lines = ["\t".join([str(["Square", "Sine"].index(y) + 1)] + [_cell(v) for v in x]
                           + ["NaN"] * (width - len(x))) for x, y in zip(series, labels)]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("kind", ["ts", "tsv"])
def test_ingest_finetune_predict_evaluate_on_archive_files(kind, tmp_path, capsys):
    from encoderkit.infer import load

    train, test = tmp_path / f"waves_TRAIN.{kind}", tmp_path / f"waves_TEST.{kind}"
    _write(train, kind, *_problem(16, seed=0))
    series, labels = _problem(6, seed=1)
    _write(test, kind, series, labels)
    truth = labels if kind == "ts" else [str(["Square", "Sine"].index(y) + 1) for y in labels]
    store = tmp_path / "store.zarr"
    assert cli.main(["ingest", "domain=timeseries", f"input={train}", f"output={store}"]) == 0
    ft = tmp_path / "ft"
    rc = cli.main(["finetune", "checkpoint=none", "domain=timeseries", f"data.store={store}",
                   "task.type=classification", f"task.labels={train}", f"run.dir={ft}", "task.ensemble=1",
                   "train.steps=3", "train.eval_every=3", "train.checkpoint_every=0", *TINY])
    assert rc == 0, capsys.readouterr().err
    assert "accuracy" in capsys.readouterr().out

    preds = tmp_path / "preds.csv"
    assert cli.main(["predict", f"checkpoint={ft}", f"input={test}", f"output={preds}"]) == 0
    frame = pd.read_csv(preds, dtype={"prediction": str})
    assert frame["id"].tolist() == [f"{test.name}[{i}]" for i in range(len(series))]
    assert set(frame["prediction"]) <= set(truth)

    # evaluate: the test file is its own labels, named or by default
    for extra in ([f"labels={test}"], []):
        assert cli.main(["evaluate", f"checkpoint={ft}", f"input={test}", *extra]) == 0
        assert "accuracy" in capsys.readouterr().out
    metrics = load(ft).evaluate(str(test), str(test), verbose=False)
    # from Python too the file is its own labels (was "evaluate needs labels")
    assert load(ft).evaluate(str(test), verbose=False) == metrics
    assert metrics["records"] == len(series)
    assert metrics["accuracy"] == pytest.approx(np.mean(frame["prediction"].to_numpy() == np.asarray(truth)))


def test_a_ts_file_without_labels_as_labels_is_one_line(tmp_path, capsys):
    series, _ = _problem(4, seed=2)
    bare = tmp_path / "bare.ts"
    bare.write_text("@problemName b\n@univariate true\n@equalLength false\n@classLabel false\n@data\n"
                    + "".join(",".join(_cell(v).replace("NaN", "?") for v in x) + "\n" for x in series))
    store = tmp_path / "store.zarr"
    assert cli.main(["ingest", "domain=timeseries", f"input={bare}", f"output={store}"]) == 0
    capsys.readouterr()
    rc = cli.main(["finetune", "checkpoint=none", "domain=timeseries", f"data.store={store}",
                   "task.type=classification", f"task.labels={bare}", f"run.dir={tmp_path / 'ft'}",
                   "train.steps=2", *TINY])
    err = capsys.readouterr().err
    assert rc == 1 and "bare.ts: holds no labels" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
