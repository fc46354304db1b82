"""The periods of many series at once: ``seasonal.detect_period`` and ``seasonal_period``
(detection confirmed by ``period_helps``) for a list of 1-D series, with the answers the
one-series functions give.

Why: imputing a file of many short series searched each channel's period one series at a
time, a few hundred small numpy calls each (the autocorrelation, then five folds of
cross-validation), most of an impute's time. Here series of one length are searched
together, as rows of 2-D arrays.

How the answers stay the same: a period is a choice among lags, and the batched
arithmetic (a closed-form trend instead of ``np.polyfit``, FFTs of many rows, sums in
another order) differs from the one-series functions only in the last bits of the numbers
compared. Each choice is therefore checked for a margin far above those bits (``_TOL``:
the autocorrelation peaks, the threshold, the cross-validation errors); a series whose
choice falls within it (a near tie, a near-constant or near-linear series) is searched
again by the one-series functions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .seasonal import CV_FOLDS, CV_MIN_BLOCKS, MIN_ACF, MIN_CYCLES, detect_period, period_helps

# A batched comparison is trusted when its two sides differ by more than this relative
# margin (scaled by the series' conditioning, see ``_detect``); float64 rounding moves them
# by about 1e-16 of their size.
_TOL = 1e-9


def seasonal_periods(series: Sequence[np.ndarray]) -> tuple[list[int | None], list[int | None]]:
    """Per 1-D series: ``(detect_period(x), seasonal_period(x))``, the detected period and the
    one the fills use (detected and confirmed by ``period_helps``)."""
    xs = [np.asarray(x, dtype=np.float64).reshape(-1) for x in series]
    detected: list[int | None] = [None] * len(xs)
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(xs):
        by_length.setdefault(len(x), []).append(i)
    for rows in by_length.values():
        for i, p in zip(rows, _detect(np.stack([xs[i] for i in rows]))):
            detected[i] = p
    todo = [i for i, p in enumerate(detected) if p]
    helps = dict(zip(todo, _helps([xs[i] for i in todo], [int(detected[i]) for i in todo])))
    confirmed = [p if p and helps[i] else None for i, p in enumerate(detected)]
    return detected, confirmed


def linear_fill_rows(x: np.ndarray) -> np.ndarray:
    """``seasonal.linear_fill`` of each row of ``x`` [K, n], the same numbers: one
    ``np.interp`` over the rows laid end to end (sample times ``row * n + t``, whole
    numbers, so each fill's differences are the row's own), each row's fills clipped to its
    first and last finite sample (a knot: the value itself, as past the ends)."""
    x = np.asarray(x, dtype=np.float64)
    k, n = x.shape
    ok = np.isfinite(x)
    out = x.copy()
    if ok.all() or not n:
        return out
    some = ok.any(axis=1)
    out[~some] = 0.0
    pos = np.arange(k * n, dtype=np.float64).reshape(k, n)
    first = np.argmax(ok, axis=1)
    last = n - 1 - np.argmax(ok[:, ::-1], axis=1)
    base = np.arange(k) * n
    lo, hi = (base + first).astype(np.float64), (base + last).astype(np.float64)
    miss = ~ok & some[:, None]
    if not miss.any():  # rows complete or empty: np.interp refuses no knots
        return out
    q = np.clip(pos, lo[:, None], hi[:, None])[miss]
    out[miss] = np.interp(q, pos[ok], x[ok])
    return out


def _detect(x: np.ndarray) -> list[int | None]:
    """``detect_period`` of each row of ``x`` [K, n] (default thresholds)."""
    k, n = x.shape
    out: list[int | None] = [None] * k
    ok = np.isfinite(x)
    hi = int(n / MIN_CYCLES)
    if n < 8 or hi < 3:
        return out
    rows = np.flatnonzero(ok.sum(axis=1) >= max(8, n // 2))
    if not rows.size:
        return out
    x, ok = x[rows], ok[rows]
    y = linear_fill_rows(x)
    t = np.arange(n, dtype=np.float64)
    tc = t - t.mean()
    ym = y.mean(axis=1)
    slope = ((y - ym[:, None]) @ tc) / float(tc @ tc)
    resid = y - (ym[:, None] + slope[:, None] * tc)
    sd = resid.std(axis=1)
    size = np.where(ok, np.abs(x), 0.0).max(axis=1)
    floor = 1e-12 * np.maximum(1.0, size)
    # rounding of the trend is of the size of the series, not of what is left after it
    with np.errstate(over="ignore"):  # a flat series far from 0 (a meter at 5e9): an infinite ratio, no warning
        tol = _TOL * n * np.maximum(1.0, np.abs(y).max(axis=1) / np.maximum(sd, 1e-300))
    # near the flatness floor the two trends may fall either side of it; far below it
    # (a constant or a straight line: rounding only) both do not
    unsure = (sd <= 1e3 * floor) & (sd >= 1e-3 * floor)
    r = resid - resid.mean(axis=1, keepdims=True)
    f = np.fft.rfft(r, 2 * n, axis=1)
    acf = np.fft.irfft(f * np.conj(f), axis=1)[:, :n]
    zero = acf[:, 0] > 0
    acf = np.where(zero[:, None], acf / np.where(zero, acf[:, 0], 1.0)[:, None], 0.0)
    lags = np.arange(2, hi)
    a = acf[:, lags]
    peak = (a > acf[:, lags - 1]) & (a >= acf[:, lags + 1])
    unsure |= (np.abs(np.diff(acf[:, 1:hi + 1], axis=1)) < tol[:, None]).any(axis=1)
    score = np.where(peak, a, -np.inf)
    best = np.argmax(score, axis=1)
    top = score[np.arange(len(rows)), best]
    if a.shape[1] > 1:
        second = np.partition(score, -2, axis=1)[:, -2]
        both = np.isfinite(second)  # then top is finite too
        unsure[both] |= top[both] - second[both] < tol[both]
    unsure |= np.isfinite(top) & (np.abs(top - MIN_ACF) < tol)
    found = peak.any(axis=1) & (top >= MIN_ACF) & (sd > 1e3 * floor)
    for j, i in enumerate(rows):
        if unsure[j]:
            out[i] = detect_period(x[j])
        elif found[j]:
            out[i] = int(lags[best[j]])
    return out


def _climatology_fill_rows(y: np.ndarray, period: np.ndarray) -> np.ndarray:
    """``seasonal.seasonal_fill(row, period)`` of each row of ``y`` [K, n] (NaN gaps), to
    rounding: the climatology's sums gathered per row and phase by one ``bincount``."""
    k, n = y.shape
    ok = np.isfinite(y)
    r, t = np.nonzero(ok)
    v = y[r, t]
    span = int(period.max())
    ph = t % period[r]
    g = r * span + ph
    size = k * span
    cnt = np.bincount(g, minlength=size).astype(np.float64)
    seen = cnt > 0
    safe = np.where(seen, cnt, 1.0)
    tf = t.astype(np.float64)
    tm = np.bincount(g, weights=tf, minlength=size) / safe
    vm = np.bincount(g, weights=v, minlength=size) / safe
    tt = tf - tm[g]
    den = np.bincount(r, weights=tt * tt, minlength=k)
    num = np.bincount(r, weights=(v - vm[g]) * tt, minlength=k)
    b = np.divide(num, den, out=np.zeros(k), where=den > 0)
    c = vm - np.repeat(b, span) * tm
    owner = np.repeat(np.arange(k), span)
    mean = np.bincount(owner[seen], weights=c[seen], minlength=k) / np.maximum(
        np.bincount(owner[seen], minlength=k), 1)
    s = np.where(seen, c - mean[owner], 0.0).reshape(k, span)
    profile = s[np.arange(k)[:, None], np.arange(n)[None, :] % period[:, None]]
    anomaly = linear_fill_rows(y - profile)
    return np.where(ok, y, profile + anomaly)


