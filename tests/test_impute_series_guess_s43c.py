"""``encoderkit impute`` guessing series vs table on real-world series exports (audit s43,
finding 1): ISO week / quarter / EViews month labels, the series id before the time
(``series,time,value``; Nixtla's ``unique_id,ds,y``), ``df.reset_index().to_csv()`` row
numbers before the time. Those were imputed as tables (about the column mean in every hole,
exit 0); tables with a date column stay tables, and are said to be. Also the advice of the
refusals (finding 1 end, 8) and Parquet with ``domain=timeseries`` (finding 6; read since s44). Real data:
statsmodels co2 and macrodata; tiny models, a few steps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.impute import infer_domain, series_column, time_column
from tests.test_impute import TINY, co2


def macro() -> pd.DataFrame:
    from statsmodels.datasets import macrodata

    return macrodata.load_pandas().data


def quarter_labels(form: str) -> list[str]:
    m = macro()
    return [form.format(y=int(y), q=int(q)) for y, q in zip(m["year"], m["quarter"])]


def long_frame(id_name: str, time_name: str, value_name: str, numeric_ids: bool = False) -> pd.DataFrame:
    """Three hourly series of 30 samples, stacked (id first), each with a hole."""
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2020-01-01", periods=30, freq="h").strftime("%Y-%m-%d %H:%M")
    parts = []
    for k in range(3):
        v = np.sin(np.arange(30) / 4 + k) + rng.normal(0, 0.05, 30)
        v[5 + 7 * k] = np.nan
        parts.append(pd.DataFrame({id_name: k if numeric_ids else f"day{k}", time_name: stamps,
                                   value_name: v.round(6)}))
    return pd.concat(parts, ignore_index=True)


def series_files(tmp_path) -> dict[str, tuple[str, str, str | None]]:
    """name -> (file, its time column, its series column)."""
    x = pd.Series(co2(120), index=pd.date_range("1958-03-29", periods=120, freq="W-SAT"))
    m = macro()
    months = pd.date_range("1949-01-01", periods=60, freq="MS")
    frames = {
        "isoweek": (pd.DataFrame({"obs": x.index.strftime("%G-W%V"), "co2": x.to_numpy()}), "obs", None),
        "spaceQ": (pd.DataFrame({"label": quarter_labels("{y} Q{q}"), "realgdp": m["realgdp"]}), "label", None),
        "Qfirst": (pd.DataFrame({"label": quarter_labels("Q{q} {y}"), "unemp": m["unemp"]}), "label", None),
        "eviews": (pd.DataFrame({"obs": [f"{d.year}M{d.month:02d}" for d in months],
                                 "passengers": np.arange(60) % 12 + 100}), "obs", None),
        "textid": (long_frame("series", "time", "value"), "time", "series"),
        "nixtla": (long_frame("unique_id", "ds", "y"), "ds", "unique_id"),
        "numid": (long_frame("id", "time", "value", numeric_ids=True), "time", "id"),
        "value_first": (pd.DataFrame({"co2": x.to_numpy(), "date": x.index.strftime("%Y-%m-%d")}), "date", None),
        # European dates after the values: read day first, as the reader reads them (s44)
        "value_first_dotted": (pd.DataFrame({"co2": x.to_numpy(), "date": x.index.strftime("%d.%m.%Y")}),
                               "date", None),
    }
    out = {}
    for name, (frame, time, key) in frames.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = (str(path), time, key)
    ranged = tmp_path / "rangeindex.csv"  # df.reset_index().to_csv(): ",date,co2" and 0..n-1
    pd.DataFrame({"date": x.index.strftime("%Y-%m-%d"), "co2": x.to_numpy()}).to_csv(ranged)
    out["rangeindex"] = (str(ranged), "date", None)
    return out


def test_series_exports_are_guessed_as_series(tmp_path):
    for name, (path, time, key) in series_files(tmp_path).items():
        assert infer_domain(path, {}) == "timeseries", name
        assert time_column(path) == time, name
        assert series_column(path, time) == key, name


def table_files(tmp_path) -> dict[str, str]:
    """Tables with a date column, which must stay tables."""
    rng = np.random.default_rng(1)
    n_pat, visits = 40, 5
    days = np.cumsum(rng.integers(20, 200, size=(n_pat, visits)), axis=1)  # irregular visits
    visit = (pd.Timestamp("2015-01-01") + pd.to_timedelta(days.ravel(), unit="D")).strftime("%Y-%m-%d")
    numeric = pd.DataFrame({"patient_id": np.repeat(np.arange(n_pat), visits), "visit_date": visit,
                            "age": np.repeat(rng.integers(30, 80, n_pat), visits),
                            "sbp": rng.normal(130, 15, n_pat * visits).round(1)})
    texts = numeric.assign(sex=np.repeat(rng.choice(["f", "m"], n_pat), visits),
                           diagnosis=rng.choice(["a", "b", "c"], n_pat * visits))
    dated = pd.DataFrame({"x": np.arange(60) * 1.5, "period": pd.date_range("1970-01-01", periods=60, freq="QS")
                          .strftime("%Y-%m-%d"), "y": rng.normal(0, 1, 60)})
    dated.loc[[3, 17], "period"] = None  # a date to fill: a table's value, never a series' time
    makes = ["ford", "chevrolet", "toyota", "volvo", "fiat"]  # "m0" would parse as a time (pandas)
    cars = pd.DataFrame({"model": [f"{makes[i % 5]} model {i}" for i in range(50)],
                         "year": rng.integers(1970, 1983, 50),
                         "mpg": rng.normal(25, 5, 50).round(1)})
    out = {}
    for name, frame in {"patients_numeric": numeric, "patients": texts, "dated_holes": dated,
                        "cars": cars}.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = str(path)
    return out


def test_tables_with_a_date_column_stay_tables(tmp_path):
    for name, path in table_files(tmp_path).items():
        assert infer_domain(path, {}) == "tabular", name


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_iso_week_labels_fill_as_the_iso_dated_series(tmp_path, capsys):
    """co2 with ISO week labels (``1958-W13``): a series, its fills those of the same file with
    ISO dates (every hole was 340.19, the column mean, as a table); the labels written back as
    they were."""
    x = co2(300)
    x[[20, 21, 22, 150, 151]] = np.nan
    stamps = pd.date_range("1958-03-29", periods=len(x), freq="W-SAT")
    out = {}
    for name, times in (("week", stamps.strftime("%G-W%V")), ("date", stamps.strftime("%Y-%m-%d"))):
        src, dst = tmp_path / f"{name}.csv", tmp_path / f"{name}_filled.csv"
        pd.DataFrame({name: times, "co2": x}).to_csv(src, index=False)
        code = main(["impute", f"input={src}", f"output={dst}", "domain.patch=8", *TINY])
        cap = capsys.readouterr()
        assert code == 0 and "impute timeseries: filled 5 cell(s)" in cap.out, cap.err
        back = pd.read_csv(dst, dtype=str, keep_default_na=False)
        assert back[name].tolist() == list(times)
        out[name] = back["co2"].astype(float).to_numpy()
    np.testing.assert_array_equal(out["week"], out["date"])


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_long_layout_with_the_id_first_fills_as_with_its_options(tmp_path, capsys):
    """Nixtla's ``unique_id,ds,y``: read as three series (the same output as with
    ``series_column= time_column=`` given), not as a table."""
    src = tmp_path / "nixtla.csv"
    long_frame("unique_id", "ds", "y").to_csv(src, index=False)
    outs = []
    for k, extra in enumerate(([], ["series_column=unique_id", "time_column=ds"])):
        dst = tmp_path / f"out{k}.csv"
        code = main(["impute", f"input={src}", f"output={dst}", "domain.patch=4", *extra, *TINY])
        cap = capsys.readouterr()
        assert code == 0 and "impute timeseries: filled 3 cell(s)" in cap.out, cap.err
        outs.append(dst.read_bytes())
    assert outs[0] == outs[1]


def test_row_numbers_before_the_time_are_left_as_they_are(tmp_path, capsys):
    """``,date,co2`` with 0..n-1 first: a series of one channel, the row numbers kept in the
    file and neither a channel nor held back (only co2 is scored)."""
    x = co2(200)
    x[[30, 31, 100]] = np.nan
    src, dst = tmp_path / "ranged.csv", tmp_path / "filled.csv"
    pd.DataFrame({"date": pd.date_range("1958-03-29", periods=200, freq="W-SAT").strftime("%Y-%m-%d"),
                  "co2": x}).to_csv(src)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["impute", f"input={src}", f"output={dst}", "domain.patch=8", *TINY])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "impute timeseries: filled 3 cell(s)" in cap.out and "Unnamed" not in cap.out
    assert not [w for w in caught if "not channels the run" in str(w.message)]
    given = pd.read_csv(src, dtype=str, keep_default_na=False)
    back = pd.read_csv(dst, dtype=str, keep_default_na=False)
    assert back.iloc[:, :2].equals(given.iloc[:, :2])
    assert (back["co2"] != "").all()


def test_a_table_with_a_date_column_says_its_rows_are_imputed_without_their_order(tmp_path, capsys):
    path = table_files(tmp_path)["patients"]
    with pytest.warns(UserWarning, match=r"column 'visit_date' holds dates / times, but the file is read "
                                         r"as a table.*without their order; domain=timeseries "
                                         r"time_column=visit_date reads it as a series"):
        assert main(["impute", f"input={path}", f"output={tmp_path / 'f.csv'}", *TINY]) == 0
    assert "impute tabular: no missing cell" in capsys.readouterr().out


def test_unreadable_time_labels_say_how_to_write_times_not_to_read_a_table(tmp_path, capsys):
    src = tmp_path / "fy.csv"
    pd.DataFrame({"date": [f"FY{1959 + i // 4}-{i % 4 + 1}" for i in range(40)],
                  "v": np.arange(40.0)}).to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", *TINY]) == 1
    err = capsys.readouterr().err
    assert "write its times as dates" in err and "1959Q1" in err and "domain=tabular" not in err, err


def test_year_and_quarter_columns_are_refused_as_one_time_in_two_columns(tmp_path, capsys):
    """statsmodels' own macrodata layout: "time '1959' appears twice" and the table advice."""
    src = tmp_path / "macro.csv"
    macro()[["year", "quarter", "realgdp", "unemp"]].to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", *TINY]) == 1
    err = capsys.readouterr().err
    assert "span two columns, 'year' and 'quarter'" in err and "domain=tabular" not in err, err


