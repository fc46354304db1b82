"""``EncoderImputer``'s ``return_std`` / ``fill_error_`` take each column as the domain fills
it, not by its dtype. A column of numbers the tabular domain reads as categories (diabetes'
``sex``, 1.0 / 2.0) had ``fill_error_`` = its error rate times its sd (no unit: 0.25 where a
miss is 1 away) and a spread that was the std of the models' classes around their mean;
a cell with no figure at all (one model, ``select='model'``; one model on a text
category) came back 0, claiming the fill exact. Hand-computed references: a miss in a
column of codes 1 / 3 is 2 away, so its RMSE is ``2 * sqrt(error rate)``."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from encoderkit.sklearn_select import SelectionMixin, ensemble_spread
from tests.test_sklearn_inputs import imputer

GAP = 2.0  # the code column's two classes, 1 and 3


def _table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Two related numbers, a column of codes 1.0 / 3.0 (float dtype; the domain reads it as
    categories), a text column; holes in ``a``, ``g`` and ``k``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n),
                          "g": rng.choice([1.0, 3.0], n), "k": rng.choice(["x", "y"], n).astype(object)})
    for c in ("a", "g", "k"):
        frame.loc[rng.random(n) < 0.15, c] = np.nan
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    # 240 rows: ~10 held-back cells of the text column, so a fill that hits all of them by
    # chance (its error rate 0; 4 of 4 at 120 rows) leaves the rate this file checks
    return _table(240)


@pytest.fixture(scope="module")
def fitted(frame):
    imp = imputer().fit(frame)
    kinds = {c["name"]: c["kind"] for c in imp.models_[0].domain.columns}
    assert kinds["g"] == "categorical" and kinds["k"] == "categorical"  # what the test is about
    return imp


def _rate(imp, c: str) -> float:
    return imp.selection_errors_[c][imp.selection_[c]]


def test_a_code_columns_fill_error_is_the_rmse_of_its_classes_in_its_units(fitted):
    rate = _rate(fitted, "g")
    assert 0 < rate <= 1  # a miss was held back: the unit matters
    # each miss is GAP away: RMSE = GAP * sqrt(rate) (was rate * the column's sd)
    assert fitted.fill_error_["g"] == pytest.approx(GAP * np.sqrt(rate), rel=1e-12)
    assert "k" not in fitted.fill_error_  # a text column's error is a rate, in selection_errors_


def test_one_model_gives_each_columns_held_back_error_in_its_own_unit(fitted, frame):
    _, std = fitted.transform(frame, return_std=True)
    g, k = frame["g"].isna().to_numpy(), frame["k"].isna().to_numpy()
    np.testing.assert_allclose(std["g"].to_numpy()[g], fitted.fill_error_["g"], rtol=1e-12)
    # a text category: the chance of a miss, the held-back error rate (was 0: "exact")
    rate = _rate(fitted, "k")
    assert rate > 0
    np.testing.assert_allclose(std["k"].to_numpy()[k], rate, rtol=1e-12)
    assert (std["g"].to_numpy()[~g] == 0).all() and (std["k"].to_numpy()[~k] == 0).all()


def test_one_model_without_held_back_cells_is_nan_with_a_warning_not_zero(frame):
    imp = imputer(select="model").fit(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, std = imp.transform(frame, return_std=True)
    said = [str(w.message) for w in caught if "return_std has no figure" in str(w.message)]
    assert len(said) == 1 and all(c in said[0] for c in ("a", "g", "k")), said
    for c in ("a", "g", "k"):
        miss = frame[c].isna().to_numpy()
        assert np.isnan(std[c].to_numpy()[miss]).all() and (std[c].to_numpy()[~miss] == 0).all()


def test_a_code_column_without_a_forest_is_chosen_and_scored_as_a_category(frame):
    """blend='iterative': the code column keeps the encoder's category (``_apply_blend``);
    ``selection_`` named a numeric candidate chosen on NRMSE, never used there."""
    imp = imputer(blend="iterative").fit(frame)
    assert imp.selection_["g"] == "encoder" and set(imp.selection_errors_["g"]) == {"encoder"}
    rate = imp.selection_errors_["g"]["encoder"]
    assert 0 < rate <= 1
    assert imp.fill_error_["g"] == pytest.approx(GAP * np.sqrt(rate), rel=1e-12)


# ------------------------------------------------------------------ the rules, by hand

def test_spread_is_by_the_domains_kind_hand_computed(monkeypatch):
    """Three models' own fills of one missing cell per column: a numeric column's spread is
    their std; a code column's, their RMS distance from the fill (1, 1, 3 around 1:
    sqrt(4 / 3), where their std is 0.943); a text column's, the share that differs."""
    frame = pd.DataFrame({"x": [np.nan, 0.0], "g": [np.nan, 1.0], "k": [None, "u"]})
    own = [pd.DataFrame({"x": [v, 0.0], "g": [c, 1.0], "k": [t, "u"]})
           for v, c, t in ((1.0, 1.0, "u"), (2.0, 1.0, "u"), (6.0, 3.0, "w"))]
    ensemble = pd.DataFrame({"x": [3.0, 0.0], "g": [1.0, 1.0], "k": ["u", "u"]})
    models = ["m0", "m1", "m2"]

    def fake(ms, data, infill=None):
        return (ensemble if len(ms) > 1 else own[models.index(ms[0])]), None
    monkeypatch.setattr("encoderkit.impute.ensemble_infill", fake)
    filled, spread = ensemble_spread(models, frame, None, categorical={"g", "k"})
    assert spread.loc[0, "x"] == pytest.approx(np.std([1.0, 2.0, 6.0]), rel=1e-12)
    assert spread.loc[0, "g"] == pytest.approx(np.sqrt(4 / 3), rel=1e-12)
    assert spread.loc[0, "k"] == pytest.approx(1 / 3, rel=1e-12)
    assert (spread.loc[1] == 0).all() and filled is ensemble
    _, one = ensemble_spread(models[:1], frame, None, categorical={"g", "k"})
    assert np.isnan(one.loc[0].to_numpy(dtype=float)).all() and (one.loc[1] == 0).all()