def _helps(xs: Sequence[np.ndarray], periods: Sequence[int]) -> list[bool]:
    """``period_helps(x, period)`` of each series: every fold of every series of one length
    filled together (the folds as ``period_helps`` draws them, drawn for all series at once:
    a few numpy calls per fold and series were most of the search on many short series)."""
    out = [False] * len(xs)
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(xs):
        by_length.setdefault(len(x), []).append(i)
    for n, rows in by_length.items():
        x = np.stack([xs[i] for i in rows])
        ok = np.isfinite(x)
        period = np.array([periods[i] for i in rows], dtype=np.int64)
        block = _median_gaps(~ok)
        stride = CV_FOLDS * block
        stride += stride % period == 0  # else every block would hide the same phases
        held, blocks = _folds(n, block, stride, ok)  # [R, folds, n], [R]
        some = held.any(axis=2)  # the folds that hold back a visible sample
        r, f = np.nonzero(some)  # series-major, fold-minor, as period_helps meets them
        if not r.size:
            continue
        held_rows = held[r, f]
        y = np.where(held_rows, np.nan, x[r])
        err_s = np.where(held_rows, (_climatology_fill_rows(y, period[r]) - x[r]) ** 2, 0.0).sum(axis=1)
        err_l = np.where(held_rows, (linear_fill_rows(y) - x[r]) ** 2, 0.0).sum(axis=1)
        # each series' error sums over its folds in fold order, as the one-series loop adds them
        total_s, total_l = np.zeros(len(rows)), np.zeros(len(rows))
        for fold in range(CV_FOLDS):
            at = f == fold
            total_s[r[at]] += err_s[at]
            total_l[r[at]] += err_l[at]
        cells = held.sum(axis=(1, 2))
        big = np.where(ok, np.abs(x), 0.0).max(axis=1, initial=0.0) + 1.0
        for j, i in enumerate(rows):
            if blocks[j] < CV_MIN_BLOCKS or not some[j].any():
                continue
            s, l = float(total_s[j]), float(total_l[j])
            c, b = int(cells[j]), float(big[j])
            # the fills' rounding (a trend times the length) moves each error sum by at most
            # about this much; within it, the one-series function decides
            drift = 2 * np.sqrt(c * (s + l)) * _TOL * b * n + c * (_TOL * b * n) ** 2
            if abs(s - l) <= drift:
                out[i] = period_helps(xs[i], periods[i])
            else:
                out[i] = s < l
    return out


