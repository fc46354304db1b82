"""Integer columns: category codes or numbers (``schema._codes``). Read as codes, a small
table's counts could only be filled with a value seen in the column, unordered: a hidden 4
executions was filled with 37 (19x the column mean's error, statsmodels' cpunish)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular.schema import infer_schema


def kind_of(values, **options) -> str:
    frame = pd.DataFrame({"c": pd.array(values, dtype="Int64"), "x": np.arange(len(values), dtype=float)})
    schema, _ = infer_schema(frame, np.ones(len(frame), dtype=bool), **options)
    return {c["name"]: c["kind"] for c in schema["columns"]}["c"]


@pytest.mark.parametrize("values, kind", [
    ([0, 1, 1, 0, 1, 0, 0, 1], "categorical"),                       # yes / no, 8 rows
    ([0, 10, 10, 0], "categorical"),                                  # any two values
    (list(np.arange(30) % 5 + 1), "categorical"),                     # Likert 1..5, 6 each
    (list(np.arange(60) % 5 + 1) + [99] * 6, "categorical"),          # a 99 "unknown" code
    ([37, 9, 6, 4, 1, 1, 1, 0, 0, 2, 0, 1, 0, 2, 1, 0, 1], "numeric"),  # counts, 17 rows
    (list(np.arange(14) % 7 + 1), "numeric"),                         # 7 codes seen twice each
    (list(np.resize([9, 12, 14, 16, 17, 20], 24)), "numeric"),       # each seen 4 times
    (list(np.resize([9, 12, 14, 16, 17, 20], 30)), "categorical"),   # each seen 5 times
    (list(np.resize([0, 5, 99], 48)), "categorical"),                 # spread codes, often seen
    (list(np.arange(40) % 12), "numeric"),                            # 12 distinct > threshold 10
])
def test_integer_column_kind(values, kind):
    assert kind_of(values) == kind


def test_threshold_still_bounds_the_codes():
    likert = list(np.arange(30) % 5 + 1)
    assert kind_of(likert, categorical_threshold=4) == "numeric"
    assert kind_of(likert, categorical_threshold=0) == "numeric"
    assert kind_of(likert, columns={"c": "numeric"}) == "numeric"
    assert kind_of([37, 9, 6, 4, 1, 1, 1, 0, 0, 2, 0, 1, 0, 2, 1, 0, 1], columns={"c": "categorical"}) == "categorical"


# ---------------------------------------------------------------- identifiers

def schema_of(frame: pd.DataFrame, **options) -> dict:
    return infer_schema(frame, np.ones(len(frame), dtype=bool), **options)[0]


def test_a_text_column_of_distinct_values_is_left_out_as_an_identifier():
    n = 12
    frame = pd.DataFrame({"pid": [f"H{i:03d}" if i != 3 else None for i in range(n)],
                          "x": np.arange(n, dtype=float), "g": ["a", "b"] * (n // 2)})
    schema = schema_of(frame)
    assert [c["name"] for c in schema["columns"]] == ["x", "g"]
    assert "identifier" in schema["dropped"]["pid"]
    # said otherwise, it is a column of categories
    kept = schema_of(frame, columns={"pid": "categorical"})
    assert [c["name"] for c in kept["columns"]] == ["pid", "x", "g"]


@pytest.mark.parametrize("column", [
    ["a", "b", "c", "d"],                               # too few values to tell
    ["a", "b", "c", "d", "e", "a"],                     # a value repeats
    [True, False, True, None, False, True],             # booleans
    list(pd.period_range("2020-01", periods=6, freq="M")),  # a time, one a row
])
def test_columns_that_are_not_identifiers_are_kept(column):
    frame = pd.DataFrame({"c": column, "x": np.arange(len(column), dtype=float)})
    assert "c" in [c["name"] for c in schema_of(frame)["columns"]]


def test_impute_keeps_an_identifier_column_as_written_and_scores_only_the_others(tmp_path):
    from encoderkit.impute import impute

    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=n)
    frame = pd.DataFrame({"pid": [f"P{i:03d}" for i in range(n)], "x": x, "y": 2 * x + 0.1 * rng.normal(size=n)})
    frame.loc[[3, 10], "x"] = np.nan
    frame.loc[5, "pid"] = None
    src, out = tmp_path / "t.csv", tmp_path / "f.csv"
    frame.to_csv(src, index=False)
    report = impute(str(src), str(out), progress=False, overrides=["train.steps=3", "model.hidden_size=16",
                                                                   "model.num_layers=1", "model.num_heads=2",
                                                                   "model.intermediate_size=32"])
    got = pd.read_csv(out)
    assert got["pid"].isna().sum() == 1 and got["pid"].dropna().tolist() == frame["pid"].dropna().tolist()
    assert got["x"].notna().all()
    assert "pid" not in report.pools  # no held-back cell of it, no score
