"""``EncoderImputer``'s calibrated error scale (``transform(X, return_std=True)``): from the
errors of the fill on the cells ``fit`` held back (``select='auto'``), one standard
deviation per numeric column such that ``fill ± 1.96 std`` holds about 95% of the errors on
cells it never saw.

Why not each column's held-back RMSE (``fill_error_``) as it is: a small table holds back
~5-20 cells per column, so that RMSE is noisy (on wine and diabetes, 1.96 RMSE covered
0.86-0.94 of the hidden cells' errors overall, 0.64 in the worst column), and an RMSE is no
95% quantile of heavy-tailed errors. Here (split conformal prediction, normalised):

1. each column's scale is its held-back error in units of its own standard deviation
   (NRMSE), shrunk toward the table's pooled NRMSE as if that were ``PRIOR_CELLS`` more cells
   (a column of 3 held-back cells leans on the table, one of 100 on itself);
2. every held-back cell's |error| divided by its column's scale computed *without that
   cell* (leave-one-out: a cell's own error inside its scale would shrink the ratio, most of
   all where a column has few cells, and under-cover);
3. the factor is the conformal quantile of those ratios pooled over the table's columns, the
   ``ceil((n + 1) 0.95)``-th smallest of ``n`` (finite-sample coverage for an exchangeable new
   cell); a column's std is ``factor * scale / 1.96``.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

LEVEL = 0.95  # the coverage 1.96 std is calibrated to
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: std = quantile / Z95
# how many cells' weight the table's pooled error has in each column's scale; chosen among
# 0, 2, 5, 10, 20 and infinity (one scale for the table) on wine and diabetes (2 hiding seeds
# each, ~9 and ~21 held-back cells per column): 10 held 0.953 of the hidden cells' errors, its
# worst column 0.87, with the narrowest intervals of those at >= 0.95 (5: 0.951, 4% wider;
# 10 without leave-one-out: 0.943); then checked unchanged on other tables (README)
PRIOR_CELLS = 10.0


def conformal_quantile(scores: np.ndarray, level: float = LEVEL) -> float:
    """The split-conformal quantile of ``scores``: the ``ceil((n + 1) level)``-th smallest of
    the ``n`` that are not NaN (a new exchangeable score is at most it with probability >= level);
    the largest where that rank exceeds ``n`` (fewer than ``1 / (1 - level) - 1`` scores: the
    guarantee would need an infinite interval; the largest seen is the honest finite figure).
    NaN without a score."""
    s = np.sort(np.asarray(scores, dtype=np.float64)[~np.isnan(scores)])
    if not len(s):
        return float("nan")
    rank = math.ceil((len(s) + 1) * level)
    return float(s[min(rank, len(s)) - 1])


def _shrunk(square_sum: float, n: int, pooled: float, prior: float) -> float:
    """A column's NRMSE from ``n`` cells of squared errors summing to ``square_sum``, with the
    pooled NRMSE counted as ``prior`` more cells."""
    return math.sqrt((square_sum + prior * pooled ** 2) / (n + prior)) if n + prior > 0 else pooled


def calibrated_std(errors: Mapping[str, np.ndarray], sds: Mapping[str, float],
                   level: float = LEVEL, prior: float = PRIOR_CELLS) -> dict[str, float]:
    """Column -> the std whose ``± Z95 std`` interval holds ``level`` of the fill's errors
    (module docstring), in the column's units. ``errors``: column -> the fill's errors on its
    held-back cells (fill - truth, its units); ``sds``: column -> the standard deviation of
    its observed values. A column without held-back cells or with sd 0 is absent, and so is
    every column where all held-back errors are 0 (review r3: that gave std 0, and one error
    among zeros an infinite std)."""
    units = {c: np.asarray(e, dtype=np.float64) / float(sds[c]) for c, e in errors.items()
             if c in sds and np.isfinite(sds[c]) and sds[c] > 0}
    units = {c: u[np.isfinite(u)] for c, u in units.items()}
    units = {c: u for c, u in units.items() if len(u)}
    if not units:
        return {}
    squares = {c: float(np.sum(u ** 2)) for c, u in units.items()}
    total, count = sum(squares.values()), sum(len(u) for u in units.values())
    if total <= 0:  # every held-back fill exact: no evidence of the error's size, no figure
        return {}   # (a std of 0 would claim every fill exact; the models' spread stands alone)
    ratios = []
    for c, u in units.items():
        for e in u:  # leave-one-out: the cell's own error in neither its column's nor the pool's
            pooled = math.sqrt((total - e * e) / (count - 1)) if count > 1 else math.sqrt(total / count)
            scale = _shrunk(squares[c] - e * e, len(u) - 1, pooled, prior)
            if scale <= 0:  # the only error of the table: in-sample (an infinite ratio made std inf)
                scale = _shrunk(squares[c], len(u), math.sqrt(total / count), prior)
            ratios.append(abs(e) / scale)
    factor = conformal_quantile(np.array(ratios), level)
    pooled = math.sqrt(total / count)
    return {c: factor * _shrunk(squares[c], len(u), pooled, prior) * float(sds[c]) / Z95
            for c, u in units.items()}
