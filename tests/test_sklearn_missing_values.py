"""EncoderImputer(missing_values=...): scikit-learn's placeholder for missing cells. A cell
equal to it is missing at fit and at transform, exactly as a NaN / None cell there would
be (same seed, same fill); NaN stays missing whatever the placeholder; nonsense is refused
naming the parameter.

Every fit trains a tiny model for a few steps: behaviour, not quality."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from encoderkit.sklearn import EncoderImputer

TINY = ("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "data.max_tokens=256", "data.max_seqlen=64")


def imputer(**kw) -> EncoderImputer:
    return EncoderImputer(**{"model": "impute", "steps": 3, "random_state": 0, "overrides": TINY, **kw})


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_numeric_placeholder_fills_as_nan_cells_do():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    x[:, 1] += x[:, 0]
    holes = rng.random(x.shape) < 0.15
    with_nan = np.where(holes, np.nan, x)
    with_mark = np.where(holes, -1.0, x)
    with_nan[0, 2] = with_mark[0, 2] = np.nan  # NaN is missing whatever the placeholder
    marked, plain = imputer(missing_values=-1).fit(with_mark), imputer().fit(with_nan)
    out = marked.transform(with_mark)
    np.testing.assert_array_equal(out, plain.transform(with_nan))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[~holes & ~np.isnan(with_nan)], x[~holes & ~np.isnan(with_nan)])
    # new rows at transform: the placeholder is missing there too
    new = rng.normal(size=(5, 3))
    new[[0, 3], [1, 2]] = -1
    np.testing.assert_array_equal(marked.transform(new), plain.transform(np.where(new == -1, np.nan, new)))


def _frame(mark) -> pd.DataFrame:
    """Numbers, a count, an object text column and a categorical column; ``mark`` in the
    text cells of rows 0-2 and the categorical cells of rows 3-4."""
    rng = np.random.default_rng(1)
    n = 40
    a = rng.normal(size=n)
    k = rng.choice(["x", "y"], n).astype(object)
    k[:3] = mark
    c = rng.choice(["p", "q"], n).astype(object)
    c[3:5] = mark
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n), "i": rng.integers(0, 100, n),
                          "k": pd.Series(k, dtype=object), "c": pd.Categorical(c)})
    frame.loc[[5], "a"] = np.nan
    return frame


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_string_placeholder_in_object_and_categorical_columns():
    marked, plain = _frame("?"), _frame(None)
    assert "?" in marked["c"].cat.categories
    imp = imputer(missing_values="?").fit(marked)
    out = imp.transform(marked)
    pd.testing.assert_frame_equal(out, imputer().fit(plain).transform(plain))
    assert not (out[["k", "c"]].astype(object) == "?").any().any()  # never written back as '?'
    assert list(out["c"].cat.categories) == ["p", "q"]
    observed = marked["k"].to_numpy() != "?"
    assert (out["k"].to_numpy()[observed] == marked["k"].to_numpy()[observed]).all()
    # the placeholder in new rows at transform
    new = marked.iloc[[10, 11]].copy()
    new.loc[new.index[0], "k"] = "?"
    filled = imp.transform(new)
    assert filled["k"].notna().all() and "?" not in set(filled["k"])


def test_integer_placeholder_in_an_int_column_keeps_its_dtype():
    f = _frame("x")
    given = f.copy()
    given.loc[[1, 2], "i"] = -1
    out = imputer(missing_values=-1).fit_transform(given)
    assert out["i"].dtype == np.int64
    keep = np.ones(len(f), dtype=bool)
    keep[[1, 2]] = False
    np.testing.assert_array_equal(out["i"].to_numpy()[keep], given["i"].to_numpy()[keep])
    assert out["a"].notna().all()  # the NaN cell is still filled


def test_missing_values_is_a_parameter():
    imp = imputer(missing_values=-1)
    assert imp.get_params()["missing_values"] == -1
    assert np.isnan(imputer().get_params()["missing_values"])  # scikit-learn's default
    assert clone(imp).missing_values == -1
    assert imp.set_params(missing_values="?").missing_values == "?"


@pytest.mark.parametrize("bad", [[-1], {"x": 1}, True, pd.NaT, object()])
def test_nonsense_placeholder_refused_naming_the_parameter(bad):
    x = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan], [5.0, 6.0]])
    with pytest.raises(ValueError, match="The 'missing_values' parameter of EncoderImputer must be"):
        imputer(missing_values=bad).fit(x)


def test_string_placeholder_on_numbers_only_refused():
    """As scikit-learn's imputers: a string cannot mark a cell of a numeric array."""
    x = np.array([[1.0, 2.0], [np.nan, 3.0], [4.0, np.nan], [5.0, 6.0]])
    with pytest.raises(ValueError, match="missing_values='\\?' is a string, but X holds only numbers"):
        imputer(missing_values="?").fit(x)
    with pytest.raises(ValueError, match="missing_values='\\?' is a string"):
        imputer(missing_values="?").fit(pd.DataFrame(x, columns=["a", "b"]))
