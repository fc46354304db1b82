"""`encoderkit impute ... plot=<file.png>`: the picture of a fill. A valid PNG from the CLI
(a table) and from Python (a series file); the held-back points it draws are the cells and
fills the summary's error is computed from (recomputed here in float64 from the input file);
a plot= impute must not write is refused before any work; no cell filled, no picture; odd
column names ($x$, backslashes, control characters, non-ASCII) drawn as they are."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.impute_figure import draw, shown
from encoderkit.impute_plot import MAX_SERIES, MAX_TABLE, HeldBack, series_panels, table_panels

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ODD = "$x$\\"  # mathtext would parse it: "$x$" then a lone backslash


def assert_png(path) -> None:
    """A PNG file matplotlib reads back with a picture in it."""
    from matplotlib.image import imread

    assert open(path, "rb").read(8) == PNG_SIGNATURE
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


def odd_table(path, rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    frame = pd.DataFrame({"größe": x * 3 + 1, ODD: -2 * x + rng.normal(size=rows) * 0.3,
                          "kind": np.where(x > 0, "hi", "lo")})
    frame = frame.mask(rng.random(frame.shape) < 0.15)
    frame.to_csv(path, index=False)
    return frame


def nrmse(truth: np.ndarray, fill: np.ndarray, sd: float) -> tuple[float, int]:
    """Sum of squared errors in units of ``sd`` (float64) and the number of cells."""
    d = (np.asarray(fill, np.float64) - np.asarray(truth, np.float64)) / sd
    return float(np.sum(d * d)), d.size


def test_cli_table_plot_draws_the_cells_the_summary_scores(tmp_path, capsys, monkeypatch):
    """One CLI round trip (the default suite's): a valid PNG; its scatter panels hold the
    held-back cells of the input file with the fill written, and their errors, recomputed
    in float64 with the input column's own standard deviation, are the summary's figures."""
    from encoderkit.impute_report import ImputeReport

    src, out, png = tmp_path / "odd.csv", tmp_path / "filled.csv", tmp_path / "fill.png"
    frame = odd_table(src)
    reports = []
    summary = ImputeReport.summary
    monkeypatch.setattr(ImputeReport, "summary", lambda self: reports.append(self) or summary(self))
    assert main(["impute", f"input={src}", f"output={out}", f"plot={png}", "holdout=0.3", "seed=2", *TINY]) == 0
    text = capsys.readouterr().out
    assert_png(png)
    assert f"plot: {png} (held-back cells" in text
    report = reports[0]
    scatter, bars, n_numeric = table_panels(report.heldback)
    assert {p.name for p in scatter} == {"größe", ODD} and n_numeric == 2  # both drawn, odd name too
    given = pd.read_csv(src)
    sq, n = 0.0, 0
    for p in scatter:
        col = given[p.name]
        rows = report.heldback[p.name].index
        np.testing.assert_allclose(p.truth, col.to_numpy()[rows], rtol=1e-14)  # the input's (parsed) values
        sd = float(col.std(ddof=0))  # the column's observed values (pandas skips the holes)
        s, k = nrmse(p.truth, p.fill, sd)
        sq, n = sq + s, n + k
        # the panel's title figure: the column's held-back error of the fill used (the summary's line)
        choice = report.choices[p.name]
        assert p.nrmse == pytest.approx((s / k) ** 0.5, rel=1e-9)
        assert p.nrmse == pytest.approx(choice.errors[choice.used], rel=1e-6)
        assert p.used == choice.used
    score = {s.metric: s for s in report.scores}
    assert n == score["nrmse"].cells
    assert (sq / n) ** 0.5 == pytest.approx(score["nrmse"].written, rel=1e-9)
    # the categorical bar: held-back accuracy of the fill written, as the summary's
    (bar,) = bars
    kinds = report.heldback["kind"]
    hits = np.mean(given["kind"].to_numpy()[kinds.index] == kinds.fill.astype(str))
    assert bar.accuracy == pytest.approx(hits) == pytest.approx(score["accuracy"].written)


@pytest.mark.slow  # a series impute: over 2.4 s on 2 cores
def test_python_series_plot_marks_the_held_back_cells_summary_scores(tmp_path):
    """From Python (``impute(..., plot=)``), a series CSV: a valid PNG; the held-back
    markers are the input's values at those times and the fill written there, and their
    pooled error (float64, the channel's observed sd) is the summary's nrmse."""
    from statsmodels.datasets import co2

    from encoderkit.impute import impute

    x = co2.load_pandas().data["co2"].to_numpy(np.float64)
    x = x[~np.isnan(x)][:300].copy()
    x[40:52] = np.nan
    x[200] = np.nan  # interior gaps only: one region scored
    dates = pd.date_range("1990-01-07", periods=len(x), freq="W")
    src, png = tmp_path / "co2.csv", tmp_path / "co2.png"
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "co2": x}).to_csv(src, index=False)
    report = impute(str(src), str(tmp_path / "out.csv"), plot=png, holdout=0.1,
                    overrides=[w for w in TINY if "=" in w and "progress" not in w] + ["domain.patch=8"],
                    progress=False)
    assert_png(png)
    assert report.plot == str(png)
    (score,) = report.scores
    panels, total, xlabel = series_panels(pd.read_csv(src, parse_dates=["date"]), pd.read_csv(tmp_path / "out.csv"),
                                          report.heldback, ["co2"], [], None, "date")
    assert total == 1 and xlabel == "date"
    (p,) = panels
    held = report.heldback["co2"].index
    np.testing.assert_array_equal(p.held_x, dates.to_numpy()[held])
    np.testing.assert_array_equal(p.held_truth, x[held])  # observed cells of the input
    sq, n = nrmse(p.held_truth, p.held_fill, float(np.nanstd(x)))
    assert n == score.cells and (sq / n) ** 0.5 == pytest.approx(score.written, rel=1e-9)
    assert p.n_filled == 13  # the 13 holes, drawn in the fill's colour


def _refused(tmp_path, capsys, *words: str) -> str:
    src = tmp_path / "t.csv"
    odd_table(src, rows=12)
    out = tmp_path / "out.csv"
    code = main(["impute", f"input={src}", f"output={out}", *words, *TINY])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    return err


@pytest.mark.parametrize("name", ["fill.pdf", "fill", "fill.png.txt"])
def test_a_plot_not_named_png_is_refused_before_any_work(tmp_path, capsys, name):
    err = _refused(tmp_path, capsys, f"plot={tmp_path / name}")
    assert "'plot'" in err and ".png" in err and not (tmp_path / name).exists()


def test_a_plot_that_is_a_directory_or_the_output_is_refused(tmp_path, capsys):
    (tmp_path / "pics.png").mkdir()
    err = _refused(tmp_path, capsys, f"plot={tmp_path / 'pics.png'}", "overwrite=true")
    assert "directory" in err and not any((tmp_path / "pics.png").iterdir())
    err = _refused(tmp_path, capsys, f"plot={tmp_path / 'out.csv'}")
    assert "'plot'" in err


def test_an_existing_plot_file_follows_the_outputs_rules(tmp_path, capsys):
    """A file of the user's at plot=: refused without overwrite=true (as an output is),
    left as it was; a link is refused even with overwrite=true."""
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my picture")
    err = _refused(tmp_path, capsys, f"plot={mine}")
    assert "overwrite=true" in err and mine.read_bytes() == b"my picture"
    link = tmp_path / "link.png"
    os.symlink(mine, link)
    _refused(tmp_path, capsys, f"plot={link}", "overwrite=true")
    assert mine.read_bytes() == b"my picture" and link.is_symlink()


def test_python_plot_parameter_is_checked_with_its_key(tmp_path):
    from encoderkit.errors import UsageError
    from encoderkit.impute import impute

    src = tmp_path / "t.csv"
    odd_table(src, rows=12)
    with pytest.raises(UsageError) as e:
        impute(str(src), str(tmp_path / "o.csv"), plot=str(tmp_path / "x.svg"))
    assert e.value.key == "plot" and not (tmp_path / "o.csv").exists()


def test_no_missing_cell_no_plot(tmp_path, capsys):
    src, png = tmp_path / "full.csv", tmp_path / "full.png"
    pd.DataFrame({"a": [1.0, 2.0, 3.5, 4.0], "b": ["x", "y", "x", "y"]}).to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", f"plot={png}", *TINY]) == 0
    text = capsys.readouterr().out
    assert not png.exists()
    assert [line for line in text.splitlines() if line.startswith("plot:")] == \
        [f"plot: none written to {png}: no cell was filled"]


# ---------------------------------------------------------------- the panels, without training

def _cells(names, errors, rng) -> dict[str, HeldBack]:
    out = {}
    for name, err in zip(names, errors):
        truth = rng.normal(size=5)
        out[name] = HeldBack(name, False, False, np.arange(5) * 2, truth, truth + np.sqrt(err), np.full(5, err),
                             "model")
    return out


def test_table_panels_worst_first_and_capped():
    rng = np.random.default_rng(0)
    errs = rng.uniform(0.01, 2.0, size=MAX_TABLE + 3)
    scatter, bars, n = table_panels(_cells([f"c{i}" for i in range(len(errs))], errs, rng))
    assert n == len(errs) and len(scatter) == MAX_TABLE and bars == []
    want = np.sort(np.sqrt(errs))[::-1][:MAX_TABLE]  # nrmse of 5 cells of equal error: its root
    np.testing.assert_allclose([p.nrmse for p in scatter], want, rtol=1e-12)


def test_series_panels_holes_first_capped_at_max_series():
    """An [N, C, L] array of 10 series: 9 with a hole in channel 0, one without; 8 panels,
    those with holes, and the count of all 10 with anything to show."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 1, 30))
    data = x.copy()
    data[1:, 0, 5:8] = np.nan
    filled = np.where(np.isnan(data), 0.5, data)
    # held back: sample 12 of series 0 (no hole) and sample 10 of series 1 (flat 40)
    cells = {"channel 0": HeldBack("channel 0", False, False, np.array([12, 40]), np.array([x[0, 0, 12], x[1, 0, 10]]),
                                   np.array([0.0, 1.0]), np.array([0.1, 0.2]), "model")}
    panels, total, xlabel = series_panels(data, filled, cells, None, [])
    assert total == 10 and len(panels) == MAX_SERIES and xlabel == "sample"
    assert [p.label for p in panels] == [f"channel 0, series {i}" for i in range(1, MAX_SERIES + 1)]
    assert all(p.n_filled == 3 for p in panels)
    np.testing.assert_array_equal(panels[0].held_x, [10])  # flat 40 = series 1, sample 10
    np.testing.assert_array_equal(panels[0].held_fill, [1.0])
    assert panels[0].nrmse == pytest.approx(0.2 ** 0.5)


ODD_NAMES = ["größe", ODD, "$\\nosuchcommand$ & $\\frac{1}{$", "a$b\tc\x00d\u200f", "温度", "\\frac{1}{2}"]


def _odd_inputs(tmp_path):
    """A table of odd column names with holes, its fill, and held-back cells of each column."""
    rng = np.random.default_rng(0)
    n = 30
    frame = pd.DataFrame({name: rng.normal(size=n) for name in ODD_NAMES})
    frame["kind$"] = np.where(rng.random(n) > 0.5, "$a", "b\\")
    data = frame.mask(rng.random(frame.shape) < 0.2)
    filled = data.fillna({c: 0.0 for c in ODD_NAMES} | {"kind$": "$a"})
    cells = _cells(ODD_NAMES, rng.uniform(0.1, 1.0, size=len(ODD_NAMES)), rng)
    cells["kind$"] = HeldBack("kind$", True, False, np.arange(3), np.array(["$a", "b\\", "$a"], dtype=object),
                              np.array(["$a", "$a", "$a"], dtype=object), np.array([0.0, 1.0, 0.0]), "forest")
    table = SimpleNamespace(path=str(tmp_path / "wéird$.csv"), series=False, schema={}, ingest_options={},
                            data=data, columns=list(frame.columns), categorical=["kind$"], series_column=None)
    return table, filled, cells


def test_odd_column_names_are_drawn_as_written(tmp_path):
    """Names mathtext would parse ($x$\\, a$b, \\frac), control characters and non-ASCII:
    the picture is written (a name's `$` parsed as mathtext raised at the draw), for a
    table with held-back cells, and of categorical columns only (the bar panel alone)."""
    table, filled, cells = _odd_inputs(tmp_path)
    for name, held in (("held.png", cells), ("bars.png", {"kind$": cells["kind$"]})):
        draw(str(tmp_path / name), table, filled, held)
        assert_png(tmp_path / name)


def test_odd_names_without_held_back_cells_and_as_series(tmp_path):
    """The same names in the histograms of a table without held-back cells (category
    values as tick labels) and as the channels of a series table."""
    table, filled, cells = _odd_inputs(tmp_path)
    draw(str(tmp_path / "none.png"), table, filled, {})
    assert_png(tmp_path / "none.png")
    times = pd.date_range("2020-01-01", periods=len(filled), freq="D")
    names = ODD_NAMES[1:4]
    series = SimpleNamespace(path="s.csv", series=True, schema={"time_column": "when"}, ingest_options={},
                             data=table.data[names].assign(when=times), columns=names, categorical=[],
                             series_column=None)
    draw(str(tmp_path / "series.png"), series, filled[names].assign(when=times), {k: cells[k] for k in names})
    assert_png(tmp_path / "series.png")


def test_shown_names_keep_their_text_and_escape_controls():
    assert shown(ODD) == ODD and shown("größe") == "größe"
    assert shown("a\nb\x00") == "a\\nb\\x00"
    assert shown("lauf_\udcc3\udcbc") == "lauf_ü"
    assert shown("x" * 100).endswith("…") and len(shown("x" * 100)) == 40


def test_held_back_cells_are_the_cells_and_fills_the_summary_scores():
    """``held_back_cells`` keeps, per channel, the cells the summary's figure counts (those
    the model filled: a cell it left NaN is not scored) with the fill written: their
    float64 nrmse and accuracy are ``score_written``'s, and with the model's own fill as
    written (select=model) ``score_holdout``'s."""
    from encoderkit.impute_cells import Channel, score_holdout
    from encoderkit.impute_plot import held_back_cells
    from encoderkit.impute_scores import score_written

    rng = np.random.default_rng(3)
    a = rng.normal(5.0, 2.0, size=20)
    a[[0, 7]] = np.nan  # holes: the channel has something to fill
    c = np.array(["x", "y", "z", "x"] * 5, dtype=object)
    c[3] = None
    truth = [Channel("a", a), Channel("c", c, categorical=True)]
    hide = {"a": np.zeros(20, bool), "c": np.zeros(20, bool)}
    hide["a"][[2, 5, 9, 11, 15]] = True
    hide["c"][[1, 4, 6, 10]] = True
    model_a = np.where(np.isnan(a), 0.0, a + rng.normal(size=20))
    model_a[9] = np.nan  # the model left one held-back cell unfilled: not scored
    model = [Channel("a", model_a), Channel("c", np.array(["x"] * 20, dtype=object), categorical=True)]
    written = [Channel("a", model_a * 0.9), Channel("c", np.where(np.arange(20) % 2 == 0, "x", "y").astype(object),
                                                    categorical=True)]
    base = {"a": np.full(20, np.nanmean(a)), "c": np.array(["x"] * 20, dtype=object)}
    regions = {"": hide}
    scores = {s.metric: s for s in score_written(score_holdout(truth, model, base, hide), truth, model, written,
                                                 hide)}
    sd = float(np.nanstd(a))
    for fill_of, figure in ((written, "written"), (model, "model")):
        cells = held_back_cells(truth, model, fill_of, regions, {})
        np.testing.assert_array_equal(cells["a"].index, [2, 5, 11, 15])  # 9: no model fill
        np.testing.assert_array_equal(cells["a"].truth, a[[2, 5, 11, 15]])
        sq, n = nrmse(cells["a"].truth, cells["a"].fill, sd)
        assert n == scores["nrmse"].cells and (sq / n) ** 0.5 == pytest.approx(getattr(scores["nrmse"], figure))
        hits = np.mean([str(t) == str(f) for t, f in zip(cells["c"].truth, cells["c"].fill)])
        assert cells["c"].figure() == pytest.approx(hits) == pytest.approx(getattr(scores["accuracy"], figure))


# ---------------------------------------------------------------- session 55, helper i: review r's findings

def _berlin_times(n: int) -> pd.DatetimeIndex:
    """Hourly Europe/Berlin times across the 2021-03-28 switch to summer time (+01:00 -> +02:00)."""
    return pd.date_range("2021-03-27 12:00", periods=n, freq="h", tz="Europe/Berlin")


@pytest.mark.parametrize("long", [False, True])
def test_series_times_across_a_utc_offset_change_are_drawn_in_utc(tmp_path, long):
    """ISO times whose UTC offset changes (isoformat across a DST switch): pandas refuses
    them as "Mixed timezones" even with errors="coerce" (a traceback after the output was
    written). They are the x axis in UTC (the reference: the DatetimeIndex converted by
    pandas), for a wide series table and a long one with an id column; the figure draws."""
    n = 30
    t = _berlin_times(n)
    rng = np.random.default_rng(0)
    ids = np.repeat(["a", "b"], n) if long else None
    text = np.tile([x.isoformat() for x in t], 2 if long else 1)
    values = rng.normal(size=text.size)
    values[[5, 6, -9]] = np.nan  # a hole in each series (the long table's second: row 2n - 9)
    data = pd.DataFrame({"time": text, "load": values} | ({"id": ids} if long else {}))
    filled = data.assign(load=data["load"].fillna(0.0))
    panels, total, xlabel = series_panels(data, filled, {}, ["load"], [], "id" if long else None, "time")
    want = t.tz_convert("UTC").tz_localize(None).to_numpy()
    assert xlabel == "time (UTC)" and total == len(panels) == (2 if long else 1)
    for p in panels:
        np.testing.assert_array_equal(p.x, want)
    assert np.all(np.diff(panels[0].x) == np.timedelta64(1, "h"))  # no hour lost or doubled at the switch
    series = SimpleNamespace(path="dst.csv", series=True, schema={"time_column": "time"}, ingest_options={},
                             data=data, columns=["load"], categorical=[], series_column="id" if long else None)
    draw(str(tmp_path / "dst.png"), series, filled, {})
    assert_png(tmp_path / "dst.png")


def test_naive_and_offset_times_mixed_fall_back_to_sample_numbers():
    """A column pandas cannot read as one time axis (offsets and naive times mixed): numbered,
    not a traceback; naive times keep their wall clock (no UTC label)."""
    from encoderkit.impute_plot import _times

    mixed = pd.DataFrame({"time": ["2021-01-01T00:00+01:00", "2021-01-02T00:00"]})
    assert _times(mixed, "time") == (None, "sample")
    x, label = _times(pd.DataFrame({"time": ["2021-01-01 00:00", "2021-01-01 01:00"]}), "time")
    assert label == "time"
    np.testing.assert_array_equal(x, np.array(["2021-01-01T00:00", "2021-01-01T01:00"], "datetime64[ns]"))


def test_a_plot_inside_a_replaced_run_dir_is_refused_before_any_work(tmp_path, capsys):
    """plot= inside run_dir=, overwrite=true, the folder holding an earlier impute's run
    (its marker) and that run's picture: refused as an output there is, before any work
    (replacing the folder removed the picture, then the write failed blaming another
    process); the earlier picture kept, no output written."""
    from encoderkit.impute import RUN_DIR_MARKER

    work = tmp_path / "work"
    work.mkdir()
    (work / RUN_DIR_MARKER).write_text('{"command": "impute"}\n')
    (work / "fill.png").write_bytes(b"earlier picture")
    err = _refused(tmp_path, capsys, f"run_dir={work}", f"plot={work / 'fill.png'}", "overwrite=true")
    assert "'run_dir'" in err and "fill.png" in err and "replacing the folder would remove it" in err
    assert (work / "fill.png").read_bytes() == b"earlier picture"


def test_a_plot_in_a_new_folder_or_under_home_is_written_there(tmp_path, monkeypatch):
    """The plot's path is written as the output's: missing folders made, ``~`` expanded
    (the write failed after all the work with "No such file or directory"); no folder named
    ``~`` in the current one."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    table, filled, cells = _odd_inputs(tmp_path)
    draw("~/new/deeper/fill.png", table, filled, {k: cells[k] for k in ODD_NAMES[:2]})
    assert_png(home / "new" / "deeper" / "fill.png")
    assert os.listdir(cwd) == []  # no folder named ~


def test_nothing_to_fill_says_an_earlier_plot_is_left(tmp_path, capsys):
    """No cell to fill, overwrite=true, a picture of an earlier run at plot=: left as it was,
    and the summary says so (it said only "none written", beside a picture it did not draw)."""
    src, png = tmp_path / "full.csv", tmp_path / "full.png"
    pd.DataFrame({"a": [1.0, 2.0, 3.5, 4.0], "b": ["x", "y", "x", "y"]}).to_csv(src, index=False)
    png.write_bytes(b"earlier picture")
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", f"plot={png}", "overwrite=true",
                 *TINY]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("plot:")]
    assert lines == [f"plot: none written to {png}: no cell was filled; the file there is an earlier one, "
                     f"left as it was"]
    assert png.read_bytes() == b"earlier picture"


@pytest.mark.parametrize("name", ["o.csv", "sub/o.parquet"])
def test_an_output_under_home_makes_no_tilde_folder(tmp_path, monkeypatch, name):
    """impute(input, "~/...") writes under $HOME and leaves no empty folder named ``~`` in the
    current one (the writer made its parent unexpanded); o.csv: the input copied byte for
    byte, sub/o.parquet: written by the domain's writer into a new folder."""
    from encoderkit.impute import impute

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    src = tmp_path / "full.csv"
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.5, 4.0], "b": ["x", "y", "x", "y"]})
    frame.to_csv(src, index=False)
    report = impute(str(src), f"~/{name}", overrides=[w for w in TINY if "progress" not in w], progress=False)
    assert report.nothing_missing
    written = home / name
    got = pd.read_parquet(written) if name.endswith(".parquet") else pd.read_csv(written)
    pd.testing.assert_frame_equal(got, frame)
    assert os.listdir(cwd) == []


def test_a_run_dir_under_home_is_made_there(tmp_path, monkeypatch):
    """impute(..., run_dir="~/work") works in $HOME/work (marked as an impute's run), as the
    trainer's run.dir: it made ./~/work."""
    from encoderkit.impute import RUN_DIR_MARKER, impute

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    src = tmp_path / "full.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.5, 4.0]}).to_csv(src, index=False)
    impute(str(src), str(tmp_path / "o.csv"), run_dir="~/work", progress=False)
    assert (home / "work" / RUN_DIR_MARKER).is_file() and os.listdir(cwd) == []
