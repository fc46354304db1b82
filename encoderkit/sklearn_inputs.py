"""What ``EncoderImputer`` takes as ``X``: a DataFrame (pandas, or any table with column
names, read as pandas: ``encoderkit/frames.py``) or an array (a torch tensor, a list of rows,
a masked array with its masked cells missing: ``_as_array``) checked as scikit-learn
checks its inputs (``_check_frame``, ``_text_in_array``), its cells equal to
``missing_values`` made missing (``_mask_frame``, ``_mask_array``; ``_restore_dtypes``
undoes the nullable dtypes after the fill), and, as the estimator's ``InputMixin``, ``X``
read as a DataFrame named as at fit (``_frame``, ``_check_names``, ``_as_at_fit``).
Split out of ``encoderkit/sklearn.py`` (the estimator), so each module keeps one job.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from encoderkit.errors import DataError
from encoderkit.frames import as_pandas_frame, masked_as_missing, rows_as_frame, tensor_as_array, type_name


# the float dtypes an array keeps through scikit-learn's imputers (check_array's FLOAT_DTYPES)
KEPT_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def as_input_floats(values: np.ndarray, X: Any) -> np.ndarray:
    """``transform``'s float64 ``values`` in the dtype SimpleImputer, IterativeImputer and
    KNNImputer return for the array ``X``: its own for float16 / float32 / float64, float64
    for anything else (integers, objects, lists). Observed cells come from ``X`` and are
    exact in its dtype; a fill beyond a narrow dtype's range is held at its largest finite
    value rather than turned into inf (float16 stops at 65504)."""
    dtype = np.dtype(getattr(X, "dtype", np.float64))
    if dtype not in KEPT_FLOATS or dtype == np.float64:
        return values
    top = float(np.finfo(dtype).max)
    return np.clip(values, -top, top).astype(dtype)


class InputMixin:
    """``EncoderImputer``'s reading of ``X`` (needs its ``missing_values`` and, after fit,
    ``columns_``, ``frame_columns_`` and ``models_``)."""

    def _placeholder(self) -> Any:
        """``missing_values`` where it marks cells beyond the usual missing ones (NaN,
        None, NA, NaT), else None."""
        return None if _is_nan_marker(self.missing_values) else self.missing_values

    def _frame(self, X: Any, reset: bool) -> tuple[pd.DataFrame, Any]:
        """``X`` as a DataFrame whose columns are named as at fit (by position, once
        ``_check_names`` has seen they are fit's, in fit's order), and ``X`` as read: a
        pandas DataFrame for every table with column names (polars, pyarrow, ...:
        ``as_pandas_frame``; its names checked as pandas' are), else a numpy array (or
        scipy sparse matrix). An estimator fitted on an array reads a DataFrame at
        ``transform`` as an array too, as scikit-learn's imputers do (and returns one). A list
        of row dicts is the table ``pd.DataFrame(rows)`` makes (``rows_as_frame``)."""
        table = as_pandas_frame(X)
        if table is None:  # rows as dicts: the table pandas reads (keys as its columns)
            table = rows_as_frame(X)
        X = table if table is not None else _as_array(X)
        source = X  # before placeholders are made NaN: transform returns X's own float dtype
        if table is not None and (reset or getattr(self, "frame_columns_", None) is not None):
            names = list(X.columns)  # as given: 1 and '1' are scikit-learn's mixed-type error below
            twice = [c for i, c in enumerate(names) if c in names[:i]]
            if twice:  # a cell would have two columns to go to (scikit-learn's check fails deep inside)
                raise DataError(f"column {str(twice[0])!r} appears more than once in X; columns need "
                                f"distinct names")
            if not reset:
                self._check_names(X)
            # names and width only: check_array would cast a mixed-dtype frame to one dtype
            validate_data(self, X, reset=reset, skip_check_array=True)
            _check_frame(X, min_samples=2 if reset else 1)
            frame = X.copy() if self._placeholder() is None else _mask_frame(X, self._placeholder())
            is_frame = True
        else:  # an array, or a DataFrame given to an estimator fitted on an array
            if self._placeholder() is not None and not sp.issparse(X):
                X = _mask_array(X, self._placeholder())
            try:
                x = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan",
                                  ensure_min_samples=2 if reset else 1)
            except ValueError:
                _text_in_array(X)  # scikit-learn said only "could not convert string to float"
                raise
            frame = pd.DataFrame(x)
            is_frame = False
        if reset:
            self.columns_ = [str(c) for c in X.columns] if is_frame else [f"c{i}" for i in range(frame.shape[1])]
            self.frame_columns_ = X.columns.tolist() if is_frame else None  # 0, not np.int64(0)
        frame.columns = self.columns_
        frame.index = pd.RangeIndex(len(frame))
        if not reset and is_frame and self.models_:  # no model: nothing was observed at fit
            frame = self._as_at_fit(frame)
        return frame, source

    def _user_names(self) -> dict[str, str]:
        """Internal column name -> the name ``get_feature_names_out`` gives it (an array's
        ``x3``, not ``c3``): the one messages use."""
        from encoderkit.sklearn_warnings import user_names

        return user_names(self.columns_, getattr(self, "frame_columns_", None))

    def _check_names(self, X: pd.DataFrame) -> None:
        """Refuse a DataFrame at ``transform`` whose columns are not fit's, in fit's order.
        scikit-learn checks all-string names (its error stands); names of other types (ints
        from ``pd.DataFrame(array)``, floats, tuples of a MultiIndex) it leaves unchecked, and
        columns reordered were read by position: proline's holes filled ~1,000 off. They are
        refused as scikit-learn refuses string names in another order, not reordered: the
        output in the caller's order would feed a next step that reads by position."""
        fitted = getattr(self, "frame_columns_", None)
        if fitted is None or (hasattr(self, "feature_names_in_") and all(isinstance(c, str) for c in X.columns)):
            return  # fitted on an array (columns by position), or scikit-learn's check
        names = [str(c) for c in X.columns]
        if names == self.columns_:
            return
        i = next((i for i, (a, b) in enumerate(zip(names, self.columns_)) if a != b), min(len(names), len(fitted)))
        at = (f"X's column {i} is {X.columns.tolist()[i]!r}" if i < len(names) else f"X has {len(names)} columns") + \
            (f", fit's was {fitted[i]!r}" if i < len(fitted) else f", fit had {len(fitted)}")
        shown = fitted if len(fitted) <= 8 else [*fitted[:8], "..."]
        if sorted(names) == sorted(self.columns_):
            raise ValueError(f"X has the columns of fit in another order ({at}); EncoderImputer, as "
                             f"scikit-learn estimators, takes them in fit's order {shown}: pass "
                             f"X[imputer.frame_columns_]")
        given, known = set(names), set(self.columns_)
        absent = [c for c, n in zip(fitted, self.columns_) if n not in given]
        new = [c for c, n in zip(X.columns.tolist(), names) if n not in known]
        what = "; ".join(([f"fit's column {absent[0]!r} is not in X"] if absent else []) +
                         ([f"column {new[0]!r} was not in X at fit"] if new else [])) or at
        raise ValueError(f"X's columns are not those of fit ({what}); fit's columns: {shown}")

    def _as_at_fit(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (at ``transform``) with each column of text or categories at fit that now
        holds numbers (or booleans) as object: its values as given, read as (unseen)
        categories, its holes filled with categories seen at fit (a numeric column cannot
        hold them)."""
        for col in self.models_[0].domain.schema["columns"]:
            c = col["name"]
            if col["kind"] == "numeric" or c not in frame.columns or \
                    not pd.api.types.is_numeric_dtype(frame[c].dtype):
                continue
            try:
                was_number = pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(col["dtype"]))
            except TypeError:
                continue
            if not was_number:
                frame[c] = frame[c].astype(object)
        return frame


def _is_nan_marker(value: Any) -> bool:
    """Whether ``missing_values`` names the cells that are missing anyway (NaN, None, NA)."""
    return (value is None or value is pd.NA
            or (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                and math.isnan(value)))


def _only_numbers_refused(value: Any, dtype: Any) -> None:
    """A string placeholder cannot mark a cell of numbers: scikit-learn's imputers refuse it."""
    if isinstance(value, str):
        raise ValueError(f"missing_values={value!r} is a string, but X holds only numbers "
                         f"({dtype}); a string marks cells of text columns: give a number "
                         f"(e.g. missing_values=-1) or np.nan")


def _equal_cells(column: pd.Series, value: Any) -> np.ndarray:
    """Cells of ``column`` equal to ``value`` (bool ``[N]``); never a missing cell."""
    try:
        hit = column == value
    except TypeError:  # a dtype that cannot be compared with it holds no such cell
        return np.zeros(len(column), dtype=bool)
    return hit.fillna(False).to_numpy(dtype=bool) if isinstance(hit, pd.Series) else np.asarray(hit, bool)


def _mask_frame(X: pd.DataFrame, value: Any) -> pd.DataFrame:
    """A copy of ``X`` with every cell equal to ``value`` missing: NaN in a float or object
    column, NA in an integer or boolean column (its nullable kind, so observed cells stay
    integers), a category ``value`` removed from a categorical column."""
    if all(pd.api.types.is_numeric_dtype(d) for d in X.dtypes):
        _only_numbers_refused(value, "every column numeric")
    out = X.copy()
    for j in range(out.shape[1]):
        s = out.iloc[:, j]
        hit = _equal_cells(s, value)
        if not hit.any():
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.cat.remove_categories([c for c in s.cat.categories if c == value])
            s = s.mask(hit)  # a number equal to a category of another type (1.0 and 1)
        elif pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype("boolean").mask(hit)
        elif pd.api.types.is_integer_dtype(s.dtype) and isinstance(s.dtype, np.dtype):
            s = s.astype(f"{'U' if s.dtype.kind == 'u' else ''}Int{8 * s.dtype.itemsize}").mask(hit)
        else:
            s = s.mask(hit)
        out.isetitem(j, s)
    return out


def _as_array(X: Any) -> Any:
    """``X`` (not a table) as a numpy array, before anything is fitted: a torch tensor, a
    list of lists, ... (fit read a tensor, then ``transform`` failed on its dtype after the
    whole fit); a masked array's masked cells missing (NaN in a float copy: what a mask
    means to an imputer; scikit-learn's imputers ignore the mask and read the values under
    it). A scipy sparse matrix as it is (refused as scikit-learn refuses it). A torch tensor
    as the array it holds, wherever it lies and whether or not it needs grad (``tensor_as_array``)."""
    X = tensor_as_array(X)
    if sp.issparse(X) or isinstance(X, np.ndarray) and not isinstance(X, np.ma.MaskedArray):
        return X
    if isinstance(X, np.ma.MaskedArray):
        return masked_as_missing(X)
    try:
        return np.asarray(X)
    except (TypeError, ValueError, RuntimeError) as e:  # a CUDA tensor, one needing grad, ragged lists
        kind = ValueError if isinstance(e, ValueError) else TypeError
        raise kind(f"X of type {type_name(X)} cannot be read as an array ({e}); EncoderImputer takes "
                   f"a numpy array, a list of rows or a DataFrame (pandas, polars, pyarrow)") from None


def _mask_array(X: Any, value: Any) -> np.ndarray:
    """``X`` as an array with every cell equal to ``value`` NaN (float, or object for text)."""
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        return arr  # refused by validate_data, as without a placeholder
    if arr.dtype.kind in "biuf":
        _only_numbers_refused(value, f"dtype {arr.dtype}")
        hit = arr == value
        arr = arr.astype(np.float64)
    else:
        hit = np.frompyfunc(lambda v: _same(v, value), 1, 1)(arr).astype(bool)
        arr = arr.astype(object)
    arr[hit] = np.nan
    return arr


def _same(cell: Any, value: Any) -> bool:
    """``cell == value`` as scikit-learn compares an object array's cells (False where the
    comparison is not a plain truth value: a missing cell, an array)."""
    try:
        return bool(cell == value)
    except (TypeError, ValueError):
        return False


def _text_in_array(X: Any) -> None:
    """Raise a ``ValueError`` naming the first cell of text (not a number) in the array
    ``X``, if any: scikit-learn's "could not convert string to float" did not say that an
    array is read as numbers, nor that text columns need a DataFrame."""
    try:
        arr = np.asarray(X, dtype=object)
    except (ValueError, TypeError):  # ragged: scikit-learn's own error
        return
    if arr.ndim != 2:
        return
    for j in range(arr.shape[1]):
        for v in arr[:, j]:
            if isinstance(v, (str, bytes)):
                try:
                    float(v)
                except ValueError:
                    raise ValueError(f"X is an array holding text (column {j}, e.g. {v!r}), and EncoderImputer "
                                     f"reads an array as numeric columns: give text columns in a DataFrame "
                                     f"with column names (pd.DataFrame(X, columns=[...])), where it reads "
                                     f"them as categories") from None


def _restore_dtypes(filled: pd.DataFrame, dtypes: Sequence[Any]) -> pd.DataFrame:
    """Integer and boolean columns that ``_mask_frame`` made nullable back in the caller's
    ``dtypes`` (one per column of ``filled``), where no cell is left missing."""
    for j, want in enumerate(dtypes):
        col = filled.iloc[:, j]
        if isinstance(want, np.dtype) and want.kind in "biu" and col.dtype != want and col.notna().all():
            filled.isetitem(j, col.astype(want))
    return filled


def _check_frame(X: pd.DataFrame, min_samples: int) -> None:
    """Refuse, as scikit-learn's ``check_array`` refuses an array, a DataFrame without rows
    or columns, or with a sparse or complex column (named)."""
    if len(X) < min_samples:
        raise ValueError(f"Found array with {len(X)} sample(s) (shape={X.shape}) while a "
                         f"minimum of {min_samples} is required by EncoderImputer.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
                         f"is required by EncoderImputer.")
    for c, dtype in X.dtypes.items():
        if isinstance(dtype, pd.SparseDtype):
            raise TypeError(f"column {str(c)!r} has a sparse dtype ({dtype}); EncoderImputer needs "
                            f"dense data, as for a scipy sparse matrix: pass X.sparse.to_dense()")
        if pd.api.types.is_complex_dtype(dtype):
            raise ValueError(f"column {str(c)!r} holds complex numbers ({dtype}); EncoderImputer, "
                             f"as scikit-learn's imputers, does not support complex data")
