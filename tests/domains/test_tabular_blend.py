"""``infill_blend: iterative``: numeric cells are the mean of the encoder's value and
scikit-learn's IterativeImputer estimate; categorical cells and observed cells untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular import TabularDomain


def const_predict(examples):
    """A stand-in model: value 0 (the column mean, normalised) and category 1."""
    out = []
    for m in examples:
        n = int(m.predict.sum())
        cat = np.zeros((n, 64))
        cat[:, 1:] = -np.arange(63)  # first category of every column most probable
        out.append({"cat_logits": cat, "bin_logits": np.zeros((n, 64)), "value": np.zeros(n)})
    return out


def test_blend_is_the_mean_of_the_encoder_and_an_exact_linear_imputer():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.normal(10.0, 2.0, size=n)
    frame = pd.DataFrame({"x": x, "y": 3.0 * x - 4.0, "z": -x + 0.5,
                          "k": np.array(["a", "b"])[rng.integers(0, 2, n)]})
    holed = frame.copy()
    holed.loc[[3, 50, 120], "y"] = np.nan
    holed.loc[[7, 60], "k"] = None
    dom = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0},
                                   numeric_decode="regression")
    alone = dom.infill(holed, const_predict)
    dom.options["infill_blend"] = "iterative"
    blended = dom.infill(holed, const_predict)
    rows = [3, 50, 120]
    mean_y = holed["y"].mean()  # the stand-in model's value (z = 0) in units
    np.testing.assert_allclose(alone.loc[rows, "y"], mean_y, rtol=1e-6)
    # y is an exact linear function of x and z: the iterative imputer recovers it
    np.testing.assert_allclose(blended.loc[rows, "y"], 0.5 * (mean_y + frame.loc[rows, "y"]),
                               rtol=1e-3)
    pd.testing.assert_series_equal(blended["k"], alone["k"])  # categories are not blended
    ok = holed.notna()
    for c in frame.columns:
        pd.testing.assert_series_equal(blended[c][ok[c]], holed[c][ok[c]])


def test_blend_option_is_validated():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match="'infill_blend'.*iterative\\+forest.*Got 'mice'"):
        TabularDomain.from_frame(frame, infill_blend="mice")


def _reference(frame: pd.DataFrame, cols: list[str], forest: bool) -> np.ndarray:
    """scikit-learn's IterativeImputer on the standardised numeric columns, built here from
    the documented settings (not from the domain's code): BayesianRidge, 10 rounds; or
    MissForest-style, 30 extra trees, half the features a split, leaves of 2, 5 rounds."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    x = frame[cols].to_numpy(dtype=np.float64)
    mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    if forest:
        trees = ExtraTreesRegressor(n_estimators=30, max_features=0.5, min_samples_leaf=2, random_state=0)
        imputer = IterativeImputer(estimator=trees, max_iter=5, random_state=0)
    else:
        imputer = IterativeImputer(max_iter=10, random_state=0)
    return imputer.fit_transform((x - mu) / sd) * sd + mu


def test_three_way_blend_is_the_mean_of_encoder_linear_and_forest_imputers():
    rng = np.random.default_rng(1)
    n = 120
    x = rng.normal(0.0, 1.0, size=n)
    frame = pd.DataFrame({"x": x, "y": np.sin(2 * x) + 0.1 * rng.normal(size=n), "z": 2.0 * x + 1.0})
    holed = frame.copy()
    rows = [5, 40, 77, 101]
    holed.loc[rows, "y"] = np.nan
    dom = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0},
                                   numeric_decode="regression", infill_blend="iterative+forest")
    three = dom.infill(holed.copy(), const_predict)
    encoder = holed["y"].mean()  # the stand-in model's value (z = 0) in units
    linear = _reference(holed, ["x", "y", "z"], forest=False)[rows, 1]
    forest = _reference(holed, ["x", "y", "z"], forest=True)[rows, 1]
    np.testing.assert_allclose(three.loc[rows, "y"], (encoder + linear + forest) / 3, rtol=1e-6)
    dom.options["infill_blend"] = "iterative+forest"
    cands = dom.infill_candidates(holed.copy(), const_predict)
    assert set(cands) == {"iterative", "forest", "encoder"}
    np.testing.assert_allclose(cands["forest"].loc[rows, "y"], forest, rtol=1e-6)
    # the trees see sin(2x): their fill is closer to the truth than the linear chain's
    truth = frame.loc[rows, "y"].to_numpy()
    assert np.abs(forest - truth).mean() < np.abs(linear - truth).mean()