def test_errors_join_the_spread_by_the_columns_unit_hand_computed():
    """numbers: sqrt(spread^2 + error^2); text categories: 1 - (1 - d)(1 - r); no spread
    (one model): the error alone."""
    est = SimpleNamespace(fill_error_={"x": 0.4, "g": 1.5}, selection_={"k": "blend"},
                          selection_errors_={"k": {"blend": 0.2, "encoder": 0.3}},
                          models_=[SimpleNamespace(domain=SimpleNamespace(columns=[
                              {"name": "x", "kind": "numeric"}, {"name": "g", "kind": "categorical"},
                              {"name": "k", "kind": "categorical"}]))])
    frame = pd.DataFrame({"x": [np.nan, np.nan, 1.0], "g": [np.nan, np.nan, 1.0], "k": [None, None, "u"]})
    filled = pd.DataFrame({"x": [1.0, 1.0, 1.0], "g": [1.0, 1.0, 1.0], "k": ["u", "u", "u"]})
    spread = pd.DataFrame({"x": [0.3, np.nan, 0.0], "g": [1.0, np.nan, 0.0], "k": [0.5, np.nan, 0.0]})
    out = SelectionMixin._with_errors(est, frame, filled, spread)
    np.testing.assert_allclose(out["x"], [0.5, 0.4, 0.0], rtol=1e-12)
    np.testing.assert_allclose(out["g"], [np.sqrt(1 + 2.25), 1.5, 0.0], rtol=1e-12)
    np.testing.assert_allclose(out["k"], [1 - 0.5 * 0.8, 0.2, 0.0], rtol=1e-12)
