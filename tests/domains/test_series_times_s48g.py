"""Series time steps (audit s48, t1 / t6 / p7 / p6): infill, embed and a file read back warn
of rows absent from a series as ingest does; the uneven-steps words know regular calendars
(business days less holidays, yyyymmdd numbers, the spring change of daylight-saving time)
and say a step as ``1 hour``; nanosecond counters are stepped in int64; a channel whose
changes float32 cannot hold is warned of. Each against pandas' own calendar (``infer_freq``,
``bdate_range``, ``USFederalHolidayCalendar``, ``tz_localize``) or hand-computed steps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from pandas.tseries.holiday import USFederalHolidayCalendar

from domains.timeseries import steps
from domains.timeseries.domain import TimeSeriesDomain
from domains.timeseries.io import read_csv
from domains.timeseries.steps import REGULAR_GRID, uneven_steps


@pytest.fixture(autouse=True)
def _fresh_memory():
    """The in-memory warning is said once per process (``steps._SAID``): each test starts anew."""
    steps._SAID.clear()
    yield
    steps._SAID.clear()


def zero_predict(masked):
    """A stand-in model predicting 0 in normalised units (the window's channel mean)."""
    return [{"values": np.zeros((int(m.predict.sum()), m.inputs["values"].shape[1]))} for m in masked]


def said(fn, *args) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args)
    return [str(w.message) for w in caught]


def hourly_with_absent_hours() -> tuple[pd.DataFrame, int, int]:
    """480 hourly samples with NaN holes and 17 consecutive hours absent, and the hand-counted
    steps: how many differ from one hour, of how many."""
    rng = np.random.default_rng(1)
    idx = pd.date_range("2021-01-01", periods=480, freq="h")
    frame = pd.DataFrame({"value": 10 + 3 * np.sin(np.arange(480) / 24 * 2 * np.pi)}, index=idx)
    frame.index.name = "time"
    frame.iloc[rng.choice(480, 30, replace=False), 0] = np.nan
    kept = frame.drop(frame.index[197:214])
    gaps = np.diff(kept.index.to_numpy()) != np.timedelta64(1, "h")
    return kept, int(gaps.sum()), int(gaps.size)


def test_infill_embed_and_a_file_read_back_warn_of_absent_hours(tmp_path):
    frame, odd, n = hourly_with_absent_hours()
    assert pd.infer_freq(frame.index) is None and (odd, n) == (1, 462)  # pandas: no frequency
    words = f"its time steps vary ({odd} of {n} are not the most common, 1 hour)"
    d = TimeSeriesDomain({}, patch=8, time_column="time")
    # every way the data reaches the model: a frame indexed by time, a time column, a Series
    for data in (frame, frame.reset_index(), frame["value"]):
        for fn in (lambda x: d.infill(x, zero_predict), d.to_records):
            steps._SAID.clear()
            got = said(fn, data)
            assert len(got) == 1 and got[0].startswith(f"the input: {words}") and "not a gap to fill" in got[0]
    path = tmp_path / "hourly.csv"
    frame.to_csv(path)
    steps._SAID.clear()
    got = said(d.read_records, str(path))  # embed / predict / evaluate of a raw file
    assert len(got) == 1 and got[0].startswith(f"{path}: {words}")
    # the regular series says nothing; a frame read again in one process is said once
    full = pd.DataFrame({"value": np.arange(480.0)}, index=pd.date_range("2021-01-01", periods=480, freq="h"))
    assert said(d.to_records, full) == [] and said(d.to_records, frame) == []
    # ingest's word (a file's series) stands for the frames read from it after (impute's fills)
    steps._SAID.clear()
    assert len(said(lambda p: read_csv(p, time_column="time"), str(path))) == 1
    assert said(lambda x: d.infill(x, zero_predict), frame) == []


def test_a_long_frame_names_the_series_whose_steps_vary():
    days = pd.date_range("2021-01-01", periods=30, freq="D").strftime("%Y-%m-%d")
    a = pd.DataFrame({"id": "a", "date": days, "v": np.arange(30.0)})
    b = pd.DataFrame({"id": "b", "date": days, "v": np.arange(30.0)}).drop([4, 5])
    d = TimeSeriesDomain({}, patch=4, time_column="date", series_column="id")
    got = said(d.to_records, pd.concat([a, b], ignore_index=True))
    assert len(got) == 1 and got[0].startswith("the input: series 'b': its time steps vary (1 of 27 are "
                                               "not the most common, 1 day)")


def test_a_pandas_series_embeds_as_one_channel_and_errors_name_no_verb():
    x = pd.Series(np.arange(40.0), index=pd.date_range("2021-01-01", periods=40, freq="D"))
    d = TimeSeriesDomain({}, patch=4)
    (rec,) = d.to_records(x)  # was "infill: unsupported data of type Series" from embed
    np.testing.assert_array_equal(rec["values"], x.to_numpy(np.float32))
    with pytest.raises(TypeError) as e:
        d.to_records(object())
    assert str(e.value).startswith("unsupported data of type object") and "infill" not in str(e.value)


def test_business_days_are_a_calendar_and_holidays_no_gap():
    every = pd.bdate_range("2021-05-03", periods=99)
    assert pd.infer_freq(every) == "B" and uneven_steps(every) is None
    holidays = USFederalHolidayCalendar().holidays(every[0], every[-1])
    assert len(holidays) == 4  # Memorial Day, Juneteenth, Independence Day (observed), Labor Day
    assert uneven_steps(every.difference(holidays)) is None  # a calendar of business days less holidays
    absent = every[[10, 60]]
    assert not absent.isin(holidays).any()
    how = uneven_steps(every.difference(absent))
    # was "its time steps vary (20 of 96 are not the most common, 1 days)": every weekend counted
    assert how == (f"its times are business days (Monday to Friday: a weekend is one step) with 2 "
                   f"weekdays absent ({absent[0]:%Y-%m-%d}, {absent[1]:%Y-%m-%d})")
    assert "resample" not in how.advice and "holiday" in how.advice
    # the same dates with a time of day and a zone: business days still
    stamped = (every.difference(absent) + pd.Timedelta("16h")).tz_localize("America/New_York")
    assert str(uneven_steps(stamped)).startswith("its times are business days")


