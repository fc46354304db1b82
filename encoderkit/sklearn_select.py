"""``EncoderImputer``'s choice of fill per column (``select='auto'``): on the cells ``fit``
held back (never a category's last cells: ``_keep_categories_seen``), the numeric columns
choose among the encoder, each classical imputer and their mean (``SelectionMixin._select``),
the categorical columns with a forest among the soft vote, the encoder and the forest
(``_select_categories``, the forests of ``_fit_categories``), by the rule of
``encoderkit/selection.py``; the chosen fill's held-back error (``_fill_errors``) and the
forest's share of each vote (``_forest_weight``); and what ``transform(X, return_std=True)``
returns per cell: the models' spread (``ensemble_spread``) with that error (``_with_errors``;
a numeric column's error calibrated on its held-back cells' errors, ``held_errors_``, by
``encoderkit/sklearn_calibrate.py``: ``fill_std_``).
A column is judged as the domain fills it (its schema kind), whatever its dtype: a code
column of numbers 1.0 / 2.0 that the tabular domain reads as categories is filled, chosen
and scored as categories, its figures written in its own units. Split out of
``encoderkit/sklearn.py`` (the estimator), so each module keeps one job.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from encoderkit.numerics import finite_mean_std
from encoderkit.sklearn_blend import MEAN, _numeric_columns
from encoderkit.sklearn_warnings import caller_level

# the forest's share in the categorical vote for each select='auto' choice
FOREST_WEIGHT = {"blend": 0.5, "encoder": 0.0, "forest": 1.0}


class SelectionMixin:
    """``EncoderImputer``'s ``select='auto'`` (needs its ``models_``, ``blend``, the classical
    imputers of ``BlendMixin``; sets ``selection_`` and ``selection_errors_``)."""

    def _fill_errors(self, frame: pd.DataFrame, coded: dict[str, float]) -> dict[str, float]:
        """Column whose values are numbers -> the held-back RMSE of the fill ``transform``
        uses there, in the column's units: for a numeric column ``selection_errors_``' NRMSE
        times the observed cells' standard deviation (the unit the selection scores in); for
        a categorical column of numbers (codes) ``coded``, the RMSE of the class values filled
        (``_select_categories``; its error rate times the column's sd had no unit: the 0.5
        error rate of a 1.0 / 2.0 column gave 0.25 where a wrong fill is 1 away). A column of
        text categories is absent (its error rate is ``selection_errors_``'), as is a column
        without held-back cells. ``return_std`` adds the error to the models' spread: the
        spread alone measures how much the seeds disagree, not how far a fill is from the
        truth (on a survey of diabetes cells, 3 models: the error was within 2 spreads for 37%
        of the cells); for a numeric column the calibrated ``fill_std_`` (set here from
        ``held_errors_``), for a code column this RMSE."""
        from domains.tabular.values import numeric_values
        from encoderkit.numerics import finite_mean_std
        from encoderkit.sklearn_calibrate import calibrated_std

        kinds = _kinds(self)
        out, sds = {}, {}
        numeric = set(_numeric_columns(frame))
        for c, errors in self.selection_errors_.items():
            used = self.selection_.get(c)
            if used not in errors or c not in numeric or kinds.get(c) != "numeric":
                continue
            values = numeric_values(frame[c])  # an Arrow decimal with nulls: pd.to_numeric lost rows
            sd = finite_mean_std(values[np.isfinite(values)])[1] or 1.0  # cell_errors' unit
            if np.isfinite(sd) and np.isfinite(errors[used]):
                out[c] = float(errors[used]) * float(sd)
                sds[c] = float(sd)
        # the numeric columns' return_std: their held-back errors calibrated together (a
        # column's RMSE from its ~8 held-back cells covered 0.64-1.0 of its errors at 1.96)
        self.fill_std_ = calibrated_std({c: e for c, e in getattr(self, "held_errors_", {}).items() if c in sds}, sds)
        # a column filled with its mean: a filled cell's error is the cell's own deviation from
        # that mean, whose standard deviation is the column's (of its observed cells), known
        # from every observed cell rather than estimated from ~8-20 held-back ones and the
        # table's other columns (for a column of pure noise the calibrated figure was 0.53 of
        # its sd beside a 3-step encoder, tests/test_sklearn_mean_s56b.py, and 1.0-1.3 of it
        # in two fits of 400 rows with the default budget, session 56)
        self.fill_std_.update({c: sd for c, sd in sds.items() if self.selection_.get(c) == MEAN})
        out.update(coded)
        return out

    def _fit_categories(self, frame: pd.DataFrame) -> Any:
        """The random forests whose class probabilities ``transform`` averages with the
        encoder's on categorical cells (``blend`` with ``forest``; None without a
        categorical column, or on a table too wide for the forest)."""
        from domains.tabular.blend import CategoryForests, forest_fits
        from domains.tabular.schema import encode_frame

        domain = self.models_[0].domain
        lay = domain.layout
        if "forest" not in self.blend or lay.is_numeric.all() or not forest_fits(len(domain.columns)):
            return None
        enc = encode_frame(frame, domain.schema)
        return CategoryForests(lay.is_numeric, np.asarray(lay.cat_sizes) - 1,
                               names=[c["name"] for c in domain.columns]).fit(enc.num, enc.cat, enc.observed)

    def _select(self, frame: pd.DataFrame, fit_frame: pd.DataFrame, hide: dict,
                default: str) -> pd.DataFrame:
        """``selection_`` of the numeric columns from the held-back cells ``hide`` of
        ``frame`` (hidden in ``fit_frame``, which the models were fitted on); returns the
        encoder's own fill of the held-back cells. Each candidate fills a held-back cell from
        its row with the row's other cells as given (``heldback_rows``), as its final fill
        will: a fill of ``fit_frame``, where the row's other held-back cells were missing too,
        scored IterativeImputer 0.178 on a column it fills at 0.015."""
        from encoderkit.heldback_rows import held_back_fills
        from encoderkit.impute import ensemble_infill
        from encoderkit.impute_cells import channels, select_fills

        cols = self.blend_columns_

        def candidates(part: pd.DataFrame) -> dict[str, pd.DataFrame]:
            encoder, _ = ensemble_infill(self.models_, part)
            est = self._estimates(part)  # once for every variant
            # " encoder": the encoder's own fill (categorical columns' candidate), a name no variant has
            # "mean": the column's mean at fit (``encoderkit impute``'s candidate), in est when set
            names = ("blend", "encoder", *self.blend_model_, *([MEAN] if MEAN in est else []))
            return {" encoder": encoder, **{name: self._apply_blend(part, encoder, {c: name for c in cols}, est)[0]
                                            for name in names}}

        variants = held_back_fills(candidates, frame, hide)
        encoder = variants.pop(" encoder")
        fills = {"model": variants[default], **{k: v for k, v in variants.items() if k != default}}
        # a column of numbers the domain fills as categories (codes) keeps the encoder's
        # category in every variant (``_apply_blend``): it is chosen as a category
        kinds = _kinds(self)
        cols = [c for c in cols if kinds.get(c) == "numeric"]
        choices = select_fills(list(channels(frame, cols)),
                               {k: list(channels(v, cols)) for k, v in fills.items()}, hide, runs=False)
        name = lambda k: default if k == "model" else k  # noqa: E731
        self.selection_ = {c: name(ch.used) for c, ch in choices.items()}
        self.selection_errors_ = {c: {name(k): e for k, e in ch.errors.items()} for c, ch in choices.items()}
        # each cell's error, not only the RMSE: return_std's calibration (sklearn_calibrate) reads them
        self.held_errors_ = {c: _floats(variants[self.selection_[c]][c])[hide[c]] - _floats(frame[c])[hide[c]]
                             for c in choices if self.selection_[c] in variants and hide.get(c) is not None
                             and hide[c].any()}
        return encoder

    def _select_categories(self, frame: pd.DataFrame, fit_frame: pd.DataFrame, hide: dict,
                           encoder: pd.DataFrame | None) -> dict[str, float]:
        """``selection_`` of the categorical columns (as the domain reads them) with held-back
        cells: where a forest votes, the soft vote (``blend``), the encoder alone or the
        forest alone, by the rule of ``encoderkit impute select=auto`` (error rates;
        ``encoderkit/selection.py``); elsewhere the encoder's category, the fill ``transform``
        uses there, with its error rate. The forests are fitted on ``fit_frame`` here, on
        every observed cell afterwards; each held-back cell is filled from its row as given
        (``heldback_rows``, as in ``_select``). Returns, for the categorical columns of numbers
        (codes), the held-back RMSE in the column's units of the class values filled
        (``_fill_errors``)."""
        from encoderkit.heldback_rows import held_back_fills
        from encoderkit.impute import ensemble_infill
        from encoderkit.impute_cells import channels, select_fills

        domain = self.models_[0].domain
        held = [c["name"] for c in domain.columns
                if c["kind"] != "numeric" and hide.get(c["name"], np.zeros(1)).any()]
        if not held:
            return {}
        if encoder is None:  # each held-back cell from its row as given (``_select``)
            encoder = held_back_fills(lambda part: {"encoder": ensemble_infill(self.models_, part)[0]},
                                      frame, hide)["encoder"]
        forests = self._fit_categories(fit_frame)
        voting = [] if forests is None else [domain.columns[j]["name"] for j in forests.forests_]
        voting = [c for c in voting if c in held]
        fills: dict[str, pd.DataFrame] = {"encoder": encoder}
        if voting:
            def voted(part: pd.DataFrame, weight: float) -> pd.DataFrame:
                share = {j: weight for j in forests.forests_}
                return ensemble_infill(self.models_, part, infill=lambda data, predict:
                                       domain.infill_voting(data, predict, forests, share))[0]

            fills.update(held_back_fills(lambda part: {k: voted(part, FOREST_WEIGHT[k]) for k in ("blend", "forest")},
                                         frame, hide))
        for cols, names in ((voting, ("blend", "encoder", "forest")),
                            ([c for c in held if c not in voting], ("encoder",))):
            if not cols:
                continue
            # "model" is the candidate select_fills keeps unless another wins clearly
            first = names[0]
            cands = {("model" if k == first else k): fills[k] for k in names}
            choices = select_fills(list(channels(frame, cols, categorical=cols)),
                                   {k: list(channels(v, cols, categorical=cols)) for k, v in cands.items()},
                                   hide, runs=False)
            name = lambda k: first if k == "model" else k  # noqa: E731
            for c, ch in choices.items():
                self.selection_[c] = name(ch.used)
                self.selection_errors_[c] = {name(k): e for k, e in ch.errors.items()}
        coded = set(_numeric_columns(frame))
        out = {}
        for c in held:
            used = self.selection_.get(c)
            if c in coded and used in self.selection_errors_.get(c, {}):
                err = _units_rmse(frame[c], fills[used][c], hide[c])
                if np.isfinite(err):
                    out[c] = err
        return out

    def _forest_weight(self) -> dict[int, float]:
        """The forest's share of each categorical column's vote (``infill_voting``), by
        schema column index, from ``selection_`` (the vote where it names none)."""
        names = {c["name"]: j for j, c in enumerate(self.models_[0].domain.columns) if c["kind"] != "numeric"}
        return {names[c]: FOREST_WEIGHT[used] for c, used in self.selection_.items()
                if c in names and used in FOREST_WEIGHT}

    def _with_errors(self, frame: pd.DataFrame, filled: pd.DataFrame, spread: pd.DataFrame) -> pd.DataFrame:
        """``spread`` (``ensemble_spread``) with each column's held-back error: the figure
        ``transform(X, return_std=True)`` returns per cell. At a filled cell of a numeric
        column: ``sqrt(spread**2 + fill_std_**2)``; of categories coded as numbers:
        ``sqrt(spread**2 + fill_error_**2)``; both in the column's units; of a column of text categories: ``1 - (1 - d) * (1 - r)``, the
        chance that the fill is wrong were the two independent (``d`` the share of models
        whose own category differs, ``r`` the column's held-back error rate,
        ``selection_errors_``): a probability, as the share alone was, and never 0 where the
        fill is known to miss. With one model there is no spread (NaN): the error alone;
        without an error either, NaN (a 0 claimed the fill exact), said once per call."""
        units = {**getattr(self, "fill_error_", {}), **getattr(self, "fill_std_", {})}
        rates = {c: e[self.selection_[c]] for c, e in getattr(self, "selection_errors_", {}).items()
                 if c not in units and self.selection_.get(c) in e and _kinds(self).get(c, "numeric") != "numeric"}
        out = spread.copy()
        unknown = []
        for c in out.columns:
            here = frame[c].isna().to_numpy() & filled[c].notna().to_numpy()
            if not here.any():
                continue
            col = out[c].to_numpy(dtype=np.float64).copy()
            d = col[here]
            if c in units:
                # hypot: squares of a column near 1e300 overflowed (OverflowError), near 1e-300 underflowed to 0
                col[here] = np.hypot(np.nan_to_num(d), units[c])
            elif c in rates and not _is_number(filled[c]):
                col[here] = 1.0 - (1.0 - np.nan_to_num(d)) * (1.0 - rates[c])
            if np.isnan(col[here]).any():
                unknown.append(self._user_names().get(c, str(c)))  # an array's x3, not c3
            out[c] = col
        if unknown:
            warnings.warn(f"EncoderImputer: return_std has no figure for the filled cells of column(s) "
                          f"{', '.join(unknown)}: one model (n_models=1) has no spread, and no held-back "
                          f"error was measured there (select='model', or no cell of the column held "
                          f"back at fit); their std is NaN, not 0 (a 0 would claim the fill exact). "
                          f"Fit with n_models >= 2 or select='auto' for a figure.", UserWarning,
                          stacklevel=caller_level())
        return out


def _keep_categories_seen(frame: pd.DataFrame, hide: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``hide`` without the held-back cells of a non-numeric column whose value would then
    be seen nowhere else in the column: the encoder trains once, on what is not held back,
    and a category it never saw is one it can never fill, nor read at ``transform``."""
    numeric = set(_numeric_columns(frame))
    out = dict(hide)
    for c, mask in hide.items():
        if c in numeric or not mask.any():
            continue
        values = frame[c].to_numpy(dtype=object)
        seen = set(map(str, values[frame[c].notna().to_numpy() & ~mask]))
        rare = np.array([str(v) not in seen for v in values])
        out[c] = mask & ~rare
    return out


