"""Messages that were untrue or unreadable (session 52's leftovers):

- `ingest workers=2` over two tables whose schemas differ printed both schemas' JSON, cut at
  200 characters; now one line naming the two files and how their columns differ;
- a contrastive task's small-validation warning counted "of 40 labelled" records (it has
  no labels), and its too-few-records refusal "labelled training record(s)";
- a column of integers from 2**63 (uint64) was "beyond the 64-bit range": it is beyond
  int64's, and 2**63 fits 64 bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular.bigints import big_integer_message, magnitude_message
from encoderkit.data.ingest import ingest
from encoderkit.data.ingest_scale import merge_counts
from encoderkit.errors import DataError
from encoderkit.tasks.objective import small_validation
from encoderkit.tasks.spec import TaskSpec


def _refusal(tmp_path, first: dict, second: dict) -> str:
    a, b = tmp_path / "first.csv", tmp_path / "second.csv"
    pd.DataFrame(first).to_csv(a, index=False)
    pd.DataFrame(second).to_csv(b, index=False)
    with pytest.raises(DataError) as e:
        ingest("tabular", [str(a), str(b)], str(tmp_path / "s.zarr"), workers=2, progress=False, verbose=False)
    said = str(e.value)
    assert "\n" not in said and '{"' not in said and str(a) in said and str(b) in said
    return said


def test_parallel_ingest_names_the_files_and_the_column_that_differs(tmp_path):
    said = _refusal(tmp_path, {"a": [1, 2, 3, 4], "b": [1.5, 2.5, 3.5, 4.5]},
                    {"a": [1, 2, 3, 4], "b": ["x", "y", "x", "y"]})
    assert "column 'b' is numeric (float64) in the first, categorical" in said
    said = _refusal(tmp_path, {"a": [1, 2, 3, 4], "b": [1.5, 2.5, 3.5, 4.5]}, {"a": [1, 2, 3, 4]})
    assert "column 'b' is only in the first" in said
    # the same columns, other numbers: each file's own statistics (a table's schema needs all rows)
    said = _refusal(tmp_path, {"a": [1, 2, 3, 4]}, {"a": [10, 20, 30, 50]})
    assert "numeric column 'a' has other statistics" in said


def test_merged_counts_name_where_the_parts_differ():
    with pytest.raises(DataError) as e:
        merge_counts([{"bases": 3, "k": 2, "alphabet": "ACGT"}, {"bases": 4, "k": 3, "alphabet": "ACGT"}],
                     sum_keys=("bases",))
    assert "k: 2 vs 3" in str(e.value) and "{" not in str(e.value)


def _spec(kind: str) -> TaskSpec:
    return TaskSpec(type=kind, classes=["a", "b"] if kind == "classification" else [])


def test_a_contrastive_tasks_small_validation_counts_records_not_labels():
    val = np.arange(4)
    said = small_validation(_spec("contrastive"), None, val, 40, 0.1, None)
    assert "(of 40 records)" in said and "labelled" not in said and "label more" not in said
    y = np.array([0, 1] * 20)
    said = small_validation(_spec("classification"), y, val, 40, 0.1, None)
    assert "(of 40 labelled)" in said  # a labelled task keeps its words


@pytest.mark.parametrize("message", [big_integer_message, magnitude_message])
def test_integers_from_two_to_the_63_are_beyond_int64_not_64_bits(message):
    s = pd.Series(np.array([2**63, 2**63 + 7, 2**64 - 1], dtype=np.uint64))
    said = message("u", s)
    assert "64-bit" not in said and "int64" in said and str(np.iinfo(np.int64).max) in said
