"""EncoderImputer and column names that are not strings, and arrays of text. Found by a
Python API audit (s43): fitted on a DataFrame with int / float / tuple column names, a
``transform`` of the same frame with its columns reordered read each column as the one
fitted at its position (proline's holes ~1,000 off), with no word; ``set_output("pandas")``
renamed int columns ``x0``, ...; an object array holding text got scikit-learn's bare
"could not convert string to float".

Every fit trains a tiny model for a few steps: behaviour, not quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.sklearn import EncoderImputer

TINY = ("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "data.max_tokens=256", "data.max_seqlen=64")


def imputer(**kw) -> EncoderImputer:
    return EncoderImputer(**{"model": "impute", "steps": 3, "random_state": 0, "overrides": TINY,
                             "blend": "none", "select": "model", **kw})


def table(columns) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    frame = pd.DataFrame({"a": a, "b": 100 * a + 1000, "c": rng.normal(size=30)})
    frame.columns = columns
    frame.iloc[[1, 2], 0] = np.nan
    frame.iloc[[3, 4], 1] = np.nan
    return frame


@pytest.mark.parametrize("columns", [
    pytest.param([0, 1, 2], id="int"),
    pytest.param([0.5, 1.5, 2.5], id="float"),
    pytest.param(pd.MultiIndex.from_tuples([("x", "a"), ("x", "b"), ("y", "c")]), id="tuple"),
])
def test_non_string_names_reordered_or_renamed_at_transform_are_refused(columns):
    frame = table(columns)
    est = imputer().fit(frame)
    assert est.frame_columns_ == list(frame.columns)
    est.transform(frame)  # the columns of fit, in fit's order
    rev = frame.iloc[:, ::-1]
    with pytest.raises(ValueError, match=r"columns of fit in another order \(X's column 0 is .*frame_columns_"):
        est.transform(rev)
    assert est.transform(rev[est.frame_columns_]).equals(est.transform(frame))  # what the message says
    other = frame.set_axis(["p", "q", "r"], axis=1)
    with pytest.raises(ValueError, match=r"not those of fit \(fit's column .* is not in X; column 'p' was not"):
        est.transform(other)


def test_string_names_reordered_keep_scikit_learns_error():
    frame = table(["a", "b", "c"])
    est = imputer().fit(frame)
    with pytest.raises(ValueError, match="same order as they were in fit"):
        est.transform(frame[["c", "b", "a"]])


def test_feature_names_and_pandas_output_keep_the_users_labels():
    frame = table([0, 1, 2])
    frame.index = [f"r{i}" for i in range(len(frame))]
    est = imputer().set_output(transform="pandas")
    out = est.fit_transform(frame)
    assert list(out.columns) == [0, 1, 2] and out.index.equals(frame.index)  # were 'x0', 'x1', 'x2'
    assert list(est.get_feature_names_out()) == ["0", "1", "2"]
    assert list(est.get_feature_names_out(["u", "v", "w"])) == ["u", "v", "w"]
    arr = est.set_output(transform="default").fit(frame.to_numpy())
    assert list(arr.get_feature_names_out()) == ["x0", "x1", "x2"]  # an array: scikit-learn's names
    wrapped = arr.set_output(transform="pandas").transform(frame.to_numpy())
    assert list(wrapped.columns) == ["x0", "x1", "x2"]


def test_an_object_array_of_text_says_it_needs_a_dataframe():
    x = np.array([[1.0, "high"], [np.nan, "low"], [3.0, None], [4.0, "2.5"]], dtype=object)
    with pytest.raises(ValueError, match=r"array holding text \(column 1, e.g. 'high'\).*DataFrame"):
        imputer().fit(x)
