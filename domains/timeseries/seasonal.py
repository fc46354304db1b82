"""Period detection and the seasonal climatology + interpolated-anomaly fill.

Used two ways: as the ``baseline: seasonal`` input of the time-series domain (the model
sees it beside the values and its head predicts the residual over it), and as a
classical baseline in ``benchmarks/imputation_lodo.py``.

The period comes from the visible samples only: linearly interpolate the gaps, remove a
linear trend, take the autocorrelation, and keep the lag of its highest local maximum
if that peak is strong (ACF >= ``min_acf``) and at least ``min_cycles`` full cycles are
visible. Everything else (no clear peak, too short) means "no period": the callers fall
back to linear interpolation.
"""

from __future__ import annotations

import numpy as np

MIN_ACF = 0.3
MIN_CYCLES = 3.0


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

    ``period`` None: detected from the visible samples; with no period this is linear
    interpolation. Returns (filled series, period used)."""
    x = np.asarray(x, dtype=np.float64)
    if period is None:
        period = detect_period(x)
    if not period:
        return linear_fill(x), None
    s = climatology(x, period)[np.arange(len(x)) % period]
    out = x.copy()
    miss = ~np.isfinite(x)
    out[miss] = (s + linear_fill(x - s))[miss]  # observed samples stay bit-identical
    return out, period


def seasonal_baseline(norm: np.ndarray, visible: np.ndarray, t_index: np.ndarray,
                      channel: np.ndarray) -> np.ndarray:
    """Token layout twin of ``masking.linear_baseline``: per channel, the seasonal fill of
    the visible samples (linear where no period is detected). ``norm`` [T, p]."""
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
        period = detect_period(line[seen[0]:seen[-1] + 1])
        filled, _ = seasonal_fill(line, period) if period else (linear_fill(line), None)
        out[rows] = filled[cols]
    return out
