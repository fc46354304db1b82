"""Period detection, the climatology + interpolated-anomaly fill, the ``seasonal``
baseline input of the time-series domain and its ``short_fallback``."""

from __future__ import annotations

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.seasonal import (climatology, detect_period, linear_fill, nan_run_lengths,
                                        period_helps, seasonal_fill, seasonal_naive, seasonal_period)


def monthly(n: int = 144, seed: int = 0, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + 0.05 * t + 2 * np.sin(2 * np.pi * t / 12) + np.cos(4 * np.pi * t / 12) \
        + noise * rng.normal(size=n)


def test_detect_period_finds_twelve_months_through_trend_noise_and_gaps():
    x = monthly()
    x[[5, 30, 31, 32, 33, 34, 35, 80]] = np.nan
    assert detect_period(x) == 12


def test_detect_period_finds_the_52_week_cycle_of_mauna_loa_co2():
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].to_numpy(np.float64)  # real gaps (NaN)
    assert np.isnan(co2).any()
    assert detect_period(co2[:600]) == 52


def test_detect_period_says_none_for_noise_a_line_and_too_few_cycles():
    rng = np.random.default_rng(1)
    assert detect_period(rng.normal(size=300)) is None
    assert detect_period(np.arange(100.0)) is None
    assert detect_period(monthly(n=30, noise=0.0)) is None  # 2.5 cycles < 3


