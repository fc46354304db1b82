"""encoderkit.sklearn.EncoderImputer: scikit-learn's conventions (check_estimator), a
Pipeline under cross_val_score, observed cells unchanged, determinism, the ensemble's
mean and spread against single models, pickling without torch objects.

Every fit trains a tiny model for a few steps: these tests check behaviour, not quality
(benchmarks/RESULTS.md has the quality figures)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import estimator_checks_generator

from encoderkit.sklearn import EncoderImputer

# model=impute names every size key, so Hydra composes in one pass (fast)
TINY = ("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "data.max_tokens=256", "data.max_seqlen=64")


def imputer(**kw) -> EncoderImputer:
    return EncoderImputer(**{"model": "impute", "steps": 3, "random_state": 0, "overrides": TINY, **kw})


def holed(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[:, 1] += x[:, 0]
    x[rng.random(x.shape) < 0.2] = np.nan
    return x


# ---------------------------------------------------------------- scikit-learn's checks
# Checks that apply, all pass (measured: the whole list takes ~150 s on a shared CPU, so
# the default suite runs the quick ones and the rest are marked slow). None is expected
# to fail; check_array_api_input skips itself unless SCIPY_ARRAY_API is set.
# Pickling, idempotent fits and row independence have their own quicker tests below.
FAST = {"check_estimator_cloneable", "check_no_attributes_set_in_init", "check_estimators_unfitted",
        "check_transformers_unfitted", "check_get_params_invariance", "check_set_params",
        "check_parameters_default_constructible", "check_estimator_repr", "check_n_features_in",
        "check_fit2d_1sample", "check_estimators_empty_data_messages"}


def _checks():
    for est, check in estimator_checks_generator(imputer(), legacy=True, mark="skip"):
        name = getattr(check, "func", check).__name__
        marks = () if name in FAST else (pytest.mark.slow,)
        yield pytest.param(est, check, id=name, marks=marks)


@pytest.mark.parametrize("estimator, check", list(_checks()))
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def test_fast_subset_names_real_checks():
    """The fast list names checks scikit-learn really runs (a typo would silently drop one)."""
    names = {getattr(c, "func", c).__name__ for _, c in estimator_checks_generator(imputer(), legacy=True)}
    assert FAST <= names, FAST - names


# ---------------------------------------------------------------- behaviour
def test_pipeline_cross_val_score_matches_a_manual_loop():
    """cross_val_score over Pipeline(EncoderImputer, Ridge) equals fitting the imputer on the
    training fold and only transforming the test fold (no refit at transform)."""
    rng = np.random.default_rng(1)
    x = holed(80, 1)
    y = np.nan_to_num(x[:, 0]) * 2.0 + rng.normal(scale=0.1, size=len(x))
    cv = KFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(make_pipeline(imputer(), Ridge()), x, y, cv=cv)
    manual = []
    for tr, te in cv.split(x):
        imp = imputer().fit(x[tr])
        reg = Ridge().fit(imp.transform(x[tr]), y[tr])
        manual.append(reg.score(imp.transform(x[te]), y[te]))
    np.testing.assert_allclose(scores, manual, rtol=1e-12)
    assert np.all(np.isfinite(scores))


@pytest.fixture(scope="module")
def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 80
    a = rng.normal(size=n)
    frame = pd.DataFrame({
        "a": a,
        "b": (a * 3 + rng.normal(size=n)).astype(np.float32),
        "count": rng.integers(0, 40, size=n),
        "colour": pd.Categorical(rng.choice(["red", "green", "blue"], size=n)),
        "label": np.where(a > 0, "pos", "neg").astype(object),
    }, index=pd.RangeIndex(100, 100 + n))
    holes = rng.random(frame.shape) < 0.15
    return frame.mask(holes)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_dataframe_dtypes_kept_observed_cells_bit_identical(mixed_frame):
    frame = mixed_frame
    filled = imputer().fit_transform(frame)
    assert list(filled.columns) == list(frame.columns) and filled.index.equals(frame.index)
    assert filled.notna().all().all()
    obs = frame.notna()
    for c in frame.columns:
        assert filled[c].dtype == frame[c].dtype, c
        # bit-identical: compare the raw values of the observed cells
        np.testing.assert_array_equal(filled[c][obs[c]].to_numpy(), frame[c][obs[c]].to_numpy())
    assert set(filled["colour"]) <= {"red", "green", "blue"}
    assert set(filled["label"]) <= {"pos", "neg"}


def test_numpy_in_float64_out_observed_unchanged():
    x = holed()
    out = imputer().fit_transform(x)
    assert out.dtype == np.float64 and out.shape == x.shape and not np.isnan(out).any()
    obs = ~np.isnan(x)
    assert np.array_equal(out[obs], x[obs])


def test_deterministic_with_a_seed_and_seeds_matter():
    x = holed()
    a = imputer(random_state=3).fit_transform(x)
    b = imputer(random_state=3).fit_transform(x)
    c = imputer(random_state=4).fit_transform(x)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_transform_new_rows_without_refit():
    """Rows are imputed independently by the fitted model: new rows alone get the same
    fills as inside a bigger batch, and transform leaves the weights untouched."""
    x, new = holed(60, 0), holed(20, 5)
    imp = imputer().fit(x)
    before = [p.detach().clone() for p in imp.models_[0].model.parameters()]
    both = imp.transform(np.vstack([x, new]))
    # float32 kernels over a different batch composition: equal up to rounding
    np.testing.assert_allclose(imp.transform(new), both[len(x):], rtol=1e-5, atol=1e-6)
    assert all(np.array_equal(p0, p.detach()) for p0, p in zip(before, imp.models_[0].model.parameters()))
    with pytest.raises(ValueError, match="features"):
        imp.transform(new[:, :3])


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_ensemble_is_the_mean_of_its_members_and_std_their_spread():
    """n_models=2 with random_state=0 trains the models that single imputers with
    random_state 0 and 1 train; with the regression decode, the ensemble's fill is their
    mean and its std their spread (population std of two values: half their distance)."""
    x = holed()
    kw = {"overrides": TINY + ("domain.numeric_decode=regression",), "select": "model"}
    single = [imputer(random_state=s, **kw).fit(x).transform(x) for s in (0, 1)]
    filled, std = imputer(n_models=2, **kw).fit(x).transform(x, return_std=True)
    miss = np.isnan(x)
    np.testing.assert_allclose(filled[miss], (single[0][miss] + single[1][miss]) / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std[miss], np.abs(single[0][miss] - single[1][miss]) / 2, rtol=1e-4, atol=1e-5)
    assert np.all(std[~miss] == 0) and np.all(std[miss] > 0)


def test_pickle_holds_safetensors_bytes_not_torch_objects():
    x = holed()
    imp = imputer().fit(x)
    blob = pickle.dumps(imp)
    assert b"torch" not in blob  # no torch class is referenced, so none is unpickled
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.transform(x), imp.transform(x))


def test_bad_parameters_name_themselves():
    x = holed()
    with pytest.raises(ValueError, match="'steps' parameter"):
        imputer(steps=0).fit(x)
    with pytest.raises(ValueError, match="'n_models' parameter"):
        imputer(n_models=0).fit(x)
    with pytest.raises(ValueError, match="'overrides' parameter"):
        imputer(overrides="train.steps=3").fit(x)


def _iterative_reference(fit_on: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """scikit-learn's IterativeImputer (BayesianRidge, 3 rounds: it fills rows it was not
    fitted on, ``blend.REPLAY_ROUNDS``) on standardised columns, fitted on ``fit_on``,
    filling ``fill``: the reference the tabular blend must match."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(fit_on)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = IterativeImputer(max_iter=3, random_state=0).fit(scaler.transform(fit_on))
        return scaler.inverse_transform(it.transform(scaler.transform(fill)))


