"""Numbers at the edges of the float types: column statistics that stay finite for any
finite data, the float32 range the stores and models hold, and fills held to what the
column's dtype can hold (``held_in_dtype``).

numpy squares values to compute a standard deviation, so a column of values beyond
~1e154 gets an infinite one (and a sum near 1.8e308 an infinite mean); standardising
with it then turns every value into 0 or NaN. Table imputation, its held-back scores,
``EncoderImputer``'s classical imputers and regression fine-tuning all standardise user
data, so they share this one guard.
"""

from __future__ import annotations

import warnings

import numpy as np

from encoderkit.session_state import warnings_kept

# Stores keep float32 samples and the models compute in float32: a value beyond F32_MAX
# was stored as inf (read back as missing) and a column whose nonzero values are all below
# F32_TINY (the smallest normal) as zeros, both without a word; the readers refuse them.
F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)
# a column whose largest magnitude is below this (with margin: a deviation is at least
# half an ulp of it, and squares below 2**-1022 are subnormal) gets its statistics
# computed on scaled values
TINY_SCALE = 2.0 ** -400


def power_of_two_below(top: np.ndarray | float) -> np.ndarray:
    """The power of two at or below each magnitude ``top`` (1 where ``top`` is 0, NaN or
    infinite): dividing by it and multiplying back are exact, and leave magnitudes in [0, 2),
    so sums and squares of the scaled values neither over- nor underflow."""
    top = np.asarray(top, dtype=np.float64)
    ok = np.isfinite(top) & (top > 0)
    return np.where(ok, np.ldexp(1.0, np.frexp(np.where(ok, top, 1.0))[1] - 1), 1.0)


def finite_mean_std(v: np.ndarray, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``v`` along ``axis``, NaN ignored; where numpy's are
    not exact (squares that overflow beyond ~1e154, or underflow below ~1e-154 so that a
    column of p-values near 1e-300 got std 0), the statistics of ``v`` scaled by a power
    of two near its largest magnitude, scaled back exactly (the same numbers, computed
    where nothing over- or underflows). Data without NaN and with magnitudes in between
    gets ``np.mean`` / ``np.std`` exactly. Floats for ``axis=None``."""
    v = np.asarray(v, dtype=np.float64)
    gaps = bool(np.isnan(v).any())
    mean_of, std_of = (np.nanmean, np.nanstd) if gaps else (np.mean, np.std)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"), \
            warnings_kept():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN statistics
        mean, std = mean_of(v, axis=axis), std_of(v, axis=axis)
        if v.size == 0:
            return (float(mean), float(std)) if axis is None else (mean, std)
        top = np.nanmax(np.abs(v), axis=axis, keepdims=True)
        flat_top = np.squeeze(top, axis=axis) if axis is not None else top.reshape(())
        # below TINY_SCALE the smallest deviations square into the subnormals (or to 0):
        # the sum of squares loses its digits, so the plain statistics are not exact there
        redo = ~(np.isfinite(mean) & np.isfinite(std)) | ((flat_top > 0) & (flat_top < TINY_SCALE))
        if np.any(redo):
            scale = power_of_two_below(top)
            u = v / scale
            flat = np.squeeze(scale, axis=axis) if axis is not None else float(scale.reshape(()))
            mean = np.where(redo, mean_of(u, axis=axis) * flat, mean)
            std = np.where(redo, std_of(u, axis=axis) * flat, std)
    if axis is None:
        return float(mean), float(std)
    return mean, std


def held_in_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Fills ``values`` (float64; NaN kept) as numbers a column of numpy ``dtype`` can hold,
    still float64 (the caller casts, once its NaN have a place): for an integer dtype rounded
    and held to its [min, max]; for a float dtype held to its largest finite magnitude. Why:
    a fill beyond the range was made by extrapolation or by an overflow upstream (a linear
    imputer's 3.5e38 in a float32 column, a de-standardised 1e308 past float64's maximum came
    back inf), and casting it gave inf, or an integer wrapped round (300 in a uint8 column
    became 44; float(2**63 - 1) is 2**63, which wrapped round to -2**63): the nearest value
    the column can hold is its extreme. Other dtypes: ``values`` as given."""
    x = np.asarray(values, dtype=np.float64)
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        # the largest float64 at or below the maximum (2**63 - 1 and 2**64 - 1 round up)
        top = float(info.max) if float(info.max) <= info.max else float(np.nextafter(float(info.max), 0.0))
        with np.errstate(invalid="ignore"):
            return np.clip(np.round(x), float(info.min), top)
    if np.issubdtype(dtype, np.floating):
        top = float(np.finfo(dtype).max)
        with np.errstate(invalid="ignore"):
            return np.clip(x, -top, top)
    return x


def whole_in_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Fills ``values`` (float64) as integers of the numpy integer ``dtype``: rounded and held to
    its range exactly, where ``held_in_dtype``'s float64 stops short of it (int64's maximum
    2**63 - 1 is no float64: the nearest below is 2**63 - 1024, under every observed value of a
    column at 2**63 - 30 .. 2**63 - 1). A NaN has no integer: the caller fills only numbers."""
    top = np.iinfo(dtype).max
    x = np.asarray(values, dtype=np.float64)
    out = held_in_dtype(x, dtype).astype(dtype)
    out[x >= float(top)] = top  # float(top) rounds up to a power of two past it
    return out


def mean_without_overflow(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """``np.mean(values, axis)``, float64, where that overflows (a sum of finite values near
    float64's maximum: an ensemble's regression members predicting ~1.7e308 averaged to inf,
    and its validation figures to NaN) the mean of the values divided by a power of two near
    their largest magnitude, scaled back (division and product by it are exact). Elsewhere
    numpy's own."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.mean(x, axis=axis)
        if np.isfinite(mean).all() or not x.size:
            return mean
        finite = np.abs(x[np.isfinite(x)])
        top = float(finite.max()) if finite.size else 0.0
        if top == 0.0:
            return mean
        scale = float(power_of_two_below(top))
        return np.where(np.isfinite(mean), mean, np.mean(x / scale, axis=axis) * scale)
