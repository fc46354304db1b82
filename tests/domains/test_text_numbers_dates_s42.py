"""Numbers and dates written as text for people, found by an audit of real-world CSV files:
a table's numbers with no-break-space thousands marks (French Excel), a Unicode minus or an
accounting negative were neither warned about nor kept when all distinct (dropped as an
"identifier", holes left empty); a table's dates such as ``31.12.2020`` were dropped the same
way; a series file's dotted dates were sorted month-first where that parses. References: the
numbers and dates each file is written from, known by construction."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular.reading import read_table
from domains.tabular.schema import infer_schema
from domains.timeseries.io import read_csv
from domains.timeseries.times import sort_key

N = 12
NUMBERS = [1249.80 + 1000.0 * i + 0.01 * i for i in range(N)]  # every one >= 1000, all distinct


def table(tmp_path, cells: list[str], sep: str = ";", name: str = "t.csv") -> pd.DataFrame:
    """A file of the text column ``v`` (one cell empty) beside a plain number column ``x``,
    read as the ingest reads it (pandas' pyarrow-backed ``str`` cells)."""
    cells = list(cells)
    cells[3] = ""
    rows = [f"{c}{sep}{i}.5" for i, c in enumerate(cells)]
    path = tmp_path / name
    path.write_text("\n".join([f"v{sep}x", *rows]) + "\n", encoding="utf-8")
    return read_table(str(path), sep).frame


def schema_of(frame: pd.DataFrame) -> tuple[dict, list[str]]:
    return infer_schema(frame, np.ones(len(frame), dtype=bool))


def french(x: float, space: str) -> str:  # 1 249,80: the thousands mark ``space``, a decimal comma
    return f"{x:,.2f}".replace(",", space).replace(".", ",")


# ---------------------------------------------------------------- numbers written as text

@pytest.mark.parametrize("cells", [
    [french(x, "\u00a0") for x in NUMBERS],                            # no-break space
    [french(x, "\u202f") for x in NUMBERS],                            # narrow no-break space
    [f"\u2212{x:.2f}" if i % 2 else f"{x:.2f}" for i, x in enumerate(NUMBERS)],  # U+2212 minus
    [f"({x:,.2f})" if i % 2 else f"{x:,.2f}" for i, x in enumerate(NUMBERS)],    # accounting
], ids=["nbsp", "narrow_nbsp", "unicode_minus", "accounting"])
def test_distinct_formatted_numbers_are_kept_with_a_warning_not_dropped_as_an_identifier(tmp_path, cells):
    frame = table(tmp_path, cells, sep=";" if "," in cells[0] else ",")
    assert not pd.api.types.is_numeric_dtype(frame["v"])  # text, as the audit found it
    schema, messages = schema_of(frame)
    assert "v" in [c["name"] for c in schema["columns"]] and "v" not in schema["dropped"]
    said = [m for m in messages if "'v'" in m and "numbers written" in m]
    assert len(said) == 1 and not any("identifier" in m for m in messages)


def test_thousands_marks_are_told_to_go_and_a_decimal_comma_alone_to_use_the_option(tmp_path):
    eu = [f"{x:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".") for x in NUMBERS]  # 1.249,8
    _, messages = schema_of(table(tmp_path, eu, name="eu.csv"))
    (said,) = [m for m in messages if "'v'" in m]
    assert "remove the thousands marks" in said  # decimal=',' alone leaves 1.249,8 text
    comma = [f"{x / 1000:.2f}".replace(".", ",") for x in NUMBERS]  # 1,25: a decimal comma only
    path = tmp_path / "comma.csv"
    path.write_text("\n".join(["v;x", *(f"{c};{i}.5" for i, c in enumerate(comma))]) + "\n")
    _, messages = schema_of(read_table(str(path), ";", decimal=".").frame)  # told: read as text
    (said,) = [m for m in messages if "'v'" in m]
    assert "decimal=','" in said and "thousands" not in said


@pytest.mark.parametrize("cells", [
    [f"{i:02d}" for i in range(N)],                    # codes as text: nothing to strip
    [f"1.{i}.3" for i in range(N)],                    # versions
    [f"10.0.0.{i}" for i in range(N)],                 # addresses
], ids=["codes", "versions", "addresses"])
def test_text_that_is_no_number_is_not_called_one(tmp_path, cells):
    _, messages = schema_of(table(tmp_path, cells, sep=","))
    assert not any("numbers written" in m for m in messages)


# ---------------------------------------------------------------- dates written as text in a table

DAYS = pd.date_range("2020-01-13", periods=N, freq="9D")  # days above 12, months 1..4


@pytest.mark.parametrize("form", ["%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%d %b %Y"])
@pytest.mark.parametrize("repeats", [False, True])
def test_dates_as_text_are_no_identifier_and_are_said_to_want_iso(tmp_path, form, repeats):
    days = DAYS[np.arange(N) % 4] if repeats else DAYS
    cells = list(days.strftime(form))
    schema, messages = schema_of(table(tmp_path, cells, sep=","))
    assert "v" in [c["name"] for c in schema["columns"]] and "v" not in schema["dropped"]
    said = [m for m in messages if "'v'" in m]
    assert len(said) == 1 and "dates written as text" in said[0] and "2020-12-31" in said[0]


def test_iso_dates_are_still_read_as_dates_without_the_warning(tmp_path):
    schema, messages = schema_of(table(tmp_path, list(DAYS.strftime("%Y-%m-%d")), sep=","))
    (v,) = [c for c in schema["columns"] if c["name"] == "v"]
    assert v["kind"] == "numeric" and v["datetime"] and not any("'v'" in m for m in messages)


def test_words_all_distinct_are_still_an_identifier(tmp_path):
    schema, _ = schema_of(table(tmp_path, [f"H{i:03d}" for i in range(N)], sep=","))
    assert "v" in schema["dropped"]


# ---------------------------------------------------------------- a series file's time column

WEEKS = pd.date_range("1958-03-29", periods=40, freq="7D")  # days 1..31, months 3..12


@pytest.mark.parametrize("form", ["%d.%m.%Y", "%d.%m.%Y %H:%M", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y"])
def test_sort_key_reads_each_date_form_as_the_dates_it_spells(form):
    shuffled = WEEKS[np.random.default_rng(0).permutation(len(WEEKS))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the day or month is above 12 somewhere: no warning
        got = sort_key(pd.Series(shuffled.strftime(form), name="date"))
    np.testing.assert_array_equal(pd.DatetimeIndex(got).as_unit("ns").asi8, shuffled.as_unit("ns").asi8)


def test_slashed_dates_that_never_say_which_is_the_day_are_month_first_with_a_warning():
    firsts = pd.date_range("1959-01-01", periods=12, freq="MS")  # 01/04/1959: the day is never > 12
    with pytest.warns(UserWarning, match=r"'when'.*ISO dates"):
        got = sort_key(pd.Series(firsts.strftime("%m/%d/%Y"), name="when"))
    np.testing.assert_array_equal(pd.DatetimeIndex(got).as_unit("ns").asi8, firsts.as_unit("ns").asi8)


def test_a_series_file_with_dotted_dates_keeps_its_rows_in_time_order(tmp_path):
    """co2 with 10.05.1958: read month-first where that parses, the rows were reordered."""
    path = tmp_path / "co2.csv"
    rows = [f"{d},{i}" for i, d in enumerate(WEEKS.strftime("%d.%m.%Y"))]
    path.write_text("\n".join(["date,co2", *rows]) + "\n")
    (series,) = read_csv(str(path), time_column="date")
    np.testing.assert_array_equal(series.values[0], np.arange(len(WEEKS), dtype=float))
