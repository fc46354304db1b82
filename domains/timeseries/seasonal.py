"""Period detection and the seasonal climatology + interpolated-anomaly fill.

Used two ways: as the ``baseline: seasonal`` input of the time-series domain (the model
sees it beside the values and its head predicts the residual over it), and as a
classical baseline in ``benchmarks/imputation_lodo.py``.

The period comes from the visible samples only: linearly interpolate the gaps, remove a
linear trend, take the autocorrelation, and keep the lag of its highest local maximum
if that peak is strong (ACF >= ``min_acf``) and at least ``min_cycles`` full cycles are
visible. Everything else (no clear peak, too short) means "no period": the callers fall
back to linear interpolation.

An autocorrelation peak is not proof that a climatology helps: the outline of a leaf or an
arrowhead (UCR shape series), a drifting cycle, or 36 months of sales show peaks too, and
there the climatology fill was 1.5-2.7x worse than linear interpolation
(benchmarks/RESULTS.md). So the fills (``seasonal_period``) keep a detected period only if
it wins a blocked cross-validation on the visible samples (``period_helps``).
"""

from __future__ import annotations

import hashlib
from typing import Mapping

import numpy as np

MIN_ACF = 0.3
MIN_CYCLES = 3.0
CV_FOLDS = 5
CV_MIN_BLOCKS = 3


def linear_fill(x: np.ndarray) -> np.ndarray:
    """NaNs of a 1-D series replaced by linear interpolation of the finite samples
    (constant past the ends; zeros when nothing is finite)."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.all():
        return x.copy()
    if not ok.any():
        return np.zeros_like(x)
    t = np.arange(len(x))
    out = x.copy()
    out[~ok] = np.interp(t[~ok], t[ok], x[ok])
    return out


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Biased sample autocorrelation of a finite 1-D series at lags 0..n-1 (via FFT)."""
    y = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(y)
    f = np.fft.rfft(y, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n]
    return acf / acf[0] if acf[0] > 0 else np.zeros(n)


def detect_period(x: np.ndarray, min_acf: float = MIN_ACF, min_cycles: float = MIN_CYCLES,
                  max_period: int | None = None) -> int | None:
    """The dominant period (in samples) of a 1-D series with NaN gaps, or None.

    Needs at least half the samples visible and ``min_cycles`` cycles in the series."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    ok = np.isfinite(x)
    if n < 8 or ok.sum() < max(8, n // 2):
        return None
    y = linear_fill(x)
    t = np.arange(n, dtype=np.float64)
    y = y - np.polyval(np.polyfit(t, y, 1), t)  # a trend makes every lag look alike
    if np.std(y) <= 1e-12 * max(1.0, np.abs(x[ok]).max()):
        return None
    acf = autocorrelation(y)
    hi = int(n / min_cycles)
    if max_period is not None:
        hi = min(hi, int(max_period))
    if hi < 3:
        return None
    lags = np.arange(2, hi)
    peak = (acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1])
    if not peak.any():
        return None
    cand = lags[peak]
    best = int(cand[np.argmax(acf[cand])])
    return best if acf[best] >= min_acf else None


def nan_run_lengths(x: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive non-finite samples of a 1-D series."""
    miss = ~np.isfinite(np.asarray(x, dtype=np.float64))
    edges = np.diff(np.concatenate(([0], miss.astype(np.int8), [0])))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def period_helps(x: np.ndarray, period: int, folds: int = CV_FOLDS) -> bool:
    """Does the climatology + anomaly fill with ``period`` predict held-back visible samples
    better than linear interpolation? Blocked ``folds``-fold cross-validation: blocks as long
    as the series' typical gap (median run of missing samples, 1 if none), fold k holds back
    every ``folds``-th block from the k-th on (so each visible sample away from the ends is
    held back once), both fills are refitted without them, and squared errors are summed
    over all folds. Fewer than ``CV_MIN_BLOCKS`` blocks fit (a short series): False, since
    a climatology from so few samples is not worth the risk.

    Blocks rather than single samples because a gap's samples share their neighbours: a
    one-sample test would favour linear interpolation on any smooth series."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    runs = nan_run_lengths(x)
    block = max(1, int(np.median(runs))) if len(runs) else 1
    stride = folds * block
    if stride % period == 0:  # else every block would hide the same phases
        stride += 1
    ok = np.isfinite(x)
    err_seasonal = err_linear = 0.0
    blocks = 0
    for k in range(folds):
        starts = np.arange(block + (k * stride) // folds, n - 2 * block, stride)
        blocks += len(starts)
        held = np.zeros(n, dtype=bool)
        held[(starts[:, None] + np.arange(block)[None, :]).ravel()] = True
        held &= ok
        if not held.any():
            continue
        y = np.where(held, np.nan, x)
        err_seasonal += float(np.sum((seasonal_fill(y, period)[0] - x)[held] ** 2))
        err_linear += float(np.sum((linear_fill(y) - x)[held] ** 2))
    return blocks >= CV_MIN_BLOCKS and err_seasonal < err_linear


def period_key(x: np.ndarray) -> bytes:
    """A key of a series' exact float64 samples (a 128-bit BLAKE2 digest of their bytes and
    count), under which ``seasonal_period`` finds a period already known for them."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    return hashlib.blake2b(x.tobytes(), digest_size=16, salt=len(x).to_bytes(8, "little")).digest()


