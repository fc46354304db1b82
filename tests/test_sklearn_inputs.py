"""EncoderImputer on unusual inputs a scikit-learn user passes: bad input is refused up
front with a ValueError / TypeError naming the column or parameter; unusual but valid
input comes back filled, observed cells unchanged. Each test is a problem an adversarial
sweep found (see the commit that added it). tests/test_sklearn.py and
tests/test_impute_unusual_tables.py cover the rest; one fitted estimator is shared here.

Every fit trains a tiny model for a few steps: behaviour, not quality."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.sklearn import EncoderImputer

TINY = ("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "data.max_tokens=256", "data.max_seqlen=64")


def imputer(**kw) -> EncoderImputer:
    return EncoderImputer(**{"model": "impute", "steps": 3, "random_state": 0, "overrides": TINY, **kw})


def table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Two related numbers (the classical imputers regress one on the other), a count,
    a text column and a categorical column, no hole: tests make their own."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n), "i": rng.integers(0, 100, n),
                         "k": rng.choice(["x", "y"], n).astype(object),
                         "c": pd.Categorical(rng.choice(["p", "q"], n))})


@pytest.fixture(scope="module")
def fitted() -> EncoderImputer:
    f = table()
    f.loc[[1, 2], "a"] = np.nan
    f.loc[[3], "k"] = None
    return imputer().fit(f)


def holed(frame: pd.DataFrame, col: str, rows=(1, 2)) -> pd.DataFrame:
    out = frame.copy()
    out.loc[list(rows), col] = None
    out.loc[[5], "a" if col != "a" else "b"] = np.nan
    return out


def assert_filled(given: pd.DataFrame, out: pd.DataFrame) -> None:
    """Same columns and index, no cell left missing, every observed cell as given."""
    assert list(out.columns) == list(given.columns) and out.index.equals(given.index)
    for c in given.columns:
        obs = given[c].notna().to_numpy()
        assert out[c].notna().all(), c
        assert out[c][obs].astype(object).equals(given[c][obs].astype(object)), c


# ---------------------------------------------------------------- transform: a column's dtype changed

@pytest.mark.parametrize("conv", [
    pytest.param(lambda s: s.astype(str).astype("string"), id="numbers-as-string-dtype"),
    pytest.param(lambda s: s.map(lambda v: f"{v:.6f}"), id="numbers-as-str"),
    pytest.param(lambda s: s.astype("category"), id="numbers-as-category"),
])
@pytest.mark.parametrize("col", ["a", "i"])
def test_numeric_column_arriving_as_text_or_category_is_filled(fitted, col, conv):
    """A column of numbers at fit that comes to transform as text (read with dtype=str) or
    as a category: the classical imputers' part crashed writing the fill back
    ("Cannot interpret '<StringDtype>' as a data type"); blend='none' already filled it."""
    g = table()
    g[col] = conv(g[col])
    h = holed(g, col)
    out = fitted.transform(h)
    assert_filled(h, out)
    if isinstance(h[col].dtype, pd.CategoricalDtype):  # the fills join the categories
        assert list(out[col].cat.categories[:len(h[col].cat.categories)]) == list(h[col].cat.categories)
        assert out[col].cat.categories.dtype == h[col].cat.categories.dtype
    else:
        assert out[col].dtype == h[col].dtype
    assert np.isfinite(pd.to_numeric(out.loc[[1, 2], col].astype(object))).all()


def test_text_cell_in_a_numeric_column_is_kept_and_read_as_missing(fitted):
    """'oops' in a numeric column at transform: 'could not convert string to float: 'oops''
    from the blend; now it is read as missing by every model (as ingest reads such marks)
    and comes back unchanged, the column's holes filled."""
    h = holed(table(), "a")
    h["a"] = h["a"].astype(object)
    h.loc[7, "a"] = "oops"
    out = fitted.transform(h)
    assert_filled(h, out)
    assert out.loc[7, "a"] == "oops"


@pytest.mark.parametrize("col", ["k", "c"])
def test_text_column_arriving_as_numbers_is_filled(fitted, col):
    """A column of text / categories at fit whose transform batch happens to hold numbers
    (int64): 'could not convert string to float: 'y'' writing a category into an int
    column. Now the column comes back as object: the numbers as given (unseen categories),
    the holes filled with categories seen at fit."""
    g = table()
    g[col] = g[col].astype(object).map({"x": 1, "y": 2, "p": 1, "q": 2}).astype(np.int64)
    h = holed(g, col)
    out = fitted.transform(h)
    assert_filled(h, out)
    assert set(out.loc[[1, 2], col]) <= {"x", "y", "p", "q"}


# ---------------------------------------------------------------- frames refused up front

