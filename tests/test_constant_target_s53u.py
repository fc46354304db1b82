"""A regression target with one value among its training labels is predicted as that value
exactly (its std stored as 0, not 1: 2**-30 came back in [-0.13, 0.07]), on the record and
the token path, and nothing divides by that 0 (the probe's weight, the scaled selection)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from encoderkit.tasks.objective import TaskObjective, to_prediction
from encoderkit.tasks.objective_best import selection_of
from encoderkit.tasks.objective_labels import CONSTANT_TARGET_SAID
from encoderkit.tasks.probe_member import validation_loss
from encoderkit.tasks.spec import TaskSpec

CONSTANTS = [2.0 ** -30, 5.0, -1e9, 0.1, 0.0]


def _objective(y, token_level=False):
    obj = object.__new__(TaskObjective)
    obj.trainer = SimpleNamespace(info=SimpleNamespace(is_main=True))
    obj.y, obj.file = y, "y.csv"
    obj.train_indices = np.arange(len(y))
    spec = TaskSpec(type="token_regression" if token_level else "regression", targets=["c", "ramp"])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        obj._standardise(spec)
    return obj, spec, [str(w.message) for w in said]


@pytest.mark.parametrize("value", CONSTANTS)
def test_constant_target_is_predicted_exactly_whatever_the_head_outputs(value):
    y = np.c_[np.full(7, value), np.arange(7.0)]  # 7 rows: the mean of 7 copies is not exact for all
    obj, spec, said = _objective(y)
    assert spec.std[0] == 0.0 and spec.mean[0] == value
    assert np.all(np.isfinite(obj.y_model))  # nothing divided by the 0
    out = np.random.default_rng(0).normal(size=(5, 2)) * 3  # any head output
    pred = to_prediction(spec, out)
    assert np.all(pred[:, 0] == value)
    # the other target keeps its standardisation: float64 reference
    np.testing.assert_allclose(pred[:, 1], out[:, 1] * np.std(np.arange(7.0)) + 3.0, rtol=1e-12)
    assert any(f"'c' has one value ({value:g})" in m and "predicted as that value exactly" in m for m in said)
    assert not any("'ramp'" in m for m in said)


def test_rounding_spread_counts_as_constant_and_a_real_spread_does_not():
    # one repeated value whose float mean and std come out with a rounding wobble (0.1 seven
    # times: mean 0.10000000000000002, std > 0): constant, predicted as the value itself
    y = np.c_[np.full(7, 0.1), np.arange(7.0)]
    assert np.std(y[:, 0]) > 0 and np.mean(y[:, 0]) != 0.1
    _, spec, said = _objective(y)
    assert spec.std[0] == 0.0 and np.all(to_prediction(spec, np.ones((2, 2)))[:, 0] == 0.1)
    assert any("has one value" in m for m in said)
    # two values one ulp apart are two values (review r3: a relative threshold took real
    # spreads on large offsets for constants): standardised like any target
    tiny = 2.0 ** -30
    _, spec, said = _objective(np.c_[np.array([tiny, np.nextafter(tiny, 1.0)] * 4), np.arange(8.0)])
    assert spec.std[0] > 0 and not any("has one value" in m for m in said)
    # a relative spread of 1e-9 (values 1e9 + 0/1) is a target: std kept
    _, spec, said = _objective(np.c_[1e9 + np.arange(8.0) % 2, np.arange(8.0)])
    assert spec.std[0] == pytest.approx(0.5) and not any("has one value" in m for m in said)


def test_constant_token_target_is_predicted_exactly():
    y = [np.c_[np.full(n, -1e9), np.arange(float(n))] for n in (3, 5, 4)]
    obj, spec, _ = _objective(y, token_level=True)
    assert spec.std[0] == 0.0 and spec.mean[0] == -1e9
    assert all(np.isfinite(v).all() for v in obj.y_model)
    assert np.all(to_prediction(spec, np.full((4, 2), 7.5))[:, 0] == -1e9)


def test_the_constant_target_warning_is_still_the_one_the_ensemble_filters():
    import re

    _, _, said = _objective(np.c_[np.full(4, 5.0), np.arange(4.0)])
    assert any(re.match(CONSTANT_TARGET_SAID, m) for m in said)


def test_nothing_divides_by_a_constant_targets_zero_std():
    spec = TaskSpec(type="regression", targets=["c", "ramp"])
    spec.mean, spec.std = [5.0, 1.0], [0.0, 2.0]
    y = np.c_[np.full(4, 5.0), np.arange(4.0)]
    values = y + np.c_[np.full(4, 0.5), np.full(4, 1.0)]
    # in each target's units: 0.5 unscaled for the constant, 1 / 2 for the other
    assert validation_loss(spec, y, values) == pytest.approx((0.25 + 0.25) / 2)
    row = {"val_rmse/c": 0.5, "val_rmse/ramp": 1.0}
    assert selection_of(row, "val_rmse", ["c", "ramp"], spec.std) == pytest.approx((0.5 + 0.5) / 2)


@pytest.mark.parametrize("value", CONSTANTS)
def test_an_ensembles_weighted_average_keeps_a_constant_target_exact(value):
    """5 members (task.ensemble's default on small data), each predicting 0.1 exactly: their
    weighted sum 5 x (0.2 x 0.1) was 1 ulp off."""
    from encoderkit.tasks.predict import FineTuned

    def part(seed):
        spec = TaskSpec(type="regression", targets=["c", "ramp"])
        spec.mean, spec.std = [value, 3.0], [0.0, 2.0]
        outs = [np.random.default_rng(seed).normal(size=2) for _ in range(3)]
        return SimpleNamespace(spec=spec, outputs=lambda data, progress=None, max_tokens=None: (["a", "b", "c"], outs))

    first, members = part(0), [part(s) for s in range(1, 5)]
    model = SimpleNamespace(spec=first.spec, members=members, weights=[0.2] * 5, max_tokens=64,
                            outputs=first.outputs)
    ids, values = FineTuned.values(model, [1, 2, 3])
    assert ids == ["a", "b", "c"] and all(v[0] == value for v in values)
    want = sum(0.2 * (p.outputs(None)[1][1][1] * 2.0 + 3.0) for p in [first, *members])
    assert values[1][1] == pytest.approx(want, rel=1e-12)  # the other target: the weighted mean


def test_a_real_spread_on_a_large_offset_is_not_a_constant():
    """Review r3: a share of the magnitude as the threshold (1e-12) took 1e15 + 100 N(0, 1) and
    nanosecond timestamps for constants and predicted their minimum; only one repeated value is."""
    from encoderkit.tasks.objective_labels import standard_units

    x = np.random.default_rng(0).normal(size=200)
    for y in (1e15 + 100 * x, 1.7e18 + 1e5 * x, 1e9 + 1e-4 * x):
        mean, std, divisor = standard_units(y.reshape(-1, 1))
        assert std[0] == pytest.approx(np.std(y), rel=1e-6) and std[0] > 0 and divisor[0] == std[0]
