"""Contrastive series views with the masked-LM loss kept (``task.mlm_weight > 0``): a value
hidden for the loss must not move any model input of its view. The jitter was scaled by the
spread of every observed sample of the view, the hidden ones too, and the mask came after:
a hidden sample set to 1e6 moved the visible values by ~1e5 (fixer s, session 50). Views
without masking (``mlm_weight = 0``) stay the numbers the old recipe gave."""

from __future__ import annotations

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.views import JITTER, crop_time, hide_patches, jitter
from encoderkit.domain import Example
from encoderkit.tasks.objective import Prepare
from encoderkit.tasks.spec import TaskSpec

P = 4


def series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(240)
    x = np.stack([np.sin(t / 5.0) + 0.3 * rng.normal(size=t.size),
                  10.0 + np.cumsum(rng.normal(size=t.size))])
    x[1, 50:70] = np.nan  # a gap: unobserved samples stay so
    return x


def domain(masker: str) -> TimeSeriesDomain:
    return TimeSeriesDomain({"n_series": 50, "sum_length": 12000, "max_channels": 2}, patch=P,
                            window_stats=True, masker=masker)


def prepared(d: TimeSeriesDomain, x: np.ndarray, seed: int, mlm_weight: float) -> list:
    """The pair of training views exactly as the loader's step makes it."""
    ex = d.featurize({"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0],
                      "length": x.shape[1]})
    ex.record = 0
    spec = TaskSpec(type="contrastive", mlm_weight=mlm_weight)
    return Prepare(d, spec, None, False, "labels.csv", np.array(["a"]))(
        ex, np.random.default_rng(seed), True)


@pytest.mark.parametrize("masker", ["random", "span", "gap"])
def test_a_value_hidden_for_the_masked_lm_loss_moves_no_input_of_its_view(masker):
    d = domain(masker)
    checked = 0
    for seed in range(6):
        x = series(seed)
        m = prepared(d, x, seed, mlm_weight=0.5)[0]
        hidden = m.context["raw_observed"] & ~m.inputs["observed"]  # the loss's targets
        if not hidden.any():
            continue
        tok, j = np.nonzero(hidden)
        y = x.copy()
        y[m.context["c_index"][tok], m.context["t_index"][tok] * P + j] = 1e6
        ref = prepared(d, y, seed, mlm_weight=0.5)[0]  # the same view, hidden values changed
        assert np.array_equal(ref.context["raw_observed"] & ~ref.inputs["observed"], hidden)
        assert set(ref.inputs) == set(m.inputs)
        for k in m.inputs:
            np.testing.assert_array_equal(ref.inputs[k], m.inputs[k], err_msg=f"{masker} {seed} {k}")
        np.testing.assert_array_equal(ref.positions, m.positions)
        checked += 1
    assert checked >= 4


def test_the_masked_views_visible_samples_still_carry_jitter_of_their_own_spread():
    d = domain("random")
    checked = 0
    for seed in range(3):
        x = series(seed)
        m = prepared(d, x, seed, mlm_weight=0.5)[0]
        t, c = m.context["t_index"], m.context["c_index"]
        truth = x.astype(np.float32).astype(np.float64)[c[:, None], t[:, None] * P + np.arange(P)]
        vis = m.inputs["observed"]
        hidden = m.context["raw_observed"] & ~vis
        noise = m.context["raw"] - truth
        for k in np.unique(c[hidden.any(axis=1)]):  # channels with a sample hidden for the loss
            rows = (c == k)[:, None] & vis
            checked += 1
            expected = JITTER * truth[rows].std()  # 10% of the visible samples' spread
            assert abs(noise[rows].std() / expected - 1) < 0.25, (seed, k)
    assert checked >= 4


# ------------------------------------------------------------------ views without masking
def old_jitter(example: Example, rng: np.random.Generator, scale: float) -> Example:
    """The jitter as views.py had it before session 50 (noise added to the view at once)."""
    values, observed = example.fields["values"], example.fields["observed"]
    c = example.context["c_index"]
    n_ch = int(c.max()) + 1 if len(c) else 0
    std = np.zeros(n_ch)
    for k in range(n_ch):
        x = values[c == k][observed[c == k]]
        std[k] = float(np.std(x)) if x.size else 0.0
    noise = rng.normal(size=values.shape) * (scale * std[c])[:, None]
    new = np.where(observed, values + noise, values).astype(values.dtype)
    return Example(fields={**example.fields, "values": new}, positions=example.positions,
                   record=example.record, window=example.window, start=example.start,
                   context=example.context)


def old_views(d: TimeSeriesDomain, example: Example, rng: np.random.Generator) -> list[Example]:
    out = []
    for _ in range(2):
        view = old_jitter(crop_time(d, example, rng), rng, JITTER)
        out.append(hide_patches(view, rng))
    return out


@pytest.mark.parametrize("independent", [False, True])
def test_views_without_masking_are_the_old_recipes_numbers(independent):
    d = TimeSeriesDomain({"n_series": 50, "sum_length": 12000, "max_channels": 2}, patch=P,
                         window_stats=True, channel_independent=independent)
    for seed in range(4):
        x = series(seed)
        ex = d.featurize({"values": x.astype(np.float32).reshape(-1), "channels": 2, "length": x.shape[1]})
        ex.record = 0
        pair = prepared(d, x, seed, mlm_weight=0.0)
        for got, old in zip(pair, old_views(d, ex, np.random.default_rng(seed))):
            want = d.unmasked(old)
            assert set(got.inputs) == set(want.inputs)
            for k in want.inputs:
                np.testing.assert_array_equal(got.inputs[k], want.inputs[k], err_msg=f"{seed} {k}")
            np.testing.assert_array_equal(got.context["raw"], old.fields["values"])
        # the jitter applied at once, as before
        now, before = jitter(ex, np.random.default_rng(seed)), old_jitter(ex, np.random.default_rng(seed), JITTER)
        np.testing.assert_array_equal(now.fields["values"], before.fields["values"])
