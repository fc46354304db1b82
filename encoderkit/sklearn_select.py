"""``EncoderImputer``'s choice of fill per column (``select='auto'``): on the cells ``fit``
held back (never a category's last cells: ``_keep_categories_seen``), the numeric columns
choose among the encoder, each classical imputer and their mean (``SelectionMixin._select``),
the categorical columns with a forest among the soft vote, the encoder and the forest
(``_select_categories``, the forests of ``_fit_categories``), by the rule of
``encoderkit/selection.py``; the chosen fill's held-back error (``_fill_errors``) and the
forest's share of each vote (``_forest_weight``). Split out of ``encoderkit/sklearn.py``
(the estimator), so each module keeps one job.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from encoderkit.sklearn_blend import _numeric_columns

# the forest's share in the categorical vote for each select='auto' choice
FOREST_WEIGHT = {"blend": 0.5, "encoder": 0.0, "forest": 1.0}


class SelectionMixin:
    """``EncoderImputer``'s ``select='auto'`` (needs its ``models_``, ``blend``, the classical
    imputers of ``BlendMixin``; sets ``selection_`` and ``selection_errors_``)."""

    def _fill_errors(self, frame: pd.DataFrame) -> dict[str, float]:
        """Numeric column -> the held-back RMSE of the fill ``transform`` uses there, in the
        column's units (``selection_errors_``' NRMSE times the observed cells' standard
        deviation, the unit the selection scores in); columns without held-back cells are
        absent. ``return_std`` adds it to the models' spread: the spread alone measures how
        much the seeds disagree, not how far a fill is from the truth (on a survey of
        diabetes cells, 3 models: the error was within 2 spreads for 37% of the cells)."""
        from encoderkit.numerics import finite_mean_std

        out = {}
        numeric = set(_numeric_columns(frame))  # categorical columns' errors are error rates
        for c, errors in self.selection_errors_.items():
            used = self.selection_.get(c)
            if used not in errors or c not in numeric:
                continue
            values = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
            sd = finite_mean_std(values[np.isfinite(values)])[1] or 1.0  # cell_errors' unit
            if np.isfinite(sd) and np.isfinite(errors[used]):
                out[c] = float(errors[used]) * float(sd)
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
        ``frame`` (hidden in ``fit_frame``); returns the encoder's own fill of ``fit_frame``."""
        from encoderkit.impute import ensemble_infill
        from encoderkit.impute_cells import channels, select_fills

        cols = self.blend_columns_
        encoder, _ = ensemble_infill(self.models_, fit_frame)
        est = self._estimates(fit_frame)  # once for every variant
        variants = {name: self._apply_blend(fit_frame, encoder, {c: name for c in cols}, est)[0]
                    for name in ("blend", "encoder", *self.blend_model_)}
        fills = {"model": variants[default], **{k: v for k, v in variants.items() if k != default}}
        choices = select_fills(list(channels(frame, cols)),
                               {k: list(channels(v, cols)) for k, v in fills.items()}, hide, runs=False)
        name = lambda k: default if k == "model" else k  # noqa: E731
        self.selection_ = {c: name(ch.used) for c, ch in choices.items()}
        self.selection_errors_ = {c: {name(k): e for k, e in ch.errors.items()} for c, ch in choices.items()}
        return encoder

    def _select_categories(self, frame: pd.DataFrame, fit_frame: pd.DataFrame, hide: dict,
                           encoder: pd.DataFrame | None) -> None:
        """``selection_`` of the categorical columns that get a forest, from their held-back
        cells: the soft vote (``blend``), the encoder alone or the forest alone, by the rule
        of ``encoderkit impute select=auto`` (error rates; ``encoderkit/selection.py``).
        The forests are fitted on ``fit_frame`` here, on every observed cell afterwards."""
        from encoderkit.impute import ensemble_infill
        from encoderkit.impute_cells import channels, select_fills

        forests = self._fit_categories(fit_frame)
        if forests is None or not forests.forests_:
            return
        domain = self.models_[0].domain
        cols = [domain.columns[j]["name"] for j in forests.forests_]
        if not any(hide.get(c, np.zeros(1)).any() for c in cols):
            return
        if encoder is None:
            encoder, _ = ensemble_infill(self.models_, fit_frame)

        def voted(weight: float) -> pd.DataFrame:
            share = {j: weight for j in forests.forests_}
            return ensemble_infill(self.models_, fit_frame, infill=lambda data, predict:
                                   domain.infill_voting(data, predict, forests, share))[0]

        fills = {"model": voted(FOREST_WEIGHT["blend"]), "encoder": encoder,
                 "forest": voted(FOREST_WEIGHT["forest"])}
        choices = select_fills(list(channels(frame, cols, categorical=cols)),
                               {k: list(channels(v, cols, categorical=cols)) for k, v in fills.items()},
                               hide, runs=False)
        name = lambda k: "blend" if k == "model" else k  # noqa: E731
        for c, ch in choices.items():
            self.selection_[c] = name(ch.used)
            self.selection_errors_[c] = {name(k): e for k, e in ch.errors.items()}

    def _forest_weight(self) -> dict[int, float]:
        """The forest's share of each categorical column's vote (``infill_voting``), by
        schema column index, from ``selection_`` (the vote where it names none)."""
        names = {c["name"]: j for j, c in enumerate(self.models_[0].domain.columns) if c["kind"] != "numeric"}
        return {names[c]: FOREST_WEIGHT[used] for c, used in self.selection_.items()
                if c in names and used in FOREST_WEIGHT}


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