def test_a_parquet_series_is_imputed_with_its_index_kept(tmp_path, capsys):
    """Refused once ("reads no Parquet file", finding 6); read since s44 (see
    tests/domains/test_timeseries_parquet_s44.py)."""
    m = macro()
    frame = pd.DataFrame({"realgdp": m["realgdp"].to_numpy()},
                         index=pd.PeriodIndex(quarter_labels("{y}Q{q}"), freq="Q").to_timestamp())
    frame.index.name = "date"
    frame.iloc[[10, 40, 41]] = np.nan
    src, out = tmp_path / "q.parquet", tmp_path / "o.parquet"
    frame.to_parquet(src)
    assert main(["impute", f"input={src}", f"output={out}", "domain=timeseries", *TINY]) == 0, \
        capsys.readouterr().err
    back = pd.read_parquet(out)
    pd.testing.assert_index_equal(back.index, frame.index)
    assert back["realgdp"].notna().all() and (back["realgdp"][frame["realgdp"].notna()]
                                              == frame["realgdp"].dropna()).all()


def test_a_parquet_file_read_back_as_series_is_a_frame_indexed_by_its_times(tmp_path):
    """``infill`` / ``predict`` on a raw Parquet file: "unknown time-series file type" once."""
    from domains.timeseries import TimeSeriesDomain

    src = tmp_path / "s.parquet"
    pd.DataFrame({"v": np.arange(10.0)}, index=pd.date_range("2020", periods=10, freq="D")).to_parquet(src)
    data = TimeSeriesDomain({}).read_input(str(src))
    assert isinstance(data.index, pd.DatetimeIndex) and list(data.columns) == ["v"]


def test_ids_that_pandas_reads_as_times_of_day_leave_a_table_a_table(tmp_path):
    """``m0``, ``m12``, ``t3`` (month or trial ids) parse as times of a day without a year: a
    first column of them made any table a series (the audit's one leftover of the guess)."""
    rng = np.random.default_rng(0)
    for prefix in ("m", "t"):
        frame = pd.DataFrame({"id": [f"{prefix}{i}" for i in range(40)], "x": rng.normal(size=40),
                              "y": rng.normal(size=40)})
        path = tmp_path / f"{prefix}.csv"
        frame.to_csv(path, index=False)
        assert infer_domain(str(path), {}) == "tabular", prefix
