"""Numbers and dates as non-English files write them (audit c of session 52).

- ``27.004`` beside ``809`` in a German ``;`` export: whole numbers with points as thousands
  marks, read as decimals without a word (``textforms.thousands_points``: the rule a reader
  applies to a column's written cells; the file reader's call of it is reading.py's).
- Full-width numerals (``２２９．６``, ``１５``): no number to any reader, a column of them was
  an identifier (its holes never filled) and ``15`` / ``１５`` two categories; now read as
  numbers written oddly, kept with advice (``textforms``), not dropped.
- ``impute`` of a file whose only holes are an identifier's said "no missing cell in the
  input"; now it names the column and why its cells are left.
- Dates written ``2024年1月2日`` (``2024년 1월 2일``): an identifier; now read as dates and filled
  in their own form (``datetext``).
References: hand-written cells and their hand-computed values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular.datetext import date_fills, date_text
from domains.tabular.schema import infer_schema
from encoderkit.data.textforms import (_formatted_numbers, _number_advice, _number_form, _text_dates,
                                       ascii_width, point_candidates, thousands_message, thousands_points)
from encoderkit.impute_report import ImputeReport, unfilled_columns

GERMAN = ["809", "27.004", "5.152", "", "40.724", "912", "1.204.331"]


def test_points_grouping_whole_numbers_beside_ones_below_1000_are_thousands_marks():
    assert thousands_points(GERMAN) == ("27.004", "809")
    msg = thousands_message("Einwohner", ("27.004", "809"))
    assert "27004" in msg and "remove the thousands marks" in msg and "Einwohner" in msg


@pytest.mark.parametrize("cells", [
    ["809", "27.004", "5.15", "40.724"],          # a fraction of two digits: decimals
    ["0.125", "27.004", "5.152", "40.724", "3"],  # led by a zero: no thousands group
    ["1809", "27.004", "5.152", "40.724"],        # a whole number of 1000 or more needs a mark
    ["27.004", "5.152", "40.724"],                # no whole number beside them: nothing to tell
    ["809", "27.004", "5.152"],                   # two grouped cells: too few to tell decimals apart
    ["809", "27.004", "5.152", "40.724", "abc"],  # text
])
def test_decimals_and_other_columns_are_not_taken_for_thousands(cells):
    assert thousands_points(cells) is None


def test_float_precheck_passes_the_german_column_and_refuses_large_or_fine_values():
    assert point_candidates(np.array([809.0, 27.004, 5.152, np.nan, 40.724, 912.0]))
    assert not point_candidates(np.array([1809.0, 27.004]))   # 1000 or more: marked if thousands
    assert not point_candidates(np.array([8.0, 0.125]))       # below 1 with a fraction
    assert not point_candidates(np.array([8.0, 2.0625]))      # four decimals
    assert not point_candidates(np.array([8.5, 2.25]))        # no whole number


def test_full_width_numerals_are_numbers_written_oddly():
    assert ascii_width("２２９．６") == "229.6" and ascii_width("－１５％") == "-15%"
    assert _number_form("２２９．６") == ("plain", True)       # before: None (no number)
    assert _number_form("１，２３４．５") == ("thousands", True)
    assert _number_form("229.6") == ("plain", False)           # ASCII as before
    assert _formatted_numbers(["１５", "15", "１２"], 0.9)
    example, advice = _number_advice(["２２９．６", "１２４．８"])
    assert example == "２２９．６" and "229.6 for ２２９．６" in advice


def _schema(frame: pd.DataFrame) -> tuple[dict, list[str]]:
    return infer_schema(frame, np.ones(len(frame), dtype=bool))


def test_a_full_width_number_column_is_read_as_numbers_not_dropped_as_an_identifier():
    rng = np.random.default_rng(0)
    wide = str.maketrans("0123456789.", "０１２３４５６７８９．")
    sales = [None if i % 10 == 0 else f"{v:.1f}".translate(wide) for i, v in enumerate(rng.uniform(100, 999, 40))]
    frame = pd.DataFrame({"shop": ["a", "b"] * 20, "sales": pd.Series(sales, dtype=object)})
    schema, messages = _schema(frame)
    assert "sales" not in schema["dropped"]  # before: "it is an identifier (each of its values occurs once)"
    assert [(c["name"], c["kind"]) for c in schema["columns"]] == [("shop", "categorical"), ("sales", "numeric")]
    from domains.tabular.values import numeric_values
    np.testing.assert_array_equal(numeric_values(frame["sales"]),  # ２２９．６ read as 229.6
                                  [np.nan if s is None else float(s.translate({ord(w): a for a, w in zip(
                                      "0123456789.", "０１２３４５６７８９．")})) for s in sales])


def test_nothing_to_fill_names_the_identifier_holes_it_leaves():
    frame = pd.DataFrame({"name": ["p1", None, "p3", "p4"], "x": [1, 2, 3, 4]})
    schema = {"dropped": {"name": "it is an identifier (each of its values occurs once)"}, "excluded": []}
    left = unfilled_columns(frame, ["x"], schema)
    assert left == {"name": "1 empty cell(s), it is an identifier (each of its values occurs once)"}
    report = ImputeReport(domain="tabular", output="out.csv", nothing_missing=True, unfilled=left)
    text = report.summary()
    assert "no missing cell in the input" not in text and "'name': 1 empty cell(s)" in text
    # no hole anywhere: said as before
    assert unfilled_columns(frame.fillna("p2"), ["x"], schema) == {}
    assert "no missing cell in the input" in ImputeReport(domain="tabular", output="o.csv",
                                                          nothing_missing=True).summary()


def test_impute_of_a_file_whose_only_holes_are_an_identifiers_says_so(tmp_path):
    from encoderkit.impute import impute

    src = tmp_path / "idh.csv"
    rows = [f"{'' if i % 10 == 0 else f'person_{i}'},{i}" for i in range(1, 41)]
    src.write_text("name,x\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning):
        report = impute(str(src), str(tmp_path / "out.csv"), progress=False, overrides=["train.steps=1"])
    text = report.summary()
    assert "'name': 4 empty cell(s), it is an identifier" in text
    assert "no missing cell in the input" not in text


def test_dates_written_in_japanese_are_dates_filled_in_their_own_form():
    days = pd.date_range("2024-01-01", periods=30, freq="D")
    cells = pd.Series([None if i == 7 else f"{d.year}年{d.month}月{d.day}日" for i, d in enumerate(days)],
                      dtype=object)
    dates = date_text(cells)
    assert dates is not None  # before: None (an identifier)
    expect = pd.Series(days, dtype="datetime64[ns]").dt.tz_localize("UTC").where(cells.notna())
    pd.testing.assert_series_equal(dates, expect, check_names=False)
    schema, _ = _schema(pd.DataFrame({"日付": cells, "v": np.arange(30.0)}))
    col = schema["columns"][0]
    assert col["name"] == "日付" and col["kind"] == "numeric" and col["datetime"]
    fill = date_fills([pd.Timestamp("2024-01-08 02:00").value], cells.dropna().to_numpy(dtype=object))
    assert fill == ["2024年1月8日"]
    assert date_fills([pd.Timestamp("2024-03-05").value], ["2024년 01월 02일"]) == ["2024년 03월 05일"]
    assert date_text(pd.Series(["2024年2月30日", "2024年1月2日"] * 3)) is None  # no such day: not dates
    assert _text_dates(["2024年1月2日", "2024년 1월 2일"], 0.9)  # a mixed column: warned of as text dates


def test_a_series_time_column_of_japanese_dates_orders_its_rows_as_the_iso_one():
    from domains.timeseries.times import sort_key

    days = pd.date_range("2024-01-30", periods=5, freq="D")[::-1]  # 1 February before 31 January
    jp = pd.Series([f"{d.year}年{d.month}月{d.day}日" for d in days])
    iso = pd.Series([d.strftime("%Y-%m-%d") for d in days])
    assert np.array_equal(np.argsort(sort_key(jp).to_numpy(), kind="stable"),
                          np.argsort(sort_key(iso).to_numpy(), kind="stable"))
    assert list(sort_key(jp)) == list(days)  # before: a TimeFormError, neither number nor date


def test_full_width_codes_are_judged_as_their_ascii_twins_review_r2():
    """Integer codes and zero-led codes written in full width stay categories (review r2:
    read as numbers, their holes were filled with made-up values such as 308.0)."""
    from domains.tabular.kinds import _infer_kind

    opts = {"categorical_threshold": 10, "numeric_fraction": 0.95}
    wide = str.maketrans("0123456789.", "０１２３４５６７８９．")
    regions = pd.Series([c.translate(wide) for c in ["101", "202", "303", "404"] * 30], dtype=object)
    zips = pd.Series([c.translate(wide) for c in ["0123", "0078", "0012"] * 10] + [None], dtype=object)
    counts = pd.Series([str(i).translate(wide) for i in range(60)], dtype=object)
    assert _infer_kind(regions, opts) == _infer_kind(pd.Series([101, 202, 303, 404] * 30), opts) == "categorical"
    assert _infer_kind(zips, opts) == "categorical"
    assert _infer_kind(counts, opts) == _infer_kind(pd.Series(range(60)), opts) == "numeric"
