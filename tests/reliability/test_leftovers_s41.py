"""Session-41 leftovers: ``infill`` writes observed cells of a text table or series back
as the file holds them and warns of the infinite series values it fills, as ``impute``
does; a sets CSV row of separators alone is refused by every sets reader; a sets
``unit`` that would overflow the float32 positions is a config error; long decimals
are read as ``float(text)`` by the series, sets and probe readers."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.train.config import ConfigError

from .conftest import refuses_cleanly, run_cli

# 19 significant digits whose value pandas' default C parser rounds one step off (found by
# a search over random 19-digit decimals; pinned below so the test keeps discriminating)
LONG = "0.3915000806360837783"
# a tiny model trained 3 steps: impute's output format is the point, not its fills
TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
        "train.steps=3", "progress=false"]


def cells(path: Path, sep: str = ",") -> list[list[str]]:
    """Every row of a delimited text file (gzip by name) as the strings it holds."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        return [row for row in csv.reader(fh, delimiter=sep)]


def lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        return fh.read().splitlines()


def assert_only_holes_changed(src: Path, out: Path, sep: str = ",", inf_filled: bool = False) -> None:
    """The output holds every observed cell of ``src`` as the same characters (a row with
    nothing to fill is the same line, byte for byte) and a number in every empty cell
    (and, with ``inf_filled``, a finite number where ``src`` said inf)."""
    given, got = cells(src, sep), cells(out, sep)
    assert len(got) == len(given) and got[0] == given[0]
    for line_a, line_b, a, b in zip(lines(src)[1:], lines(out)[1:], given[1:], got[1:]):
        assert len(a) == len(b)
        filled = [j for j, c in enumerate(a)
                  if c == "" or (inf_filled and c.lower().lstrip("+-") in ("inf", "infinity"))]
        for j, (x, y) in enumerate(zip(a, b)):
            if j in filled:
                assert np.isfinite(float(y)), (a, b)
            else:
                assert y == x, (a, b)
        if not filled:
            assert line_b == line_a


# ---------------------------------------------------------------- 1. infill keeps the text

@pytest.mark.parametrize("name", ["table.csv", "table.csv.gz", "table.tsv"])
def test_infill_of_a_table_changes_only_the_cells_it_fills(runs, tmp_path, name):
    """Was: 1.50 -> 1.5, 1e-3 -> 0.001, +4.42 -> 4.42, 031 -> 31.0 in every observed cell
    (impute kept them; infill wrote pandas' text of the parsed value)."""
    t = runs["tabular"]
    header = cells(t.raw[0])[0]  # the run's columns (anes96: 11 numbers)
    rows = [["1.50", "7", "7", "1", "6", "6", "36", "3", "1", "1", "1e-3"],
            ["190.0", "1", "3", "", "5", "1", "20", "4", "1", "0", "5.247550249494384"],
            ["031", "7", "2", "2", "6", "1", "24", "6", "1", "0", ""],
            ["0.10", "4", "3", "4", "5", "1", "28", "6", "1", "0", "+4.42"],
            ["2E2", "0", "4", "4", "4", "3", "40", "5", "2", "1", "5.30"]]
    sep = "\t" if ".tsv" in name else ","
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    src = tmp_path / name
    out = tmp_path / ("filled" + name[len("table"):])
    if name.endswith(".gz"):
        src.write_bytes(gzip.compress(text.encode()))
    else:
        src.write_text(text)
    assert main(["infill", f"checkpoint={t.dir}", f"input={src}", f"output={out}"]) == 0
    assert_only_holes_changed(src, out, sep)


def test_infill_of_a_series_csv_changes_only_the_cells_it_fills(runs, tmp_path):
    """Was: 1.50 -> 1.5, 2 -> 2.0 (a column with a hole is read as floats), 1e-3 -> 0.001."""
    src, out = tmp_path / "s.csv", tmp_path / "filled.csv"
    src.write_text("time,a,b\n2000-01-01,1.50,2\n2000-01-02,,3\n2000-01-03,1e-3,\n"
                   "2000-01-04,0.10,5\n2000-01-05,2.000,6\n2000-01-06,-0,7\n")
    assert main(["infill", f"checkpoint={runs['timeseries'].dir}", f"input={src}", f"output={out}"]) == 0
    assert_only_holes_changed(src, out)


