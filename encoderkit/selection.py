"""Choosing a fill per column / channel on held-back observed cells (``select=auto``).

The imputers (``encoderkit impute``, ``EncoderImputer``) hold back a few observed cells,
fill them with the model and with classical candidates (linear interpolation, seasonal
climatology + anomaly, IterativeImputer, ...), and use for each column / channel the
candidate with the lowest error there. Only the user's own observed cells are used, so the
choice needs no per-dataset tuning.

The rule, and why. A column has few held-back cells (5% of its observed ones), and
imputation errors are heavy-tailed: one held-back run at a series' end, where every
method extrapolates, can outweigh fifty ordinary runs. So a candidate replaces the model
only when it wins *clearly*: (1) its total held-back error is lower by at least ``MIN_GAIN``
(5%), and (2) it beats the
model on significantly more of the held-back groups than it loses, by a one-sided
Wilcoxon signed-rank test on the per-group error differences (a rank test, so one
extreme group cannot decide), at level ``ALPHA`` for each candidate, over at least
``MIN_GROUPS`` groups. Why (1) asks for a margin: with a thousand held-back cells the rank
test finds differences of 1% significant, and the held-back runs are only a proxy for the
real gaps: on ACSF1 a model/seasonal blend candidate (measured, then dropped) won the
held-back cells by 1.4% and lost the real gaps by 28% (benchmarks/RESULTS.md). A switch has to be worth that risk.

No correction for testing several candidates (Bonferroni): the costs are asymmetric. A
false switch goes to a candidate that looked at least as good on the held-back cells, so
it costs little where the two are truly equal; a missed switch keeps a model that can be
several times worse (OSULeaf in benchmarks/RESULTS.md: 2.8x linear interpolation, whose
win there passes at 0.05 and fails at 0.05 / 3). Measured with both levels, see
benchmarks/RESULTS.md, "Validation-based selection". A group
is a run of held-back samples in a series (errors inside a run are correlated) or a single
cell in a table. Among the candidates that pass, the lowest total error wins. Ties (no
difference) and too few groups keep the model.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

ALPHA = 0.05
MIN_GROUPS = 5
MIN_GAIN = 0.05
SELECT = ("auto", "model")


def series_firsts(shape: tuple, starts: np.ndarray | None = None) -> np.ndarray:
    """Flat bool over the cells of an array of ``shape`` (row-major): True where a series
    begins, as ``starts`` says (a long table's column, ``impute_cells.Channel.starts``),
    else at the start of each row along the last axis."""
    if starts is not None:
        return np.asarray(starts, dtype=bool).reshape(-1)
    size = int(np.prod(shape))
    out = np.zeros(size, dtype=bool)
    if size:
        out[::shape[-1]] = True
    return out


def run_groups(mask: np.ndarray, runs: bool, starts: np.ndarray | None = None) -> np.ndarray:
    """Group id of each held-back cell (the cells of ``mask`` in row-major order): its run
    of consecutive held-back samples along the last axis (``runs``), else its own. A run
    ends where its series does (``series_firsts``)."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    if not runs or mask.ndim == 0:
        return np.arange(n)
    flat = mask.reshape(-1)
    begins = flat & (series_firsts(mask.shape, starts) | ~np.concatenate(([False], flat[:-1])))
    return np.cumsum(begins[flat]) - 1


def choose(errors: Mapping[str, np.ndarray], groups: np.ndarray, default: str = "model") -> str:
    """The candidate to use, from per-cell errors (same held-back cells, same order, for
    every candidate; ``default`` must be among them) and the cells' group ids (see the
    module docstring for the rule)."""
    base = np.asarray(errors[default], dtype=np.float64)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < MIN_GROUPS:
        return default
    from scipy.stats import wilcoxon

    best, best_total = default, float(base.sum())
    bar = (1.0 - MIN_GAIN) * best_total  # a switch must lower the model's total by MIN_GAIN
    for name, err in errors.items():
        if name == default:
            continue
        d = np.bincount(groups, weights=base - np.asarray(err, dtype=np.float64), minlength=n_groups)
        total = float(np.sum(err))
        if total > bar or total >= best_total or not (d > 0).any():
            continue
        if wilcoxon(d, alternative="greater").pvalue < ALPHA:
            best, best_total = name, total
    return best