def test_yyyymmdd_numbers_are_counted_in_days():
    days = pd.date_range("2021-01-01", periods=90, freq="D")
    numbers = days.strftime("%Y%m%d").astype(np.int64).to_numpy()
    assert set(np.diff(numbers).tolist()) == {1, 70, 73}  # as numbers: 20210131 -> 20210201 is 70
    assert uneven_steps(numbers) is None  # was "2 of 89 are not the most common, 1"
    gap = np.delete(numbers, 40)
    assert uneven_steps(gap) == ("its time steps vary (1 of 88 are not the most common, 1 day; "
                                 "the times are read as yyyymmdd dates)")
    # 20210132 is no date: such numbers are numbers, stepped by 1
    assert uneven_steps(np.delete(np.arange(20210101, 20210199), 40)) == \
        "its time steps vary (1 of 96 are not the most common, 1)"


def test_spring_forward_local_times_get_a_daylight_saving_hint():
    zoned = pd.date_range("2021-03-25", periods=24 * 8, freq="h", tz="Europe/Berlin")
    local = zoned.tz_localize(None)  # what a logger without offsets writes: 01:00 then 03:00
    # pandas: every local time exists in Berlin, and one hour apart in time
    back = local.tz_localize("Europe/Berlin", nonexistent="raise", ambiguous="raise")
    assert (np.diff(back.as_unit("ns").asi8) == 3_600 * 10**9).all()
    how = uneven_steps(local)
    assert how == ("its time steps vary (1 of 191 are not the most common, 1 hour); the odd step, "
                   "2021-03-28 01:00 -> 03:00, is where clocks are set forward for summer time")
    assert "give each missing time a row" not in how.advice and "UTC offset" in how.advice
    assert uneven_steps(zoned) is None  # instants: even
    # an hour really absent on a weekday afternoon is a gap, said as one
    plain = pd.date_range("2021-03-22", periods=24 * 3, freq="h").delete(40)
    assert uneven_steps(plain) == "its time steps vary (1 of 70 are not the most common, 1 hour)"
    assert uneven_steps(plain).advice == REGULAR_GRID


@pytest.mark.parametrize("freq, words", [("h", "1 hour"), ("15min", "15 minutes"), ("D", "1 day"),
                                         ("2s", "2 seconds"), ("10ms", "10 milliseconds")])
def test_steps_are_said_in_words(freq, words):
    t = pd.date_range("2021-01-04", periods=30, freq=freq).delete(12)
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq).nanos)
    assert str(step) != words  # pandas' own text: "0 days 01:00:00"
    assert uneven_steps(t) == f"its time steps vary (1 of 28 are not the most common, {words})"


def test_nanosecond_counters_are_stepped_in_int64(tmp_path):
    start = 1_700_000_000_123_456_789
    for step in (1_000_000, 100):  # 1 ms, 100 ns
        t = start + step * np.arange(150, dtype=np.int64)
        assert len(set(np.diff(t.astype(np.float64)))) > 1  # float64 cannot tell these steps apart
        assert uneven_steps(t) is None  # was "most common, 999936" / "most common, 0"
        assert uneven_steps(np.delete(t, 7)) == f"its time steps vary (1 of 148 are not the most common, {step})"
        path = tmp_path / f"ns{step}.csv"
        pd.DataFrame({"time": t, "v": np.sin(np.arange(150) / 7)}).to_csv(path, index=False)
        assert said(lambda p: read_csv(p, time_column="time"), str(path)) == []
    # float epoch seconds with a millisecond fraction: 0.001 +- float64 rounding is one step
    assert uneven_steps(1_700_000_000.123 + 0.001 * np.arange(150)) is None


def test_a_channel_finer_than_float32_is_warned_of_at_ingest_and_embed(tmp_path):
    n = 200
    big = 1234567890123.456 + 10 * np.sin(np.arange(n) / 5)
    x = np.cos(np.arange(n) / 9)
    # the reference: float32 holds the 200 distinct readings as one value, x's as they are
    assert np.unique(big).size == n and np.unique(big.astype(np.float32)).size == 1
    assert np.unique(x.astype(np.float32)).size == np.unique(x).size
    src = tmp_path / "meter.csv"
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
                  "big": [f"{v:.3f}" for v in big], "x": x}).to_csv(src, index=False)
    from encoderkit.data.ingest import ingest

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ingest("timeseries", [str(src)], str(tmp_path / "m.zarr"), progress=False, verbose=False,
               time_column="date")
    flat = [str(w.message) for w in caught if "float32" in str(w.message)]
    assert len(flat) == 1 and "channel 'big'" in flat[0] and f"{n} distinct values are held as 1" in flat[0]
    assert "constant" in flat[0] and "subtract a level" in flat[0] and "'x'" not in flat[0]
    d = TimeSeriesDomain({}, patch=4, time_column="date")
    got = said(d.to_records, pd.read_csv(src))  # embed reads float32 records too
    assert len(got) == 1 and got[0].startswith("the input: series 'series0', channel 'big'")
    # a channel at an ordinary level says nothing
    assert said(d.to_records, pd.read_csv(src).drop(columns="big")) == []
