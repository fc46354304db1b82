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
from domains.tabular.schema import check_ingest_options, column_numbers, infer_schema
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


@pytest.mark.parametrize("mark, given", [(".", []), ("-999", ["missing_value=-999"])])
def test_impute_fills_the_marked_cells(tmp_path, mark, given):
    """A mark (``.``) or a sentinel named by ``missing_value`` is a hole: every one filled
    with a number, every other cell as it was."""
    frame, holes = table(mark, share=0.15)
    src, out = tmp_path / "t.csv", tmp_path / "filled.csv"
    frame.to_csv(src, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["impute", f"input={src}", f"output={out}", "seed=0", *given, *TINY]) == 0
    got = pd.read_csv(out)
    for j, name in enumerate("xyz"):
        col = got[name].to_numpy(float)
        assert np.isfinite(col).all() and not (col[holes[:, j]] == -999).any()
        observed = pd.to_numeric(frame[name].where(~holes[:, j])).to_numpy(float)
        np.testing.assert_array_equal(col[~holes[:, j]], observed[~holes[:, j]])


# ---- the second audit of real-world files (2026-12-06): marks with decimal commas, Stata's
# extended codes, sentinels, and lines that are not records


def test_marks_beside_decimal_commas_read_as_holes_in_numbers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a;b;c\n1,5;2;x\n-;3;y\n3,25;.;x\nmissing;5;y\n4,0;-;x\n")
    res = read_table(str(path), ";")
    assert res.decimal == ","
    np.testing.assert_array_equal(res.frame["a"].to_numpy(float, na_value=np.nan), [1.5, np.nan, 3.25, np.nan, 4.0])
    assert res.frame["b"].dtype == "Int64" and res.frame["b"].isna().tolist() == [False, False, True, False, True]
    assert any("column 'a': 2 cell(s)" in m for m in res.messages)


def test_stata_extended_missing_codes_are_holes(tmp_path):
    frame, holes = table(".a", share=0.3)
    frame.loc[holes[:, 1], "y"] = ".b"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    res = read_table(str(path))
    for j, name in enumerate("xyz"):
        assert pd.api.types.is_float_dtype(res.frame[name].dtype)
        np.testing.assert_array_equal(res.frame[name].isna().to_numpy(), holes[:, j])


@pytest.mark.parametrize("given, expect", [(-999, [True, False, False, False]),
                                           ([-999, 9999], [True, False, True, False]),
                                           ("n.v.", [False, True, False, False])])
def test_missing_value_option_makes_sentinels_holes(tmp_path, given, expect):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n-999,x\nn.v.,y\n9999,x\n4.5,y\n")
    res = read_table(str(path), missing_value=given)
    assert res.frame["a"].isna().tolist() == expect
    if given == "n.v.":  # the word gone, the column holds numbers only: numbers, by hand
        np.testing.assert_array_equal(res.frame["a"].to_numpy(float, na_value=np.nan), [-999, np.nan, 9999, 4.5])
    assert check_ingest_options({"missing_value": given})["missing_value"] == given
    with pytest.raises(ValueError, match="missing_value"):
        check_ingest_options({"missing_value": {"a": 1}})


@pytest.mark.parametrize("first, match", [("sep=;", "Excel's delimiter hint"), ("# exported 2020", "starts with '#'")])
def test_a_first_line_that_is_not_the_header_is_named(tmp_path, first, match):
    path = tmp_path / "t.csv"
    path.write_text(f"{first}\na,b\n1,2\n3,4\n")
    with pytest.raises(DataError, match=match):
        read_table(str(path))


def test_a_repeated_header_row_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,y\na,b\n3,x\n")
    with pytest.raises(DataError, match="data row 3 repeats the header"):
        read_table(str(path))
    path.write_text("a,b\n1,a\n2,b\n")  # a header word among the values is no header row
    read_table(str(path))



def test_codes_led_by_a_zero_stay_codes(tmp_path):
    """Zip codes (02139) were read as integers: the category 2139, a fill written 2139."""
    rng = np.random.default_rng(0)
    zips = rng.choice(["02139", "00501", "10001", "02215"], size=40)
    frame = pd.DataFrame({"zip": zips, "x": np.round(rng.normal(size=40), 3)})
    holes = np.zeros(40, bool)
    holes[[3, 11, 25]] = True
    src, out = tmp_path / "t.csv", tmp_path / "filled.csv"
    frame.assign(zip=frame["zip"].mask(holes)).to_csv(src, index=False)
    res = read_table(str(src))
    assert res.frame["zip"].dropna().tolist() == [z for z, h in zip(zips, holes) if not h]
    schema, _ = infer_schema(res.frame, np.ones(40, bool))
    assert {c["name"]: c["kind"] for c in schema["columns"]}["zip"] == "categorical"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["impute", f"input={src}", f"output={out}", "seed=0", *TINY]) == 0
    got = pd.read_csv(out, dtype=str)["zip"]
    assert set(got) <= set(zips) and got[~holes].tolist() == list(zips[~holes])


def test_boolean_fills_are_spelled_as_the_file_spells_them(tmp_path):
    from encoderkit.impute_cells import as_written

    src = tmp_path / "t.csv"
    src.write_text("a,b,c\nTRUE,1.5,true\n,2.5,\nFALSE,3.5,false\n")
    data = read_table(str(src)).frame
    filled = data.copy()
    filled.loc[1, "a"], filled.loc[1, "c"] = False, True
    out = as_written(str(src), str(tmp_path / "o.csv"), data, filled, None)
    assert out["a"].tolist() == ["TRUE", "FALSE", "FALSE"]
    assert out["c"].tolist() == ["true", "true", "false"]
    assert out["b"].tolist() == ["1.5", "2.5", "3.5"]


@pytest.mark.parametrize("title", ["Credit card survey (subset)", "Credit card survey,,,"])
def test_a_title_line_above_the_header_is_named(tmp_path, title):
    path = tmp_path / "t.csv"
    path.write_text(f"{title}\na,b,c,d\n1,2,3,4\n5,6,7,8\n")
    with pytest.raises(DataError, match="line 1 .* looks like a title"):
        read_table(str(path))
    path.write_text("a,,,\n1,,,\n2,,,\n")  # separators ending each line: no title
    assert read_table(str(path)).frame["a"].tolist() == [1, 2]
