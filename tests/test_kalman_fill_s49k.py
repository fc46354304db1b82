"""The Kalman baseline of the imputation benchmark (``benchmarks/kalman_fill.py``): the smoothed
gap of a local-level series against float64 references computed here (the straight line of a
noise-free random walk; the Gaussian posterior mean of a noisy one), observed samples kept,
short channels to linear interpolation and counted, and the benchmark's best classical fill
counting it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("statsmodels")

from benchmarks.imputation_lodo import relative  # noqa: E402
from benchmarks.kalman_fill import (FALLBACKS, KalmanStats, fill_channel, kalman_fill,  # noqa: E402
                                    smoothed_signal, specs)

LEVEL = specs(None)[0]


def _walk(n: int, seed: int, noise: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(size=n))
    return level + noise * rng.normal(size=n)


def test_noise_free_random_walk_gap_is_the_straight_line_between_its_ends():
    # a random walk seen without noise: given the samples on both sides of a gap, the walk
    # inside it is a Brownian bridge, whose mean is the line between those two samples
    x = _walk(60, 0)
    y = x.copy()
    y[20:31] = np.nan
    assert LEVEL.name == "level"
    signal, _ = smoothed_signal(y, LEVEL, params=[0.0, 1.0])  # sigma2.irregular, sigma2.level
    t = np.arange(60)
    np.testing.assert_allclose(signal[20:31], np.interp(t[20:31], [19, 31], [x[19], x[31]]), atol=1e-9)
    np.testing.assert_allclose(signal[~np.isnan(y)], x[~np.isnan(y)], atol=1e-9)


def test_noisy_local_level_is_the_gaussian_posterior_mean():
    # local level, known variances: the smoothed level is the posterior mean under the
    # random-walk prior started at N(0, P0) (statsmodels' approximate diffuse start, P0 = 1e6):
    # (D'D / s2_level + e1 e1' / P0 + H'H / s2_noise)^-1 H'y / s2_noise
    s2_noise, s2_level, p0 = 0.5, 1.0, 1e6
    y = _walk(80, 1, noise=np.sqrt(s2_noise))
    y[[10, 11, 12, 40, 41, 42, 43, 44, 45, 70]] = np.nan
    ok = np.isfinite(y)
    diff = np.diff(np.eye(80), axis=0)  # [79, 80]
    h = np.eye(80)[ok]  # [visible, 80]
    a = diff.T @ diff / s2_level + h.T @ h / s2_noise
    a[0, 0] += 1.0 / p0
    ref = np.linalg.solve(a, h.T @ y[ok] / s2_noise)
    signal, _ = smoothed_signal(y, LEVEL, params=[s2_noise, s2_level])
    np.testing.assert_allclose(signal, ref, atol=1e-8)
    # inside a gap the smoothed level is the line between its smoothed values at the gap's ends
    t = np.arange(80)
    np.testing.assert_allclose(ref[40:46], np.interp(t[40:46], [39, 46], ref[[39, 46]]), atol=1e-9)


def test_fitted_fill_keeps_observed_samples_and_fills_every_gap():
    rng = np.random.default_rng(2)
    t = np.arange(240)
    y = np.stack([_walk(240, 3, noise=0.3), 3 * np.sin(2 * np.pi * t / 12) + 0.2 * rng.normal(size=240)])
    truth = y.copy()
    y[0, 50:58] = np.nan
    y[1, 99:105] = np.nan  # half a cycle, across a peak (sin peaks at t = 3 + 12k: 99)
    y[1, 160:163] = np.nan
    stats = KalmanStats()
    out = kalman_fill(y, stats)
    ok = np.isfinite(y)
    np.testing.assert_array_equal(out[ok], y[ok])  # bit-identical, not re-smoothed
    assert np.isfinite(out).all()
    assert stats.channels == 2 and stats.fallbacks == 0
    assert stats.outcomes["trend+seasonal"] == 1  # the seasonal channel's period is found and used
    gap = np.isnan(y[1])
    lin = np.interp(t[gap], t[~gap], y[1, ~gap])
    # the seasonal model follows the cycle through the peak that linear interpolation cuts
    assert np.mean((out[1, gap] - truth[1, gap]) ** 2) < 0.2 * np.mean((lin - truth[1, gap]) ** 2)


def test_too_few_visible_samples_fall_back_to_linear_interpolation_and_are_counted():
    y = np.array([[1.0, np.nan, 4.0, np.nan, np.nan, 10.0, 7.0], [2.0, 2.0, np.nan, 2.0, 2.0, 2.0, 2.0]])
    stats = KalmanStats()
    out = kalman_fill(y, stats)
    np.testing.assert_allclose(out[0], [1.0, 2.5, 4.0, 6.0, 8.0, 10.0, 7.0])
    np.testing.assert_allclose(out[1], np.full(7, 2.0))  # constant: nothing to fit
    assert stats.outcomes[FALLBACKS[0]] == 2 and stats.fallbacks == 2
    filled, outcome = fill_channel(np.array([1.0, np.nan, 3.0]), None)
    assert outcome == FALLBACKS[0] and filled[1] == 2.0


def test_the_best_classical_series_fill_counts_kalman_and_old_results_still_read():
    rows = [dict(kind="series", dataset="d", seed=0, method=m, mse=v, mse_scaled=v)
            for m, v in (("linear", 0.4), ("seasonal_naive", 0.5), ("climatology+anomaly", 0.8),
                         ("kalman", 0.2), ("ek_onecall", 0.3))]
    rel = relative(pd.DataFrame(rows)).set_index("method")["rel"]
    assert rel["ek_onecall"] == pytest.approx(0.3 / 0.2) and rel["kalman"] == pytest.approx(1.0)
    old = relative(pd.DataFrame([r for r in rows if r["method"] != "kalman"])).set_index("method")["rel"]
    assert old["ek_onecall"] == pytest.approx(0.3 / 0.4)  # a file written before kalman existed
