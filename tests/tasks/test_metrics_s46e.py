"""What the task metrics are over (s46e): a multilabel AUROC leaves out the labels of one
value in the evaluated rows and says which (under ``evaluate``'s table, before training for
the validation split, after it for the test split); a multilabel macro-F1 is over the labels
in the truth or the predictions, as the classes of a classification; the best/ tie band of a
token task is sized by its labelled validation tokens, not its records. References: scikit-
learn computed here, hand cases, and the run's own split and labels files."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

import encoderkit
from conftest import ft_overrides
from encoderkit.tasks import finetune
from encoderkit.tasks.metrics import multilabel_auroc_note, multilabel_metrics
from encoderkit.tasks.spec import TaskSpec
from encoderkit.tasks.split_checks import (SMALL_VALIDATION, TEST_AUROC, labelled_units, selection_tolerance,
                                           small_validation)


# ---------------------------------------------------------------------------
# multilabel AUROC: over the labels with both values, and said


def test_multilabel_auroc_leaves_out_labels_of_one_value_and_the_note_names_them():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (30, 5))
    y[:2, [0, 2, 4]] = [[0, 0, 0], [1, 1, 1]]  # both values in labels a, c, e
    y[:, 1], y[:, 3] = 0, 1  # b never set, d always
    proba = rng.random((30, 5))
    ref = np.mean([roc_auc_score(y[:, j], proba[:, j]) for j in (0, 2, 4)])
    assert multilabel_metrics(y, proba)["auroc"] == pytest.approx(ref, rel=1e-12)
    note = multilabel_auroc_note(y, list("abcde"))
    assert note.startswith("auroc: the mean over 3 of the 5 labels")
    assert "30 labelled records" in note and "2 labels have one value" in note
    assert "'b' (all 0)" in note and "'d' (all 1)" in note and "'a'" not in note
    assert multilabel_auroc_note(y[:, [0, 2, 4]], list("ace")) is None
    assert math.isnan(multilabel_metrics(y[:, [1, 3]], proba[:, [1, 3]])["auroc"])
    assert "undefined" in multilabel_auroc_note(y[:, [1, 3]], list("bd"))
    many = np.zeros((4, 8), np.int64)  # more than five left out: five named, the rest counted
    many[0, 0] = 1
    note = multilabel_auroc_note(many, list("abcdefgh"))
    assert "over 1 of the 8 labels" in note and "7 labels have one value" in note
    assert "'f' (all 0) and 2 more" in note and "'g'" not in note


def test_multilabel_macro_f1_is_over_the_labels_in_the_truth_or_the_predictions():
    """Label c is in neither the truth nor the predictions: it has no F1 and is not in the mean
    (it counted as 0: a perfect prediction scored 2/3). By hand: a P=2/3 R=1 F1=0.8, b 1.0."""
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    assert multilabel_metrics(y, np.where(y == 1, 0.9, 0.1))["macro_f1"] == 1.0
    pred = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0]])
    got = multilabel_metrics(y, np.where(pred == 1, 0.9, 0.1))["macro_f1"]
    assert got == pytest.approx(0.9) and got == pytest.approx(f1_score(y, pred, labels=[0, 1], average="macro"))
    # a label the model predicts but the truth lacks still counts, with F1 0
    pred[0, 2] = 1
    got = multilabel_metrics(y, np.where(pred == 1, 0.9, 0.1))["macro_f1"]
    assert got == pytest.approx((0.8 + 1.0 + 0.0) / 3)
    assert math.isnan(multilabel_metrics(np.zeros((3, 2)), np.full((3, 2), 0.2))["macro_f1"])


def test_a_multilabel_validation_split_with_a_label_of_one_value_is_warned():
    spec = TaskSpec(type="multilabel")
    spec.classes = ["a", "b", "c"]
    y = np.zeros((60, 3))
    y[::2, 0] = 1
    y[1::3, 2] = 1
    y[40:, 1] = 1  # b only among records 40..59
    note = small_validation(spec, y, np.arange(30), len(y), 0.5, None)
    assert note is not None and note.startswith(f"{SMALL_VALIDATION} 30 records (of 60 labelled)")
    assert "1 of the 3 labels has one value: 'b' (all 0)" in note
    assert "mean over the 2 labels with both values" in note
    assert small_validation(spec, y, np.arange(30, 60), len(y), 0.5, None) is None  # 30 records, both values


@pytest.fixture(scope="module")
def multilabel_run(labelled_store, tmp_path_factory):
    """A multilabel run (stride, odd_start) with a split file: 40 val, 40 test records, and
    odd_start 0 on every test record."""
    from encoderkit.data.store import RecordStore

    store, ids, y, _ = labelled_store
    tmp = tmp_path_factory.mktemp("ml")
    s = RecordStore(store)
    odd = np.asarray([int(s[i]["ids"][0]) % 2 for i in range(len(s))])
    part = np.where(np.arange(len(ids)) % 4 == 0, "val", np.where(np.arange(len(ids)) % 4 == 1, "test", "train"))
    odd_labels = np.where(part == "test", 0, odd)
    assert len(np.unique(odd_labels[part == "val"])) == 2 and len(np.unique(y[part == "test"])) == 2
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "stride": y, "odd_start": odd_labels}).to_csv(labels, index=False)
    split = tmp / "split.csv"
    pd.DataFrame({"id": ids, "split": part}).to_csv(split, index=False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        run = finetune(ft_overrides(store, str(tmp / "run"), str(labels), steps=2, **{
            "task.type": "multilabel", "task.split": str(split), "train.eval_every": 2,
            "train.checkpoint_every": 0}))
    return run, store, ids, y, odd, [str(w.message) for w in said], tmp


def test_the_test_splits_auroc_over_fewer_labels_is_warned_once(multilabel_run):
    run, *_, said, _ = multilabel_run
    test = [m for m in said if m.startswith(TEST_AUROC)]
    assert len(test) == 1, said
    assert test[0].startswith(f"{TEST_AUROC} (40 records): the mean over 1 of the 2 labels")
    assert "'odd_start' (all 0)" in test[0]
    logged = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("test_auroc" in m for m in logged)  # the figure the warning is about
    assert not [m for m in said if m.startswith(SMALL_VALIDATION)]  # val: 40 records, both values


def test_evaluate_names_the_label_of_one_value_under_its_table(multilabel_run, capsys):
    from encoderkit import cli

    run, store, ids, y, odd, _, tmp = multilabel_run
    flat = tmp / "flat.csv"  # odd_start 1 everywhere: nothing to rank for it
    pd.DataFrame({"id": ids, "stride": y, "odd_start": 1}).to_csv(flat, index=False)
    pred = encoderkit.load(run).predict(store).set_index("id").loc[[str(i) for i in ids]]
    ref = roc_auc_score(y, pred["proba_stride"].to_numpy())
    capsys.readouterr()
    assert cli.main(["evaluate", f"checkpoint={run}", f"input={store}", f"labels={flat}"]) == 0
    out = capsys.readouterr().out
    auroc = [ln for ln in out.splitlines() if ln.startswith("auroc ")]
    assert auroc and float(auroc[0].split()[1]) == pytest.approx(ref, abs=5e-5)
    note = [ln for ln in out.splitlines() if ln.startswith("auroc:")]
    assert len(note) == 1 and "1 of the 2 labels" in note[0] and "'odd_start' (all 1)" in note[0], out
    assert "160 labelled records" in note[0]
    full = tmp / "full.csv"
    pd.DataFrame({"id": ids, "stride": y, "odd_start": odd}).to_csv(full, index=False)
    assert cli.main(["evaluate", f"checkpoint={run}", f"input={store}", f"labels={full}"]) == 0
    assert "auroc:" not in capsys.readouterr().out


# ---------------------------------------------------------------------------
# the best/ tie band of a token task: its labelled validation tokens


def test_labelled_units_are_records_or_labelled_tokens():
    idx = np.array([0, 2])
    tc = TaskSpec(type="token_classification")
    assert labelled_units(tc, [np.array([0, -1, 2]), np.array([1]), np.array([1, 1, -1, -1])], idx) == 4  # 2 + 2
    tr = TaskSpec(type="token_regression")
    y = [np.array([[1.0], [np.nan], [2.0]]), np.zeros((1, 1)), np.array([[np.nan], [0.5]])]
    assert labelled_units(tr, y, idx) == 3  # 2 + 1
    assert labelled_units(TaskSpec(type="classification"), np.array([0, 1, 1]), idx) == 2


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_token_tasks_tie_band_is_sized_by_its_validation_tokens(labelled_store, tmp_path, monkeypatch):
    """Every position of a record labelled but every fifth: the tolerance is one standard error
    over the labelled tokens of the validation records (split.json), ~0.02, not over the 40
    records (0.079, eight points of token accuracy read as a tie)."""
    from encoderkit.data.store import RecordStore
    from encoderkit.tasks import objective as O

    store = labelled_store[0]
    s = RecordStore(store)
    rows = [(s[i]["id"], p, int(v) % 3) for i in range(len(s)) for p, v in enumerate(s[i]["ids"]) if p % 5 != 4]
    frame = pd.DataFrame(rows, columns=["id", "position", "label"])
    labels = tmp_path / "tokens.csv"
    frame.to_csv(labels, index=False)
    sized: list[tuple[str, int]] = []
    monkeypatch.setattr(O, "selection_tolerance", lambda m, n: sized.append((m, n)) or selection_tolerance(m, n))
    run = finetune(ft_overrides(store, str(tmp_path / "run"), str(labels), steps=1, **{
        "task.type": "token_classification", "task.val_fraction": 0.25, "train.eval_every": 0,
        "train.checkpoint_every": 0}))
    val = set(json.loads((run / "split.json").read_text())["val"])
    tokens = int(frame["id"].astype(str).isin(val).sum())
    assert tokens > 10 * len(val)
    assert sized == [("macro_f1", tokens)]
    assert selection_tolerance("macro_f1", tokens) == pytest.approx(0.5 / math.sqrt(tokens))
