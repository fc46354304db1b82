"""Many series' periods found at once (``domains/timeseries/periods.py``) and the lines the
seasonal baseline searches (``masking.visible_lines``): the same answers and bytes as the
one-series functions they replace in ``infill`` / ``infill_candidates``, on random series
with the awkward ones among them (empty, one sample, constant, a straight line, all
missing, infinite samples, exactly repeating cycles whose autocorrelation peaks tie)."""

from __future__ import annotations

import numpy as np
import pytest

import domains.timeseries.seasonal as seasonal
from domains.timeseries import TimeSeriesDomain
from domains.timeseries.masking import visible_lines
from domains.timeseries.periods import linear_fill_rows, seasonal_periods
from domains.timeseries.seasonal import (detect_period, linear_fill, period_helps, seasonal_fill,
                                        seasonal_naive, seasonal_period)


def awkward_series(count: int, seed: int) -> list[np.ndarray]:
    """Series of lengths 0..220 of seven kinds, a random share of samples missing."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = int(rng.integers(0, 221))
        t = np.arange(n)
        kind = i % 8
        if kind == 0:
            x = 3 + np.sin(2 * np.pi * t / rng.integers(3, 30)) + 0.3 * rng.standard_normal(n)
        elif kind == 1:
            x = rng.standard_normal(n)
        elif kind == 2:
            x = np.full(n, 3.25)
        elif kind == 3:
            x = 2.0 * t - 7
        elif kind == 4:
            x = 1e6 + 1e3 * t + np.sin(2 * np.pi * t / 7)  # a cycle under a steep trend
        elif kind == 5:
            x = np.tile(rng.standard_normal(int(rng.integers(2, 12))), n + 1)[:n]  # ties
        elif kind == 6:
            x = np.round(3 * np.sin(2 * np.pi * t / 12))
        else:
            x = 1e-30 * np.sin(2 * np.pi * t / 9) + 1e-31 * rng.standard_normal(n)  # tiny units
        x = np.asarray(x, dtype=np.float64)
        x[rng.random(n) < rng.uniform(0, 0.6)] = np.nan
        if i % 11 == 0 and n:
            x[rng.integers(n)] = np.inf
        if i % 13 == 0:
            x[:] = np.nan
        out.append(x)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_seasonal_periods_are_the_one_series_answers(seed):
    xs = awkward_series(700, seed)
    detected, confirmed = seasonal_periods(xs)
    assert detected == [detect_period(x) for x in xs]
    assert confirmed == [seasonal_period(x) for x in xs]
    assert sum(p is not None for p in confirmed) > 50  # the test meets both branches


def test_seasonal_periods_of_one_length_many_series():
    """Rows of one length searched together, as a file of equal-length series gives them."""
    rng = np.random.default_rng(3)
    t = np.arange(96)
    xs = [np.where(rng.random(96) < 0.1, np.nan, np.sin(2 * np.pi * t / p) + 0.5 * rng.standard_normal(96))
          for p in rng.integers(3, 40, size=300)]
    detected, confirmed = seasonal_periods(xs)
    assert detected == [detect_period(x) for x in xs]
    assert confirmed == [p if p and period_helps(x, p) else None for x, p in zip(xs, detected)]


def test_linear_fill_rows_is_linear_fill_of_each_row_bit_for_bit():
    rng = np.random.default_rng(4)
    for n in (1, 2, 7, 64):
        x = rng.standard_normal((30, n)) * 10 ** rng.uniform(-5, 5, size=(30, 1))
        x[rng.random(x.shape) < 0.5] = np.nan
        x[0] = np.nan
        x[1, :] = 1.5
        x[2, -1] = np.inf
        np.testing.assert_array_equal(linear_fill_rows(x), np.stack([linear_fill(r) for r in x]))


def lines_the_baseline_searches(d: TimeSeriesDomain, series: list[np.ndarray]) -> list[np.ndarray]:
    """The reference: the lines ``seasonal_baseline`` hands ``seasonal_period`` when the
    domain masks each whole series for infill, one series at a time."""
    seen: list[np.ndarray] = []
    original = seasonal.seasonal_period

    def record(x, known=None):
        seen.append(np.array(x, copy=True))
        return original(x)
    seasonal.seasonal_period = record
    try:
        for a in series:
            rec = {"values": a.reshape(-1), "channels": a.shape[0], "length": a.shape[1]}
            d.infill_example(d.featurize(rec))
    finally:
        seasonal.seasonal_period = original
    return seen


def test_visible_lines_are_the_baseline_lines_byte_for_byte():
    rng = np.random.default_rng(6)
    series = []
    for i in range(60):
        c, n = int(rng.integers(1, 4)), int(rng.integers(1, 120))
        a = 4 + rng.standard_normal((c, n)) * 10 ** rng.uniform(-6, 6)
        a[rng.random(a.shape) < 0.2] = np.nan
        if i % 5 == 0:
            a[:, :] = 2.5  # constant: scale from the magnitude
        if i % 7 == 0 and n > 2:
            a[-1, 1:] = np.nan  # one observed sample
        a[:, 0] = 1.0 if n == 1 else a[:, 0]
        series.append(a)
    d = TimeSeriesDomain({}, patch=4, baseline="seasonal")
    want = lines_the_baseline_searches(d, series)
    got = visible_lines(series)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.tobytes() == w.tobytes()


def messy_input() -> np.ndarray:
    """[N, C, L]: cycles, a constant channel, a nearly empty channel, noise, gaps."""
    rng = np.random.default_rng(8)
    t = np.arange(90)
    x = np.stack([np.stack([5 + np.sin(2 * np.pi * t / (6 + k)) + 0.2 * rng.standard_normal(90),
                            rng.standard_normal(90)]) for k in range(12)])
    x[rng.random(x.shape) < 0.08] = np.nan
    x[3, 1] = 7.0  # constant channel
    x[4, 0, 1:] = np.nan  # one observed sample
    x[5, :, 10:30] = np.nan
    return x


def test_infill_with_the_periods_found_together_is_the_one_by_one_infill(monkeypatch):
    """The model's fill, every grid pass: the same bytes with the periods found together
    as with each pass searching its own (``_known_periods`` emptied)."""
    x = messy_input()

    def predict(masked):
        return [{"values": np.full((int(m.predict.sum()), m.inputs["values"].shape[1]), 0.3)} for m in masked]
    d = TimeSeriesDomain({}, patch=4, baseline="seasonal", infill_shifts=4, short_fallback=8)
    searched = []
    original = seasonal.detect_period
    monkeypatch.setattr(seasonal, "detect_period", lambda y, *a, **k: searched.append(1) or original(y, *a, **k))
    fast = d.infill(x, predict)
    assert not searched  # every pass found its line's period among those found together
    assert d._known_periods([a for a in x], 0)
    monkeypatch.setattr(TimeSeriesDomain, "_known_periods", lambda self, arrays, patches: {})
    np.testing.assert_array_equal(fast, d.infill(x, predict))


def test_infill_candidates_are_each_channels_own_fills():
    """``seasonal`` and ``naive`` of every channel as the one-channel functions give them,
    for an [N, C, L] array, a channel with nothing observed among them."""
    x = messy_input()
    x[6, 1] = np.nan
    d = TimeSeriesDomain({}, patch=4, baseline="seasonal")
    cands = d.infill_candidates(x, None)
    for i in range(x.shape[0]):
        for c in range(x.shape[1]):
            np.testing.assert_array_equal(cands["seasonal"][i, c], seasonal_fill(x[i, c])[0])
            np.testing.assert_array_equal(cands["naive"][i, c],
                                          seasonal_naive(x[i, c], detect_period(x[i, c])))


def test_a_value_beyond_float32_still_names_its_series_in_a_long_table():
    """The range check names a series only when one fails (naming sorts the table again):
    the message is the one each series' check gave with its name."""
    import pandas as pd

    from encoderkit.errors import DataError

    frame = pd.DataFrame({"id": ["a"] * 4 + ["b"] * 4, "time": list(range(4)) * 2,
                          "value": [1.0, np.nan, 2.0, 3.0, 1.0, 2e39, np.nan, 4.0]})
    d = TimeSeriesDomain({}, patch=2, time_column="time", series_column="id")
    with pytest.raises(DataError, match=r"series 'b', channel 'value': values up to 2e\+39"):
        d.infill(frame, None)


def test_a_flat_series_far_from_zero_warns_nothing():
    """A reviewer's meter (a straight line around 5e9) printed 'overflow encountered in divide'
    twice through impute: the ratio of its size to a zero spread."""
    import warnings

    from domains.timeseries import periods

    x = 5e9 + np.arange(64, dtype=np.float64)
    x[10:14] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        periods.seasonal_periods([x])