def test_forest_is_skipped_on_wide_tables(monkeypatch):
    from domains.tabular import blend

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(30, 6)), columns=[f"c{i}" for i in range(6)])
    frame.iloc[3, 2] = np.nan
    dom = TabularDomain.from_frame(frame, ingest_options={"validation_fraction": 0.0},
                                   numeric_decode="regression", infill_blend="iterative+forest")
    assert "forest" in dom.infill_candidates(frame, const_predict)
    monkeypatch.setattr(blend, "FOREST_MAX_COLUMNS", 5)
    cands = dom.infill_candidates(frame, const_predict)
    assert set(cands) == {"iterative", "encoder"}
    three = dom.infill(frame, const_predict)
    dom.options["infill_blend"] = "iterative"
    pd.testing.assert_frame_equal(three, dom.infill(frame, const_predict))


def test_forest_on_a_long_table_fits_columns_with_fewer_observed_rows_than_its_row_cap():
    """Above FOREST_MAX_ROWS rows each tree sees a bootstrap share of the rows; a column
    observed on fewer rows than the cap still fits, and its fill follows the data."""
    from domains.tabular.blend import FOREST_MAX_ROWS, classical_estimate

    rng = np.random.default_rng(4)
    n = FOREST_MAX_ROWS + 300
    x = rng.normal(size=n)
    num = np.stack([x, np.abs(x), rng.normal(size=n)], axis=1)
    observed = np.ones_like(num, dtype=bool)
    observed[: n - FOREST_MAX_ROWS // 2, 1] = False  # column 1: fewer observed rows than the cap
    est = classical_estimate("forest", num, np.zeros(num.shape, np.int64), observed, np.ones(3, bool))
    hole = ~observed[:, 1]
    assert np.isfinite(est).all()
    assert np.corrcoef(est[hole, 1], np.abs(x[hole]))[0, 1] > 0.9


def test_linear_chain_stays_finite_on_a_long_table_with_a_category():
    """A 30,000-row table, two numeric columns and a 6-category column (its code and its
    indicators are collinear): scikit-learn's unbounded chain grows its fills round after
    round to ~1e100 and NaN (a crash on a 50,000-row user table); the chain's fills stay
    finite and near each column's observed range, and a hidden numeric cell still follows
    its row."""
    from domains.tabular.blend import classical_estimate

    rng = np.random.default_rng(0)
    n = 30_000
    a = rng.normal(size=n)
    num = np.stack([a, a + rng.normal(size=n), np.zeros(n)], axis=1)
    cat = np.zeros((n, 3), np.int64)
    cat[:, 2] = rng.integers(1, 7, n)
    observed = np.ones((n, 3), bool)
    observed[:, 2] = rng.random(n) >= 0.1
    observed[:, :2] &= rng.random((n, 2)) >= 0.1
    is_numeric = np.array([True, True, False])
    est = classical_estimate("iterative", num, cat, observed, is_numeric)
    assert np.isfinite(est).all()
    for j in (0, 1):
        seen = num[observed[:, j], j]
        width = seen.max() - seen.min()
        assert seen.min() - width <= est[:, j].min() and est[:, j].max() <= seen.max() + width
    hole = ~observed[:, 1] & observed[:, 0]  # column 1 = column 0 + noise of sd 1
    assert np.sqrt(np.mean((est[hole, 1] - a[hole]) ** 2)) < 0.1


def test_fill_bounds_exact_for_categories_guard_for_numbers_open_when_constant_or_empty():
    """A category's code / indicator: its observed range; a number: that range widened by
    GUARD_WIDTHS widths each side; scikit-learn refuses a lower bound equal to the upper
    one, so a constant column and a column with no observed value get none."""
    from domains.tabular.blend import GUARD_WIDTHS, fill_bounds

    z = np.array([[1.0, 2.0, np.nan, 0.0], [3.0, 2.0, np.nan, 1.0], [np.nan, 2.0, np.nan, 0.0]])
    lo, hi = fill_bounds(z, np.array([False, True, True, True]))
    np.testing.assert_array_equal(lo, [1.0 - 2.0 * GUARD_WIDTHS, -np.inf, -np.inf, 0.0])
    np.testing.assert_array_equal(hi, [3.0 + 2.0 * GUARD_WIDTHS, np.inf, np.inf, 1.0])


def _labelled(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """x, z numeric; k = "neg" / "pos" by the sign of x (a category the other cells decide);
    a fifth of k hidden."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "z": x + 0.1 * rng.normal(size=n),
                          "k": np.where(x > 0, "pos", "neg")})
    rows = sorted(rng.choice(n, n // 5, replace=False).tolist())
    holed = frame.copy()
    holed.loc[rows, "k"] = None
    return frame, holed, rows


def test_categories_are_a_soft_vote_of_the_encoder_and_a_forest_classifier():
    """With iterative+forest, a missing category is the most probable one of the mean of
    the encoder's softmax and a random forest's class probabilities."""
    frame, holed, rows = _labelled(300, 5)
    dom = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0},
                                   infill_blend="iterative+forest")
    lay = dom.layout
    j = [c["name"] for c in dom.columns].index("k")
    start = int(lay.cat_offset[j]) + 1
    truth = frame["k"]

    def stand_in(logit_true: float, logit_false: float):
        def predict(examples):
            out = []
            for m in examples:
                n = int(m.predict.sum())
                cat = np.zeros((n, 64))
                code = 1 if truth.iloc[m.record] == "neg" else 2  # known categories sorted
                cat[:, start + code - 1] = logit_true
                cat[:, start + (2 - code)] = logit_false
                out.append({"cat_logits": cat, "bin_logits": np.zeros((n, 64)), "value": np.zeros(n)})
            return out
        return predict

    # a flat encoder: the vote is the forest's, which reads k off x
    flat = dom.infill(holed, stand_in(0.0, 0.0))
    forest = dom.infill_candidates(holed, stand_in(0.0, 0.0))["forest"]
    pd.testing.assert_series_equal(flat["k"], forest["k"])
    assert (forest.loc[rows, "k"] == truth[rows]).mean() >= 0.9
    # an encoder leaning to the wrong category (softmax 0.27 / 0.73) loses where the
    # forest is surer of the right one, which is most cells
    wrong = dom.infill(holed, stand_in(-0.5, 0.5))
    assert (wrong.loc[rows, "k"] == truth[rows]).mean() >= 0.8
    # an encoder sure of the right one always wins (the forest's share is at most 0.5)
    right = dom.infill(holed, stand_in(30.0, -30.0))
    assert (right.loc[rows, "k"] == truth[rows]).all()
    # the linear blend keeps the encoder's categories: here all wrong
    dom.options["infill_blend"] = "iterative"
    linear = dom.infill(holed, stand_in(-30.0, 30.0))
    assert (linear.loc[rows, "k"] != truth[rows]).all()
    # observed cells are never touched
    for c in frame.columns:
        ok = holed[c].notna()
        pd.testing.assert_series_equal(wrong[c][ok], holed[c][ok])


def test_forest_classifier_matches_a_scikit_learn_reference():
    """``category_proba`` is scikit-learn's random forest (100 trees, sqrt features) on the
    rows where the column is observed; built here from the documented recipe."""
    from sklearn.ensemble import RandomForestClassifier

    from domains.tabular.blend import category_proba

    rng = np.random.default_rng(6)
    n = 200
    num = np.stack([rng.normal(size=n), np.zeros(n), rng.normal(size=n)], axis=1)
    cat = np.zeros((n, 3), np.int64)
    cat[:, 1] = 1 + (num[:, 0] + 0.3 * num[:, 2] > 0)  # codes 1, 2
    observed = np.ones((n, 3), bool)
    observed[::7, 1] = False
    is_numeric = np.array([True, False, True])
    cells = np.zeros((n, 3), bool)
    cells[:, 1] = ~observed[:, 1]
    out = category_proba(num, cat, observed, is_numeric, np.array([0, 2, 0]), cells)
    assert set(out) == {1} and out[1].shape == (cells[:, 1].sum(), 2)
    np.testing.assert_allclose(out[1].sum(axis=1), 1.0)
    features = num[:, [0, 2]]  # complete numeric columns: IterativeImputer leaves them as they are
    ref = RandomForestClassifier(n_estimators=100, max_features="sqrt", random_state=0, n_jobs=1)
    ref.fit(features[observed[:, 1]], cat[observed[:, 1], 1])
    np.testing.assert_allclose(out[1], ref.predict_proba(features[cells[:, 1]]), atol=1e-6)
    # a column with one observed category has nothing to learn
    cat1 = cat.copy()
    cat1[:, 1] = 1
    assert category_proba(num, cat1, observed, is_numeric, np.array([0, 2, 0]), cells) == {}


def test_columns_with_many_categories_keep_the_encoders_fill(monkeypatch):
    """Above CLASSIFIER_MAX_CATEGORIES known categories no forest is fitted (its trees
    would hold a probability per category in every node): the encoder's category stays."""
    from domains.tabular import blend

    frame, holed, rows = _labelled(200, 8)
    dom = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0},
                                   infill_blend="iterative+forest")
    monkeypatch.setattr(blend, "CLASSIFIER_MAX_CATEGORIES", 1)
    assert "k" not in dom.infill_candidates(holed, const_predict)["forest"].loc[rows].dropna(axis=1)
    voted = dom.infill(holed, const_predict)
    dom.options["infill_blend"] = "iterative"
    pd.testing.assert_series_equal(voted["k"], dom.infill(holed, const_predict)["k"])


