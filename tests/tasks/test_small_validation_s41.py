"""`encoderkit finetune` on few labelled records: a warning at the start when the validation
split is small (or, for classification, misses a class), saying how to give it more, and a
summary that names how many records its metrics are over. Which records are chosen and the
training are not changed (the split file of the run is checked against the split rule)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from conftest import ft_overrides
from encoderkit.cli import main
from encoderkit.tasks.labels import split_labelled
from encoderkit.tasks.objective import MIN_VAL_RECORDS, SMALL_VALIDATION, small_validation
from encoderkit.tasks.spec import TaskSpec


def _labels(tmp_path, ids, y, n: int) -> str:
    path = tmp_path / f"labels{n}.csv"
    pd.DataFrame({"id": ids[:n], "label": y[:n]}).to_csv(path, index=False)
    return str(path)


def _small(recwarn) -> list[str]:
    return [str(w.message) for w in recwarn if str(w.message).startswith(SMALL_VALIDATION)]


def test_tiny_labelled_set_warns_once_and_summary_names_the_records(labelled_store, tmp_path, capsys,
                                                                    recwarn):
    """22 labelled records, task.val_fraction 0.1: a validation split of 2. One warning for
    the run and its second ensemble member (same split), naming the size and both ways to
    give more; the summary and the ensemble's table say "2 records"; the split itself is
    the one split_labelled draws (unchanged)."""
    store, ids, y, _ = labelled_store
    labels = _labels(tmp_path, ids, y, 22)
    run = tmp_path / "ft"
    code = main(["finetune", *ft_overrides(store, str(run), labels, steps=3, **{"task.ensemble": 2})])
    out = capsys.readouterr().out
    assert code == 0
    said = _small(recwarn)
    assert len(said) == 1, said
    assert said[0].startswith(f"{SMALL_VALIDATION} 2 records (of 22 labelled)")
    assert "noisy" in said[0] and "best/" in said[0]
    assert "task.val_fraction" in said[0] and "task.split=<file>" in said[0]
    assert "validation (2 records):" in out.splitlines()
    assert "(val, 2 records)" in out
    split = json.loads((run / "split.json").read_text())
    _, val = split_labelled(np.ones(22, bool), 0.1, 0, y[:22])
    assert split["val"] == [ids[i] for i in val]


def test_large_labelled_set_gets_no_warning(labelled_store, tmp_path, capsys, recwarn):
    """160 labelled records, task.val_fraction 0.2: 32 validation records, both classes:
    no warning; the summary names the 32 records."""
    store, _, _, labels = labelled_store
    code = main(["finetune", *ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=3,
                                           **{"task.val_fraction": 0.2})])
    out = capsys.readouterr().out
    assert code == 0
    assert _small(recwarn) == []
    assert "validation (32 records):" in out.splitlines()


def test_split_file_run_names_validation_and_test_records(labelled_store, tmp_path, capsys, recwarn):
    """task.split with 8 val and 40 test records: the warning points at the split file; the
    summary names both parts' sizes."""
    store, ids, _, labels = labelled_store
    parts = ["val"] * 8 + ["test"] * 40 + ["train"] * (len(ids) - 48)
    split = tmp_path / "split.csv"
    pd.DataFrame({"id": ids, "split": parts}).to_csv(split, index=False)
    code = main(["finetune", *ft_overrides(store, str(tmp_path / "ft"), str(labels), steps=3,
                                           **{"task.split": str(split)})])
    out = capsys.readouterr().out
    assert code == 0
    said = _small(recwarn)
    assert len(said) == 1 and f"({split})" in said[0] and "8 records (of 160 labelled)" in said[0]
    assert "validation (8 records), test (40 records):" in out.splitlines()


def test_a_class_missing_from_validation_is_warned_at_any_size():
    """Classification: a validation split without a record of some class (auroc undefined)
    is warned of even at MIN_VAL_RECORDS records or more; one holding every class is not;
    below MIN_VAL_RECORDS it is, with a task.val_fraction that reaches it."""
    spec = TaskSpec(type="classification")
    spec.classes = ["a", "b", "c"]
    y = np.array([0, 1] * 20 + [2] * 10)
    val = np.arange(30)  # classes a and b only
    note = small_validation(spec, y, val, len(y), 0.1, None)
    assert note is not None and "no record of class 'c'" in note and "auroc" in note
    assert small_validation(spec, y, np.arange(25, 50), len(y), 0.1, None) is None
    note = small_validation(spec, y, np.arange(35, 45), len(y), 0.1, None)
    assert note is not None and "10 records (of 50 labelled)" in note
    need = float(note.split("task.val_fraction=")[1].split()[0])
    assert len(split_labelled(np.ones(50, bool), need, 0, y)[1]) >= MIN_VAL_RECORDS  # it reaches it
