"""Token labels past a record's last token (one check, refused by finetune and evaluate
alike, naming the position, its row and the record's token count); task.ensemble=auto
for token tasks however the type is chosen; and an ensemble with the probe member: the
small-validation warning said once, and the summary / ensemble.json scoring the model
predict uses (the probe at its weight, fitted on the training split)."""

from __future__ import annotations

import io
import json
import warnings
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest

import encoderkit
import testdomain as td
from conftest import ft_overrides
from encoderkit.cli import main
from encoderkit.errors import DataError
from encoderkit.tasks import ensemble as E
from encoderkit.tasks import finetune
from encoderkit.tasks import probe_member as PM
from encoderkit.tasks.objective import SMALL_VALIDATION
from encoderkit.tasks.token_range import past_end


def _token_rows(store: str) -> tuple[list[dict], pd.DataFrame]:
    from encoderkit.data.store import RecordStore

    s = RecordStore(store)
    records = [s[i] for i in range(len(s))]
    rows = [(r["id"], p, int(v) % 3) for r in records for p, v in enumerate(r["ids"])]
    return records, pd.DataFrame(rows, columns=["id", "position", "label"])


def _token_run(store, run, labels, **extra):
    return ft_overrides(store, str(run), str(labels), steps=1, **{
        "task.type": "token_classification", "train.eval_every": 0, "train.checkpoint_every": 0, **extra})


@pytest.fixture(scope="module")
def token_files(labelled_store, tmp_path_factory):
    """A valid token labels file, and one with a label at position len(record) (one past
    the last token) of record 5, appended as the file's last row."""
    tmp = tmp_path_factory.mktemp("tok")
    store = labelled_store[0]
    records, frame = _token_rows(store)
    good = tmp / "good.csv"
    frame.to_csv(good, index=False)
    rec = records[5]
    bad = tmp / "bad.csv"
    pd.concat([frame, pd.DataFrame([(rec["id"], len(rec["ids"]), 1)], columns=frame.columns)]
              ).to_csv(bad, index=False)
    return good, bad, rec["id"], len(rec["ids"]), len(frame) + 2  # the row: header + 1-based


def test_past_end_finds_the_first_labelled_position_past_the_tokens():
    v = np.asarray([1, None, 2, None, 0, None, 1], dtype=object)
    assert past_end(v, 7) is None and past_end(v, 10) is None
    assert past_end(v, 4) == (4, 2)  # positions 4 and 6 are labelled, 5 is not
    assert past_end(v, 5) == (6, 1)
    assert past_end(np.asarray([1.0, np.nan, np.nan]), 1) is None  # NaN padding is no label


def test_finetune_refuses_a_token_label_past_the_last_token_as_evaluate_does(labelled_store, token_files,
                                                                           tmp_path):
    """A label at position n of an n-token record: finetune trained on it without a word
    (the label was dropped); now it refuses with evaluate's error, one line naming the
    file, the record, the position, its row and the token count, and leaves no run."""
    store = labelled_store[0]
    good, bad, rid, n, row = token_files
    with pytest.raises(DataError) as refused:
        finetune(_token_run(store, tmp_path / "bad", bad))
    assert not (tmp_path / "bad").exists()
    model = encoderkit.load(finetune(_token_run(store, tmp_path / "good", good)))
    with pytest.raises(DataError) as evaluated:
        model.evaluate(store, bad, verbose=False)
    said = str(refused.value)
    assert said == str(evaluated.value)  # one check, one message
    assert "\n" not in said and said.startswith(f"{bad}: ")
    assert f"record {rid!r} has a token label at position {n} (row {row})" in said
    assert f"has {n} tokens (positions 0 to {n - 1})" in said and "counts the model's tokens" in said
    assert model.evaluate(store, good, verbose=False)["records"] == len(labelled_store[1])


def test_evaluate_names_the_position_not_a_count_of_labels(labelled_store, token_files, tmp_path):
    """evaluate said "has n+1 token labels but n tokens" for one label at position n; it
    names that position (and, given in memory, no row)."""
    store = labelled_store[0]
    good, bad, rid, n, _ = token_files
    model = encoderkit.load(finetune(_token_run(store, tmp_path / "good", good)))
    frame = pd.read_csv(bad, dtype={"id": str})
    frame.loc[len(frame)] = [rid, n + 3, 0]  # a second label past the end
    with pytest.raises(DataError) as e:
        model.evaluate(store, frame, verbose=False)
    said = str(e.value)
    assert "token labels but" not in said
    assert (f"record {rid!r} has a token label at position {n} and 1 more past it, but the record "
            f"has {n} tokens") in said


@pytest.mark.ensemble
def test_auto_gives_token_tasks_one_member_however_the_type_is_chosen(labelled_store, token_files,
                                                                     tmp_path):
    """task.type=token_classification keeps the classification group's ensemble: auto: it
    trained 5 members; task=token_classification's yaml says 1. auto is resolved by type."""
    from encoderkit.train.config import compose_finetune

    for kind in ("token_classification", "token_regression", "contrastive", "supervised_contrastive"):
        assert E.resolve_members("auto", kind, 10) == 1, kind
    assert E.resolve_members("auto", "multilabel", 10) == E.AUTO_MEMBERS
    store = labelled_store[0]
    overrides = [o for o in _token_run(store, tmp_path / "auto", token_files[0])
                 if not o.startswith("task.ensemble=")]
    assert compose_finetune(overrides).task.ensemble == "auto"
    run = finetune(overrides)
    assert not (run / E.MANIFEST).exists() and not (run / E.MEMBERS_DIR).exists()