def test_linear_design_adds_indicators_within_its_caps(monkeypatch):
    from domains.tabular import blend

    cat = np.array([[0, 1, 2], [0, 2, 0], [0, 3, 1]])
    known = np.array([[True, True, True], [True, True, False], [True, True, True]])
    x = np.array([[0.5, 1.0, 2.0], [1.5, 2.0, np.nan], [2.5, 3.0, 1.0]])
    is_numeric = np.array([True, False, False])
    out = blend.linear_design(x, cat, known, is_numeric, np.array([0, 3, 2]))
    expect = np.array([[0.5, 1.0, 2.0, 1, 0, 0, 0, 1],
                       [1.5, 2.0, np.nan, 0, 1, 0, np.nan, np.nan],
                       [2.5, 3.0, 1.0, 0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(out, expect)
    monkeypatch.setattr(blend, "ONEHOT_MAX_CATEGORIES", 2)  # column 1 (3 categories) too many
    np.testing.assert_array_equal(blend.linear_design(x, cat, known, is_numeric, np.array([0, 3, 2])),
                                  expect[:, [0, 1, 2, 6, 7]])
    monkeypatch.setattr(blend, "ONEHOT_MAX_CATEGORIES", 16)
    monkeypatch.setattr(blend, "ONEHOT_MAX_COLUMNS", 4)  # room for column 1's three, not column 2's two
    np.testing.assert_array_equal(blend.linear_design(x, cat, known, is_numeric, np.array([0, 3, 2])),
                                  expect[:, :6])


def test_linear_chain_reads_a_nominal_category_as_indicators():
    """y = x + 5 where k is "b" (the middle code of a, b, c: no slope of the code fits it).
    The ``iterative`` fill equals scikit-learn's IterativeImputer on x, y, the code and the
    indicators of k (built here), and is far closer to the truth than on the code alone."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    rng = np.random.default_rng(9)
    n = 150
    k = rng.choice(["a", "b", "c"], n)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "y": x + 5.0 * (k == "b") + 0.1 * rng.normal(size=n), "k": k})
    holed = frame.copy()
    rows = sorted(rng.choice(n, 20, replace=False).tolist())
    holed.loc[rows, "y"] = np.nan
    dom = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0},
                                   numeric_decode="regression", infill_blend="iterative")
    got = dom.infill_candidates(holed, const_predict)["iterative"].loc[rows, "y"].to_numpy()

    def reference(columns: np.ndarray) -> np.ndarray:
        mu, sd = np.nanmean(columns, axis=0), np.nanstd(columns, axis=0)
        z = IterativeImputer(max_iter=10, random_state=0).fit_transform((columns - mu) / sd)
        return (z * sd + mu)[rows, 1]

    code = np.searchsorted(["a", "b", "c"], k) + 1.0
    onehot = (code[:, None] == np.arange(1, 4)[None, :]).astype(float)
    base = holed[["x", "y"]].to_numpy(dtype=np.float64)
    with_indicators = reference(np.column_stack([base, code, onehot]))
    code_only = reference(np.column_stack([base, code]))
    np.testing.assert_allclose(got, with_indicators, rtol=1e-5, atol=1e-5)
    truth = frame.loc[rows, "y"].to_numpy()
    assert np.abs(got - truth).mean() < 0.3 < np.abs(code_only - truth).mean()
