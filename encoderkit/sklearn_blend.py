"""``EncoderImputer``'s classical imputers beside the encoder (``blend``): scikit-learn's
``IterativeImputer`` (BayesianRidge) and the MissForest-style forest imputer fitted on the
numeric columns, categorical columns as predictors (``BlendMixin._fit_blend``,
``_design``), the column means at fit (``blend_means_``, ``select='auto'``'s ``mean``
candidate, as in ``encoderkit impute``), their fills (``_estimates``) and the per-column mix
with the encoder's fill that ``selection_`` names (``_weights``, ``_apply_blend``); the
scaler that keeps their inputs finite (``FiniteStandardScaler``). Split out of
``encoderkit/sklearn.py`` (the estimator), so each module keeps one job.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

# filters set under the session lock: with catch_warnings alone, two threads' sections left
# them in the caller's filters for good
from encoderkit.session_state import warnings_kept

# The sources a numeric fill of the estimator weighs (``_weights``): the encoder, the
# classical imputers (``domains.tabular.blend.SOURCES``) and the column mean at fit
# (``select='auto'`` only: ``selection_`` names it where it wins clearly, never in the blend).
MEAN = "mean"


class BlendMixin:
    """``EncoderImputer``'s classical imputers (needs its ``blend``, ``select``,
    ``models_`` and ``selection_``; sets ``blend_columns_``, ``blend_categories_`` and
    ``blend_means_``)."""

    def _fit_blend(self, frame: pd.DataFrame) -> tuple[list[str], dict[str, Any] | None]:
        """The classical imputers ({kind: fitted pipeline}) on the numeric columns that have
        an observed value (None without two such columns: nothing to regress on), for a
        ``blend`` other than ``none`` or ``select='auto'`` (IterativeImputer always; the
        forest where ``blend`` has it and the table is narrow enough). Categorical columns
        are predictors, as in ``encoderkit impute`` (``_design``). Sets ``blend_means_``:
        with ``select='auto'``, the mean of each numeric column's observed cells of ``frame``
        (NaN for a column the schema reads as categories), the ``mean`` candidate's fill,
        by ``encoderkit impute``'s own rule (``impute_candidates.observed_means``)."""
        self.blend_means_ = None
        if self.blend == "none" and self.select != "auto":
            return [], None
        from sklearn.pipeline import make_pipeline

        from domains.tabular.blend import REPLAY_ROUNDS, classical_imputer, fill_bounds, forest_fits

        cols = _numeric_columns(frame)
        if len(cols) < 2:
            return [], None
        domain = self.models_[0].domain
        observed = {str(c): frame[c].notna().any() for c in frame.columns}
        self.blend_columns_ = cols
        self.blend_categories_ = [c["name"] for c in domain.columns
                                  if c["kind"] != "numeric" and observed.get(c["name"], False)]
        self.blend_means_ = _means(frame, cols, domain) if self.select == "auto" else None
        kinds = ["iterative"] + (["forest"] if "forest" in self.blend and forest_fits(len(cols), say=True) else [])
        design = self._design(frame)
        models = {}
        for kind in kinds:
            x = design[kind]
            scaler = FiniteStandardScaler().fit(x)
            # past the numeric blend columns: categories' codes and indicators
            bounds = fill_bounds(scaler.transform(x), np.arange(x.shape[1]) >= len(cols))
            imputer = classical_imputer(kind, len(x), 0, bounds)
            if kind == "iterative":  # transform replays the rounds on new rows (blend.REPLAY_ROUNDS)
                imputer.set_params(max_iter=REPLAY_ROUNDS)
            models[kind] = make_pipeline(scaler, imputer)
            with warnings_kept():
                warnings.simplefilter("ignore")  # convergence notices: a fixed number of rounds
                models[kind].fit(x)
        return cols, models

    def _design(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each classical imputer's inputs (by kind): the ``blend_columns_``, then the codes
        of the categorical columns that are not among them (text, booleans) and, for the
        linear chain, every categorical column's indicators
        (``domains.tabular.blend.linear_design``, the same inputs as ``encoderkit impute``'s);
        codes are the schema's (fixed at fit). Categorical columns: ``blend_categories_``,
        those with an observed cell at fit."""
        from domains.tabular.blend import linear_design
        from domains.tabular.schema import encode_frame

        x = _numbers(frame, self.blend_columns_)
        domain = self.models_[0].domain
        names = getattr(self, "blend_categories_", [])
        categorical = [j for j, c in enumerate(domain.columns) if c["name"] in names]
        if not categorical:
            return {"iterative": x, "forest": x}
        enc = encode_frame(frame[[domain.columns[j]["name"] for j in categorical]], domain.schema)
        cat = enc.cat[:, categorical]
        known = enc.observed[:, categorical] & (cat > 0)
        new = [i for i, j in enumerate(categorical) if domain.columns[j]["name"] not in self.blend_columns_]
        x = np.column_stack([x, np.where(known[:, new], cat[:, new], np.nan)])
        indicators = linear_design(np.empty((len(x), 0)), cat, known, np.zeros(len(categorical), dtype=bool),
                                   np.asarray(domain.layout.cat_sizes)[categorical] - 1)
        return {"iterative": np.column_stack([x, indicators]), "forest": x}

    def _estimates(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each fitted classical imputer's fill ``[N, C]`` of the ``blend_columns_`` of ``frame``,
        each row's independent of the other rows (``_row_by_row``), and the column means at
        fit (``mean``, where ``_fit_blend`` set them)."""
        n = len(self.blend_columns_)
        design = self._design(frame)
        with warnings_kept():
            warnings.simplefilter("ignore")
            out = {k: m[0].inverse_transform(_row_by_row(m[1], m[0].transform(design[k])))[:, :n]
                   for k, m in self.blend_model_.items()}
        means = getattr(self, "blend_means_", None)
        if means is not None:
            out[MEAN] = np.broadcast_to(means, (len(frame), n))
        return out

    def _weights(self, name: str) -> np.ndarray:
        """Weights over ``sources()`` of the fill ``name`` (``blend``: the ``blend``
        setting's mean, of the imputers fitted; the column mean is never in it)."""
        names = sources()
        if name == "blend":
            used = ["encoder"] + ([] if self.blend == "none" else
                                  [k for k in self.blend_model_ if k in self.blend.split("+")])
            return np.array([1.0 / len(used) if s in used else 0.0 for s in names])
        return np.array([1.0 if s == name else 0.0 for s in names])

    def _apply_blend(self, frame: pd.DataFrame, filled: pd.DataFrame,
                     selection: dict[str, str] | None = None,
                     est: dict[str, np.ndarray] | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
        """``filled`` (the encoder's) with each numeric column's missing cells from the fill
        ``selection`` (default ``selection_``) names there: the encoder's, a classical
        imputer's, their mean (``blend``) or the column's mean at fit (``mean``); also the
        weight ``[N, C]`` of every cell on what is not the encoder (a classical imputer, the
        column mean): the share of the fill the encoder's spread does not move. ``est``: the
        ``_estimates`` of ``frame``, if already computed. The fills
        mixed are then made plausible (``domains.tabular.plausible``: a column never below 0 at
        fit nor in ``frame`` is filled >= 0, one within [0, 1] within it, float32 noise off an
        observed value is that value); the weights, and so ``return_std``'s spread, are those of
        the fill before: a clipped fill keeps its std."""
        if getattr(self, "blend_model_", None) is None:
            return filled, None
        cols = self.blend_columns_
        selection = self.selection_ if selection is None else selection
        from domains.tabular.plausible import plausible_numbers
        from domains.tabular.schema import fill_column

        mine = _numbers(filled, cols)
        est = self._estimates(frame) if est is None else est
        # columns the schema reads as categories (few distinct whole numbers: codes) keep the
        # encoder's fill, a category seen at fit; an average of codes is none
        schema = {c["name"]: c for c in self.models_[0].domain.schema["columns"]}
        numeric = np.array([schema.get(c, {}).get("kind") == "numeric" for c in cols])
        # missing in the caller's frame (a text mark such as 'oops' in a numeric column is
        # observed: it stays, though the models read it as missing)
        missing = frame[cols].isna().to_numpy() & ~np.isnan(mine) & numeric[None, :]
        weights = np.stack([self._weights(selection[c]) for c in cols])  # [C, sources]
        mix = weights[None, :, 0] * mine
        for s, kind in enumerate(sources()[1:], start=1):
            if kind in est:
                mix = mix + weights[None, :, s] * est[kind]
        mine[missing] = mix[missing]
        w = np.where(missing, 1.0 - weights[None, :, 0], 0.0)
        # a column of whole numbers (integer dtype, or float with NaN holes) gets whole numbers
        # (as the encoder's own fill is rounded: domains/tabular/schema.py, decode_numeric)
        whole = np.array([bool(schema.get(c, {}).get("integer")) or pd.api.types.is_integer_dtype(filled[c])
                          for c in cols])
        mine[:, whole] = np.round(mine[:, whole])
        # the blend's fills final: a count's never below 0, no float32 noise (domains/tabular/plausible.py)
        given = _numbers(frame, cols)
        for j, c in enumerate(cols):
            if missing[:, j].any() and not schema.get(c, {}).get("datetime"):
                mine[missing[:, j], j] = plausible_numbers(mine[missing[:, j], j], given[:, j], schema.get(c))
        out = filled.copy()
        for j, c in enumerate(cols):
            if missing[:, j].any():  # every cell the encoder filled, written in the caller's dtype
                fill = mine[missing[:, j], j]  # (text, category, Int64, float32, ...)
                cats = getattr(frame[c].dtype, "categories", None)
                if whole[j] and cats is not None and pd.api.types.is_integer_dtype(cats.dtype):
                    fill = fill.astype(cats.dtype)  # integer categories stay integers
                out[c] = fill_column(frame[c], fill, missing[:, j])
        return out, w


def sources() -> tuple[str, ...]:
    """What a numeric fill of the estimator weighs (``MEAN`` above)."""
    from domains.tabular.blend import SOURCES

    return (*SOURCES, MEAN)


def _means(frame: pd.DataFrame, cols: Sequence[str], domain: Any) -> np.ndarray:
    """The mean of the observed cells of each of ``cols`` in ``frame`` (``encoderkit impute``'s
    ``mean`` candidate, ``impute_candidates.observed_means``); NaN for a column the fitted
    ``domain`` reads as categories (codes: it keeps the encoder's category) or with nothing
    observed."""
    from encoderkit.impute_candidates import observed_means

    kinds = {c["name"]: c["kind"] for c in domain.columns}
    means = observed_means(frame, cols, [c for c in cols if kinds.get(str(c)) != "numeric"])
    return np.array([means.get(str(c), np.nan) for c in cols], dtype=np.float64)


class FiniteStandardScaler(TransformerMixin, BaseEstimator):
    """``StandardScaler`` for the classical imputers' inputs, whose statistics stay finite
    for any finite column (``encoderkit.numerics.finite_mean_std``): scikit-learn's
    variance of values beyond ~1e154 overflows to NaN, the scaled column becomes all NaN,
    IterativeImputer drops it and the inverse transform fails on the narrower array.
    NaN cells are ignored at fit and kept; a constant column is scaled by 1."""

    def fit(self, X: np.ndarray, y: Any = None) -> "FiniteStandardScaler":
        from encoderkit.numerics import finite_mean_std

        mean, std = finite_mean_std(X, axis=0)
        self.mean_ = np.where(np.isfinite(mean), mean, 0.0)  # a column with no value
        self.scale_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_


def _row_by_row(imputer: Any, z: np.ndarray) -> np.ndarray:
    """``imputer.transform(z)`` (a fitted ``IterativeImputer``, on standardised ``z``) where
    each row's fill depends on that row alone, as ``EncoderImputer`` promises. scikit-learn's
    ``transform`` fills each row from its own cells, except when no cell of the whole batch
    is observed: then it returns its initial fill (the column means) without running the
    chain, so an all-missing row got other values alone (or with other all-missing rows)
    than beside any row with a value. One row observed everywhere (0: each standardised
    column's mean) is appended and its output dropped: never missing, it enters none of the
    chain's regressions, so the other rows' fills are those scikit-learn gives without it,
    and an all-missing batch runs the chain as any other (a batch's cost plus one row)."""
    anchor = np.zeros((1, z.shape[1]), dtype=np.float64)
    return imputer.transform(np.vstack([z, anchor]))[:-1]


def _numbers(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """``frame[cols]`` as float64 ``[N, C]`` whatever their dtypes (nullable, text of numbers,
    category, object); a cell that is not a number is NaN (missing to the models)."""
    from domains.tabular.schema import numeric_values

    out = np.empty((len(frame), len(cols)))
    for j, c in enumerate(cols):
        s = frame[c]
        out[:, j] = numeric_values(s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s)
    return out


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric (not bool) columns with an observed value: those IterativeImputer works on."""
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c]) and frame[c].notna().any()]