def test_zero_rows_or_columns_refused_naming_the_estimator(fitted):
    """A DataFrame of 0 rows at transform failed inside IterativeImputer ("... required by
    IterativeImputer"; with blend='none' it returned an empty frame); a 0-column frame at
    fit trained nothing and said "no usable column". Now both are refused as numpy arrays
    are, as scikit-learn's imputers do."""
    with pytest.raises(ValueError, match=r"0 sample\(s\).*required by EncoderImputer"):
        fitted.transform(table().iloc[:0])
    with pytest.raises(ValueError, match=r"0 feature\(s\).*required by EncoderImputer"):
        imputer().fit(pd.DataFrame(index=range(5)))


def test_pandas_sparse_column_refused_at_fit_naming_it():
    """A pandas sparse column trained for seconds, then failed at the end of fit's own
    transform with "Cannot interpret 'Sparse[float64, nan]' as a data type"; scipy sparse
    input is refused up front (dense data is required): so is this, naming the column."""
    f = table()
    v = f["b"].to_numpy().copy()
    v[3] = np.nan
    f["b"] = pd.arrays.SparseArray(v)
    with pytest.raises(TypeError, match=r"column 'b'.*sparse.*to_dense"):
        imputer().fit(f)


def test_complex_column_refused_naming_it():
    """A complex column was fitted with the imaginary part silently dropped (ComplexWarning
    only); a complex numpy array is refused ("Complex data not supported"), as scikit-learn
    refuses both: now the column is named."""
    f = table()
    f["z"] = f["a"].to_numpy() + 1j
    with pytest.raises(ValueError, match=r"column 'z'.*complex"):
        imputer().fit(f)


def test_int_and_str_names_equal_as_text_get_scikit_learns_error():
    """Columns 1 and '1' were refused as 'column '1' appears more than once'; they are two
    names of mixed types, which scikit-learn refuses (as for SimpleImputer) with its own
    explanation."""
    f = pd.DataFrame({1: [1.0, 2.0, np.nan], "1": [3.0, np.nan, 4.0]})
    with pytest.raises(TypeError, match="Feature names are only supported if all input features have string"):
        imputer().fit(f)
    with pytest.raises(ValueError, match="more than once"):
        imputer().fit(pd.DataFrame([[1.0, 2.0], [np.nan, 3.0]], columns=["a", "a"]))


# ---------------------------------------------------------------- noise and parameters

def test_forest_on_a_many_valued_column_does_not_flood_warnings():
    """A text column with a distinct value per row (ids): every tree of the category forests
    warned "The number of unique classes is greater than 50% of the number of samples"
    (~200 warnings per fit, each printed in a notebook). The forests are classifiers by
    design: the notice says nothing to the user."""
    f = table(30)
    f["id"] = [f"id{i}" for i in range(30)]
    f.loc[[4], "id"] = None
    f.loc[[1, 2], "a"] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        imputer().fit(f)
    assert not [w for w in caught if "unique classes" in str(w.message)]


@pytest.mark.parametrize("kw, needle", [
    ({"random_state": -1}, "'random_state' parameter"),
    ({"random_state": 1.5}, "'random_state' parameter"),
    ({"random_state": np.random.default_rng(0)}, "'random_state' parameter"),
    ({"ingest_options": ["columns"]}, "'ingest_options' parameter"),
    ({"device": "bogus"}, "'device' parameter"),
])
def test_bad_parameters_refused_before_training_naming_the_parameter(kw, needle):
    """random_state=-1 failed in numpy ("expected non-negative integer"), a float or a
    Generator in scikit-learn's check without naming the parameter, a list as
    ingest_options with "dictionary update sequence element #0", and device='bogus' in
    torch after the data was ingested."""
    x = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan], [5.0, 6.0]])
    with pytest.raises(ValueError, match=needle):
        imputer(**kw).fit(x)


def test_cuda_without_cuda_refused_naming_the_device():
    """device='cuda' on a machine without CUDA: "AssertionError: Torch not compiled with
    CUDA enabled" after ingest; now a ValueError before any work."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="'device' parameter.*cuda"):
        imputer(device="cuda").fit(np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, 5.0]]))


def test_run_dir_kept_across_fits(tmp_path):
    """Fitting twice with the same run_dir (a refit, each fold of cross_val_score, a grid
    search) failed: "run.resume=never but .../model0/checkpoints already holds
    checkpoints". Each fit now keeps its runs in its own subdirectory (run_dir_)."""
    x = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan], [5.0, 6.0], [7.0, 8.0]])
    first = imputer(run_dir=str(tmp_path)).fit(x)
    second = imputer(run_dir=str(tmp_path)).fit(x)
    assert first.run_dir_ != second.run_dir_
    for imp in (first, second):
        assert imp.run_dir_.startswith(str(tmp_path)) and (tmp_path / imp.run_dir_ / "model0").is_dir()
    np.testing.assert_array_equal(first.transform(x), second.transform(x))
    assert imputer().fit(x).run_dir_ is None  # a temporary directory, removed