def test_an_explicit_token_ensemble_averages_its_members_per_token(labelled_store, token_files, tmp_path):
    """task.ensemble=2 for a token task still trains two members; predict averages their
    per-token probabilities and evaluate scores that average."""
    from encoderkit.infer.load import resolve_checkpoint

    store = labelled_store[0]
    run = finetune(_token_run(store, tmp_path / "two", token_files[0], **{"task.ensemble": 2}))
    assert json.loads((run / E.MANIFEST).read_text())["members"] == ["members/1"]
    cols = ["proba_0", "proba_1", "proba_2"]
    parts = [encoderkit.load(resolve_checkpoint(run)), encoderkit.load(run / "members" / "1")]
    want = np.mean([p.predict(store)[cols].to_numpy() for p in parts], 0)
    got = encoderkit.load(run).predict(store)
    np.testing.assert_allclose(got[cols].to_numpy(), want, atol=1e-6)
    assert len(got) == len(_token_rows(store)[1])


@pytest.fixture(scope="module")
def probe_ensemble(labelled_store, tmp_path_factory):
    """`encoderkit finetune` of 2 fine-tuned members and the probe member from a pretrained
    checkpoint, 16 validation records (a small split), the probe's weight fixed at 1/3:
    (overrides, run, stdout, warnings)."""
    from encoderkit.train import pretrain

    store, ids, y, labels = labelled_store
    tmp = tmp_path_factory.mktemp("probe_ens")
    pre = pretrain(td.tiny_overrides(store, str(tmp / "pre"), steps=3))
    run = tmp / "ens"
    overrides = ft_overrides(store, str(run), str(labels), steps=3, **{
        "checkpoint": str(pre), "task.ensemble": 2, "task.val_fraction": 0.1})
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as said, \
            redirect_stdout(out):
        warnings.simplefilter("always")
        mp.setattr(PM, "PROBE_WEIGHTS", (1 / 3,))  # a weight above 0: predict averages the probe in
        code = main(["finetune", *overrides])
    assert code == 0
    return overrides, run, out.getvalue(), [str(w.message) for w in said]


def test_the_small_validation_warning_is_said_once_with_the_probe_member(probe_ensemble):
    """The probe member's validation run shares the root's split: it warned again."""
    _, run, _, said = probe_ensemble
    assert (run / "members" / "probe").is_dir()
    small = [m for m in said if m.startswith(SMALL_VALIDATION)]
    assert len(small) == 1 and small[0].startswith(f"{SMALL_VALIDATION} 16 records"), small


def test_the_summary_scores_the_ensemble_predict_uses_with_the_training_split_probe(
        labelled_store, probe_ensemble):
    """ensemble.json's val_with_probe (and a summary column) is the fine-tuned members'
    mean mixed with a probe fitted on the training split only, at the chosen weight:
    recomputed here from a fresh training-split probe and the members' best/ checkpoints."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    store, ids, y, _ = labelled_store
    overrides, run, out, _ = probe_ensemble
    manifest = json.loads((run / E.MANIFEST).read_text())
    w = manifest["probe"]["weight"]
    assert w == pytest.approx(1 / 3) and manifest["members"] == ["members/1", "members/probe"]
    got = manifest["val_with_probe"]
    val_run = finetune(PM.probe_overrides(overrides, run, 0, "check", all_labelled=False))
    pos = {str(i): k for k, i in enumerate(ids)}
    rows = [pos[i] for i in json.loads((run / "split.json").read_text())["val"]]

    def proba(r):
        frame = encoderkit.load(r).predict(store).set_index("id")
        return frame.loc[[str(ids[k]) for k in rows], ["proba_0", "proba_1"]].to_numpy()

    tuned = np.mean([proba(r / "best") for r in (run, run / "members" / "1")], 0)
    mix = (1 - w) * tuned + w * proba(val_run)
    assert got["accuracy"] == pytest.approx(accuracy_score(y[rows], mix.argmax(1)))
    assert got["auroc"] == pytest.approx(roc_auc_score(y[rows], mix[:, 1]), abs=1e-6)
    assert manifest["val"]["accuracy"] == pytest.approx(accuracy_score(y[rows], tuned.argmax(1)))
    header = next(line for line in out.splitlines() if "ensemble of 2 fine-tuned (val, 16 records)" in line)
    assert "+ probe at 0.333 (train-split probe)" in header
    accuracy = next(line for line in out.splitlines()[out.splitlines().index(header):]
                    if line.startswith("accuracy"))
    assert accuracy.split()[-1] == f"{got['accuracy']:.4f}"
    assert "fitted on the training split only" in out and "members/probe, which predict uses" in out