def _forest_reference(fit_on: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """A MissForest-style IterativeImputer (30 extra trees, half the features per split,
    leaves of 2, 5 rounds) on standardised columns, built here from the documented settings."""
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(fit_on)
    trees = ExtraTreesRegressor(n_estimators=30, max_features=0.5, min_samples_leaf=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = IterativeImputer(estimator=trees, max_iter=5, random_state=0).fit(scaler.transform(fit_on))
        return scaler.inverse_transform(it.transform(scaler.transform(fill)))


def test_default_blend_is_the_mean_of_the_encoder_and_both_classical_imputers():
    """blend='iterative+forest' (default): each missing numeric cell is the mean of the
    encoder alone, IterativeImputer and the forest imputer, both built here with scikit-learn."""
    x, new = holed(60, 0), holed(20, 7)
    alone = imputer(blend="none", select="model").fit(x).transform(new)
    blended = imputer(select="model").fit(x).transform(new)
    miss = np.isnan(new)
    expect = (alone + _iterative_reference(x, new) + _forest_reference(x, new)) / 3
    np.testing.assert_allclose(blended[miss], expect[miss], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(blended[~miss], new[~miss])


def test_iterative_blend_is_the_mean_of_the_encoder_and_iterative_imputer():
    """blend='iterative' fills each missing numeric cell with the mean of the encoder alone
    (blend='none', same seed) and a standardised IterativeImputer fitted on the same X
    (built here independently with scikit-learn); observed cells stay as given."""
    x, new = holed(60, 0), holed(20, 7)
    alone = imputer(blend="none", select="model").fit(x).transform(new)
    blended = imputer(blend="iterative", select="model").fit(x).transform(new)
    reference = _iterative_reference(x, new)
    miss = np.isnan(new)
    np.testing.assert_allclose(blended[miss], 0.5 * (alone[miss] + reference[miss]), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(blended[~miss], new[~miss])


def test_select_auto_uses_iterative_imputer_where_it_wins_on_held_back_cells():
    """Column 2 is an exact linear function of column 0: on the held-back cells
    IterativeImputer recovers it and a 3-step encoder does not, so select='auto' stores
    'iterative' for it in selection_, and transform fills it with IterativeImputer refitted
    on every observed cell (built here with scikit-learn); select='model' keeps the blend."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 3))
    x[:, 2] = 2.0 * x[:, 0] + 1.0
    holes = rng.random(x.shape) < 0.15
    holes[:, 0] = False  # column 0 complete: column 2 is known wherever it is missing
    x[holes] = np.nan
    imp = imputer().fit(x)
    assert imp.selection_["c2"] == "iterative" and set(imp.selection_) == {"c0", "c1", "c2"}
    errs = imp.selection_errors_["c2"]
    assert errs["iterative"] < 1e-6 < errs["blend"] and "encoder" in errs and "forest" in errs
    reference = _iterative_reference(x, x)
    out = imp.transform(x)
    miss = np.isnan(x[:, 2])
    np.testing.assert_allclose(out[miss, 2], reference[miss, 2], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out[miss, 2], 2.0 * x[miss, 0] + 1.0, atol=1e-4)
    assert np.array_equal(out[~np.isnan(x)], x[~np.isnan(x)])
    plain = imputer(select="model").fit(x)
    assert set(plain.selection_.values()) == {"blend"} and plain.selection_errors_ == {}
    with pytest.raises(ValueError, match="'select' parameter"):
        imputer(select="best").fit(x)


def test_categories_are_voted_with_forests_fitted_at_fit():
    """With the default blend a categorical cell is the soft vote of the encoder and a
    random forest fitted at fit: a category the other columns decide (the sign of x) comes
    back right where a 3-step encoder alone guesses, new rows get the same fills alone as
    in a batch, and the forests survive pickling."""
    rng = np.random.default_rng(3)

    def frame(n):
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "z": x + 0.1 * rng.normal(size=n),
                             "k": np.where(x > 0, "pos", "neg")})

    fit_on, new = frame(120), frame(40)
    hole = rng.random(len(new)) < 0.5
    holed_new = new.copy()
    holed_new.loc[hole, "k"] = None
    alone = imputer(blend="none", select="model").fit(fit_on).transform(holed_new)
    imp = imputer(select="model").fit(fit_on)
    assert imp.category_forests_ is not None
    voted = imp.transform(holed_new)
    acc = lambda f: (f.loc[hole, "k"] == new.loc[hole, "k"]).mean()  # noqa: E731
    assert acc(voted) >= 0.9 and acc(voted) > acc(alone)
    pd.testing.assert_frame_equal(imp.transform(holed_new.iloc[:10]), voted.iloc[:10])
    back = pickle.loads(pickle.dumps(imp))
    pd.testing.assert_frame_equal(back.transform(holed_new), voted)
    assert imputer(blend="iterative").fit(fit_on).category_forests_ is None


def _sign_frame(n: int, seed: int) -> pd.DataFrame:
    """x, a noisy copy z, and a category k that is the sign of x (a forest learns it from
    one split; a 3-step encoder does not)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    f = pd.DataFrame({"x": x, "z": x + 0.1 * rng.normal(size=n), "k": np.where(x > 0, "pos", "neg")})
    f.loc[rng.random(n) < 0.1, "k"] = None
    return f


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_select_auto_chooses_per_categorical_column_and_transform_applies_it(monkeypatch):
    """select='auto' holds back categorical cells too and scores the soft vote, the encoder
    alone and the forest alone there (error rates, as encoderkit impute does). With the
    vote's forest weight set to 0 (the 'model' candidate = the encoder alone), the forest
    alone wins k's held-back cells clearly and is chosen; transform then fills k with the
    refitted forest's most probable category (checked against the forest itself), and
    with 'encoder' chosen, with the encoder's own fill."""
    import encoderkit.sklearn as sk
    from domains.tabular.schema import encode_frame
    from encoderkit.impute import ensemble_infill

    f = _sign_frame(400, 5)
    plain = imputer().fit(f)
    assert plain.selection_["k"] in {"blend", "encoder", "forest"}
    assert set(plain.selection_errors_["k"]) == {"blend", "encoder", "forest"}
    assert all(0.0 <= e <= 1.0 for e in plain.selection_errors_["k"].values())

    monkeypatch.setitem(sk.FOREST_WEIGHT, "blend", 0.0)
    imp = imputer().fit(f)
    errs = imp.selection_errors_["k"]
    assert imp.selection_["k"] == "forest" and errs["forest"] < errs["blend"] - 0.2
    out = imp.transform(f)
    miss = f["k"].isna().to_numpy()
    domain = imp.models_[0].domain
    enc = encode_frame(f, domain.schema)
    j = [c["name"] for c in domain.columns].index("k")
    cells = np.zeros_like(enc.observed)
    cells[:, j] = miss
    proba = imp.category_forests_.predict_proba(enc.num, enc.cat, enc.observed, cells)[j]
    cats = domain.columns[j]["categories"]
    assert list(out.loc[miss, "k"]) == [cats[k] for k in proba.argmax(axis=1)]
    assert (out.loc[miss, "k"] == np.where(f.loc[miss, "x"] > 0, "pos", "neg")).mean() >= 0.95

    imp.selection_["k"] = "encoder"
    own, _ = ensemble_infill(imp.models_, f)  # the encoder alone (its domain's blend is none)
    assert list(imp.transform(f).loc[miss, "k"]) == list(own.loc[miss, "k"])


def test_held_back_cells_never_take_a_category_out_of_sight():
    """A categorical cell whose value occurs nowhere else in its column is not held back:
    the encoder trains once, on what is not held back."""
    from encoderkit.sklearn import _keep_categories_seen

    f = pd.DataFrame({"k": ["a", "a", "b", "c", None], "x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    hide = {"k": np.array([True, False, True, True, False]), "x": np.array([True, False, False, False, False])}
    kept = _keep_categories_seen(f, hide)
    assert kept["k"].tolist() == [True, False, False, False, False]
    assert kept["x"].tolist() == hide["x"].tolist()


def test_linear_chain_reads_categorical_columns_as_codes_and_indicators():
    """y = x + 5 where k is "b": with blend='iterative' the numeric fill is the mean of the
    encoder alone and scikit-learn's IterativeImputer on x, y, k's code and k's indicators
    (built here), as encoderkit impute's linear chain reads a table."""
    rng = np.random.default_rng(11)

    def frame(n):
        k = rng.choice(["a", "b", "c"], n)
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "y": x + 5.0 * (k == "b") + 0.1 * rng.normal(size=n), "k": k})

    fit_on, new = frame(150), frame(30)
    fit_on.loc[rng.random(150) < 0.1, "y"] = np.nan
    hole = rng.random(30) < 0.5
    new.loc[hole, "y"] = np.nan
    alone = imputer(blend="none", select="model").fit(fit_on).transform(new)
    blended = imputer(blend="iterative", select="model").fit(fit_on).transform(new)

    def design(f):
        code = np.searchsorted(["a", "b", "c"], f["k"].to_numpy()) + 1.0
        onehot = (code[:, None] == np.arange(1, 4)[None, :]).astype(float)
        return np.column_stack([f[["x", "y"]].to_numpy(dtype=np.float64), code, onehot])

    reference = _iterative_reference(design(fit_on), design(new))[:, 1]
    np.testing.assert_allclose(blended.loc[hole, "y"], 0.5 * (alone.loc[hole, "y"] + reference[hole]),
                               rtol=1e-5, atol=1e-5)
