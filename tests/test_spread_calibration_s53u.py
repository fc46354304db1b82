"""``EncoderImputer.transform(X, return_std=True)``'s std of a numeric column was its
held-back RMSE (``fill_error_``, from ~8 held-back cells): 1.96 of it held 0.86-0.94 of the
hidden cells' errors on wine and diabetes, 0.64 in the worst column. It is now calibrated
(``encoderkit/sklearn_calibrate.py``): each column's error scale shrunk toward the table's,
and the split-conformal quantile of the held-back |errors| over their leave-one-out scales
pooled over the columns. Hand-computed references."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from encoderkit.sklearn_calibrate import Z95, calibrated_std, conformal_quantile
from encoderkit.sklearn_select import SelectionMixin


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 40.0)[::-1]  # 39 scores 39 .. 1, in no order
    assert conformal_quantile(scores) == 38.0  # ceil(40 * 0.95) = 38th smallest
    assert conformal_quantile(np.arange(1.0, 20.0)) == 19.0  # ceil(20 * 0.95) = 20 > 19: the largest
    assert conformal_quantile(np.arange(1.0, 11.0), level=0.5) == 6.0  # ceil(11 * 0.5) = 6
    assert conformal_quantile(np.array([np.nan, 2.0, 1.0]), level=0.5) == 2.0  # NaN not a score
    assert math.isnan(conformal_quantile(np.array([])))


def test_calibrated_std_hand_computed_without_prior():
    # a: errors 1, 2, 2 (sd 1); b: 4, -4 (sd 2: 2, -2 in its sds). Leave-one-out scales:
    # a's 1 -> sqrt((4 + 4) / 2) = 2, ratio 0.5; a's 2 -> sqrt((1 + 4) / 2), ratio 2 / sqrt(2.5)
    # (twice); b's -> sqrt(4 / 1) = 2, ratio 1 (twice). 5 ratios: rank ceil(6 * 0.95) = 6 > 5,
    # the largest 2 / sqrt(2.5); at level 0.5 rank 3: 1.
    errors = {"a": np.array([1.0, 2.0, 2.0]), "b": np.array([4.0, -4.0])}
    sds = {"a": 1.0, "b": 2.0}
    q = 2 / math.sqrt(2.5)
    got = calibrated_std(errors, sds, prior=0.0)
    assert got["a"] == pytest.approx(q * math.sqrt(9 / 3) * 1.0 / Z95, rel=1e-12)
    assert got["b"] == pytest.approx(q * math.sqrt(8 / 2) * 2.0 / Z95, rel=1e-12)
    half = calibrated_std(errors, sds, level=0.5, prior=0.0)
    assert half["a"] == pytest.approx(1.0 * math.sqrt(3.0) / Z95, rel=1e-12)


def test_prior_shrinks_a_column_toward_the_tables_error():
    # every cell 1 sd off but c's: the pooled NRMSE (all cells) pulls c's scale up by prior cells
    errors = {"a": np.ones(20), "b": -np.ones(20), "c": np.array([0.1, -0.1])}
    sds = {"a": 1.0, "b": 1.0, "c": 1.0}
    pooled2 = (40 + 0.02) / 42
    own = calibrated_std(errors, sds, prior=0.0)["c"] / calibrated_std(errors, sds, prior=0.0)["a"]
    shrunk = calibrated_std(errors, sds, prior=5.0)
    ratio = shrunk["c"] / shrunk["a"]
    assert own == pytest.approx(0.1, rel=1e-12)
    assert ratio == pytest.approx(math.sqrt((0.02 + 5 * pooled2) / 7) / math.sqrt((20 + 5 * pooled2) / 25),
                                  rel=1e-12)


def _fitted(errors: dict[str, np.ndarray], frame: pd.DataFrame) -> SimpleNamespace:
    """A fitted EncoderImputer's parts that ``_fill_errors`` and ``_with_errors`` read: two
    numeric columns, each with its held-back errors (``held_errors_``)."""
    sd = {c: float(np.std(frame[c].dropna())) for c in frame}
    return SimpleNamespace(
        selection_={c: "blend" for c in frame}, held_errors_=errors,
        selection_errors_={c: {"blend": float(np.sqrt(np.mean(e ** 2))) / sd[c]} for c, e in errors.items()},
        models_=[SimpleNamespace(domain=SimpleNamespace(columns=[{"name": c, "kind": "numeric"} for c in frame]))])


def test_return_std_is_the_calibrated_figure_and_larger_where_held_back_errors_are():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    frame.iloc[:6, 0] = np.nan
    frame.iloc[6:12, 1] = np.nan
    # one sd: x's fill errs 0.1 per held-back cell, y's 0.5 (their sds alike)
    errors = {"x": 0.1 * rng.normal(size=40), "y": 0.5 * rng.normal(size=40)}
    est = _fitted(errors, frame)
    fill_error = SelectionMixin._fill_errors(est, frame, {})
    est.fill_error_ = fill_error
    sds = {c: float(np.std(frame[c].dropna())) for c in frame}
    assert est.fill_std_ == pytest.approx(calibrated_std(errors, sds), rel=1e-12)
    filled = frame.fillna(0.0)
    spread = pd.DataFrame(np.where(frame.isna(), np.nan, 0.0), columns=frame.columns)  # one model
    std = SelectionMixin._with_errors(est, frame, filled, spread)
    x, y = std["x"].to_numpy()[:6], std["y"].to_numpy()[6:12]
    assert np.all(x == est.fill_std_["x"]) and np.all(y == est.fill_std_["y"])
    # the column whose held-back errors are larger has the larger std (5x the error; shrunk
    # toward the table's by 10 cells of 40: 2.6x)
    assert y[0] > 2 * x[0]
    assert (std["x"].to_numpy()[6:] == 0).all()  # observed cells: exact
    # the models' spread joins it as before: sqrt(spread^2 + std^2)
    spread.iloc[:6, 0] = 0.3
    both = SelectionMixin._with_errors(est, frame, filled, spread)["x"].to_numpy()[:6]
    np.testing.assert_allclose(both, np.sqrt(0.09 + est.fill_std_["x"] ** 2), rtol=1e-12)


def test_a_fits_held_back_errors_are_the_cells_its_fill_error_was_measured_on():
    """``held_errors_`` (what the calibration reads) are the errors behind ``fill_error_``:
    their RMSE is it, and ``fill_std_`` is their calibration."""
    from tests.test_sklearn_std_s45 import _holed
    from tests.test_sklearn_inputs import imputer

    frame = _holed()
    imp = imputer().fit(frame)
    assert set(imp.held_errors_) == set(imp.fill_std_) == {"a", "b", "i"}
    for c, e in imp.held_errors_.items():
        assert np.sqrt(np.mean(e ** 2)) == pytest.approx(imp.fill_error_[c], rel=1e-9)
    sds = {c: float(np.std(frame[c].dropna().to_numpy(dtype=np.float64))) for c in imp.held_errors_}
    assert imp.fill_std_ == pytest.approx(calibrated_std(imp.held_errors_, sds), rel=1e-12)


def test_degenerate_held_back_errors_give_finite_figures_or_none():
    """Review r3: one error among zeros made the leave-one-out scale 0 and the std infinite;
    all errors 0 gave std 0, a claim that every fill is exact."""
    from encoderkit.sklearn_calibrate import calibrated_std

    for errors in ({"a": np.array([0.5, 0.0])}, {"a": np.array([0.0, 0, 0, 0, 3.0])},
                   {"a": np.array([0.0, 0.0]), "b": np.array([0.0, 2.0])}):
        std = calibrated_std(errors, {c: 1.0 for c in errors})
        assert std and all(np.isfinite(v) and v > 0 for v in std.values()), std
    assert calibrated_std({"a": np.zeros(3), "b": np.zeros(2)}, {"a": 1.0, "b": 2.0}) == {}
