"""A second imputer averaged with the encoder at infill (``infill_blend: iterative``).

Why: on the LODO benchmark (benchmarks/RESULTS.md, "Imputation that transfers") the
encoder alone and scikit-learn's best imputer are close on numeric cells, and their
errors are only partly correlated, so the mean of the two beats both on most tables
(a two-model ensemble, the "several models at infill" of issue 15). The second model
is scikit-learn's IterativeImputer with BayesianRidge (chained linear regressions),
fitted transductively on the table being filled, like the encoder.

Works in the encoder's normalised numeric space (``schema.encode_frame``'s ``num``);
categorical columns enter as their integer codes (unknown / missing -> NaN) and are
never blended: the encoder's categories are kept.
"""

from __future__ import annotations

import warnings

import numpy as np

BLENDS = ("none", "iterative")


def iterative_estimate(num: np.ndarray, cat: np.ndarray, observed: np.ndarray,
                       is_numeric: np.ndarray, seed: int = 0) -> np.ndarray:
    """IterativeImputer (BayesianRidge, 10 rounds) estimates ``[N, C]`` of every cell in
    the encoder's numeric space (meaningful for numeric columns only)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    x = np.where(is_numeric[None, :], num.astype(np.float64), cat.astype(np.float64))
    x = np.where(observed & (is_numeric[None, :] | (cat > 0)), x, np.nan)
    keep = ~np.isnan(x).all(axis=0)  # a column with no observed cell: nothing to learn
    out = np.zeros_like(x)
    if keep.sum() == 0:
        return out
    mu = np.nanmean(x[:, keep], axis=0)
    sd = np.nanstd(x[:, keep], axis=0)
    sd[~(sd > 0)] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notices: 10 rounds is the usual budget
        z = IterativeImputer(max_iter=10, random_state=seed).fit_transform((x[:, keep] - mu) / sd)
    out[:, keep] = z * sd + mu
    return out