def ensemble_spread(models: Sequence[Any], frame: pd.DataFrame, infill: Callable | None,
                    categorical: set[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ensemble's fill of ``frame`` (``ensemble_infill``) and, per cell, how much its
    models disagree there: 0 at observed cells; at a filled cell of a numeric column, the
    standard deviation of the models' own fills; of a column of ``categorical`` names (as
    the domain fills it) whose values are numbers (codes), the root mean square distance of
    the models' own classes from the fill, in the column's units (the share of models that
    disagree, each weighted by how far its class is: for two classes ``gap * sqrt(share)``;
    the standard deviation of the classes, 0.47 for 1, 1, 2, measured around their mean, a
    value none of them filled); of any other column, the share of models whose own fill
    differs. NaN at every filled cell with one model: there is no spread to measure; NaN at a
    cell left missing (a column with no observed value at fit, kept by
    ``keep_empty_features``): a 0 there claimed an exact fill where there is none.
    ``infill``: as ``ensemble_infill``'s (the forests' vote)."""
    from encoderkit.impute import ensemble_infill

    filled, _ = ensemble_infill(models, frame, infill=infill)
    own = [ensemble_infill([m], frame, infill=infill)[0] for m in models] if len(models) > 1 else []
    out = unfilled_spread(frame)
    for c in frame.columns:
        here = frame[c].isna().to_numpy() & filled[c].notna().to_numpy()
        if not here.any():
            continue
        if not own:
            value = np.full(int(here.sum()), np.nan)
        elif _is_number(filled[c]):
            values = np.stack([_floats(o[c])[here] for o in own])  # [models, cells]
            value = np.sqrt(np.mean((values - _floats(filled[c])[here]) ** 2, axis=0)) \
                if c in categorical else finite_mean_std(values, axis=0)[1]  # 1e300s: squares overflowed
        else:
            ref = filled[c].to_numpy(dtype=object)[here]
            value = np.mean([o[c].to_numpy(dtype=object)[here] != ref for o in own], axis=0)
        col = out[c].to_numpy().copy()
        col[here] = value
        out[c] = col
    return filled, out


def unfilled_spread(frame: pd.DataFrame) -> pd.DataFrame:
    """``return_std``'s figure before any fill: 0 at the observed cells of ``frame`` (exact),
    NaN at its missing ones (no fill, so no figure)."""
    return pd.DataFrame(np.where(frame.isna().to_numpy(), np.nan, 0.0), index=frame.index,
                        columns=frame.columns)


def _kinds(estimator: Any) -> dict[str, str]:
    """Column name -> the kind the fitted domain fills it as (``numeric``, ``categorical``, ...)."""
    return {c["name"]: c["kind"] for c in estimator.models_[0].domain.columns}


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _floats(s: pd.Series) -> np.ndarray:
    from domains.tabular.values import numeric_values

    return numeric_values(s)  # an Arrow decimal / halffloat too (pd.to_numeric failed on both)


def _units_rmse(truth: pd.Series, fill: pd.Series, mask: np.ndarray) -> float:
    """The RMSE of ``fill`` against ``truth`` at ``mask``, in their units (NaN without a
    cell of both); scaled by the largest difference, so no square over- or underflows."""
    d = _floats(fill)[mask] - _floats(truth)[mask]
    d = d[np.isfinite(d)]
    if not len(d):
        return float("nan")
    top = float(np.max(np.abs(d)))
    return 0.0 if top == 0 else top * float(np.sqrt(np.mean((d / top) ** 2)))
