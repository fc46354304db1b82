"""Series in Parquet files (s44): ingest reads a Parquet file into the store a CSV of the
same data gives (the CSV reader is the independent reference), in each layout users hold
series in: pandas' ``df.to_parquet()`` with a DatetimeIndex, a named index of dates with
typed columns (float32, nullable Int64 / Float64), a datetime column, Nixtla's long
``unique_id, ds, y`` and a long file with a numeric time and a channel column. ``infill``
(CLI and Python) and ``impute`` write Parquet back with the input's columns, dtypes, index
and observed cells; ``impute`` guesses a series Parquet file as one and a table as a table;
a malformed file is refused in one line naming it. Real data: statsmodels co2 and
macrodata, aeon's BasicMotions; tiny models, a few steps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from encoderkit.cli import main
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.impute import infer_domain, series_column, time_column
from tests.test_impute import TINY, anes

from .sample_store import TINY_MODEL


def co2(n: int = 400) -> pd.DataFrame:
    """statsmodels' own frame: weekly CO2 on an unnamed DatetimeIndex, its real gaps NaN."""
    from statsmodels.datasets import co2 as data

    return data.load_pandas().data.iloc[:n]


def macro(n: int = 120) -> pd.DataFrame:
    """Quarterly US macro data on a DatetimeIndex named ``date``, typed columns with holes:
    float64, float32, nullable Int64 and Float64."""
    from statsmodels.datasets import macrodata

    m = macrodata.load_pandas().data.iloc[:n]
    rng = np.random.default_rng(0)
    holes = rng.random((n, 4)) < 0.1
    frame = pd.DataFrame({
        "realgdp": m["realgdp"].to_numpy(),
        "unemp": m["unemp"].to_numpy(np.float32),
        "pop": pd.array(m["pop"].round().astype(np.int64), dtype="Int64"),
        "infl": pd.array(m["infl"].to_numpy(), dtype="Float64"),
    }, index=pd.DatetimeIndex(pd.PeriodIndex([f"{int(y)}Q{int(q)}" for y, q in zip(m["year"], m["quarter"])],
                                             freq="Q").to_timestamp(), name="date"))
    for j, c in enumerate(frame.columns):
        frame.loc[holes[:, j], c] = None
    return frame


def nixtla(shuffled: bool = False) -> pd.DataFrame:
    """Three macro channels as Nixtla's long layout (sorted by id and time, or rows
    shuffled); ids as Arrow strings."""
    m = macro().reset_index()
    parts = [pd.DataFrame({"unique_id": c, "ds": m["date"], "y": m[c].astype("float64")})
             for c in ("realgdp", "unemp", "infl")]
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=0) if shuffled else frame
    return frame.reset_index(drop=True).astype({"unique_id": "string[pyarrow]"})


def motions(cases: int = 6) -> pd.DataFrame:
    """aeon's BasicMotions (6 channels x 100 steps a case) as a long file: case (int), step,
    channel, value; a few values missing."""
    from aeon.datasets import load_basic_motions

    x, _ = load_basic_motions(split="train")
    x = x[:cases].astype(np.float64)
    x[0, 1, 10:14] = np.nan
    c, ch, t = np.meshgrid(np.arange(cases), np.arange(x.shape[1]), np.arange(x.shape[2]), indexing="ij")
    return pd.DataFrame({"case": c.ravel(), "step": t.ravel(), "channel": [f"c{k}" for k in ch.ravel()],
                         "value": x.ravel()})


# name -> (frame written to Parquet as it is, the same data as a CSV's frame, Parquet options, CSV options)
def layouts() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, dict, dict]]:
    c, m = co2(), macro()
    shuffled = m.reset_index().sample(frac=1.0, random_state=1).reset_index(drop=True)
    long = {"value_column": "value", "channel_column": "channel", "time_column": "step",
            "series_column": "case"}
    return {
        "datetime_index": (c, c.rename_axis("date").reset_index(), {}, {"time_column": "date"}),
        "named_index_typed": (m, m.reset_index(), {}, {"time_column": "date"}),
        "time_column": (shuffled, shuffled, {"time_column": "date"}, {"time_column": "date"}),
        "nixtla_long": (nixtla(True), nixtla(True), {"time_column": "ds", "series_column": "unique_id"},
                        {"time_column": "ds", "series_column": "unique_id"}),
        "numeric_time_long": (motions(), motions(), long, long),
    }


def records(store: str) -> list[tuple[str, np.ndarray, int, int]]:
    """(id after the file name, values, channels, length) of every record."""
    s = RecordStore(store)
    out = []
    for i in range(len(s)):
        r = s[i]
        rid = str(r["id"])
        out.append((rid.split(":", 1)[1] if ":" in rid else "", np.asarray(r["values"]),
                    int(r["channels"]), int(r["length"])))
    return out


