"""Cells that mark a missing value in a column of numbers (``?`` in the UCI repository's
tables, ``.`` from SAS / Stata, ``-`` from spreadsheets): missing, however many there are.
With 30% of such cells a column was read as categories (its numbers' share under
``numeric_fraction``), so ``impute`` found nothing to fill. Reference: the numbers written,
and the positions of the marks, known by construction."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular.reading import read_table
from domains.tabular.schema import column_numbers, infer_schema
from encoderkit.cli import main
from encoderkit.errors import DataError
from tests.test_impute import TINY


def table(mark: str, share: float = 0.3, rows: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(10, 2, size=(rows, 3)), 2)
    holes = rng.random(values.shape) < share
    holes[0] = False  # each column keeps a number in its first row
    frame = pd.DataFrame(values, columns=["x", "y", "z"]).astype(object).mask(holes, mark)
    frame["kind"] = np.where(np.arange(rows) % 2, "a", "b")
    return frame, holes


@pytest.mark.parametrize("mark", ["?", " ? ", ".", "-", "--", "missing", "N.A."])
def test_marked_cells_are_holes_in_a_numeric_column(tmp_path, mark):
    frame, holes = table(mark)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    res = read_table(str(path))
    schema, messages = infer_schema(res.frame, np.ones(len(frame), bool))
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds == {"x": "numeric", "y": "numeric", "z": "numeric", "kind": "categorical"}
    for j, name in enumerate("xyz"):
        v, _ = column_numbers(res.frame[name], name, {})
        np.testing.assert_array_equal(np.isnan(v), holes[:, j])
        given = pd.to_numeric(frame[name].where(~holes[:, j]), errors="coerce").to_numpy(float)
        np.testing.assert_array_equal(v[~holes[:, j]], given[~holes[:, j]])
    if mark.strip() == "?":  # the reader says what it took for missing
        assert any("read as missing" in m for m in res.messages)


def test_question_mark_in_a_category_column_is_missing_too(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1.5,red\n2.5,?\n3.5,blue\n")
    frame = read_table(str(path)).frame
    assert frame["b"].isna().tolist() == [False, True, False]


def test_stray_words_still_make_a_column_text():
    """The marks are excused, not any text: a column 30% words is categories, as before,
    and a numeric column of a trained run given 30% words is still refused at predict."""
    frame, _ = table("abc")
    schema, _ = infer_schema(frame, np.ones(len(frame), bool))
    assert {c["name"]: c["kind"] for c in schema["columns"]}["x"] == "categorical"
    with pytest.raises(DataError, match="not numbers"):
        column_numbers(frame["x"], "x", {"numeric_fraction": 0.9})
    marked, _ = table("-")
    column_numbers(marked["x"], "x", {"numeric_fraction": 0.9})  # holes: no error


def test_impute_fills_the_marked_cells(tmp_path):
    frame, holes = table(".", share=0.15)
    src, out = tmp_path / "t.csv", tmp_path / "filled.csv"
    frame.to_csv(src, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["impute", f"input={src}", f"output={out}", "seed=0", *TINY]) == 0
    got = pd.read_csv(out)
    for j, name in enumerate("xyz"):
        col = got[name].to_numpy(float)
        assert np.isfinite(col).all()  # every "." filled with a number
        given = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        np.testing.assert_array_equal(col[~holes[:, j]], given[~holes[:, j]])