def _median_gaps(missing: np.ndarray) -> np.ndarray:
    """Per row of ``missing`` [R, n]: ``max(1, int(np.median(nan_run_lengths(row))))``, 1
    where the row has no gap (``period_helps``' block length). Whole numbers throughout:
    the median of an even count is the floor of its two middle runs' mean, as ``int`` takes it."""
    k, n = missing.shape
    edges = np.diff(np.pad(missing, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    row, begin = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)
    runs = end - begin
    order = np.lexsort((runs, row))
    runs, row = runs[order], row[order]
    count = np.bincount(row, minlength=k)
    first = np.cumsum(count) - count
    out = np.ones(k, dtype=np.int64)
    has = count > 0
    lo = runs[(first + (count - 1) // 2)[has]]
    hi = runs[(first + count // 2)[has]]
    out[has] = np.maximum(1, (lo + hi) // 2)
    return out


def _folds(n: int, block: np.ndarray, stride: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``period_helps``' held-back samples of each row and fold ([R, folds, n] bool, its
    visible samples only) and each row's count of blocks over the folds: fold f's blocks of
    ``block`` samples start at ``block + (f * stride) // folds``, every ``stride``, before
    ``n - 2 * block``."""
    k = len(block)
    held = np.zeros((k, CV_FOLDS, n), dtype=bool)
    blocks = np.zeros(k, dtype=np.int64)
    stop = n - 2 * block
    at = np.arange(n)[None, :]
    for f in range(CV_FOLDS):
        first = block + (f * stride) // CV_FOLDS
        count = np.maximum(0, -(-(stop - first) // stride))  # len(np.arange(first, stop, stride))
        blocks += count
        d = at - first[:, None]  # [R, n] samples after the fold's first start
        held[:, f] = (d >= 0) & (d % stride[:, None] < block[:, None]) & (d // stride[:, None] < count[:, None])
    held &= ok[:, None, :]
    return held, blocks
