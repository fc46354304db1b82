"""`encoderkit impute` on a long series table (``series_id, time, value``: several series
stacked in one column): the linear baseline and candidate, the held-back runs, their
error scale and the per-column choice stay within each series. The reference is the
same series given apart (a dict of series, as a .npz file is read), which ``channels``
splits into one channel per series."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from encoderkit.impute_cells import (Channel, baseline_fill, channels, draw_holdout, gap_length,
                                     is_missing, score_holdout, select_fills)
from encoderkit.selection import run_groups

LEVELS = {"A": 0.0, "B": 100.0, "C": -50.0}


def stacked(length: int = 48, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Three series at very different levels, each with a gap at its start, its end and
    its middle: as one long table (in time order, series in blocks) and as a dict."""
    rng = np.random.default_rng(seed)
    apart = {}
    for k, level in LEVELS.items():
        t = np.arange(length)
        v = level + np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(length)
        v[:3] = v[-3:] = v[20:22] = np.nan
        apart[k] = v
    frame = pd.DataFrame({"series_id": np.repeat(list(apart), length),
                          "time": np.tile(np.arange(length), len(apart)),
                          "value": np.concatenate(list(apart.values()))})
    return frame, apart


def split(x: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """A long column's cells cut back into its series (blocks of ``n`` rows)."""
    return {k: x[i * n:(i + 1) * n] for i, k in enumerate(LEVELS)}


def test_linear_baseline_is_each_series_own_interpolation():
    """At the end of series A (rows 45-47) the baseline is A's last observed value, not a
    ramp towards B's first (it was 13.7, 28.2, 42.8); every cell equals np.interp of its
    own series' samples, the dict path's fill."""
    frame, apart = stacked()
    (ch,) = channels(frame, ["value"], series_column="series_id")
    got = split(baseline_fill(ch, ~is_missing(ch.values), True), 48)
    t = np.arange(48)
    for k, v in apart.items():
        ok = np.isfinite(v)
        np.testing.assert_array_equal(got[k], np.interp(t, t[ok], v[ok]))
        (own,) = channels({k: v})
        np.testing.assert_array_equal(got[k], baseline_fill(own, ok, True))
    assert np.all(got["A"][-3:] == apart["A"][-4])


def test_one_series_or_no_series_column_is_the_channel_alone():
    """A long table of one series, or a frame without the column, is read as before:
    no series starts, the same baseline to the bit."""
    frame, _ = stacked()
    one = frame[frame.series_id == "B"].reset_index(drop=True)
    (a,) = channels(one, ["value"], series_column="series_id")
    (b,) = channels(one, ["value"])
    assert a.starts is None and b.starts is None
    (c,) = channels(frame, ["value"], series_column="absent")
    assert c.starts is None


def test_gap_length_counts_a_gap_across_two_series_as_two():
    """End of one series + start of the next: two gaps of 3, not one of 6."""
    x = np.array([np.nan] * 3 + [1.0] * 4 + [np.nan] * 3 + [np.nan] * 3 + [2.0] * 4)
    starts = np.zeros(x.size, dtype=bool)
    starts[[0, 10]] = True
    assert gap_length(x) == 4  # runs 3 and 6 read as one column
    assert gap_length(x, starts) == 3  # runs 3, 3, 3


def test_held_back_runs_never_cross_a_series_and_each_series_keeps_its_share():
    """Series of 12 samples with no gap at their boundaries, runs of length 4: no held-back
    run goes on into the next series, and each series keeps at least half of its observed
    samples (and 2), as each series of a dict does; a series of 3 samples was held back
    whole from some draws (nothing left to fill it from)."""
    n = 12
    x = np.arange(4 * n, dtype=np.float64)
    x[[5, 6, 7, 8, 17, 18, 19, 20]] = np.nan  # gaps of 4 inside the first two series
    short = np.full(n, np.nan)
    short[4:7] = [1.0, 2.0, 3.0]
    x[3 * n:] = short
    starts = np.zeros(x.size, dtype=bool)
    starts[::n] = True
    ch = Channel("value", x, starts=starts)
    for seed in range(200):
        mask = draw_holdout([ch], 0.3, seed, runs=True)["value"]
        assert not (mask & np.isnan(x)).any()
        for s in range(4):
            obs = int(np.isfinite(x[s * n:(s + 1) * n]).sum())
            assert obs - int(mask[s * n:(s + 1) * n].sum()) >= max(2, obs // 2) or not mask[s * n:(s + 1) * n].any()
        groups = run_groups(mask, True, starts)
        at = np.flatnonzero(mask)
        for g in np.unique(groups):
            assert len(set(at[groups == g] // n)) == 1  # one run, one series


def test_run_groups_end_at_series_starts():
    mask = np.array([0, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    starts = np.zeros(8, dtype=bool)
    starts[[0, 3]] = True
    assert run_groups(mask, True).tolist() == [0, 0, 0, 0, 1, 1]
    assert run_groups(mask, True, starts).tolist() == [0, 0, 1, 1, 2, 2]


def test_scores_and_choice_equal_the_series_given_apart():
    """The held-back error (each series in its own unit: its observed standard deviation)
    and the select=auto errors and choice of a long column equal those of the dict of the
    same series with the same held-back cells. Before, the column's spread (62, the
    series' levels) scored every error about 90 times too small (0.0053 for 0.47)."""
    frame, apart = stacked()
    (ch,) = channels(frame, ["value"], series_column="series_id")
    rng = np.random.default_rng(3)
    hide_long = np.zeros(ch.values.size, dtype=bool)
    for s in range(3):  # runs of 2 inside each series, on observed samples
        for a in rng.choice(np.arange(4, 42, 3), size=4, replace=False):
            hide_long[s * 48 + a:s * 48 + a + 2] = True
    hide_long &= np.isfinite(ch.values)
    truth = ch.values
    model = truth + 0.3 * np.random.default_rng(4).standard_normal(truth.size)
    other = truth + 0.05 * np.random.default_rng(5).standard_normal(truth.size)
    base = baseline_fill(ch, ~is_missing(truth) & ~hide_long, True)

    def as_channels(x: np.ndarray, long: bool) -> list[Channel]:
        if long:
            return list(channels(frame.assign(value=x), ["value"], series_column="series_id"))
        return list(channels(split(x, 48)))

    long_truth = as_channels(truth, True)
    got = score_holdout(long_truth, as_channels(model, True), {"value": base}, {"value": hide_long})
    apart_truth = as_channels(truth, False)
    names = [c.name for c in apart_truth]
    hide = dict(zip(names, split(hide_long, 48).values()))
    want = score_holdout(apart_truth, as_channels(model, False),
                         dict(zip(names, split(base, 48).values())), hide)
    assert len(got) == len(want) == 1 and got[0].cells == want[0].cells
    np.testing.assert_allclose([got[0].model, got[0].baseline], [want[0].model, want[0].baseline], rtol=1e-12)
    assert got[0].model > 0.3  # in each series' unit (sd about 0.7), not the column's (about 61)

    fills = {"model": model, "other": other}
    chose = select_fills(long_truth, {k: as_channels(v, True) for k, v in fills.items()},
                         {"value": hide_long}, runs=True)["value"]
    ref = select_fills(apart_truth, {k: as_channels(v, False) for k, v in fills.items()}, hide, runs=True)
    assert {r.used for r in ref.values()} == {chose.used} == {"other"}
    first = ref[names[0]]
    assert chose.cells == first.cells
    np.testing.assert_allclose([chose.errors[k] for k in fills], [first.errors[k] for k in fills], rtol=1e-12)


TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def run_impute(src, out, *words):
    from encoderkit.impute import impute, parse

    own, passed, ingest_options = parse([f"input={src}", f"output={out}", *TINY, *words])
    return impute(own.pop("input"), own.pop("output"), overrides=passed, **own, **ingest_options)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_long_csv_of_straight_lines_filled_by_each_series_own_interpolation(tmp_path):
    """Three straight lines at levels 0, 100 and -50 in one long CSV, each with gaps at its
    start, its end and inside: linear interpolation is exact on the held-back runs, so
    select=auto uses it, as for the same series in a .npz file; each written gap is then
    np.interp of its own series (constant past its ends: A's end gap was filled on a ramp
    towards B's first value, up to 5.6 above A's last sample, 88.5)."""
    n = 300
    t = np.arange(n, dtype=np.float64)
    rng = np.random.default_rng(0)
    apart = {}
    for k, level in LEVELS.items():
        v = level + 0.3 * t
        v[:4] = v[-4:] = np.nan
        for s in rng.choice(np.arange(10, n - 14, 6), size=12, replace=False):
            v[s:s + 3] = np.nan
        apart[k] = v
    frame = pd.DataFrame({"series_id": np.repeat(list(apart), n), "time": np.tile(np.arange(n), 3),
                          "value": np.concatenate(list(apart.values()))})
    frame.to_csv(tmp_path / "long.csv", index=False)
    np.savez(tmp_path / "apart.npz", **apart)
    long = run_impute(tmp_path / "long.csv", tmp_path / "long_out.csv", "holdout=0.1", "domain.patch=8")
    ref = run_impute(tmp_path / "apart.npz", tmp_path / "apart_out.npz", "holdout=0.1", "domain.patch=8")
    assert long.choices["value"].used == "linear" == next(iter(ref.choices.values())).used
    # the end gaps are chosen on held-back runs at the ends (session 50): the same choice both ways
    assert long.choices["value"].ends.used == next(iter(ref.choices.values())).ends.used
    back = pd.read_csv(tmp_path / "long_out.csv", float_precision="round_trip")
    assert back[["series_id", "time"]].equals(frame[["series_id", "time"]])
    with np.load(tmp_path / "apart_out.npz") as z:
        for i, (k, v) in enumerate(apart.items()):
            got = back["value"].to_numpy()[i * n:(i + 1) * n]
            ok = np.isfinite(v)
            inner = ~ok & (t >= 4) & (t < n - 4)
            np.testing.assert_array_equal(got[ok], v[ok])
            np.testing.assert_allclose(got[inner], np.interp(t[inner], t[ok], v[ok]), rtol=1e-12)
            # the end gaps stay by their own line (the ramp towards the next series was 5.6 off)
            ends = ~ok & ~inner
            assert np.abs(got[ends] - (LEVELS[k] + 0.3 * t[ends])).max() < 3.0
            np.testing.assert_allclose(got[~ends], z[k][~ends], rtol=1e-12)  # as the series given apart


def test_long_csv_short_series_never_held_back_whole(tmp_path):
    """A series of 3 observed samples between two of 60: with seed 43 the held-back draw
    took all three of them, and the fill of the held-back copy stopped with "series 'S':
    no observed value" on a file where it has three. Each series now keeps its share;
    its samples are written back as they are and its gaps filled."""
    rng = np.random.default_rng(2)
    parts = []
    for k, n in (("A", 60), ("S", 10), ("B", 60)):
        v = np.sin(np.arange(n) / 3) + (10.0 if k == "B" else 0.0) + 0.05 * rng.standard_normal(n)
        if k == "S":
            v[:] = np.nan
            v[3:6] = [1.0, 1.2, 1.1]
        else:
            v[10:13] = v[40:43] = np.nan
        parts.append(pd.DataFrame({"series_id": k, "step": np.arange(n), "value": v}))
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(tmp_path / "short.csv", index=False)
    report = run_impute(tmp_path / "short.csv", tmp_path / "out.csv", "seed=43", "domain=timeseries",
                        "time_column=step", "series_column=series_id")
    assert report.holdout_cells > 0
    back = pd.read_csv(tmp_path / "out.csv", float_precision="round_trip")
    ok = frame["value"].notna().to_numpy()
    np.testing.assert_array_equal(back["value"].to_numpy()[ok], frame["value"].to_numpy()[ok])
    assert back["value"].notna().all()
