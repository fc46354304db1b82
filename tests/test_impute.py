"""`encoderkit impute`: end to end on a CSV table with missing cells, on series files
(a CSV with a date column and a .npy array), and on a table with no missing cell; the
scoring helpers against independent references. Tiny models, a few steps: behaviour,
not quality (benchmarks/RESULTS.md has the quality figures)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.impute import infer_domain
from encoderkit.impute_cells import Channel, baseline_fill, draw_holdout, gap_length, score_holdout

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def anes(rows: int = 120) -> pd.DataFrame:
    from statsmodels.datasets import anes96

    return anes96.load_pandas().data.iloc[:rows].reset_index(drop=True)


def co2(n: int = 400) -> np.ndarray:
    from statsmodels.datasets import co2 as data

    x = data.load_pandas().data["co2"].to_numpy(np.float64)
    return x[~np.isnan(x)][:n].copy()


def test_table_csv_filled_observed_cells_unchanged(tmp_path, capsys):
    truth = anes()
    rng = np.random.default_rng(0)
    holes = rng.random(truth.shape) < 0.1
    frame = truth.mask(holes)
    src, out = tmp_path / "survey.csv", tmp_path / "filled.csv"
    frame.to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={out}", "seed=1", *TINY]) == 0
    text = capsys.readouterr().out
    back, given = pd.read_csv(out), pd.read_csv(src)
    assert list(back.columns) == list(given.columns) and back.notna().all().all()
    obs = given.notna().to_numpy()
    np.testing.assert_array_equal(back.to_numpy()[obs], given.to_numpy()[obs])
    # the summary: cells filled per column (= the column's missing cells), validation vs baseline
    assert f"filled {int(holes.sum())} cell(s)" in text
    for c in frame.columns:
        n = int(frame[c].isna().sum())
        if n:
            assert any(line.split() == [c, str(n)] for line in text.splitlines()), (c, text)
    assert "held-back observed cell(s)" in text and "nrmse" in text and "accuracy" in text
    # categorical columns get known answers
    for c in ("vote", "PID"):
        assert set(back[c]) <= set(truth[c])
    # an existing output is refused without overwrite=true (exit code 1, one line)
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 1
    err = capsys.readouterr().err
    assert "overwrite=true" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
@pytest.mark.parametrize("suffix", ["csv", "tsv"])
def test_series_csv_with_dates_is_a_series(tmp_path, capsys, suffix):
    """A CSV (or a tab-separated .tsv) whose first column holds dates is a series, filled
    and written back in its own format (a .tsv was taken for a table by its suffix)."""
    sep = "\t" if suffix == "tsv" else ","
    x = co2(300)
    truth = x.copy()
    x[40:52] = np.nan  # a 12-week gap
    x[200] = np.nan
    dates = pd.date_range("1990-01-07", periods=len(x), freq="W").strftime("%Y-%m-%d")
    src, out = tmp_path / f"co2.{suffix}", tmp_path / f"co2_filled.{suffix}"
    pd.DataFrame({"date": dates, "co2": x}).to_csv(src, sep=sep, index=False)
    assert infer_domain(str(src), {}) == "timeseries"
    code = main(["impute", f"input={src}", f"output={out}", "domain.patch=8", *TINY])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    back = pd.read_csv(out, sep=sep)
    assert list(back["date"]) == list(dates)  # the time column passes through
    filled = back["co2"].to_numpy()
    assert np.isfinite(filled).all()
    obs = np.isfinite(x)
    assert np.array_equal(filled[obs], x[obs])
    assert "filled 13 cell(s)" in cap.out and "linear interpolation" in cap.out
    # sanity of the fill's scale: within the series' range, not in normalised units
    assert truth.min() - 5 < filled[~obs].min() and filled[~obs].max() < truth.max() + 5


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_table_guessed_as_a_series_says_how_to_read_it_as_a_table(tmp_path, capsys):
    """A table whose first column is called "year" is read as a series by default; when the
    series reader then refuses it (a row without a year), the one-line error says why the
    file was read as a series and how to read it as a table, and domain=tabular fills it."""
    src, out = tmp_path / "macro.csv", tmp_path / "macro_filled.csv"
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"year": np.arange(1960, 2000, dtype=float), "gdp": rng.normal(size=40),
                          "cpi": rng.normal(size=40)})
    frame.loc[3, "year"] = np.nan
    frame.loc[5, "gdp"] = np.nan
    frame.to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no time" in err[0]
    assert "first column 'year' looks like a time" in err[0] and "domain=tabular" in err[0]
    assert not out.exists()
    assert main(["impute", f"input={src}", f"output={out}", "domain=tabular", *TINY]) == 0
    back = pd.read_csv(out)
    assert back.notna().all().all() and np.allclose(back["cpi"], frame["cpi"], rtol=1e-12, atol=0)


def test_series_npy_channels(tmp_path, capsys):
    from statsmodels.datasets import macrodata

    m = macrodata.load_pandas().data
    x = np.stack([m["realgdp"].to_numpy(), m["realcons"].to_numpy()])  # [C=2, L=203]
    x[0, 50:60] = np.nan
    x[1, 120] = np.nan
    x[1, 121] = np.inf  # read as missing, as ingest reads it, and said aloud (it was filled silently)
    src, out = tmp_path / "macro.npy", tmp_path / "macro_filled.npy"
    np.save(src, x)
    with pytest.warns(UserWarning, match=r"macro.npy: 1 infinite value\(s\) read as missing and filled "
                      r"\(channel 1 1\)"):
        assert main(["impute", f"input={src}", f"output={out}", "domain.patch=8", "holdout=0.1", *TINY]) == 0
    text = capsys.readouterr().out
    back = np.load(out)
    assert back.shape == x.shape and back.dtype == x.dtype and np.isfinite(back).all()
    assert np.array_equal(back[np.isfinite(x)], x[np.isfinite(x)])
    assert "channel 0  10" in text and "channel 1  2" in text


def test_table_without_missing_cell_is_copied(tmp_path, capsys):
    src, out = tmp_path / "complete.csv", tmp_path / "same.csv"
    anes(50).to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 0
    text = capsys.readouterr().out
    assert "no missing cell" in text
    assert out.read_bytes() == src.read_bytes()
    # overwrite=true replaces an existing output
    out.write_text("old")
    assert main(["impute", f"input={src}", f"output={out}", "overwrite=true", *TINY]) == 0
    assert out.read_bytes() == src.read_bytes()


def test_usage_errors_are_one_line(tmp_path, capsys):
    src = tmp_path / "t.csv"
    anes(20).to_csv(src, index=False)
    assert main(["impute", f"input={tmp_path / 'nope.csv'}", f"output={tmp_path / 'o.csv'}"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["impute", f"input={src}"]) == 2
    assert "output=" in capsys.readouterr().err
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", "domain=sound"]) == 2
    assert "'domain' parameter" in capsys.readouterr().err
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", "holdout=0.7"]) == 2
    assert "'holdout' parameter" in capsys.readouterr().err
    for seed in ("-1", str(2**70)):  # numpy / torch refused these mid-run with a traceback
        assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", f"seed={seed}"]) == 2
        assert "'seed' parameter must be an int in [0, 2**31)" in capsys.readouterr().err
    # a mistyped pretrain override is refused before any ingest or training
    assert main(["impute", f"input={src}", f"output={tmp_path / 'o.csv'}", "train.stepz=3"]) == 2
    assert "unknown config key 'train.stepz'" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


# ---------------------------------------------------------------- helpers vs references
def test_series_baseline_is_linear_interpolation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 40))
    visible = rng.random(x.shape) < 0.6
    visible[:, 0] = visible[:, -1] = True
    got = baseline_fill(Channel("c", x), visible, series=True)
    ref = pd.DataFrame(np.where(visible, x, np.nan).T).interpolate(method="index").to_numpy().T
    np.testing.assert_allclose(got, ref)


def test_scores_against_sklearn_metrics():
    from sklearn.metrics import accuracy_score, mean_squared_error

    rng = np.random.default_rng(1)
    num = rng.normal(size=50)
    cat = rng.choice(["a", "b", "c"], size=50).astype(object)
    hide = {"num": rng.random(50) < 0.3, "cat": rng.random(50) < 0.3}
    pred_num, pred_cat = num + rng.normal(scale=0.5, size=50), rng.choice(["a", "b"], size=50).astype(object)
    truth = [Channel("num", num), Channel("cat", cat, categorical=True)]
    model = [Channel("num", pred_num), Channel("cat", pred_cat, categorical=True)]
    base = {"num": np.full(50, num.mean()), "cat": np.full(50, "a", dtype=object)}
    nrmse, acc = score_holdout(truth, model, base, hide)
    h = hide["num"]
    assert nrmse.model == pytest.approx(mean_squared_error(num[h], pred_num[h]) ** 0.5 / num.std())
    assert nrmse.baseline == pytest.approx(mean_squared_error(num[h], base["num"][h]) ** 0.5 / num.std())
    assert acc.model == pytest.approx(accuracy_score(cat[hide["cat"]], pred_cat[hide["cat"]]))
    assert (nrmse.cells, acc.cells) == (int(h.sum()), int(hide["cat"].sum()))


def test_holdout_draws_only_observed_cells_and_keeps_most():
    x = np.arange(100.0)
    x[::3] = np.nan
    (mask,) = draw_holdout([Channel("c", x)], 0.2, seed=0).values()
    assert not (mask & np.isnan(x)).any() and 0 < mask.sum() < 0.35 * np.isfinite(x).sum()
    (none,) = draw_holdout([Channel("c", np.array([1.0, np.nan, 2.0]))], 0.4, seed=0).values()
    assert not none.any()  # two observed cells: nothing is held back


def test_series_holdout_runs_as_long_as_the_gaps():
    x = np.arange(3000.0)
    for start in range(100, 3000, 300):
        x[start:start + 5] = np.nan  # every gap is 5 samples long
    assert gap_length(x) == 5 and gap_length(np.ones(4)) == 1
    (mask,) = draw_holdout([Channel("c", x)], 0.05, seed=0, runs=True).values()
    assert not (mask & np.isnan(x)).any()
    edges = np.diff(np.pad(mask.astype(np.int8), 1))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert np.bincount(lengths).argmax() == 5  # runs of the gaps' length (some merge or get cut)
    assert 0.02 < mask.mean() < 0.08


# ---------------------------------------------------------------- select=auto
def run_impute(src, out, *words):
    from encoderkit.impute import impute, parse

    own, passed, ingest_options = parse([f"input={src}", f"output={out}", *TINY, *words])  # a test's words win
    return impute(own.pop("input"), own.pop("output"), overrides=passed, **own, **ingest_options)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_select_picks_linear_on_a_straight_line_and_fills_by_np_interp(tmp_path):
    """On a straight line linear interpolation is exact on every held-back run, so it wins
    clearly over a 3-step model; the written gaps are then exactly np.interp of the
    observed samples (and select=model keeps the model's own fill)."""
    t = np.arange(1000, dtype=np.float64)
    x = 0.5 * t + 3.0
    rng = np.random.default_rng(0)
    for s in rng.choice(np.arange(5, 990), size=40, replace=False):
        x[s:s + 4] = np.nan
    src = tmp_path / "line.npy"
    np.save(src, x)
    report = run_impute(src, tmp_path / "auto.npy", "holdout=0.1", "domain.patch=8")
    choice = report.choices["channel 0"]
    assert choice.used == "linear" and choice.errors["linear"] < 1e-12 < choice.errors["model"]
    assert "linear" in report.summary() and "fill used per column / channel" in report.summary()
    back = np.load(tmp_path / "auto.npy")
    obs = np.isfinite(x)
    assert np.array_equal(back[obs], x[obs])
    np.testing.assert_array_equal(back[~obs], np.interp(t[~obs], t[obs], x[obs]))
    plain = run_impute(src, tmp_path / "model.npy", "holdout=0.1", "domain.patch=8", "select=model")
    assert plain.choices == {} and "fill used" not in plain.summary()
    model = np.load(tmp_path / "model.npy")
    assert np.array_equal(model[obs], x[obs]) and not np.allclose(model[~obs], back[~obs])


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_select_on_a_table_is_at_least_as_good_as_the_model(tmp_path):
    """A column that is an exact linear function of another: IterativeImputer recovers it,
    the selected fill is at least as good as the model's on the hidden truth; columns left
    to the model get the same fill as with select=model (same seed, same model)."""
    rng = np.random.default_rng(1)
    n = 400
    truth = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "colour": rng.choice(["red", "blue"], size=n)})
    truth["c"] = 2.0 * truth["a"] + 1.0
    holes = rng.random(truth.shape) < 0.15
    holes[:, 0] = False  # a observed: c is determined by its row
    frame = truth.mask(holes)
    src = tmp_path / "t.csv"
    frame.to_csv(src, index=False)
    auto = run_impute(src, tmp_path / "auto.csv", "seed=2")
    run_impute(src, tmp_path / "model.csv", "seed=2", "select=model")
    assert auto.choices["c"].used == "iterative"
    got, base = pd.read_csv(tmp_path / "auto.csv"), pd.read_csv(tmp_path / "model.csv")
    miss = frame["c"].isna().to_numpy()
    err = lambda f: float(np.mean((f["c"].to_numpy()[miss] - truth["c"].to_numpy()[miss]) ** 2))
    assert err(got) <= err(base) and err(got) < 1e-6
    obs = frame.notna().to_numpy()
    np.testing.assert_array_equal(got.to_numpy()[obs], pd.read_csv(src).to_numpy()[obs])
    for col, choice in auto.choices.items():
        if choice.used == "model":
            pd.testing.assert_series_equal(got[col], base[col])


