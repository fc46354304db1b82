"""``encoderkit impute``'s layout guess (audit s48, t3 / t7): a long file whose rows are
written time by time (``df.sort_values('ds')``, a panel by date) is a series file with its
id column, as the same rows grouped by id are; an event log whose first column is
``timestamp`` steps irregularly, so it is a table, and the advice that reads it as a series
names its id column. References: the grouped file's guess and series, hand-counted steps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from domains.timeseries.io import read_csv
from encoderkit.impute_layout import guess_domain, infer_domain, irregular_times, series_column, time_column


def long_series() -> pd.DataFrame:
    """Three daily series of different starts, lengths and levels, ids first, each with holes."""
    rng = np.random.default_rng(3)
    parts = []
    for sid, (start, n, level) in {"A": ("2021-01-01", 120, 100), "B": ("2021-02-15", 100, 10),
                                   "C": ("2020-11-01", 150, 1000)}.items():
        t = np.arange(n)
        y = level * (1 + 0.1 * np.sin(2 * np.pi * t / 7)) + rng.normal(size=n) * level * 0.01
        y[rng.choice(n, 8, replace=False)] = np.nan
        parts.append(pd.DataFrame({"unique_id": sid, "ds": pd.date_range(start, periods=n).strftime("%Y-%m-%d"),
                                   "y": y.round(3)}))
    return pd.concat(parts, ignore_index=True)


def test_a_long_file_written_time_by_time_is_the_series_of_its_grouped_rows(tmp_path):
    rows = long_series()
    grouped, by_date = tmp_path / "grouped.csv", tmp_path / "by_date.csv"
    rows.to_csv(grouped, index=False)
    rows.sort_values(["ds", "unique_id"]).to_csv(by_date, index=False)  # as pandas writes a panel
    guesses = {}
    for path in (grouped, by_date):
        time = time_column(str(path))
        guesses[path] = (infer_domain(str(path), {}), time, series_column(str(path), time))
    # was ("tabular", None, None): series B at level ~10 was filled with 26-49
    assert guesses[by_date] == guesses[grouped] == ("timeseries", "ds", "unique_id")
    # read with those options, the two files are the same series
    a = {s.id.split(":")[1]: s.values for s in read_csv(str(grouped), time_column="ds", series_column="unique_id")}
    b = {s.id.split(":")[1]: s.values for s in read_csv(str(by_date), time_column="ds", series_column="unique_id")}
    assert a.keys() == b.keys() == {"A", "B", "C"}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_a_panel_by_date_with_its_time_first_names_its_id(tmp_path):
    frame = pd.DataFrame({"date": np.repeat(pd.date_range("2021-01-01", periods=40).strftime("%Y-%m-%d"), 3),
                          "store": ["north", "south", "east"] * 40, "sales": np.arange(120.0)})
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    # was series_column None, and the store names then refused as "non-numeric cell 'north'"
    assert (time_column(str(path)), series_column(str(path), "date")) == ("date", "store")
    # the store's rows are each store's series, as grouped rows give them
    got = {s.id.split(":")[1]: s.values[0] for s in read_csv(str(path), time_column="date", series_column="store")}
    for store, rows in frame.groupby("store"):
        np.testing.assert_array_equal(got[store], rows["sales"].to_numpy())


def event_log(n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    seconds = np.sort(rng.uniform(0, 30 * 86400, n)).round()
    return pd.DataFrame({"timestamp": (pd.Timestamp("2021-01-01") + pd.to_timedelta(seconds, unit="s"))
                         .strftime("%Y-%m-%d %H:%M:%S"), "amount": rng.gamma(2, 20, n).round(2),
                         "qty": rng.integers(1, 5, n)})


def test_an_event_log_is_a_table_and_the_advice_names_its_id(tmp_path):
    log = event_log()
    path = tmp_path / "events.csv"
    log.to_csv(path, index=False)
    steps = np.diff(pd.to_datetime(log["timestamp"]).to_numpy()).astype(np.int64).astype(float)
    off = int((np.abs(steps - np.median(steps)) > 0.1 * np.median(steps)).sum())
    assert off * 2 > steps.size  # by hand: most steps are far from the median step
    assert time_column(str(path)) == "timestamp"  # named like a time, first
    assert irregular_times(str(path), "timestamp")[:2] == (off, steps.size)
    assert infer_domain(str(path), {}) == "tabular"  # was timeseries: held-out RMSE 86.5 vs 60.6
    with_id = tmp_path / "accounts.csv"
    log.assign(account=np.array(["a", "b", "c"])[np.arange(len(log)) % 3]).to_csv(with_id, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert guess_domain(str(with_id), {}, lambda _: None) == "tabular"
    (said,) = [str(w.message) for w in caught]
    assert "step irregularly" in said and said.endswith(
        "domain=timeseries time_column=timestamp series_column=account reads it as a series")
    # samples with a jitter of seconds, and business days (3-day weekends), keep their grid
    rng = np.random.default_rng(0)
    jitter = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(200) * 60 + rng.integers(-3, 4, 200), unit="s")
    for name, times in (("jitter", jitter), ("bdays", pd.bdate_range("2021-01-04", periods=200))):
        grid = tmp_path / f"{name}.csv"
        pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M:%S"), "v": rng.normal(size=200)}).to_csv(grid, index=False)
        assert irregular_times(str(grid), "time") is None and infer_domain(str(grid), {}) == "timeseries", name
