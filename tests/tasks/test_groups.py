"""``task.group_column``: the validation split keeps each group (the gene of a window, the
patient of a row) whole. Checked against scikit-learn's group splitters and by the split a
fine-tuning run writes; errors name the file, row and column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from conftest import ft_overrides
from encoderkit.errors import DataError, UsageError
from encoderkit.tasks import finetune
from encoderkit.tasks import labels as L
from encoderkit.train.config import ConfigError, compose_finetune


def _grouped(n_groups: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(class per record, group per record): 2-8 records a group, one class per group."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 9, n_groups)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], sizes).astype(object)
    y = np.repeat(rng.integers(0, 3, n_groups), sizes)
    return y, groups


def test_no_group_on_both_sides_and_classes_kept():
    y, groups = _grouped()
    labelled = np.ones(len(y), bool)
    labelled[::7] = False  # unlabelled records are in neither split
    train, val = L.split_labelled(labelled, 0.2, seed=1, strata=y, groups=groups)
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(np.flatnonzero(labelled))
    assert not set(groups[train]) & set(groups[val])
    assert 0.1 < len(val) / labelled.sum() < 0.3  # about the fraction: whole groups of 2-8
    assert set(y[val]) == {0, 1, 2}  # stratified as far as whole groups allow
    # one fold of scikit-learn's splitter over the labelled records, 5 folds for 0.2
    idx = np.flatnonzero(labelled)
    ref_train, ref_val = next(StratifiedGroupKFold(5, shuffle=True, random_state=1)
                              .split(idx, y[idx], groups[idx]))
    assert val.tolist() == idx[ref_val].tolist() and train.tolist() == idx[ref_train].tolist()
    # the seed draws another split; the same seed the same one
    assert L.split_labelled(labelled, 0.2, seed=1, strata=y, groups=groups)[1].tolist() == val.tolist()
    assert L.split_labelled(labelled, 0.2, seed=2, strata=y, groups=groups)[1].tolist() != val.tolist()


def test_regression_groups_and_a_single_group():
    _, groups = _grouped(n_groups=12)
    labelled = np.ones(len(groups), bool)
    train, val = L.split_labelled(labelled, 0.25, seed=0, groups=groups)  # no strata: GroupKFold
    assert len(val) and not set(groups[train]) & set(groups[val])
    one = np.full(len(groups), "g", dtype=object)  # a single group cannot be split
    with pytest.warns(UserWarning, match="in one group"):
        train, val = L.split_labelled(labelled, 0.25, seed=0, groups=one)
    assert len(val) == 0 and len(train) == len(groups)
    few = np.asarray(["a", "a", "b", "b", "b"], dtype=object)  # fraction 0.1 -> 10 folds, 2 groups
    train, val = L.split_labelled(np.ones(5, bool), 0.1, seed=0, groups=few)
    assert set(few[val]) in ({"a"}, {"b"}) and not set(few[train]) & set(few[val])


def test_group_cells_join_by_id_and_name_the_bad_row(tmp_path):
    ids = np.asarray([f"r{i}" for i in range(4)], dtype=object)
    f = tmp_path / "lab.csv"
    pd.DataFrame({"id": ["r2", "r0", "r1"], "gene": ["b", "a", "a"], "label": ["x", "y", "x"]}).to_csv(f, index=False)
    frame = L.read_table(f)
    lab = L.align(frame, ids, str(f), token=False, exclude=["gene"])
    assert lab.names == ["label"]  # the group column is not a label
    assert L.read_groups(frame, ids, lab.labelled, str(f), "gene").tolist() == ["a", "a", "b", ""]
    with pytest.raises(UsageError, match="task.group_column='patient' is not a column") as e:
        L.read_groups(frame, ids, lab.labelled, str(f), "patient")
    assert str(f) in str(e.value)
    g = tmp_path / "hole.csv"
    pd.DataFrame({"id": ["r0", "r1"], "gene": ["a", ""], "label": ["x", "y"]}).to_csv(g, index=False)
    frame = L.read_table(g)
    lab = L.align(frame, ids, str(g), token=False, exclude=["gene"])
    with pytest.raises(DataError, match="row 3: a labelled record with an empty 'gene'") as e:
        L.read_groups(frame, ids, lab.labelled, str(g), "gene")
    assert str(g) in str(e.value)
    t = tmp_path / "tok.csv"  # token labels: every row of a record names one group
    pd.DataFrame({"id": ["r1", "r1"], "position": [0, 1], "gene": ["a", "b"],
                  "label": ["x", "y"]}).to_csv(t, index=False)
    frame = L.read_table(t)
    lab = L.align(frame, ids, str(t), token=True, exclude=["gene"])
    with pytest.raises(DataError, match="row 3: record 'r1' is in group 'b' here and 'a' on row 2"):
        L.read_groups(frame, ids, lab.labelled, str(t), "gene")


def test_config_refuses_a_group_column_without_a_labels_file(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match="here task.split fixes the split itself"):
        compose_finetune(ft_overrides(store, str(tmp_path / "a"), labels, **{
            "task.group_column": "gene", "task.split": str(labels)}))
    with pytest.raises(ConfigError, match="here task.label_column takes labels from the table"):
        compose_finetune(ft_overrides(store, str(tmp_path / "b"), "null", **{
            "task.group_column": "gene", "task.label_column": "y"}))


def test_finetune_validates_on_unseen_groups(labelled_store, tmp_path):
    """A run with a group column writes a split where no group has records on both sides,
    takes the other column as the label (not the group column), and its model evaluates the
    same file."""
    import encoderkit

    store, ids, y, _ = labelled_store
    gene = np.asarray([f"g{i // 4}" for i in range(len(ids))], dtype=object)  # 4 records a group
    f = tmp_path / "labels.csv"
    pd.DataFrame({"id": ids, "gene": gene, "frame": y}).to_csv(f, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "ft"), str(f), steps=2, **{
        "task.group_column": "gene", "task.val_fraction": 0.25}))
    split = json.loads((run / "split.json").read_text())
    by_id = dict(zip(map(str, ids), gene))
    train, val = ({by_id[i] for i in split[k]} for k in ("train", "val"))
    assert val and not train & val
    assert len(split["train"]) + len(split["val"]) == len(ids)
    metrics = encoderkit.load(run).evaluate(store, f, verbose=False)  # `gene` is no label
    assert metrics["records"] == len(ids)
    with pytest.raises(UsageError, match="task.group_column='gene' is also a label column"):
        finetune(ft_overrides(store, str(tmp_path / "both"), str(f), steps=1, **{
            "task.group_column": "gene", "task.label_names": "[gene]"}))