def test_nan_run_lengths_hand_computed():
    x = np.array([np.nan, 1, 2, np.nan, np.nan, 3, np.inf, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(nan_run_lengths(x), [1, 2, 4])
    assert len(nan_run_lengths(np.ones(5))) == 0


def test_a_real_season_survives_the_cross_validation_and_beats_linear_on_the_true_gaps():
    x = monthly(n=144, noise=0.3)
    holed = x.copy()
    for s in (14, 40, 75, 110):
        holed[s:s + 5] = np.nan
    assert detect_period(holed) == 12 and period_helps(holed, 12)
    filled, period = seasonal_fill(holed)
    assert period == seasonal_period(holed) == 12
    gap = np.isnan(holed)
    assert np.mean((filled - x)[gap] ** 2) < 0.5 * np.mean((linear_fill(holed) - x)[gap] ** 2)


@pytest.mark.parametrize("loader, index, period", [("load_osuleaf", 6, 138), ("load_arrow_head", 8, 78)])
def test_a_shape_outlines_autocorrelation_peak_is_rejected_where_the_climatology_hurts(loader, index, period):
    """UCR outlines (a leaf, an arrowhead) show an autocorrelation peak but are not seasonal:
    on their true gaps the climatology fill is 3-6x worse than linear interpolation, and
    the cross-validation on the visible samples alone says so."""
    import warnings

    from aeon import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        series, _ = getattr(datasets, loader)(split="test")
    truth = np.asarray(series[index][0], dtype=np.float64)
    holed = truth.copy()
    for s in range(30, len(truth) - 20, 50):
        holed[s:s + 8] = np.nan
    gap = np.isnan(holed)
    assert detect_period(holed) == period
    climatology_err = np.mean((seasonal_fill(holed, period)[0] - truth)[gap] ** 2)
    linear_err = np.mean((linear_fill(holed) - truth)[gap] ** 2)
    assert climatology_err > 2 * linear_err  # the truth: the period would hurt here
    assert seasonal_period(holed) is None
    np.testing.assert_array_equal(seasonal_fill(holed)[0], linear_fill(holed))


def test_too_short_to_cross_validate_means_no_period():
    # a clean period-4 signal whose climatology would be exact, but with gaps of 4 samples
    # fewer than 3 held-back blocks fit in 16 samples: the period is not trusted
    x = np.tile([0.0, 1.0, 0.0, -1.0], 4) + 0.01 * np.arange(16)
    x[6:10] = np.nan
    assert not period_helps(x, 4)
    longer = np.tile([0.0, 1.0, 0.0, -1.0], 15) + 0.01 * np.arange(60)
    longer[[9, 10, 11, 12, 41, 42, 43, 44]] = np.nan
    assert period_helps(longer, 4)


def test_climatology_and_fill_match_a_hand_computed_case():
    # period 2, no trend: profile [-1, +1], anomaly 2 everywhere -> the gap gets 2 - 1 = 1
    x = np.array([1.0, 3.0, 1.0, 3.0, np.nan, 3.0, 1.0, 3.0])
    np.testing.assert_allclose(climatology(x, 2), [-1.0, 1.0], atol=1e-12)
    filled, period = seasonal_fill(x, 2)
    assert period == 2 and filled[4] == pytest.approx(1.0, abs=1e-12)


def test_climatology_equals_the_least_squares_fit_with_phase_dummies_and_a_trend():
    # independent reference: np.linalg.lstsq on the full design [one-hot phase | t]
    rng = np.random.default_rng(4)
    x = rng.normal(size=100) + 0.03 * np.arange(100)
    x[rng.random(100) < 0.3] = np.nan
    x[[0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 91, 98]] = np.nan  # phase 0 of 7 never seen
    ok = np.isfinite(x)
    t = np.arange(100)
    seen = np.unique(t[ok] % 7)
    a = np.zeros((ok.sum(), len(seen) + 1))
    a[np.arange(ok.sum()), np.searchsorted(seen, t[ok] % 7)] = 1.0
    a[:, -1] = t[ok]
    coef = np.linalg.lstsq(a, x[ok], rcond=None)[0][:-1]
    expected = np.zeros(7)
    expected[seen] = coef - coef.mean()
    np.testing.assert_allclose(climatology(x, 7), expected, atol=1e-10)
    assert climatology(x, 7)[0] == 0.0


def test_seasonal_fill_is_exact_for_trend_plus_periodic_and_keeps_observed_bits():
    t = np.arange(120)
    profile = np.array([3.0, -1.0, 0.5, 2.0, -4.0, 1.0, 0.0, -0.5, 1.5, -2.0, 0.25, -0.75])
    x = 7.0 + 0.2 * t + profile[t % 12]
    holed = x.copy()
    holed[[10, 40, 41, 42, 43, 44, 45, 46, 47, 90]] = np.nan  # one gap of 8 months
    np.testing.assert_allclose(climatology(holed, 12), profile - profile.mean(), atol=1e-9)
    filled, _ = seasonal_fill(holed, 12)
    np.testing.assert_allclose(filled, x, atol=1e-9)
    ok = np.isfinite(holed)
    np.testing.assert_array_equal(filled[ok], holed[ok])
    # linear interpolation cannot do this: the reason for the seasonal baseline
    lin = np.interp(t, t[ok], holed[ok])
    assert np.abs(lin - x).max() > 1.0


def zero_predict(masked):
    """A stand-in model predicting a zero residual: infill returns the baseline."""
    return [{"values": np.zeros((int(m.predict.sum()), m.inputs["values"].shape[1]))} for m in masked]


def big_predict(masked):
    return [{"values": np.full((int(m.predict.sum()), m.inputs["values"].shape[1]), 5.0)} for m in masked]


def test_seasonal_baseline_input_is_the_climatology_fill_in_normalised_units():
    x = monthly(n=96, noise=0.0)
    x[[20, 21, 22, 23, 60]] = np.nan
    d = TimeSeriesDomain({}, patch=4, baseline="seasonal")
    out = d.infill(x, zero_predict)  # zero residual: exactly the baseline, back in units
    expected, period = seasonal_fill(x)
    assert period == 12
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    # the embedder reads the baseline beside values and observed flags
    m = d.infill_example(d.featurize({"values": x.astype(np.float32), "channels": 1, "length": 96}))
    assert "baseline" in m.inputs and m.inputs["baseline"].shape == m.inputs["values"].shape


def test_seasonal_baseline_ignores_the_padding_of_the_last_patch():
    # aeon's Lynx series: 114 samples, patch 4 -> the last patch holds 2 padding samples.
    # Read as a flat linear extension they move the autocorrelation peak (period 20 instead
    # of 19 with these gaps); the fill must equal the one of the unpadded series.
    import warnings

    from aeon.datasets import load_lynx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # aeon's deprecation notice
        x = np.asarray(load_lynx(), dtype=np.float64).copy()
    x[list(range(29, 37)) + list(range(65, 77))] = np.nan
    expected, period = seasonal_fill(x)
    assert period == 19
    out = TimeSeriesDomain({}, patch=4, baseline="seasonal").infill(x, zero_predict)
    expected = np.maximum(expected, 0.0)  # a count never below 0 is filled >= 0 (encoderkit/plausible_fills.py)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6 * np.nanmax(x))


def test_short_fallback_returns_the_baseline_only_for_series_shorter_than_the_threshold():
    rng = np.random.default_rng(2)
    short = rng.normal(size=(3, 20))  # 5 patches of 4
    long = rng.normal(size=(3, 80))  # 20 patches of 4
    short[:, 9] = long[:, 40] = np.nan
    d = TimeSeriesDomain({}, patch=4, short_fallback=8)
    s, l_ = d.infill(short, big_predict), d.infill(long, big_predict)
    np.testing.assert_allclose(s[:, 9], (short[:, 8] + short[:, 10]) / 2, rtol=1e-6)  # linear
    assert np.all(np.abs(l_[:, 40] - (long[:, 39] + long[:, 41]) / 2) > 1.0)  # the model's
    # a short multichannel series cut into several infill windows still falls back to the
    # interpolation over the WHOLE series (not a window's share of it)
    many = rng.normal(size=(12, 28))
    many[:, 13:17] = np.nan
    d2 = TimeSeriesDomain({}, patch=2, short_fallback=16, infill_max_seqlen=32)
    out = d2.infill(many, big_predict)
    t = np.arange(28)
    for c in range(12):
        ok = np.isfinite(many[c])
        np.testing.assert_allclose(out[c], np.interp(t, t[ok], many[c, ok]), rtol=1e-6)
    with pytest.raises(ValueError, match="short_fallback"):
        TimeSeriesDomain({}, short_fallback=-1)
    with pytest.raises(ValueError, match="'baseline'.*seasonal"):
        TimeSeriesDomain({}, baseline="cubic")


def test_seasonal_naive_hand_computed():
    """Each missing sample: the visible value one period earlier, else one later, else the
    linear interpolation; observed samples untouched; no period: linear."""
    x = np.array([1.0, 2, 3, np.nan, np.nan, 6, np.nan, 8, np.nan, np.nan])
    #   sample 3 <- 0 (1.0); 4 <- 1 (2.0); 6 <- 3 missing, 9 -> 9 >= n: linear (7.0);
    #   8 <- 5 (6.0); 9 <- 6 missing, no later: linear past the end (8.0)
    np.testing.assert_array_equal(seasonal_naive(x, 3), [1, 2, 3, 1, 2, 6, 7, 8, 6, 8])
    y = np.array([np.nan, 5.0, 1, 2, 3, 4])
    np.testing.assert_array_equal(seasonal_naive(y, 2), [1, 5, 1, 2, 3, 4])  # 0 <- 2 (later)
    np.testing.assert_array_equal(seasonal_naive(x, None), linear_fill(x))


def test_infill_candidates_seasonal_per_channel_and_the_encoder_without_fallback():
    """``seasonal``: each channel's climatology + anomaly fill (a period where one is
    detected, linear elsewhere); ``encoder`` only when ``short_fallback`` sends a series to
    the baseline: then the model's own fill (the domain with ``short_fallback=0``)."""
    rng = np.random.default_rng(5)
    x = np.stack([monthly(144, 1), rng.normal(size=144)])
    x[0, 50:56] = x[1, 20:23] = np.nan
    d = TimeSeriesDomain({}, patch=4, baseline="seasonal", short_fallback=64)  # 36 patches: falls back
    cands = d.infill_candidates(x, big_predict)
    for c in range(2):
        np.testing.assert_array_equal(cands["seasonal"][c], seasonal_fill(x[c])[0])
    assert detect_period(x[0]) == 12 and detect_period(x[1]) is None
    # `naive`: one detected period earlier (channel 0), linear where there is none (channel 1)
    np.testing.assert_array_equal(cands["naive"][0, 50:56], x[0, 38:44])
    np.testing.assert_array_equal(cands["naive"][1], linear_fill(x[1]))
    np.testing.assert_array_equal(
        cands["encoder"], TimeSeriesDomain({}, patch=4, baseline="seasonal").infill(x, big_predict))
    assert not np.allclose(cands["encoder"], d.infill(x, big_predict))
    assert "encoder" not in TimeSeriesDomain({}, patch=4, short_fallback=8).infill_candidates(x, big_predict)


def test_data_fallback_counts_the_patches_of_every_series_given_together():
    """``data_fallback``: too little data in all -> the baseline for every series, however
    long each one is; enough series of the same length -> the model."""
    rng = np.random.default_rng(7)
    one = rng.normal(size=(1, 100))  # 25 patches of 4
    one[0, 50] = np.nan
    d = TimeSeriesDomain({}, patch=4, data_fallback=32)
    alone = d.infill(one, big_predict)
    assert alone[0, 50] == pytest.approx((one[0, 49] + one[0, 51]) / 2, rel=1e-6)  # linear
    many = np.concatenate([one[None], rng.normal(size=(3, 1, 100))])  # 4 x 25 = 100 patches
    together = d.infill(many, big_predict)
    assert abs(together[0, 0, 50] - (one[0, 49] + one[0, 51]) / 2) > 1.0  # the model's fill
    with pytest.raises(ValueError, match="data_fallback"):
        TimeSeriesDomain({}, data_fallback=-2)
    # the `encoder` candidate is the model without either fallback
    np.testing.assert_array_equal(d.infill_candidates(one, big_predict)["encoder"],
                                  TimeSeriesDomain({}, patch=4).infill(one, big_predict))
