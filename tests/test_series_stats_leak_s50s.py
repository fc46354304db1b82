"""Series pretraining: a sample hidden for training never reaches the model's inputs.

Where a window's visible samples are one value (or none), it falls back on its record's
statistics (``masking.window_stats``), and those entered the inputs (``stats``: level and
log scale). They were the record's over every observed sample, the hidden ones included:
a spike hidden in a window of zeros moved the log scale from 0 to 12.4. The fix counts
them, in training, over the samples left visible (``masking.visible_record_stats``); infill
hides nothing and keeps the record's numbers.

Each leak test changes only the values of the hidden samples (0 / 5 / 1e6) and asserts
every input is the same bytes as the same example's with the other hidden values; the
references of the statistics themselves are float64 numpy over the samples they should
count, written out here.
"""

from __future__ import annotations

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain

HIDDEN_VALUES = (0.0, 5.0, 1e6)
P = 4


def featurized(d: TimeSeriesDomain, x: np.ndarray):
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return d.featurize({"values": x.reshape(-1), "channels": x.shape[0], "length": x.shape[1], "index": 0})


def masked_inputs(d: TimeSeriesDomain, x: np.ndarray, hidden: list[tuple[int, int]], window: int = 0,
                  max_seqlen: int = 10_000):
    """Window ``window`` of series ``x`` [C, L] masked with its samples ``hidden`` ((channel,
    time) pairs of the series) hidden for training: the ``MaskedExample``."""
    w = d.windows(featurized(d, x), max_seqlen)[window]
    t, c = w.context["t_index"], w.context["c_index"]
    hide = np.zeros_like(w.fields["observed"])
    for ch, time in hidden:
        (row,) = np.flatnonzero((c == ch) & (t == time // P))
        hide[row, time % P] = True
    assert (hide <= w.fields["observed"]).all()
    return d._masked(w, hide, hide.any(axis=1))


def assert_same_inputs(a, b) -> None:
    assert a.inputs.keys() == b.inputs.keys()
    for key in a.inputs:
        assert a.inputs[key].dtype == b.inputs[key].dtype
        assert np.array_equal(a.inputs[key], b.inputs[key]), (key, a.inputs[key], b.inputs[key])


def with_hidden(x: np.ndarray, hidden: list[tuple[int, int]], value: float) -> np.ndarray:
    y = np.atleast_2d(np.array(x, dtype=np.float64))
    for ch, time in hidden:
        y[ch, time] = value
    return y


def zero_inflated() -> tuple[np.ndarray, list]:
    """One channel, 16 samples: every visible sample 0, the third patch hidden."""
    return np.zeros((1, 16)), [(0, t) for t in range(8, 12)]


def no_visible_channel() -> tuple[np.ndarray, list]:
    """Two channels: channel 0 a cycle, channel 1 hidden wholly (nothing of it visible)."""
    x = np.stack([np.sin(np.arange(16.0)), np.full(16, 2.0)])
    return x, [(1, t) for t in range(16)]


def normal_window() -> tuple[np.ndarray, list]:
    """A window with spread (its own statistics: the control, clean before the fix too)."""
    return np.sin(np.arange(16.0))[None] * 3 + 1, [(0, t) for t in range(4, 8)]


CASES = {"flat window": zero_inflated, "channel with no visible sample": no_visible_channel,
         "normal window": normal_window}


@pytest.mark.parametrize("baseline", ["linear", "seasonal", "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_hidden_value_changes_no_input(case, baseline):
    x, hidden = CASES[case]()
    d = TimeSeriesDomain({"n_series": 50, "sum_length": 800, "max_channels": x.shape[0]}, patch=P,
                         baseline=baseline, window_stats=True)
    examples = [masked_inputs(d, with_hidden(x, hidden, v), hidden) for v in HIDDEN_VALUES]
    assert "stats" in examples[0].inputs
    for other in examples[1:]:
        assert_same_inputs(examples[0], other)


def test_a_flat_window_of_a_long_record_counts_the_record_without_what_it_hides():
    """A window of zeros in the middle of a record with spread: its fallback is the record's
    samples outside the window (and the patch after it) with the window's visible ones,
    never the hidden spike; the reference is numpy over exactly those samples."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 400)) * [[2.0], [0.5]] + [[10.0], [-3.0]]
    x[0, 180:300] = 0.0  # patches 45..74 of channel 0: flat
    x[1, 300:310] = np.nan
    d = TimeSeriesDomain({"n_series": 50, "sum_length": 20000, "max_channels": 2}, patch=P,
                         baseline="linear", window_stats=True, window_overlap=0)
    ex = featurized(d, x)
    windows = d.windows(ex, 24)  # 12 patches of both channels per window
    j = next(i for i, w in enumerate(windows) if w.context["t_index"].min() == 48)
    w = windows[j]
    lo, hi = int(w.context["t_index"].min()), int(w.context["t_index"].max())
    spike = [(0, 4 * lo + 5), (0, 4 * lo + 6)]
    got = [masked_inputs(d, with_hidden(x, spike, v), spike, window=j, max_seqlen=24) for v in HIDDEN_VALUES]
    for other in got[1:]:
        assert_same_inputs(got[0], other)
    m = got[2]
    assert m.context["flat"][0] and not m.context["flat"][1]
    # the reference: channel 0's samples before patch lo and from patch hi + 2 on, then the
    # window's zeros (all visible but the two hidden ones)
    time = np.arange(400)
    outside = x[0][(time < 4 * lo) | (time >= 4 * (hi + 2))]
    samples = np.concatenate([outside, np.zeros(4 * (hi - lo + 1) - len(spike))])
    assert m.context["mean"][0] == 0.0  # the level: the window's own
    np.testing.assert_allclose(m.context["scale"][0], samples.std(), rtol=1e-12)  # the scale: the record's
    at = np.flatnonzero(w.context["c_index"] == 0)
    want = np.array([0.0, np.log(samples.std())], np.float32)
    np.testing.assert_allclose(m.inputs["stats"][at], np.tile(want, (len(at), 1)), rtol=1e-6)


def test_training_masks_of_every_masker_never_read_a_hidden_value():
    """The maskers themselves (random patches, spans, gaps, grid shift on), a record of
    zeros with rare counts cut into windows: changing what a window hides moves none of
    that window's inputs."""
    rng = np.random.default_rng(3)
    x = np.where(rng.random((2, 120)) < 0.85, 0.0, rng.poisson(3, (2, 120)) + 1.0)
    seen_flat = 0
    for masker in ("random", "span", "gap"):
        d = TimeSeriesDomain({"n_series": 50, "sum_length": 6000, "max_channels": 2}, patch=P,
                             baseline="seasonal", window_stats=True, masker=masker, grid_shift=True)
        windows = d.windows(featurized(d, x), 16)
        for j, w in enumerate(windows):
            seed = [7, j]
            s = int(np.random.default_rng(seed).integers(0, P))  # shift_grid's draw comes first
            r = np.random.default_rng(seed)  # as the loader: one generator augments, then masks
            m = d.mask(d.augment(w, r), r)
            hide = m.context["raw_observed"] & ~m.inputs["observed"]
            tok, k = np.nonzero(hide)
            ch, time = m.context["c_index"][tok], m.context["t_index"][tok] * P + k + s
            np.testing.assert_array_equal(x[ch, time], m.context["raw"][tok, k])  # the samples found
            seen_flat += bool((m.context["flat"] & np.isin(np.arange(2), ch)).any())
            for v in HIDDEN_VALUES:
                y = x.copy()
                y[ch, time] = v
                w2 = d.windows(featurized(d, y), 16)[j]
                r = np.random.default_rng(seed)
                m2 = d.mask(d.augment(w2, r), r)
                assert_same_inputs(m, m2)
    assert seen_flat >= 3  # windows that fall back on the record were among them


def observed_stats(samples: np.ndarray) -> tuple[float, float]:
    """float64 numpy: the mean and population std of the observed samples, or for one value
    its magnitude (1 for 0) as the scale: what infill normalises a window of one value by."""
    s = samples[~np.isnan(samples)]
    mean, std = s.mean(), s.std()
    return mean, std if std > 1e-7 * abs(mean) else (abs(mean) or 1.0)


def test_infill_keeps_the_record_statistics_of_every_observed_sample():
    """Infill hides nothing: a window of one value falls back on its record's observed samples
    (all of them, the window's too), a window with spread on its own; both the one-series
    path (a long record cut into windows) and the many-series path (``whole.py``). The
    references: numpy float64 over the observed samples."""
    rng = np.random.default_rng(1)
    long = np.cumsum(rng.normal(size=600)) + 50.0
    long[280:420] = 7.25  # windows of one value, with gaps to fill
    long[[100, 101, 330, 331, 332, 381]] = np.nan
    short = {f"s{i}": np.where(rng.random(24) < 0.2, np.nan, 3.0 if i % 3 == 0 else rng.poisson(0.4, 24))
             for i in range(12)}
    d = TimeSeriesDomain({"n_series": 50, "sum_length": 6000, "max_channels": 1}, patch=P, baseline="seasonal",
                         window_stats=True, infill_max_seqlen=16, infill_shifts=1)
    for data, cut in ((long, True), (short, False)):  # short: each window is its record
        seen = []
        d.infill(data, lambda masked: seen.extend(masked) or [
            {"values": np.zeros((int(m.predict.sum()), P), np.float32)} for m in masked])
        assert seen
        flat = 0
        for m in seen:
            raw = np.where(m.context["raw_observed"], m.context["raw"], np.nan)
            want = observed_stats(raw)  # the window's level and spread
            if m.context["flat"][0]:  # one value here: the scale of the record's observed samples
                flat += 1
                want = (want[0], observed_stats(long if cut else raw)[1])
            np.testing.assert_allclose([m.context["mean"][0], m.context["scale"][0]], want, rtol=1e-12, atol=1e-12)
            stats = np.array([np.arcsinh(want[0] / want[1]), np.log(want[1])], np.float32)
            np.testing.assert_allclose(m.inputs["stats"], np.tile(stats, (len(m.inputs["stats"]), 1)),
                                       rtol=1e-6, atol=1e-7)
        assert flat >= 2