def test_infill_of_a_sets_csv_changes_only_the_cells_it_fills(runs, tmp_path):
    """The same for a long-format sets CSV (was 2.00 -> 2.0, 1e0 -> 1.0)."""
    src, out = tmp_path / "sets.csv", tmp_path / "filled.csv"
    src.write_text("set,x,y,intensity\na,1.0,2.00,3.50\na,2,3,\nb,1e0,1,1\nb,0,0,+2\n")
    assert main(["infill", f"checkpoint={runs['sets'].dir}", f"input={src}", f"output={out}"]) == 0
    assert_only_holes_changed(src, out)


def test_impute_of_a_series_csv_changes_only_the_cells_it_fills(tmp_path):
    """impute kept a table's text but rewrote a series CSV's (0.500 -> 0.5); rows out of
    time order are filled in time order and written back in the file's."""
    order = np.random.default_rng(0).permutation(90)
    rows = [f"{i},{'' if i % 13 == 5 else f'{np.sin(i / 6.0) * 3:.3f}'},{'' if i % 29 == 7 else i}"
            for i in order]
    src, out = tmp_path / "s.csv", tmp_path / "filled.csv"
    src.write_text("time,a,b\n" + "\n".join(rows) + "\n")
    assert main(["impute", f"input={src}", f"output={out}", "holdout=0", *TINY]) == 0
    assert_only_holes_changed(src, out)


# ---------------------------------------------------------------- 2. infill warns of inf

def test_infill_of_a_series_warns_of_the_infinite_values_it_fills(runs, tmp_path):
    """Ingest and impute say that infinite values are read as missing; infill filled them
    without a word (exit 0, the file's inf silently replaced by a number)."""
    src, out = tmp_path / "s.csv", tmp_path / "filled.csv"
    src.write_text("time,a,b\n2000-01-01,1.5,2\n2000-01-02,inf,3\n2000-01-03,1.0,-inf\n"
                   "2000-01-04,0.5,5\n2000-01-05,2.0,-Infinity\n")
    n_inf = sum(c.lower().lstrip("+-") in ("inf", "infinity") for row in cells(src)[1:] for c in row)
    said = f"{src}: {n_inf} infinite value(s) read as missing and filled (a 1, b 2)"
    with pytest.warns(UserWarning, match=re.escape(said)):
        assert main(["infill", f"checkpoint={runs['timeseries'].dir}", f"input={src}", f"output={out}"]) == 0
    assert_only_holes_changed(src, out, inf_filled=True)

    arr = np.array([[1.0, np.inf, 2.0, 3.0, -np.inf, 4.0] * 4])  # [C, L], a .npy file too
    npy, filled = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(npy, arr)
    said = f"{npy}: {int(np.isinf(arr).sum())} infinite value(s) read as missing and filled"
    with pytest.warns(UserWarning, match=re.escape(said)):
        assert main(["infill", f"checkpoint={runs['timeseries'].dir}", f"input={npy}", f"output={filled}"]) == 0
    assert np.isfinite(np.load(filled)).all()


# ---------------------------------------------------------------- 3. sets: a blank row

@pytest.mark.parametrize("blank", [",,,", " , ,\t, "])
def test_sets_csv_row_of_separators_alone_is_refused_by_every_reader(runs, tmp_path, capsys, blank):
    """A row whose every cell is blank belongs to no set. The sets reader keeps a row with a
    set id and no values as a placeholder (an empty set when alone) and refuses a row
    without a set id, so an all-blank row is refused too, but by what it is (it usually
    means a broken export): "data row N ... is empty: every cell is blank; delete the line"
    from ingest, infill and embed alike (was "row 3 has no set id", or, with blanks of
    spaces, "column 'x' must be numeric"). Blank *lines* stay skipped, as pandas skips them."""
    s = runs["sets"]
    src = tmp_path / "sets.csv"
    body = ["set,x,y,intensity", "a,1,2,3", blank, "a,2,3,", "b,1,1,1"]
    src.write_text("\n".join(body) + "\n")
    row = body.index(blank)  # 1-based data row: the header is line 1
    needles = (str(src), f"data row {row} (line {row + 1}) is empty: every cell is blank", "delete the line")
    refuses_cleanly(capsys, tmp_path, ["ingest", "domain=sets", f"input={src}",
                                       f"output={tmp_path / 'store.zarr'}"], 1, *needles)
    refuses_cleanly(capsys, tmp_path, ["infill", f"checkpoint={s.dir}", f"input={src}",
                                       f"output={tmp_path / 'filled.csv'}"], 1, *needles)
    refuses_cleanly(capsys, tmp_path, ["embed", f"checkpoint={s.dir}", f"input={src}",
                                       f"output={tmp_path / 'e.npy'}"], 1, *needles)

    src.write_text("set,x,y,intensity\na,1,2,3\n\na,2,3,4\n")  # an empty line is no row
    ingest("sets", [str(src)], str(tmp_path / "ok.zarr"), progress=False, verbose=False)
    assert len(RecordStore(str(tmp_path / "ok.zarr"))) == 1