@pytest.mark.parametrize("name", list(layouts()))
def test_parquet_ingests_to_the_store_of_the_same_data_as_csv(tmp_path, name):
    frame, table, popts, copts = layouts()[name]
    src, ref = tmp_path / "x.parquet", tmp_path / "x.csv"
    frame.to_parquet(src)
    table.to_csv(ref, index=False)
    ingest("timeseries", [str(src)], str(tmp_path / "p.zarr"), progress=False, verbose=False, **popts)
    ingest("timeseries", [str(ref)], str(tmp_path / "c.zarr"), progress=False, verbose=False, **copts)
    got, want = records(str(tmp_path / "p.zarr")), records(str(tmp_path / "c.zarr"))
    assert len(got) == len(want) >= 1
    for (gid, gv, gc, gl), (wid, wv, wc, wl) in zip(got, want):
        assert (gid, gc, gl) == (wid, wc, wl)
        np.testing.assert_array_equal(gv, wv)  # bit for bit, NaN where missing, same time order
    ps, cs = RecordStore(str(tmp_path / "p.zarr")).schema, RecordStore(str(tmp_path / "c.zarr")).schema
    assert ps.get("channel_names") == cs.get("channel_names")


def run_on(tmp_path, src) -> str:
    from encoderkit.train import pretrain

    store = tmp_path / "s.zarr"
    ingest("timeseries", [str(src)], str(store), progress=False, verbose=False)
    return str(pretrain(["domain=timeseries", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                         "train.steps=3", "train.progress=false", "train.eval_every=0",
                         "data.max_seqlen=48", "data.max_tokens=256", "domain.patch=4", *TINY_MODEL]))


def observed_kept(src, out) -> None:
    """``out`` has ``src``'s Arrow schema, index, columns and dtypes, its observed cells
    bit for bit and no hole left."""
    assert pq.read_schema(out).equals(pq.read_schema(src), check_metadata=True)
    a, b = pd.read_parquet(src), pd.read_parquet(out)
    pd.testing.assert_index_equal(b.index, a.index)
    pd.testing.assert_series_equal(b.dtypes, a.dtypes)
    for c in a.columns:
        seen = a[c].notna().to_numpy()
        np.testing.assert_array_equal(b[c].to_numpy()[seen], a[c].to_numpy()[seen])
        assert b[c].notna().all(), c


def test_infill_and_embed_a_parquet_series_keep_its_index_dtypes_and_cells(tmp_path, capsys):
    """Rows out of time order (a DatetimeIndex named ``date``, typed channels with holes):
    filled in time order, written back in the file's order with its own types."""
    from encoderkit.infer import load

    src = tmp_path / "m.parquet"
    macro().sample(frac=1.0, random_state=2).to_parquet(src)
    run = run_on(tmp_path, src)
    out = tmp_path / "filled.parquet"
    assert main(["infill", f"checkpoint={run}", f"input={src}", f"output={out}"]) == 0, capsys.readouterr().err
    observed_kept(src, out)
    model = load(run)
    filled = model.infill(str(src))  # Python: a path is read as infill reads it
    np.testing.assert_array_equal(filled.to_numpy(np.float64), pd.read_parquet(out).to_numpy(np.float64))
    emb = tmp_path / "e.npy"
    assert main(["embed", f"checkpoint={run}", f"input={src}", f"output={emb}"]) == 0
    assert np.load(emb).shape[0] == 1 and np.isfinite(np.load(emb)).all()
    # a CSV output of the Parquet input holds the times as a column
    csv = tmp_path / "filled.csv"
    assert main(["infill", f"checkpoint={run}", f"input={src}", f"output={csv}"]) == 0
    assert list(pd.read_csv(csv).columns) == ["date", "realgdp", "unemp", "pop", "infl"]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_parquet_series_with_and_without_domain(tmp_path, capsys):
    src, out = tmp_path / "co2.parquet", tmp_path / "co2_filled.parquet"
    co2().to_parquet(src)
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 0
    assert capsys.readouterr().out.startswith("impute timeseries: filled 47 cell(s)")  # guessed, no domain=
    observed_kept(src, out)
    src, out = tmp_path / "nixtla.parquet", tmp_path / "nixtla_filled.parquet"
    frame = nixtla()
    frame.loc[[3, 50, 51, 200], "y"] = np.nan
    frame.to_parquet(src, index=False)
    assert main(["impute", f"input={src}", f"output={out}", "domain=timeseries", *TINY]) == 0
    holes = int(frame["y"].isna().sum())  # ds and unique_id guessed
    assert capsys.readouterr().out.startswith(f"impute timeseries: filled {holes} cell(s)")
    observed_kept(src, out)