def test_select_rule_against_hand_computed_cases():
    from encoderkit.selection import MIN_GROUPS, choose, run_groups

    mask = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 1]], dtype=bool)
    assert run_groups(mask, runs=True).tolist() == [0, 0, 1, 2, 2, 3]
    assert run_groups(mask, runs=False).tolist() == [0, 1, 2, 3, 4, 5]
    g = np.arange(MIN_GROUPS)
    better = {"model": np.ones(MIN_GROUPS), "b": np.zeros(MIN_GROUPS)}
    assert choose(better, g) == "b"                                # wins on every group
    assert choose({k: v[:-1] for k, v in better.items()}, g[:-1]) == "model"  # too few groups
    assert choose({"model": np.ones(MIN_GROUPS), "b": np.ones(MIN_GROUPS)}, g) == "model"  # tie
    # lower total but within noise: improvements +3, -1, -1, +3, -1: signed ranks
    # W+ = 4.5 + 4.5 = 9 of 15, one-sided p > 0.4
    noisy = {"model": np.array([4.0, 1, 1, 4, 1]), "b": np.array([1.0, 2, 2, 1, 2])}
    assert choose(noisy, g) == "model"
    # one extreme group makes the total lower, but the candidate loses the nine others
    g10 = np.arange(10)
    extreme = {"model": np.r_[10.0, np.zeros(9)], "b": np.r_[0.0, np.full(9, 0.1)]}
    assert choose(extreme, g10) == "model"
    # the reverse: it wins nine of ten groups, loses one a little (W+ = 54 of 55, p = 2/1024)
    assert choose({"model": np.r_[0.0, np.full(9, 1.0)], "b": np.r_[0.05, np.zeros(9)]}, g10) == "b"
    # cells of one run are one group: five cells in one run are too few groups
    assert choose(better, np.zeros(MIN_GROUPS, dtype=int)) == "model"
    # two clear winners (each p = 1/32 < 0.05, the level per candidate): the lower total wins
    assert choose({**better, "c": np.full(MIN_GROUPS, 0.5)}, g) == "b"
    assert choose({**better, "c": np.full(MIN_GROUPS, 2.0)}, g) == "b"
    # wins every one of 40 groups (p ~ 1e-12) but by 3% of the total: below MIN_GAIN (5%)
    g40 = np.arange(40)
    small = {"model": np.ones(40), "b": np.full(40, 0.97)}
    assert choose(small, g40) == "model"
    assert choose({"model": np.ones(40), "b": np.full(40, 0.94)}, g40) == "b"  # 6%


