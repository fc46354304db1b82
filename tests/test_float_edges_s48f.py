"""Numbers at the edge of float64 and of narrow float dtypes, each against an independent
reference: regression metrics at label scales 1e-300 and 1e200 (squares in raw units
underflowed to a "perfect" R^2 of 1.0, or overflowed to NaN), the impute baseline of a
column near float64's maximum (np.mean overflowed: "nrmse ... vs nan"), and
EncoderImputer's output dtype for float16 / float32 arrays (float64 before; scikit-learn's
imputers keep the input's float dtype)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from encoderkit.impute_cells import baseline_fill, channels, score_holdout
from encoderkit.sklearn import EncoderImputer
from encoderkit.tasks.metrics import regression_metrics

SCALES = (1.0, 1e-300, 1e200)


def sklearn_figures(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    return (float(np.sqrt(mean_squared_error(y, pred))), float(mean_absolute_error(y, pred)),
            float(r2_score(y, pred)))


# ---------------------------------------------------------------- regression metrics

def test_regression_metrics_are_scikit_learns_at_unit_scale_and_scale_with_the_labels():
    """At scale 1 the figures are scikit-learn's; labels and predictions times 1e-300 or
    1e200 give RMSE / MAE times the scale and the same R^2, with no numpy warning."""
    rng = np.random.default_rng(0)
    y = np.stack([rng.normal(size=60), rng.uniform(1, 3, 60)], 1)
    pred = y + np.stack([rng.normal(0, 0.5, 60), rng.normal(0, 0.2, 60)], 1)
    y[5, 1] = np.nan  # a missing label: scored over the others
    ref = {}
    for j, name in enumerate(("a", "b")):
        ok = ~np.isnan(y[:, j])
        ref[name] = sklearn_figures(y[ok, j], pred[ok, j])
    for scale in SCALES:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow / underflow warning fails the test
            out = regression_metrics(y * scale, pred * scale, ["a", "b"])
        for name in ("a", "b"):
            rmse, mae, r2 = ref[name]
            assert out[f"rmse/{name}"] == pytest.approx(rmse * scale, rel=1e-12), (scale, name)
            assert out[f"mae/{name}"] == pytest.approx(mae * scale, rel=1e-12), (scale, name)
            assert out[f"r2/{name}"] == pytest.approx(r2, rel=1e-12), (scale, name)
        assert out["r2"] == pytest.approx((ref["a"][2] + ref["b"][2]) / 2, rel=1e-12), scale


@pytest.mark.parametrize("scale", SCALES)
def test_constant_labels_and_one_label_as_scikit_learn_at_every_scale(scale):
    """A constant truth: R^2 1 for a perfect prediction and 0 otherwise (scikit-learn's
    force_finite); at 1e-300 the errors' squares underflowed and a wrong prediction of a
    constant scored R^2 1.0. One label: R^2 undefined (NaN)."""
    y = np.full(6, 2.0)
    off = y + np.array([0.5, -0.25, 0.0, 0.125, 0.0, -0.5])
    for pred in (y, off):
        rmse, mae, r2 = sklearn_figures(y, pred)
        out = regression_metrics(y * scale, pred * scale)
        assert out["rmse"] == pytest.approx(rmse * scale, rel=1e-12)
        assert out["mae"] == pytest.approx(mae * scale, rel=1e-12)
        assert out["r2"] == r2
    one = regression_metrics(np.array([3.0]) * scale, np.array([2.0]) * scale)
    assert one["rmse"] == pytest.approx(scale, rel=1e-12) and np.isnan(one["r2"])


# ---------------------------------------------------------------- impute's baseline

def test_baseline_of_a_column_near_the_float64_maximum_is_its_mean():
    """The column mean of values in [1e308, 1.79e308] (np.mean: inf and "overflow
    encountered in reduce"), and the held-back score of that baseline: finite, as computed
    on the values divided by 2**1000 (exact)."""
    rng = np.random.default_rng(0)
    v = rng.uniform(1e308, 1.79e308, 40)
    hide = np.zeros(40, dtype=bool)
    hide[[3, 11, 20, 31]] = True
    frame = pd.DataFrame({"big": v})
    holed = frame.mask(pd.DataFrame({"big": hide}))
    (truth,), (seen,) = channels(frame, ["big"]), channels(holed, ["big"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        base = baseline_fill(seen, ~hide, False)
        # the model's fill: the truth itself (nrmse 0), so only the baseline's score is in question
        (score,) = score_holdout([truth], [truth], {"big": base}, {"big": hide})
    u = v / 2.0 ** 1000
    mean_u = np.mean(u[~hide])
    np.testing.assert_allclose(base, mean_u * 2.0 ** 1000, rtol=1e-14)
    nrmse = np.sqrt(np.mean(((mean_u - u[hide]) / np.std(u)) ** 2))
    assert score.model == 0.0 and score.baseline == pytest.approx(nrmse, rel=1e-12)


# ---------------------------------------------------------------- EncoderImputer dtypes

TINY = ("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "data.max_tokens=256", "data.max_seqlen=64")


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    x[:, 1] = 2 * x[:, 0] + 0.1 * rng.normal(size=40)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x


@pytest.fixture(scope="module")
def fitted(data) -> EncoderImputer:
    return EncoderImputer(model="impute", steps=3, random_state=0, overrides=TINY).fit(data.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_array_output_has_the_dtype_scikit_learns_imputers_return(fitted, data, dtype):
    """float16 / float32 / float64 in, the same out; integers (no hole) in, float64 out: the
    dtype SimpleImputer returns for the same array. Observed cells bit-identical."""
    x = np.round(np.nan_to_num(data) * 10).astype(dtype) if dtype == np.int64 else data.astype(dtype)
    expected = SimpleImputer().fit_transform(x).dtype
    out, spread = fitted.transform(x, return_std=True)
    assert out.dtype == expected and spread.dtype == expected
    observed = ~np.isnan(x.astype(np.float64))
    np.testing.assert_array_equal(out[observed], x[observed])
    assert np.isfinite(out).all()


def test_a_fill_beyond_float16s_range_is_held_at_its_largest_value():
    """Fills are computed in float64; cast to float16 one beyond 65504 became inf."""
    from encoderkit.sklearn_inputs import as_input_floats

    values = np.array([[70000.0, -1e6, 1.5, np.nan]])
    out = as_input_floats(values, np.zeros((1, 4), dtype=np.float16))
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out[0, :3], np.array([65504, -65504, 1.5], dtype=np.float16))
    assert np.isnan(out[0, 3])
    assert as_input_floats(values, np.zeros((1, 4), dtype=np.int64)) is values  # float64 as it is
