"""``task.ensemble``: members under ``members/<i>`` with seeds ``run.seed + i``; the run
predicts the mean of its members' probabilities (values in original units for regression),
checked against each member loaded alone and averaged with numpy; evaluate scores that mean
(scikit-learn); a rerun trains only the missing members; the auto rule; refusals."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml

import encoderkit
from conftest import ft_overrides
from encoderkit.errors import DataError
from encoderkit.tasks import ensemble as E
from encoderkit.tasks import finetune
from encoderkit.train.config import ConfigError, compose_finetune


def _member_runs(run):
    return [run, *(run / E.MEMBERS_DIR / str(i) for i in range(1, 3))]


@pytest.fixture(scope="module")
def three_members(labelled_store, tmp_path_factory):
    store, ids, y, labels = labelled_store
    run = tmp_path_factory.mktemp("ens") / "run"
    overrides = ft_overrides(store, str(run), str(labels), steps=8, **{
        "task.ensemble": 3, "run.seed": 4, "train.eval_every": 4, "task.val_fraction": 0.25})
    finetune(overrides)
    return run, overrides


def test_members_have_their_own_seed_and_the_manifest_lists_them(three_members):
    run, _ = three_members
    manifest = json.loads((run / E.MANIFEST).read_text())
    assert manifest["members"] == ["members/1", "members/2"] and manifest["seeds"] == [4, 5, 6]
    splits = []
    for i, member in enumerate(_member_runs(run)):
        cfg = yaml.safe_load((member / "config.yaml").read_text())
        assert cfg["run"]["seed"] == 4 + i and cfg["run"]["dir"] == str(member)
        assert (member / "best" / "model.safetensors").is_file()
        splits.append(json.loads((member / "split.json").read_text()))
    assert splits[0] == splits[1] == splits[2]  # one validation split (task.seed), not one per member


def test_predictions_are_the_mean_of_the_members_probabilities(three_members, labelled_store):
    from sklearn.metrics import accuracy_score, f1_score

    run, _ = three_members
    store, ids, y, labels = labelled_store
    alone = [encoderkit.load(m / "best" if m == run else m).predict(store) for m in _member_runs(run)]
    assert all(len(a.members) == 0 for a in [encoderkit.load(run / "best")])
    proba = np.mean([a[["proba_0", "proba_1"]].to_numpy() for a in alone], axis=0)
    model = encoderkit.load(run)
    assert len(model.members) == 2 and "members=3" in repr(model)
    got = model.predict(store)
    np.testing.assert_allclose(got[["proba_0", "proba_1"]].to_numpy(), proba, atol=1e-6)
    assert (got["prediction"].astype(int).to_numpy() == proba.argmax(1)).all()
    # the members differ (else the test would not see an average)
    assert np.abs(alone[0]["proba_1"].to_numpy() - alone[1]["proba_1"].to_numpy()).max() > 1e-4
    metrics = model.evaluate(store, labels, verbose=False)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, proba.argmax(1)))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y, proba.argmax(1), average="macro"))


def test_embed_uses_the_first_member(three_members, labelled_store):
    run, _ = three_members
    store = labelled_store[0]
    np.testing.assert_array_equal(encoderkit.load(run).embed(store), encoderkit.load(run / "best").embed(store))


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_rerun_trains_only_the_missing_member(three_members, labelled_store, tmp_path):
    import shutil

    run, overrides = three_members
    store = labelled_store[0]
    before = encoderkit.load(run).predict(store)
    kept = run / "members" / "1" / "best" / "model.safetensors"
    stamp = os.stat(kept).st_mtime_ns
    shutil.rmtree(run / "members" / "2")
    (run / E.MANIFEST).unlink()
    with pytest.raises(DataError, match="ensemble member"):  # named, not a half ensemble
        (run / E.MANIFEST).write_text(json.dumps({"members": ["members/1", "members/2"]}))
        encoderkit.load(run)
    (run / E.MANIFEST).unlink()
    finetune(overrides)
    assert os.stat(kept).st_mtime_ns == stamp  # member 1 finished: its resume trained nothing
    after = encoderkit.load(run).predict(store)
    pd.testing.assert_frame_equal(before, after)  # member 2 retrained to the same weights


def test_regression_members_average_in_original_units(labelled_store, tmp_path):
    store, ids, y, _ = labelled_store
    target = tmp_path / "t.csv"
    pd.DataFrame({"id": ids, "label": 100.0 + 5.0 * y + np.arange(len(y)) % 3}).to_csv(target, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "reg"), str(target), steps=6,
                                **{"task.type": "regression", "task.ensemble": 2}))
    one = encoderkit.load(run / "best").predict(store)["prediction"].to_numpy()
    two = encoderkit.load(run / "members" / "1").predict(store)["prediction"].to_numpy()
    got = encoderkit.load(run).predict(store)["prediction"].to_numpy()
    np.testing.assert_allclose(got, (one + two) / 2, rtol=1e-6)
    assert np.abs(got).min() > 50  # original units, not standardised


def test_auto_rule():
    assert E.resolve_members("auto", "classification", E.AUTO_MAX_RECORDS) == E.AUTO_MEMBERS
    assert E.resolve_members("auto", "regression", E.AUTO_MAX_RECORDS + 1) == 1
    assert E.resolve_members("auto", "contrastive", 10) == 1
    assert E.resolve_members(3, "classification", 10 ** 6) == 3


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
@pytest.mark.ensemble
def test_auto_trains_five_members_on_a_small_set(labelled_store, tmp_path):
    """The documented default: 5 members when the training split is at most 1,000 records."""
    assert (E.AUTO_MEMBERS, E.AUTO_MAX_RECORDS) == (5, 1000)
    store, _, _, labels = labelled_store
    overrides = [o for o in ft_overrides(store, str(tmp_path / "auto"), str(labels), steps=2,
                                         **{"train.eval_every": 0, "train.checkpoint_every": 0})
                 if not o.startswith("task.ensemble=")]
    run = finetune(overrides)
    assert json.loads((run / E.MANIFEST).read_text())["members"] == [f"members/{i}" for i in range(1, 5)]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_bad_values_are_refused(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    for value in (0, "many", 1.5, E.MAX_MEMBERS + 1):
        with pytest.raises(ConfigError, match="task.ensemble"):
            compose_finetune(ft_overrides(store, str(tmp_path / "x"), str(labels), **{"task.ensemble": value}))
    with pytest.raises(ConfigError, match="task.ensemble"):
        compose_finetune(ft_overrides(store, str(tmp_path / "x"), str(labels),
                                      **{"task": "contrastive", "task.ensemble": 2}))


def test_the_command_says_it_trained_an_ensemble_and_predict_writes_its_average(labelled_store, tmp_path, capsys):
    from encoderkit import cli

    store, _, _, labels = labelled_store
    run = tmp_path / "cli"
    assert cli.main(["finetune", *ft_overrides(store, str(run), str(labels), steps=2,
                                               **{"task.ensemble": 2, "train.eval_every": 0})]) == 0
    out = capsys.readouterr().out
    assert "ensemble of 2 members" in out and str(run / "members") in out
    preds = tmp_path / "p.csv"
    assert cli.main(["predict", f"checkpoint={run}", f"input={store}", f"output={preds}"]) == 0
    got = pd.read_csv(preds, dtype={"id": str})
    ref = encoderkit.load(run).predict(store)
    np.testing.assert_allclose(got["proba_1"].to_numpy(), ref["proba_1"].to_numpy(), atol=1e-6)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_members_can_be_added_to_a_finished_run(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    single = ft_overrides(store, str(tmp_path / "grow"), str(labels), steps=2, **{"train.eval_every": 0})
    run = finetune(single)
    assert not (run / E.MANIFEST).exists() and len(encoderkit.load(run).members) == 0
    stamp = os.stat(next((run / "checkpoints").iterdir()) / "model.safetensors").st_mtime_ns
    finetune([o for o in single if not o.startswith("task.ensemble=")] + ["task.ensemble=2"])
    assert len(encoderkit.load(run).members) == 1
    assert os.stat(next((run / "checkpoints").iterdir()) / "model.safetensors").st_mtime_ns == stamp


def test_the_manifest_scores_the_ensemble_on_the_validation_split(three_members, labelled_store):
    """``ensemble.json["val"]``: the members' best checkpoints averaged on the shared split,
    checked against each member's own predictions of the validation records (scikit-learn)."""
    from sklearn.metrics import accuracy_score, f1_score

    run, _ = three_members
    store, ids, y, _ = labelled_store
    val_ids = json.loads((run / "split.json").read_text())["val"]
    pos = {str(i): k for k, i in enumerate(ids)}
    rows = np.array([pos[i] for i in val_ids])
    probas = []
    for m in _member_runs(run):
        frame = encoderkit.load(m / "best").predict(store).set_index("id").loc[[str(ids[r]) for r in rows]]
        probas.append(frame[["proba_0", "proba_1"]].to_numpy())
    pred = np.mean(probas, axis=0).argmax(1)
    val = json.loads((run / E.MANIFEST).read_text())["val"]
    assert val["accuracy"] == pytest.approx(accuracy_score(y[rows], pred))
    assert val["macro_f1"] == pytest.approx(f1_score(y[rows], pred, average="macro"))