def test_select_pools_channel_c_of_a_dict_of_series_as_an_n_c_l_array_does():
    """A .npz of many short series (unequal lengths, read as a dict of arrays) is judged as
    an [N, C, L] array is: channel c of every series together. Each series alone holds one
    held-back run, too few to tell candidates apart, so judging them one by one would keep
    the model everywhere; pooled, a candidate that is exact on all 30 runs wins on all."""
    from encoderkit.impute_cells import channels, select_fills

    rng = np.random.default_rng(0)
    truth_arr = rng.normal(size=(30, 2, 20))
    hide_arr = np.zeros(truth_arr.shape, dtype=bool)
    hide_arr[:, :, 8:10] = True  # one run a series and channel
    exact = truth_arr.copy()
    worse = truth_arr + np.where(hide_arr, 0.5, 0.0)
    worse[:, 1] = truth_arr[:, 1] - np.where(hide_arr[:, 1], 0.5, 0.0)

    def judge(as_dict: bool):
        wrap = (lambda a: {f"s{i}": a[i] for i in range(len(a))}) if as_dict else (lambda a: a)
        truth = list(channels(wrap(truth_arr)))
        hide = {ch.name: m for ch, m in zip(truth, channels(wrap(hide_arr)))}
        hide = {k: m.values.astype(bool) for k, m in hide.items()}
        return select_fills(truth, {"model": list(channels(wrap(worse))),
                                    "linear": list(channels(wrap(exact)))}, hide, runs=True)

    pooled, array = judge(True), judge(False)
    assert len(pooled) == 60 and set(array) == {"channel 0", "channel 1"}
    for c in (0, 1):
        assert array[f"channel {c}"].used == "linear"
        members = [v for k, v in pooled.items() if k.endswith(f":channel {c}")]
        assert len(members) == 30 and all(m.used == "linear" for m in members)
        assert members[0].cells == array[f"channel {c}"].cells == 60
        assert members[0].errors["linear"] == 0.0
    # the same cells judged one series at a time: one run each, so the model stays
    alone = select_fills(*[[ch] for ch in list(channels({"s0": truth_arr[0]}))[:1]],
                         {"model": list(channels({"s0": worse[0]}))[:1],
                          "linear": list(channels({"s0": exact[0]}))[:1]},
                         {"s0:channel 0": hide_arr[0, 0]}, runs=True)
    assert alone["s0:channel 0"].used == "model"


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_series_imputation_trains_on_every_grid_phase_and_averages_shifted_passes(tmp_path):
    """`encoderkit impute` on series: the kept run's domain has the seasonal baseline,
    grid_shift and 4 infill passes (the measured imputation settings; `encoderkit pretrain`
    defaults to no baseline), it trains 900 epochs (steps = ceil(900 x 75 patches / 2,048
    tokens a step) = 33 with the floor lowered), and a user's override still wins."""
    import yaml

    from encoderkit.infer import load

    def steps(run: str) -> int:
        return int(yaml.safe_load((tmp_path / run / "model0" / "config.yaml").read_text())["train"]["steps"])

    x = co2(300)
    x[100:110] = np.nan
    np.save(tmp_path / "co2.npy", x)
    run_impute(tmp_path / "co2.npy", tmp_path / "a.npy", f"run_dir={tmp_path / 'a'}", "domain.patch=4",
               "train.steps=auto", "train.auto_min_steps=1")
    opts = load(str(tmp_path / "a" / "model0")).domain.options
    assert opts["grid_shift"] is True and opts["infill_shifts"] == 4 and opts["baseline"] == "seasonal"
    assert steps("a") == math.ceil(900 * 75 / 2048) == 33
    run_impute(tmp_path / "co2.npy", tmp_path / "b.npy", f"run_dir={tmp_path / 'b'}", "domain.patch=4",
               "train.steps=auto", "train.auto_min_steps=1", "train.auto_epochs=100",
               "domain.infill_shifts=1", "domain.grid_shift=false", "domain.baseline=linear")
    opts = load(str(tmp_path / "b" / "model0")).domain.options
    assert opts["grid_shift"] is False and opts["infill_shifts"] == 1 and opts["baseline"] == "linear"
    assert steps("b") == math.ceil(100 * 75 / 2048) == 4
    assert not np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_series_fill_that_leaves_a_hole_is_refused(tmp_path, capsys, monkeypatch):
    """The safety net on unfilled cells covers series as well as tables: a fill that came back
    with holes was written out with exit 0 (the count of filled cells said fewer)."""
    import encoderkit.impute as imp

    x = co2(120)
    x[30:38] = np.nan
    src, out = tmp_path / "co2.npy", tmp_path / "filled.npy"
    np.save(src, x)
    monkeypatch.setattr(imp, "ensemble_infill", lambda models, data, *a, **k: (data, None))
    assert main(["impute", f"input={src}", f"output={out}", "domain.patch=8", "holdout=0", *TINY]) == 1
    err = capsys.readouterr().err
    assert "channel" in err and "8 missing cell(s) got no finite fill" in err and str(src) in err, err
    assert not out.exists()


