"""The series reader on time labels of real exports (audit s43, findings 1, 8, 9): period
labels pandas does not read (``1959 Q1``, ``Q1 1959``, ``1949M01``, ``2020-W05``) order the
rows as their periods; a time written over two columns (statsmodels' ``year,quarter``, UCI's
``Date;Time``) is named as such; repeated times say why they may be one (``1949.1`` =
``1949.10``, a daylight-saving change); a regular monthly / yyyymm / decimal-quarter series
is not warned of as uneven. Real data: statsmodels macrodata and co2."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.timeseries.io import read_csv
from domains.timeseries.times import TimeFormError, sort_key, uneven_steps


def macro() -> pd.DataFrame:
    from statsmodels.datasets import macrodata

    return macrodata.load_pandas().data


def quarters(frame: pd.DataFrame, form: str) -> list[str]:
    years, qs = frame["year"].astype(int), frame["quarter"].astype(int)
    return [form.format(y=y, q=q) for y, q in zip(years, qs)]


@pytest.mark.parametrize("form", ["{y} Q{q}", "Q{q} {y}", "{y}-Q{q}", "{y}q{q}", "{y}Q{q}"])
def test_quarter_labels_order_rows_as_their_quarters(tmp_path, form):
    """macrodata with its quarters written as Stata / Excel do, rows shuffled: read as the
    same series as the file with ISO dates (``1959 Q1`` and ``Q1 1959`` were "neither a number
    nor a date / time", and impute's guess took such files for tables)."""
    m = macro()
    labels = quarters(m, form)
    iso = pd.PeriodIndex(quarters(m, "{y}Q{q}"), freq="Q").to_timestamp().strftime("%Y-%m-%d")
    order = np.random.default_rng(0).permutation(len(m))
    a, b = tmp_path / "labels.csv", tmp_path / "iso.csv"
    shuffled = pd.DataFrame({"quarter": np.asarray(labels)[order], "realgdp": m["realgdp"].to_numpy()[order]})
    shuffled.to_csv(a, index=False)
    pd.DataFrame({"quarter": iso, "realgdp": m["realgdp"]}).to_csv(b, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a regular quarterly series: no "time steps vary"
        got, want = read_csv(str(a), time_column="quarter"), read_csv(str(b), time_column="quarter")
    np.testing.assert_array_equal(got[0].values, want[0].values)
    np.testing.assert_array_equal(want[0].values[0], m["realgdp"].to_numpy())


def test_month_and_iso_week_labels_are_their_periods_start():
    """EViews months and ISO weeks (``%G-W%V``, from Monday) order as the periods they name."""
    months = pd.Series(["1949M03", "1949m1", "1950M01", "1949M12"], name="obs")
    assert list(sort_key(months)) == list(pd.to_datetime(["1949-03-01", "1949-01-01", "1950-01-01",
                                                           "1949-12-01"]))
    weeks = pd.Series(["2021-W01", "2020-W53", "2020-W05", "1958-W13"], name="week")
    assert list(sort_key(weeks)) == [pd.Timestamp("2021-01-04"), pd.Timestamp("2020-12-28"),
                                     pd.Timestamp("2020-01-27"), pd.Timestamp("1958-03-24")]


def test_co2_iso_weeks_read_as_the_iso_dated_series_and_written_as_they_were(tmp_path):
    from statsmodels.datasets import co2

    x = co2.load_pandas().data["co2"]
    weeks = x.index.strftime("%G-W%V")
    src = tmp_path / "w.csv"
    pd.DataFrame({"week": weeks, "co2": x.to_numpy()}).to_csv(src, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weekly: even steps
        s = read_csv(str(src), time_column="week")
    np.testing.assert_array_equal(s[0].values[0], x.to_numpy())


def test_an_odd_period_label_is_named_and_unreadable_labels_say_how_to_write_times(tmp_path):
    cells = pd.Series(["1959 Q1", "1959 Q2", "1959 Q5", "1959 Q4"], name="quarter")
    with pytest.raises(TimeFormError, match=r"data row 3 \(line 4\) holds '1959 Q5', which is no quarter"):
        sort_key(cells)
    with pytest.raises(TimeFormError, match=r"write its times as dates .*periods \(1959Q1"):
        sort_key(pd.Series(["FY1959-1", "FY1959-2", "FY1959-3"], name="date"))


def test_year_and_quarter_columns_are_named_as_one_time_in_two_columns(tmp_path):
    """statsmodels' own macrodata layout: was "time '1959' appears twice"."""
    src = tmp_path / "macro.csv"
    macro()[["year", "quarter", "realgdp", "unemp"]].to_csv(src, index=False)
    with pytest.raises(TimeFormError, match=r"span two columns, 'year' and 'quarter'.*1959Q1"):
        read_csv(str(src), time_column="year")


@pytest.mark.parametrize("time", ["Date", "Time"])
def test_date_and_time_of_day_columns_are_named_either_way(tmp_path, time):
    """UCI household power's ``Date;Time`` layout: either column as the time names both (the
    advice went in a circle: give time_column=Time, then time_column=Date)."""
    stamps = pd.date_range("2006-12-16", periods=72, freq="h")
    src = tmp_path / "power.csv"
    pd.DataFrame({"Date": stamps.strftime("%d/%m/%Y"), "Time": stamps.strftime("%H:%M:%S"),
                  "Global_active_power": np.linspace(0, 1, 72).round(3)}).to_csv(src, sep=";", index=False)
    with pytest.raises(TimeFormError, match=r"span two columns, '(Date|Time)' and '(Date|Time)'.*"
                                            r"2006-12-16 00:00:00"):
        read_csv(str(src), time_column=time, sep=";")


def test_a_long_layout_with_a_channel_column_is_no_split_time(tmp_path):
    """Times repeat once per channel there: that is no time over two columns."""
    src = tmp_path / "long.csv"
    t = np.tile(np.arange(20), 2)
    pd.DataFrame({"t": t, "channel": np.repeat(["a", "b"], 20), "value": np.arange(40.0)}).to_csv(src, index=False)
    s = read_csv(str(src), time_column="t", value_column="value", channel_column="channel")
    assert s[0].values.shape == (2, 20)


@pytest.mark.filterwarnings("ignore:.*time steps vary")
def test_repeated_times_say_why_they_may_be_one(tmp_path):
    dec = tmp_path / "dec.csv"
    pd.DataFrame({"date": [f"1949.{m}" for m in range(1, 13)], "v": np.arange(12.0)}).to_csv(dec, index=False)
    with pytest.raises(TimeFormError, match=r"read as numbers, so '1949.1' = '1949.10'"):
        read_csv(str(dec), time_column="date")
    dst = tmp_path / "dst.csv"  # local times over the October change: 02:00 twice
    local = ["2021-10-31 00:00", "2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00", "2021-10-31 03:00"]
    pd.DataFrame({"time": local, "load": np.arange(5.0)}).to_csv(dst, index=False)
    with pytest.raises(TimeFormError, match=r"daylight-saving change.*UTC offsets"):
        read_csv(str(dst), time_column="time")
    same = tmp_path / "same.csv"  # a plain duplicated row: no guess at a reason
    pd.DataFrame({"date": ["2020-01-01", "2020-01-02", "2020-01-02"], "v": [1.0, 2, 3]}).to_csv(same, index=False)
    with pytest.raises(Exception, match=r"appears twice \(lines 3 and 4\); give each time of a series one row$"):
        read_csv(str(same), time_column="date")


def test_calendar_months_are_even_steps():
    """Months of 28-31 days, yyyymm integers over a year's end, EViews decimal quarters: even
    (were "11 of 143 are not the most common, 1"); months really missing are counted in months."""
    months = pd.date_range("1949-01-01", periods=144, freq="MS")
    assert uneven_steps(months) is None and uneven_steps(months + pd.offsets.MonthEnd(0)) is None
    assert uneven_steps(np.array([y * 100 + m for y in range(1949, 1961) for m in range(1, 13)])) is None
    assert uneven_steps(np.array([y + q / 10 for y in range(1959, 2010) for q in range(1, 5)])) is None
    gaps = months.delete([10, 20, 30, 40, 50])
    assert uneven_steps(gaps) == "its time steps vary (5 of 138 are not the most common, 1 month)"
    yyyymm = np.array([y * 100 + m for y in range(1949, 1961) for m in range(1, 13) if (y, m) != (1950, 6)])
    assert uneven_steps(yyyymm) == "its time steps vary (1 of 142 are not the most common, 1 month)"
    # not months: numbers and days as before
    assert uneven_steps(np.array([1.0, 2, 3, 5])) == "its time steps vary (1 of 3 are not the most common, 1)"
    days = pd.date_range("2020-01-01", periods=10, freq="D").delete([4])
    assert uneven_steps(days) == "its time steps vary (1 of 8 are not the most common, 1 day)"
