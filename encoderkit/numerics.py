"""Numbers at the edges of the float types: column statistics that stay finite for any
finite data, and the float32 range the stores and models hold.

numpy squares values to compute a standard deviation, so a column of values beyond
~1e154 gets an infinite one (and a sum near 1.8e308 an infinite mean); standardising
with it then turns every value into 0 or NaN. Table imputation, its held-back scores,
``EncoderImputer``'s classical imputers and regression fine-tuning all standardise user
data, so they share this one guard.
"""

from __future__ import annotations

import numpy as np

# Stores keep float32 samples and the models compute in float32: a value beyond F32_MAX
# was stored as inf (read back as missing) and a column whose nonzero values are all below
# F32_TINY (the smallest normal) as zeros, both without a word; the readers refuse them.
F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)


def finite_mean_std(v: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``v`` along ``axis``, NaN ignored; where numpy's
    overflow, the statistics of ``v`` divided by its largest magnitude, scaled back (the
    same numbers, computed where nothing overflows). Data without NaN or overflow gets
    ``np.mean`` / ``np.std`` exactly. Floats for ``axis=None``."""
    v = np.asarray(v, dtype=np.float64)
    gaps = bool(np.isnan(v).any())
    mean_of, std_of = (np.nanmean, np.nanstd) if gaps else (np.mean, np.std)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean, std = mean_of(v, axis=axis), std_of(v, axis=axis)
        over = ~(np.isfinite(mean) & np.isfinite(std))
        if np.any(over):
            scale = np.nanmax(np.abs(v), axis=axis, keepdims=True)
            scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
            u = v / scale
            flat = np.squeeze(scale, axis=axis) if axis is not None else float(scale.reshape(()))
            mean = np.where(over, mean_of(u, axis=axis) * flat, mean)
            std = np.where(over, std_of(u, axis=axis) * flat, std)
    if axis is None:
        return float(mean), float(std)
    return mean, std