def test_series_pretraining_has_no_baseline_and_imputation_the_seasonal_one():
    """Two purposes, two defaults (benchmarks/RESULTS.md): `encoderkit pretrain` learns a
    series' shape without the interpolation input; `encoderkit impute` refines it."""
    from encoderkit.impute import pretrain_overrides
    from encoderkit.train.config import compose

    plain = compose(["domain=timeseries", "data.store=s.zarr", "run.dir=r"])
    assert plain.domain.baseline == "none"
    imputing = compose(pretrain_overrides("timeseries", "s.zarr", "r", 0, False))
    assert imputing.domain.baseline == "seasonal"
    assert compose(pretrain_overrides("timeseries", "s.zarr", "r", 0, False,
                                      ["domain.baseline=linear"])).domain.baseline == "linear"


def test_a_ts_series_file_is_refused_before_training_and_says_what_to_give(tmp_path, capsys):
    """A .ts archive file is a series file (infer_domain), whose series impute can read but
    not write back: one line saying which files it fills, before any model trains, no
    output and no run directory left (the message used to point at `encoderkit infill`,
    which cannot write one either)."""
    pytest.importorskip("aeon")  # .ts files are read by aeon, an optional dependency
    src = tmp_path / "x.ts"
    src.write_text("@problemName x\n@univariate true\n@equalLength true\n@classLabel false\n"
                   "@data\n1,2,?,4,5,6,7,8\n2,3,4,?,6,7,8,9\n")
    assert infer_domain(str(src), {}) == "timeseries"
    out = tmp_path / "filled.npz"
    code = main(["impute", f"input={src}", f"output={out}", f"run_dir={tmp_path / 'run'}", *TINY])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert ".npy ([N, C, L])" in err and "cannot write back" in err
    assert not out.exists() and not (tmp_path / "run" / "model0").exists()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_file_of_many_series_trains_longer_than_a_few(tmp_path):
    """The series budget by the file: 4 or more series train 2,700 epochs, fewer 900
    (steps = ceil(epochs x 25 patches a series x series / 2,048 tokens a step) with the
    floor lowered); a user's train.auto_epochs still wins."""
    import yaml

    def steps(n: int, *words: str) -> int:
        rng = np.random.default_rng(n)
        x = np.cumsum(rng.normal(size=(n, 1, 100)), axis=-1)
        x[:, :, 40:44] = np.nan
        src, run = tmp_path / f"s{n}{len(words)}.npy", tmp_path / f"r{n}{len(words)}"
        np.save(src, x)
        run_impute(src, tmp_path / f"o{n}{len(words)}.npy", f"run_dir={run}", "domain.patch=4",
                   "train.steps=auto", "train.auto_min_steps=1", *words)
        return int(yaml.safe_load((run / "model0" / "config.yaml").read_text())["train"]["steps"])

    assert steps(4) == math.ceil(2700 * 4 * 25 / 2048) == 132
    assert steps(3) == math.ceil(900 * 3 * 25 / 2048) == 33
    assert steps(4, "train.auto_epochs=100") == math.ceil(100 * 4 * 25 / 2048) == 5


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_an_empty_column_or_channel_is_refused_with_a_way_out_that_works(tmp_path, capsys):
    """The hints named `exclude=[]` for a column without a name (a trailing comma on every
    line), which excludes nothing, and `exclude=[channel 1]` for a series, whose reader has
    no exclude: both refused again (session-40 audit). Each hint now works as written.
    A table's empty column is no longer refused (session 53): kept as it is, said once."""
    rows = "".join(f"{i},{i % 3 if i % 4 else ''},\n" for i in range(40))
    table = tmp_path / "blank.csv"
    table.write_text("a,b,my col\n" + rows)
    out = tmp_path / "o.csv"
    with pytest.warns(UserWarning, match="kept in the output as it is") as said:
        assert main(["impute", f"input={table}", f"output={out}", *TINY]) == 0
    assert sum("'my col'" in str(w.message) for w in said) == 1  # not "dropped" then kept
    assert pd.read_csv(out)["my col"].isna().all()
    assert main(["impute", f"input={table}", f"output={out}", "overwrite=true", "exclude=['my col']", *TINY]) == 0
    series = tmp_path / "series.csv"
    x = np.sin(np.arange(60) / 4.0)
    x[10:13] = np.nan
    pd.DataFrame({"time": np.arange(60), "v": x, "w": np.nan}).to_csv(series, index=False)
    assert main(["impute", f"input={series}", f"output={tmp_path / 's.csv'}", "domain=timeseries", *TINY]) == 1
    err = capsys.readouterr().err
    assert "'w' has no observed value" in err and "drop it from the file" in err and "exclude" not in err
    pd.DataFrame({"time": np.arange(60), "v": x}).to_csv(series, index=False)
    assert main(["impute", f"input={series}", f"output={tmp_path / 's.csv'}", "domain=timeseries", *TINY]) == 0
    arr = tmp_path / "a.npy"
    np.save(arr, np.stack([x, np.full(60, np.nan)]))
    assert main(["impute", f"input={arr}", f"output={tmp_path / 'a_out.npy'}", *TINY]) == 1
    err = capsys.readouterr().err
    assert "no observed value" in err and "drop it from the file" in err and "exclude" not in err
