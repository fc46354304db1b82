"""Tables written with a decimal comma (``2,25``; a spreadsheet in a German or French locale
writes them separated by ``;``): read as numbers by ``decimal=auto``, written back with the
comma, and never taken for an identifier. References: the numbers the text spells, parsed
by hand (``float(text.replace(",", "."))``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular.reading import read_table
from domains.tabular.schema import check_ingest_options, infer_schema
from encoderkit.cli import main
from tests.test_impute import TINY

ROWS = [("1,5", "2,25", "x"), ("2,0", "", "y"), ("3,5", "4,75", "x"), ("4,0", "5,5", "y"),
        ("5,5", "6,0", "x"), ("6,0", "7,25", "y"), ("7,5", "8,0", "x"), ("8,0", "9,5", "y"),
        ("-0,5", "10,125", "x"), ("9,0", "11", "y")]


def write(path, rows=ROWS, sep=";", header=("a", "b", "c")) -> str:
    path.write_text("\n".join([sep.join(header), *(sep.join(r) for r in rows)]) + "\n")
    return str(path)


def by_hand(cells) -> np.ndarray:
    return np.array([float(c.replace(",", ".")) if c else np.nan for c in cells])


def test_semicolon_file_of_decimal_commas_reads_as_numbers(tmp_path):
    res = read_table(write(tmp_path / "t.csv"), ";")
    assert res.decimal == ","
    for j, name in enumerate("ab"):
        assert res.frame[name].dtype == np.float64
        np.testing.assert_array_equal(res.frame[name].to_numpy(), by_hand([r[j] for r in ROWS]))
    assert res.frame["c"].tolist() == [r[2] for r in ROWS]
    assert any("decimal comma" in m and "'a'" in m for m in res.messages)


def test_tab_separated_file_is_detected_too(tmp_path):
    res = read_table(write(tmp_path / "t.tsv", sep="\t"))
    assert res.decimal == "," and res.frame["b"].dtype == np.float64


@pytest.mark.parametrize("case", ["comma_separated", "point_elsewhere", "told_point", "thousands"])
def test_no_switch_where_the_comma_is_not_a_decimal_mark(tmp_path, case):
    if case == "comma_separated":  # "2,5" quoted in a comma file is text, as it was
        rows = [(f'"{a}"', b.replace(",", ".") or "", c) for a, b, c in ROWS]
        res = read_table(write(tmp_path / "t.csv", rows, sep=","))
    elif case == "point_elsewhere":  # another column's 2.5: the point is the file's mark
        rows = [(a, b.replace(",", "."), c) for a, b, c in ROWS]
        res = read_table(write(tmp_path / "t.csv", rows), ";")
    elif case == "told_point":
        res = read_table(write(tmp_path / "t.csv"), ";", decimal=".")
    else:  # 1.234,5: a thousands mark the reader does not guess at
        rows = [(f"1.{i}00,5", b, c) for i, (_, b, c) in enumerate(ROWS)]
        res = read_table(write(tmp_path / "t.csv", rows), ";")
        assert res.decimal == "," and not pd.api.types.is_numeric_dtype(res.frame["a"])  # b switched, a stays text
        return
    assert res.decimal == "."
    assert not pd.api.types.is_numeric_dtype(res.frame["a"])


def test_decimal_option_checked_and_equal_to_delimiter_refused(tmp_path):
    with pytest.raises(ValueError, match="decimal"):
        check_ingest_options({"decimal": "·"})
    from encoderkit.errors import DataError
    with pytest.raises(DataError, match="also the delimiter"):
        read_table(write(tmp_path / "t.csv"), ";", decimal=";")


def test_decimal_comma_text_is_not_called_an_identifier():
    """Read as text (decimal='.'), a column of distinct numbers with a comma is said to be
    numbers written oddly, with the option that reads them, not dropped as an identifier."""
    frame = pd.DataFrame({"b": [r[1] or None for r in ROWS], "c": [r[2] for r in ROWS]})
    schema, messages = infer_schema(frame, np.ones(len(frame), bool))
    assert [c["name"] for c in schema["columns"]] == ["b", "c"]
    assert any("decimal=','" in m for m in messages)
    assert not any("identifier" in m for m in messages)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_fills_a_decimal_comma_table_and_writes_it_back_with_commas(tmp_path):
    src = write(tmp_path / "t.csv")
    out = tmp_path / "filled.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["impute", f"input={src}", f"output={out}", "delimiter=;", "seed=0", *TINY]) == 0
    given = [line.split(";") for line in open(src).read().splitlines()]
    got = [line.split(";") for line in out.read_text().splitlines()]
    assert len(got) == len(given)
    for r, (g, o) in enumerate(zip(given, got)):
        for a, b in zip(g, o):
            if a:  # observed: the file's own text
                assert a == b, (r, a, b)
    hole = got[2][1]  # the empty b of the second data row
    assert "," in hole and "." not in hole
    assert 2.0 <= float(hole.replace(",", ".")) <= 11.0  # a number within the column's range


def test_impute_writes_back_the_files_byte_order_mark_and_line_ends(tmp_path):
    """Excel's UTF-8 export starts with a byte-order mark and ends lines with CRLF; the filled
    file was written without the mark (Excel then reads é wrong) and with LF."""
    src = tmp_path / "t.csv"
    text = "\r\n".join(["a;b;c", *(";".join(r) for r in ROWS)]) + "\r\n"
    src.write_bytes(b"\xef\xbb\xbf" + text.replace("x", "é").encode("utf-8"))
    out = tmp_path / "filled.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["impute", f"input={src}", f"output={out}", "delimiter=;", "seed=0", *TINY]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == len(ROWS) + 1
    assert raw.count(b"\n") == raw.count(b"\r\n")
    got = [line.split(";") for line in raw[3:].decode("utf-8").splitlines()]
    given = [line.split(";") for line in text.replace("x", "é").splitlines()]
    for g, o in zip(given, got):
        assert all(a == b for a, b in zip(g, o) if a)