# ---------------------------------------------------------------- 4. sets: unit

def _wide_store(tmp_path: Path, spread: float) -> Path:
    src, store = tmp_path / "wide.csv", tmp_path / "wide.zarr"
    src.write_text(f"set,x,y,v\na,0,0,1\na,{spread!r},1,2\nb,0,0,3\nb,1,1,4\n")
    ingest("sets", [str(src)], str(store), progress=False, verbose=False)
    return store


def test_sets_unit_that_overflows_the_float32_positions_is_a_config_error(tmp_path, capsys):
    """Ingest checks the spread of a set's coordinates at unit 1; unit=0.001 then turned a
    spread of 1e36 into positions of 1e39, beyond float32: inf positions and a NaN loss at
    pretrain. The store now keeps the widest spread and the domain refuses such a unit,
    naming it and the smallest allowed (pretrain: exit 2, one line)."""
    from domains.sets.domain import SetsDomain
    from domains.sets.io import COORD_EXTENT_MAX

    spread = 1e36
    store = _wide_store(tmp_path, spread)
    schema = RecordStore(str(store)).schema
    assert schema["coord_extent"] == spread  # max - min of x in set a, from the file's text
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.float32(spread / 1e-3))  # the reference: what the unit did
    lowest = spread / COORD_EXTENT_MAX  # the smallest unit whose positions fit
    with pytest.raises(ConfigError, match=r"The 'unit' option of the sets domain must be a float >= "
                                          r"\S+ for this store.*Got 0\.001 instead") as info:
        SetsDomain(schema, unit=1e-3)
    assert info.value.key == "unit"
    printed = float(str(info.value).split(">= ")[1].split()[0])
    assert lowest <= printed <= 1.01 * lowest  # the bound said, rounded up: it works
    ok = SetsDomain(schema, unit=printed)
    record = RecordStore(str(store))[0]
    assert np.isfinite(ok.featurize(record).positions).all()
    SetsDomain(schema, unit=1e-3, use_coordinates=False)  # positions unused: nothing to check

    run_cli(capsys, ["pretrain", "domain=sets", f"data.store={store}", "domain.unit=0.001",
                     f"run.dir={tmp_path / 'run'}", "train.steps=1"], 2, "'unit'", f">= {printed:g}")


def test_sets_store_written_before_coord_extent_is_not_checked(tmp_path):
    """A store whose schema has no ``coord_extent`` (written before it was kept) builds the
    domain with any positive unit, as it did: nothing to check it against."""
    from domains.sets.domain import SetsDomain

    store = _wide_store(tmp_path, 1e36)
    info = store / "zarr.json"  # the store's attributes: {"encoderkit": {"schema": ...}}
    meta = json.loads(info.read_text())
    del meta["attributes"]["encoderkit"]["schema"]["coord_extent"]
    info.write_text(json.dumps(meta))
    schema = RecordStore(str(store)).schema
    assert "coord_extent" not in schema
    assert SetsDomain(schema, unit=1e-3).options["unit"] == 1e-3


# ---------------------------------------------------------------- 5. long decimals

def test_long_decimals_read_as_python_float_by_the_series_sets_and_probe_readers(tmp_path):
    """pandas' default float parser (and ``pd.to_numeric``) rounds LONG one step off
    (...837 instead of ...8377); the readers now give ``float(text)``."""
    from domains.timeseries import io as tsio
    from encoderkit.infer.cli import read_labels
    from encoderkit.infer.probe import read_embeddings

    exact = float(LONG)
    assert pd.read_csv(io.StringIO(f"v\n{LONG}\n"))["v"].iloc[0] != exact  # still a discriminating case
    assert pd.to_numeric(pd.Series([LONG])).iloc[0] != exact

    series = tmp_path / "s.csv"
    series.write_text(f"time,a\n1,{LONG}\n2,0.5\n3,0.25\n")
    (got,) = tsio.read_csv(str(series), time_column="time")  # what series ingest reads
    assert got.values[0, 0] == exact

    sets = tmp_path / "sets.csv"
    sets.write_text(f"set,x,y,v\na,{LONG},0,{LONG}\na,1,1,2\nb,0,0,3\n")
    ingest("sets", [str(sets)], str(tmp_path / "sets.zarr"), progress=False, verbose=False)
    coords = RecordStore(str(tmp_path / "sets.zarr"))[0]["coords"]  # float64 in the store
    assert coords[0, 0] == exact

    emb = tmp_path / "e.csv"
    emb.write_text(f"id,f0\na,{LONG}\nb,0.5\n")
    X, _ = read_embeddings(emb)
    assert X[0, 0] == exact
    labels = tmp_path / "y.csv"
    labels.write_text(f"id,label\na,{LONG}\nb,0.5\n")
    assert read_labels(str(labels), np.array(["a", "b"]), 2, "label")[0] == exact


