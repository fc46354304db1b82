"""EncoderImputer on the containers a notebook user has (audit A3 of session 53).

1. A pyarrow Table / RecordBatch, a polars DataFrame, anything exporting ``__arrow_c_stream__``
   went down the array path: columns by position (a reordered RecordBatch filled silently),
   every column numeric (a small-integer column that pandas reads as categories filled as
   numbers). Reference: the same table given as pandas.
2. A torch tensor: fit read it, then ``transform`` failed on its dtype after the whole fit.
   Reference: the numpy array it holds.
3. A numpy masked array: the values under the mask were read as observed. Reference: the
   array with NaN at the masked cells.
4. Fitted on an array, a DataFrame at ``transform`` came back as a DataFrame (named as at
   no fit); scikit-learn's SimpleImputer returns an array there.
5. Interval, tuple and Period cells: fills were their text ('(28.0, 29.0]') beside the
   column's own objects, the interval dtype lost. Reference: the column's own values.
6. A Period column was warned of as "dates written as text".
7. A pandas Categorical's unused categories entered the vocabulary and moved other columns'
   fills. Reference: the same column without them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from encoderkit.sklearn import EncoderImputer

N = 60


def imputer() -> EncoderImputer:
    return EncoderImputer(model="tiny", steps=1, random_state=0, blend="none", select="model",
                          overrides=("run.device=cpu",))


def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=N), "b": rng.normal(size=N),
                          "c": rng.integers(0, 5, N).astype(float)})  # read as categories by pandas
    frame.loc[::7, "a"] = np.nan
    frame.loc[3::9, "c"] = np.nan
    return frame


def quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args)


@pytest.fixture(scope="module")
def on_pandas():
    frame = table()
    est = quiet(imputer().fit, frame)
    return est, quiet(est.transform, frame)


class ArrowStream:
    """A table known only by the Arrow C stream it exports (duckdb, ibis, ... do so)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.table = pa.Table.from_pandas(frame, preserve_index=False)

    def __arrow_c_stream__(self, requested_schema=None):
        return self.table.__arrow_c_stream__(requested_schema)


def _kinds(est: EncoderImputer) -> dict[str, str]:
    return {c["name"]: c["kind"] for c in est.models_[0].domain.columns}


@pytest.mark.parametrize("make", [lambda f: pa.Table.from_pandas(f, preserve_index=False),
                                  lambda f: pa.RecordBatch.from_pandas(f, preserve_index=False),
                                  ArrowStream], ids=["Table", "RecordBatch", "arrow_c_stream"])
def test_arrow_tables_are_read_as_the_same_pandas_table(on_pandas, make):
    est, want = on_pandas
    frame = table()
    fitted = quiet(imputer().fit, make(frame))
    assert _kinds(fitted) == _kinds(est) and _kinds(est)["c"] != "numeric"  # was numeric (an array)
    got = quiet(fitted.transform, make(frame))
    assert isinstance(got, pd.DataFrame) and list(got.columns) == ["a", "b", "c"]
    pd.testing.assert_frame_equal(got, want)


def test_polars_frames_are_read_as_the_same_pandas_table(on_pandas):
    pl = pytest.importorskip("polars")
    est, want = on_pandas
    given = pl.from_pandas(table())
    fitted = quiet(imputer().fit, given)
    assert _kinds(fitted) == _kinds(est)
    pd.testing.assert_frame_equal(quiet(fitted.transform, given), want)
    back = quiet(fitted.set_output(transform="polars").transform, given)
    assert isinstance(back, pl.DataFrame) and back.columns == ["a", "b", "c"]
    text = pl.DataFrame({"a": [1.0, None, 3.0, 4.0], "k": ["x", "y", None, "x"]})  # was "an array holding text"
    assert quiet(imputer().fit, text).feature_names_in_.tolist() == ["a", "k"]
    from encoderkit.frames import as_pandas_frame

    kinds = pl.DataFrame({"k": pl.Series(["x", None, "y"], dtype=pl.Categorical), "n": [1, None, 3]})
    made = as_pandas_frame(kinds)  # polars' categoricals are dictionaries of string_view
    assert isinstance(made["k"].dtype, pd.CategoricalDtype) and made["n"].dtype == "Int64"


def test_a_reordered_record_batch_is_refused_by_name(on_pandas):
    est, _ = on_pandas
    moved = pa.RecordBatch.from_pandas(table()[["c", "a", "b"]], preserve_index=False)
    with pytest.raises(ValueError, match="same order as they were in fit"):
        est.transform(moved)


@pytest.fixture(scope="module")
def on_array():
    values = table().to_numpy()
    est = quiet(imputer().fit, values)
    return est, quiet(est.transform, values)


def test_a_torch_tensor_is_read_as_its_array(on_array):
    torch = pytest.importorskip("torch")
    est, want = on_array
    values = table().to_numpy()
    got = quiet(est.transform, torch.tensor(values))  # failed on torch.float64 after the fit
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    # session 54: a tensor that needs grad is read as its values (refused in session 53)
    np.testing.assert_array_equal(quiet(est.transform, torch.tensor(values, requires_grad=True)), want)


