"""`encoderkit impute` of a table with an entirely missing column: ingest warned "column 'b'
is entirely missing; dropped" and impute then refused the same column ("exclude it", exit
1). Now one behaviour: the column is kept in the output as it is (nothing to fill it from),
said once, and the other columns are imputed; as ``EncoderImputer(keep_empty_features=True)``
keeps such a column missing. A table with no usable column at all is still refused."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def test_an_empty_column_is_kept_as_it_is_and_said_once(tmp_path):
    path, out = tmp_path / "t.csv", tmp_path / "o.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=30).round(3), "b": np.nan, "c": rng.integers(0, 5, 30)}).to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert main(["impute", f"input={path}", f"output={out}", *TINY]) == 0
    about_b = [str(w.message) for w in said if "'b'" in str(w.message)]
    assert len(about_b) == 1 and "kept in the output as it is" in about_b[0] and "dropped" not in about_b[0]
    # nothing else was missing: the file itself, its empty column included
    assert out.read_bytes() == path.read_bytes()


def test_the_other_columns_are_filled_beside_it(tmp_path):
    path, out = tmp_path / "t.csv", tmp_path / "o.csv"
    rng = np.random.default_rng(1)
    a = rng.normal(size=40).round(3)
    frame = pd.DataFrame({"a": a, "b": np.nan, "c": (2 * a).round(3)})
    frame.loc[[3, 17], "a"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning, match="column 'b' is entirely missing: nothing to fill it from"):
        assert main(["impute", f"input={path}", f"output={out}", *TINY]) == 0
    filled = pd.read_csv(out)
    assert list(filled.columns) == ["a", "b", "c"] and filled["b"].isna().all()
    assert filled["a"].notna().all()
    pd.testing.assert_series_equal(filled["c"], frame["c"])  # observed cells unchanged


def test_a_table_of_empty_columns_only_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n,\n,\n,\n")
    assert main(["impute", f"input={path}", f"output={tmp_path / 'o.csv'}", "domain=tabular", *TINY]) != 0
    assert not (tmp_path / "o.csv").exists()