def test_impute_guesses_series_parquet_as_series_and_tables_as_tables(tmp_path):
    from sklearn.datasets import load_iris

    for name, (frame, _, opts, _) in layouts().items():
        if name == "numeric_time_long":  # a long file with a channel column is named, never guessed
            continue
        frame = nixtla() if name == "nixtla_long" else frame  # in order: shuffled times are no grid
        path = tmp_path / f"{name}.parquet"
        frame.to_parquet(path)
        assert infer_domain(str(path), {}) == "timeseries", name
        found = time_column(str(path))
        assert found == opts.get("time_column", "date" if name != "datetime_index" else "index"), name
        assert series_column(str(path), found) == opts.get("series_column"), name
    iris = load_iris(as_frame=True).frame.assign(species=lambda f: f["target"].map(dict(enumerate("abc"))))
    for name, table in {"anes": anes(), "iris": iris, "macro_columns": macro().reset_index(drop=True)}.items():
        path = tmp_path / f"table_{name}.parquet"
        table.to_parquet(path)
        assert infer_domain(str(path), {}) == "tabular", name


def test_malformed_parquet_series_is_refused_in_one_line_naming_the_file(tmp_path, capsys):
    text = co2(60).assign(co2=lambda f: f["co2"].astype("string"))
    text.iloc[7, 0] = "n.a.x"
    twice = co2(60).iloc[[0, 1, 2, 2, 3]]
    for frame, needles in ((text, ("text.parquet", "'n.a.x'", "row 8", "'co2'")),
                           (twice, ("twice.parquet", "appears twice", "rows 3 and 4"))):
        name = needles[0]
        frame.to_parquet(tmp_path / name)
        capsys.readouterr()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rc = main(["ingest", "domain=timeseries", f"input={tmp_path / name}", f"output={tmp_path / 's.zarr'}"])
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if ": error: " in line]
        assert rc == 1 and len(lines) == 1 and "Traceback" not in err, err
        assert all(n in lines[0] for n in needles), lines[0]


def test_parquet_gets_the_csv_checks_missing_value_uneven_steps_and_float32_range(tmp_path):
    """``missing_value`` numbers are holes, dropped weeks are warned of, a value float32
    cannot hold is refused naming the series and channel, as for a CSV."""
    frame = co2(60).assign(code=pd.array(np.r_[[-999], np.arange(59)], dtype="Int64"))
    frame.drop(frame.index[[10, 20, 30]]).to_parquet(tmp_path / "gappy.parquet")
    with pytest.warns(UserWarning, match=r"gappy\.parquet.*time steps vary"):
        ingest("timeseries", [str(tmp_path / "gappy.parquet")], str(tmp_path / "g.zarr"), progress=False,
               verbose=False, missing_value=-999)
    (_, values, c, length), = records(str(tmp_path / "g.zarr"))
    assert (c, length) == (2, 57) and np.isnan(values[length]) and values[length + 1] == 0.0
    co2(60).assign(co2=lambda f: f["co2"] * 1e37).to_parquet(tmp_path / "big.parquet")
    with pytest.raises(DataError, match=r"channel 'co2'.*float32") as e:
        ingest("timeseries", [str(tmp_path / "big.parquet")], str(tmp_path / "b.zarr"), progress=False,
               verbose=False)
    assert "big.parquet" in str(e.value)


def test_a_yes_no_channel_is_filled_with_yes_or_no(tmp_path):
    """(review s44) A Parquet bool channel's fills were written through a float cast: every
    fill (0.37 here) came back True. A fill is the nearer of 0 and 1."""
    from domains.timeseries import TimeSeriesDomain

    n = 50
    frame = pd.DataFrame({"flag": pd.array([True, False, None] * 10 + [True] * 20, dtype="boolean"),
                          "x": np.sin(np.arange(n) / 5.0)}, index=pd.date_range("2020", periods=n, freq="D"))
    frame.to_parquet(tmp_path / "b.parquet")
    dom = TimeSeriesDomain({})
    data = dom.read_input(str(tmp_path / "b.parquet"))
    arrays, how = dom._series_arrays(data)
    for fill, want in ((0.37, False), (0.81, True)):
        filled = dom._rebuild(data, how, [np.full_like(a, fill) for a in arrays])
        dom.write_output(filled, str(tmp_path / f"o{fill}.parquet"))
        back = pd.read_parquet(tmp_path / f"o{fill}.parquet")
        assert back["flag"].dtype == "boolean" and not back["flag"].isna().any()
        assert (back["flag"].iloc[2::3][:10] == want).all()  # the holes
        assert back["flag"].iloc[:2].tolist() == [True, False]  # observed cells as given
