"""``EncoderImputer.transform``'s output as the caller gets it: the columns kept (those
``fit`` observed, or all with ``keep_empty_features``), a DataFrame's own column labels,
index and dtypes back, an array's own float dtype, the container ``set_output`` asks for,
and ``get_feature_names_out``. A mixin of the estimator (it reads the fitted attributes);
split out of ``encoderkit/sklearn.py``, so each module keeps one job.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from encoderkit.sklearn_inputs import _restore_dtypes, as_input_floats


class OutputMixin:
    """The output side of ``EncoderImputer``: columns, names, dtypes and container."""

    def _as_output(self, filled: pd.DataFrame, spread: pd.DataFrame | None, X: Any
                   ) -> tuple[Any, Any]:
        """``filled`` and ``spread`` (the frame ``X`` was read as, filled; None without
        ``return_std``) as ``transform`` returns them for ``X`` (as read: a pandas DataFrame,
        or an array): the kept columns, in ``X``'s own labels, index and dtypes, or an array of
        ``X``'s float dtype; ``filled`` in the container ``set_output`` asks for."""
        is_frame = isinstance(X, pd.DataFrame) and self.frame_columns_ is not None
        keep = self._kept()
        if not keep.all():  # columns with nothing observed at fit: out, as scikit-learn's imputers do
            filled = filled.loc[:, keep]
            spread = None if spread is None else spread.loc[:, keep]
        if is_frame:  # the caller's column names and index back
            filled.columns, filled.index = X.columns[keep], X.index
            if self._placeholder() is not None:
                filled = _restore_dtypes(filled, list(X.dtypes[keep]))
            if spread is not None:
                spread.columns, spread.index = X.columns[keep], X.index
        else:
            # X's own float dtype, as scikit-learn's imputers (float32 in, float32 out)
            filled = as_input_floats(filled.to_numpy(dtype=np.float64), X)
            spread = None if spread is None else as_input_floats(spread.to_numpy(dtype=np.float64), X)
        filled = self._as_configured(filled, X)  # the spread as it is, as scikit-learn's wrapper did
        return filled, spread

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output columns' names: a DataFrame's column names at ``fit`` as text (int
        names ``0`` -> ``'0'``, where scikit-learn's rule, for names that are not all strings,
        says ``x0``: that named no column the user has), an array's ``x0``, ``x1``, ..."""
        from sklearn.utils.validation import _check_feature_names_in

        check_is_fitted(self, "n_features_in_")
        if input_features is None and getattr(self, "frame_columns_", None) is not None:
            return np.asarray(self.columns_, dtype=object)[self._kept()]
        return _check_feature_names_in(self, input_features)[self._kept()]

    def set_output(self, *, transform: str | None = None) -> Self:
        """Set the output container of ``transform`` and ``fit_transform``: ``"default"``,
        ``"pandas"`` or ``"polars"`` (None: unchanged), as scikit-learn's ``set_output``.
        ``transform`` applies it itself: scikit-learn's wrapper renamed a DataFrame's
        columns to ``get_feature_names_out()``, int column labels to text; a DataFrame keeps
        its own labels and index here."""
        if transform is None:
            return self
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self

    def _as_configured(self, out: Any, X: Any) -> Any:
        """``transform``'s output ``out`` in the container ``set_output`` (or scikit-learn's
        ``transform_output`` config) asks for. Fitted on a DataFrame, pandas output is the
        DataFrame as it is (its columns are fit's, ``_check_names``); fitted on an array, its
        columns are renamed ``x0``, ... as scikit-learn's wrapper does."""
        from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config

        dense = _get_output_config("transform", self)["dense"]
        if dense == "default" or (dense == "pandas" and isinstance(out, pd.DataFrame)
                                  and getattr(self, "frame_columns_", None) is not None):
            return out
        return ADAPTERS_MANAGER.adapters[dense].create_container(out, X, columns=self.get_feature_names_out)

    def _kept(self) -> np.ndarray:
        """Which input columns ``transform`` returns (bool ``[n_features_in_]``)."""
        empty = set(getattr(self, "empty_features_", ()))
        return np.array([self.keep_empty_features or c not in empty for c in self.columns_], dtype=bool)
