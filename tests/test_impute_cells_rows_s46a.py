"""The held-back runs and the linear baseline of ``encoderkit/impute_cells.py`` for many
series at once: the same cells and bytes as the loops they replace (kept here as the
reference), on random arrays with rows all missing, all observed, one observed sample,
runs cut at a row's end."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.impute_cells import Channel, baseline_fill, draw_holdout, gap_length, is_missing


def holdout_by_loop(chans, fraction, seed):
    """``draw_holdout(..., runs=True)`` as written before: a Python step per run."""
    rng = np.random.default_rng(seed)
    out = {}
    for ch in chans:
        observed = ~is_missing(ch.values)
        length = gap_length(ch.values)
        flat = observed.reshape(-1, observed.shape[-1])
        mask = np.zeros_like(flat)
        for i, t in np.argwhere(rng.random(flat.shape) < fraction / length):
            mask[i, t:t + length] = True
        mask = mask & flat
        for i in range(flat.shape[0]):  # each row (a series) keeps at least half its samples, and 2
            n_row = int(flat[i].sum())
            if n_row - int(mask[i].sum()) < max(2, n_row // 2):
                mask[i] = False
        mask = mask.reshape(observed.shape)
        n_obs = int(observed.sum())
        if n_obs - int(mask.sum()) < max(2, n_obs // 2):
            mask[:] = False
        out[ch.name] = mask
    return out


def baseline_by_loop(values, visible):
    flat = values.reshape(-1, values.shape[-1])
    vis = visible.reshape(flat.shape)
    out = np.full(flat.shape, np.nan)
    t = np.arange(flat.shape[1])
    for i in range(flat.shape[0]):
        if vis[i].any():
            out[i] = np.interp(t, t[vis[i]], flat[i][vis[i]])
    return out.reshape(values.shape)


def random_series(seed, shape):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 10 ** rng.uniform(-8, 8)
    gaps = rng.random(shape) < rng.uniform(0.02, 0.5)
    # runs of gaps: widen some
    gaps |= np.roll(gaps, 1, axis=-1) & (rng.random(shape) < 0.5)
    x[gaps] = np.nan
    flat = x.reshape(-1, shape[-1])
    if flat.shape[0] > 3:
        flat[0] = np.nan  # nothing observed
        flat[1] = 2.5  # everything observed
        flat[2, 1:] = np.nan  # one observed sample
    return x


@pytest.mark.parametrize("shape", [(1,), (7,), (300,), (40, 1, 9), (25, 3, 64), (200, 2, 3)])
def test_draw_holdout_runs_are_the_loops_cells(shape):
    for seed in range(3):
        x = random_series(seed, shape)
        chans = [Channel("a", x), Channel("b", np.where(np.isnan(x), 0.0, np.nan) if x.ndim == 1 else x[..., ::-1].copy())]
        for fraction in (0.05, 0.3):
            want = holdout_by_loop(chans, fraction, seed)
            got = draw_holdout(chans, fraction, seed, runs=True)
            assert want.keys() == got.keys()
            for k in want:
                np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize("shape", [(1,), (7,), (300,), (40, 1, 9), (25, 3, 64), (200, 2, 1)])
def test_series_baseline_is_each_rows_interpolation_bit_for_bit(shape):
    for seed in range(3):
        x = random_series(seed, shape)
        visible = ~np.isnan(x)
        got = baseline_fill(Channel("c", x), visible, True)
        np.testing.assert_array_equal(got, baseline_by_loop(x, visible))


def test_no_row_of_an_array_is_held_back_whole():
    """A row with 3 samples was held back whole (its fill stopped on "series 'series1',
    channel 0: no observed value", `impute` of an [N, C, L] array, seed 26)."""
    x = np.random.default_rng(0).standard_normal((6, 1, 12))
    x[1, 0, 3:] = np.nan  # three observed samples
    x[4, 0, ::2] = np.nan
    for seed in range(300):
        mask = draw_holdout([Channel("a", x)], 0.3, seed, runs=True)["a"]
        left = (~np.isnan(x) & ~mask).sum(axis=-1)
        assert (left >= np.minimum(2, (~np.isnan(x)).sum(axis=-1))).all(), seed