def seasonal_period(x: np.ndarray, known: Mapping[bytes, int | None] | None = None) -> int | None:
    """The period the fills use: ``detect_period`` confirmed by ``period_helps``. ``known``:
    periods already found (``periods.seasonal_periods``) by ``period_key``; a series found
    there is not searched again. Keyed by the samples themselves, so a known period is the
    one the search would find: imputing meets one series' visible samples, normalised to the
    same numbers, in each of ``infill_shifts`` grid passes and again in the candidates' fill,
    and the search with its cross-validation was most of an impute's time on a file of
    many short series."""
    if known:
        key = period_key(x)
        if key in known:
            return known[key]
    period = detect_period(x)
    return period if period and period_helps(x, period) else None


def climatology(x: np.ndarray, period: int) -> np.ndarray:
    """Seasonal profile s[phase] (mean 0) of a 1-D series with NaN gaps, fitted by least
    squares beside a linear trend on the visible samples: x_t ~ b t + c[t mod P],
    s = c - mean(c). Phases never visible get 0.

    Closed form (Frisch-Waugh): demeaning x and t within each phase removes the phase
    levels, b = sum(x~ t~) / sum(t~^2), then c[phase] = mean over the phase of x - b t.
    (np.linalg.lstsq gives the same numbers 100x slower; this runs in every training
    window.)"""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    t = np.arange(len(x), dtype=np.float64)[ok]
    v = x[ok]
    ph = np.arange(len(x))[ok] % period
    cnt = np.bincount(ph, minlength=period).astype(np.float64)
    seen = cnt > 0
    safe = np.where(seen, cnt, 1.0)
    tm = np.bincount(ph, weights=t, minlength=period) / safe
    vm = np.bincount(ph, weights=v, minlength=period) / safe
    tt = t - tm[ph]
    den = float(tt @ tt)
    b = float((v - vm[ph]) @ tt) / den if den > 0 else 0.0
    c = vm - b * tm
    s = np.zeros(period)
    s[seen] = c[seen] - c[seen].mean()
    return s


def seasonal_fill(x: np.ndarray, period: int | None = None) -> tuple[np.ndarray, int | None]:
    """Climatology + linearly interpolated anomaly for a 1-D series with NaN gaps.

    ``period`` None: detected from the visible samples and kept only where it helps
    (``seasonal_period``); with no period this is linear interpolation. Returns (filled
    series, period used)."""
    x = np.asarray(x, dtype=np.float64)
    if period is None:
        period = seasonal_period(x)
    if not period:
        return linear_fill(x), None
    s = climatology(x, period)[np.arange(len(x)) % period]
    out = x.copy()
    miss = ~np.isfinite(x)
    out[miss] = (s + linear_fill(x - s))[miss]  # observed samples stay bit-identical
    return out, period


def seasonal_naive(x: np.ndarray, period: int | None) -> np.ndarray:
    """Seasonal naive fill of a 1-D series with NaN gaps: each missing sample takes the
    visible value one ``period`` earlier, else one later, else the linear interpolation
    (all linear without a period). The forecaster's classic benchmark, and the best
    classical fill of a cycle whose shape repeats but drifts in level (sunspots)."""
    x = np.asarray(x, dtype=np.float64)
    out = linear_fill(x)
    if not period:
        return out
    n = len(x)
    miss = np.flatnonzero(~np.isfinite(x))
    before, after = miss - period, miss + period
    use_before = before >= 0
    use_before[use_before] = np.isfinite(x[before[use_before]])
    use_after = ~use_before & (after < n)
    use_after[use_after] = np.isfinite(x[after[use_after]])
    out[miss[use_before]] = x[before[use_before]]
    out[miss[use_after]] = x[after[use_after]]
    return out


def seasonal_baseline(norm: np.ndarray, visible: np.ndarray, t_index: np.ndarray,
                      channel: np.ndarray, known: Mapping[bytes, int | None] | None = None) -> np.ndarray:
    """Token layout twin of ``masking.linear_baseline``: per channel, the seasonal fill of
    the visible samples (linear where no period is detected). ``norm`` [T, p]. ``known``:
    periods found already (``seasonal_period``)."""
    p = norm.shape[1]
    out = np.zeros_like(norm)
    t0 = int(t_index.min()) if len(t_index) else 0
    for k in np.unique(channel):
        rows = np.flatnonzero(channel == k)
        if not visible[rows].any():
            continue
        n = (int(t_index[rows].max()) - t0 + 1) * p
        line = np.full(n, np.nan)
        cols = (t_index[rows] - t0)[:, None] * p + np.arange(p)  # [R, p] sample times
        vis = visible[rows]
        line[cols[vis]] = norm[rows][vis]
        # the period from the visible span only: the padding past a series' end (NaN) would
        # enter the autocorrelation as a flat linear extension and can move the peak
        seen = np.flatnonzero(np.isfinite(line))
        period = seasonal_period(line[seen[0]:seen[-1] + 1], known)
        filled, _ = seasonal_fill(line, period) if period else (linear_fill(line), None)
        out[rows] = filled[cols]
    return out