def test_masked_cells_of_a_masked_array_are_missing(on_array):
    est, want = on_array
    values = table().to_numpy()
    holes = np.isnan(values)
    masked = np.ma.array(np.where(holes, -999.0, values), mask=holes)
    got = quiet(est.transform, masked)  # -999 was read as observed and kept
    assert not isinstance(got, np.ma.MaskedArray)
    np.testing.assert_array_equal(got, want)
    small = quiet(est.transform, np.ma.array(values.astype(np.float32), mask=holes))
    assert small.dtype == np.float32 and not np.isnan(small).any()
    refit = quiet(imputer().fit, masked)  # at fit too: -999 is no observed value to learn
    np.testing.assert_array_equal(quiet(refit.transform, values), want)


def test_a_frame_at_transform_after_an_array_fit_comes_back_as_an_array(on_array):
    from sklearn.impute import SimpleImputer

    est, want = on_array
    frame = table()
    got = quiet(est.transform, frame)
    reference = quiet(SimpleImputer().fit(frame.to_numpy()).transform, frame)
    assert type(got) is type(reference) is np.ndarray
    np.testing.assert_array_equal(got, want)
    named = quiet(est.set_output(transform="pandas").transform, frame)
    est.set_output(transform="default")
    assert list(named.columns) == list(est.get_feature_names_out()) == ["x0", "x1", "x2"]


def test_interval_and_tuple_cells_are_filled_with_the_columns_own_values():
    frame = table()[["a", "b"]]
    intervals = pd.Series(pd.IntervalIndex.from_breaks(np.arange(N + 1.0)))
    intervals[::6] = np.nan
    pairs = pd.Series([(i % 3, "t") for i in range(N)], dtype=object)
    pairs[::6] = None
    cut = pd.Series(pd.cut(np.random.default_rng(1).normal(size=N), 4))
    cut[::5] = np.nan
    given = frame.assign(v=intervals, t=pairs, k=cut)
    est = quiet(imputer().fit, given)
    out = quiet(est.transform, given)
    assert out["v"].dtype == intervals.dtype and not out["v"].isna().any()
    assert all(isinstance(v, pd.Interval) for v in out["v"])  # were the text '(28.0, 29.0]'
    assert set(out["t"]) <= set(pairs.dropna()) and not out["t"].isna().any()
    assert out["k"].dtype == cut.dtype and not out["k"].isna().any()  # no category '(..]' added
    one = quiet(est.transform, given.iloc[[0]])  # no observed cell to copy the value from
    assert one["v"].dtype == intervals.dtype and isinstance(one["v"].iloc[0], pd.Interval)


def test_a_period_column_is_said_to_hold_periods():
    days = pd.Series(pd.period_range("2024-01-01", periods=N, freq="D"))
    days[::6] = pd.NaT
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = imputer().fit_transform(table()[["a"]].assign(p=days))
    words = [str(w.message) for w in said if "'p'" in str(w.message)]
    assert any("holds periods (period[D])" in w for w in words), words
    assert not any("dates written as text" in w for w in words)
    assert out["p"].dtype == days.dtype and not out["p"].isna().any()


def test_unused_categories_change_no_fill():
    rng = np.random.default_rng(2)
    k = pd.Series(rng.choice(["x", "y"], N))
    k[::5] = None
    plain = quiet(imputer().fit_transform, table().assign(k=k.astype("category")))
    wider = pd.Categorical(k, categories=["x", "y", "never"])
    est = quiet(imputer().fit, table().assign(k=wider))
    out = quiet(est.transform, table().assign(k=wider))
    assert [c.get("categories") for c in est.models_[0].domain.columns if c["name"] == "k"] == [["x", "y"]]
    pd.testing.assert_frame_equal(out[["a", "b", "c"]], plain[["a", "b", "c"]])
    assert list(out["k"].cat.categories) == ["x", "y", "never"] and "never" not in set(out["k"])


def test_tables_of_other_libraries_become_the_pandas_frame_parquet_readers_make():
    from encoderkit.frames import as_pandas_frame

    given = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "k": pd.Categorical(["x", None, "y"]),
                          "a": [1.5, np.nan, 2.0]})
    table = pa.Table.from_pandas(given, preserve_index=False)

    class Interchange:  # known only by the dataframe interchange protocol
        def __dataframe__(self, nan_as_null=False, allow_copy=True):
            return table.__dataframe__(nan_as_null, allow_copy)

    for made in (as_pandas_frame(table), as_pandas_frame(ArrowStream(given)), quiet(as_pandas_frame, Interchange())):
        assert made["n"].dtype == "Int64" and list(made["n"].dropna()) == [1, 3]  # not 1.0, 3.0
        assert isinstance(made["k"].dtype, pd.CategoricalDtype) and list(made.columns) == ["n", "k", "a"]
    assert as_pandas_frame(pa.chunked_array([[1.0]])) is None and as_pandas_frame(given["a"]) is None