# ---------------------------------------------------------------- an unnamed time column

def test_series_ingest_of_an_unnamed_date_column_says_which_option_to_give(tmp_path, capsys):
    """``impute`` guesses a first column of dates as the time; ``ingest`` does not, and its
    error said only "name non-channel columns with time_column= / series_column= ...". It
    now names the option and the column; a column of words keeps the general advice."""
    src = tmp_path / "s.csv"
    src.write_text("date,value\n2020-01-01,1.5\n2020-01-02,2\n2020-01-03,\n2020-01-04,3\n")
    refuses_cleanly(capsys, tmp_path, ["ingest", "domain=timeseries", f"input={src}",
                                       f"output={tmp_path / 's.zarr'}"], 1,
                    "column 'date'", "give time_column=date")
    words = tmp_path / "w.csv"
    words.write_text("kind,value\nx,1\ny,2\nz,3\n")
    line = refuses_cleanly(capsys, tmp_path, ["ingest", "domain=timeseries", f"input={words}",
                                              f"output={tmp_path / 'w.zarr'}"], 1, "column 'kind'")
    assert "time_column=kind" not in line and "series_column=" in line
    # named, the same file ingests
    assert main(["ingest", "domain=timeseries", "time_column=date", f"input={src}",
                 f"output={tmp_path / 's.zarr'}"]) == 0


# ---------------------------------------------------------------- a series user's audit

def test_series_with_uneven_time_steps_is_warned_of(tmp_path):
    """Times 1, 2, 4, 5 were read as four evenly spaced samples without a word: the missing
    time 3 is no gap to fill. Even steps, and calendar months (28-31 days), are not warned of."""
    from domains.timeseries import io as tsio

    def warned(text: str, column: str) -> list[str]:
        src = tmp_path / "s.csv"
        src.write_text(text)
        import warnings
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            tsio.read_csv(str(src), time_column=column)
        return [str(w.message) for w in got]

    assert any("time steps vary (1 of 3" in m and "not a gap to fill" in m
               for m in warned("t,v\n1,1\n2,2\n4,3\n5,4\n", "t"))
    assert any("(1 of 3 are not the most common, 1 day)" in m
               for m in warned("date,v\n2020-01-01,1\n2020-01-02,2\n2020-01-04,3\n2020-01-05,4\n", "date"))
    # times with a UTC offset (read as instants) too
    assert any("(1 of 3 are not the most common, 1 day)" in m for m in warned(
        "date,v\n2020-01-01T00:00+01:00,1\n2020-01-02T00:00+01:00,2\n2020-01-04T00:00+01:00,3\n"
        "2020-01-05T00:00+01:00,4\n", "date"))
    assert warned("date,v\n2020-01-31,1\n2020-02-29,2\n2020-03-31,3\n2020-04-30,4\n", "date") == []
    assert warned("t,v\n0.1,1\n0.2,2\n0.3,3\n0.4,4\n", "t") == []


def test_python_infill_of_a_series_keeps_its_kind_and_dtype(runs):
    from encoderkit.infer import load

    model = load(runs["timeseries"].dir)
    when = pd.date_range("2021-01-01", periods=80, freq="D", name="date")
    y = pd.Series(np.sin(np.arange(80) / 5.0), index=when, name="load")
    y.iloc[[10, 11, 40]] = np.nan
    out = model.infill(y)  # was a TypeError: unsupported data of type Series
    assert isinstance(out, pd.Series) and out.name == "load" and out.index.equals(when)
    assert out.notna().all() and (out[y.notna()] == y[y.notna()]).all()
    frame = y.to_frame().astype(np.float32)
    filled = model.infill(frame)  # a float32 column came back float64
    assert filled["load"].dtype == np.float32
    np.testing.assert_array_equal(filled["load"][y.notna()].to_numpy(), frame["load"][y.notna()].to_numpy())
