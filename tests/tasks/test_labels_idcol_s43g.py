"""A labels file whose id column is not named ``id`` (a sets file keyed by ``set``, the
store's own set column; a FASTA's ``seq_id``) was joined to records by row order: a
shuffled file scored 0.10 instead of 0.84 and fine-tuning trained on scrambled labels.
Such a column is now taken as the ids (with a warning naming it), and an order join of a
file with other columns says so. Also: an id naming a genomic record that ingest cut into
pieces at runs of N is told so, not given the series wording."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import DataError
from encoderkit.tasks import labels as L

IDS = np.asarray([f"img{i:03d}" for i in range(20)], dtype=object)


def _shuffled(column: str) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({column: IDS, "label": [str(i % 3) for i in range(len(IDS))]})
    return frame.iloc[rng.permutation(len(IDS))].reset_index(drop=True)


@pytest.mark.parametrize("column", ["set", "seq_id"])
def test_id_column_by_values(column):
    with pytest.warns(UserWarning, match=f"column '{column}' holds the store's record ids"):
        got = L.align(_shuffled(column), IDS, "labels.csv", token=False)
    assert got.values == [str(i % 3) for i in range(len(IDS))]


def test_id_column_without_label_column():
    """``seq_id,class``: the ids are found, the other column is the label."""
    frame = _shuffled("seq_id").rename(columns={"label": "class"})
    with pytest.warns(UserWarning, match="'seq_id'"):
        got = L.align(frame, IDS, "labels.csv", token=False)
    assert got.names == ["class"] and got.values == [str(i % 3) for i in range(len(IDS))]


def test_id_column_tokens():
    frame = pd.DataFrame({"set": ["img003", "img003", "img001"], "position": ["0", "1", "0"],
                          "label": ["a", "b", "c"]})
    with pytest.warns(UserWarning, match="'set'"):
        got = L.align(frame, IDS, "labels.csv", token=True)
    assert list(got.values[3]) == ["a", "b"] and list(got.values[1]) == ["c"]
    assert not got.labelled[0]


def test_order_join_names_ignored_columns():
    frame = pd.DataFrame({"name": [f"x{i}" for i in range(len(IDS))], "label": ["0"] * len(IDS)})
    with pytest.warns(UserWarning, match=r"joined to records by row order.*\['name'\]"):
        L.align(frame, IDS, "labels.csv", token=False)


def test_one_label_column_by_order_quietly():
    frame = pd.DataFrame({"label": [str(i % 2) for i in range(len(IDS))]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = L.align(frame, IDS, "labels.csv", token=False)
    assert got.values[:3] == ["0", "1", "0"]


def test_one_id_like_column_stays_the_label():
    """A file of one column is its label, whatever its values (order join, as documented)."""
    frame = pd.DataFrame({"cls": list(IDS)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = L.align(frame, IDS, "labels.csv", token=False)
    assert got.names == ["cls"]


def test_class_column_is_not_taken_for_ids():
    """Store ids 0..n-1 and a 0/1 class column: repeated values are no ids."""
    ids = np.asarray([str(i) for i in range(10)], dtype=object)
    frame = pd.DataFrame({"a": [str(i % 2) for i in range(10)], "b": [str(i % 2) for i in range(10)]})
    got = L.align(frame, ids, "labels.csv", token=False)
    assert got.names == ["a", "b"]


def test_split_genomic_record_message():
    ids = np.asarray(["tok0:0-1000", "tok0:1100-3000", "tok1"], dtype=object)
    frame = pd.DataFrame({"id": ["tok0"], "label": ["1"]})
    with pytest.raises(DataError) as e:
        L.align(frame, ids, "labels.csv", token=False)
    text = str(e.value)
    assert "runs of N" in text and "restart at 0" in text and "max_n_run=100" in text
    assert "file name" not in text


def test_series_message_kept():
    ids = np.asarray(["long.csv:7", "long.csv:8"], dtype=object)
    frame = pd.DataFrame({"id": ["9"], "label": ["1"]})
    with pytest.raises(DataError, match="part after the file name"):
        L.align(frame, ids, "labels.csv", token=False)
