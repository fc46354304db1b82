"""The classical fills of many series of one length at once, bit for bit what the
one-series functions of ``seasonal.py`` return for each row: ``seasonal_fill_rows``
(``seasonal_fill`` with known periods: climatology + interpolated anomaly, or linear
interpolation without a period) and ``seasonal_naive_rows`` (``seasonal_naive``).

Why: a file of many short series filled each channel with a dozen small numpy calls, in
the model's seasonal baseline (every grid pass of every series) and in the candidates
``select=auto`` compares; the calls, not the arithmetic, were the time.

How the numbers stay identical (not only close, as ``periods._climatology_fill_rows``,
which only decides a cross-validation): every sum is taken over the same numbers in the
same order as the one-series function takes it. ``np.bincount`` adds each bin's weights in
the order it meets them, and rows laid end to end keep each row's order; the trend's two
dot products are taken row by row on the row's own numbers (the one-series function's
``@``); the profile's mean is ``mean`` of each contiguous row, which reduces as the row
alone does; interpolation is ``periods.linear_fill_rows``, whose knots are whole numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .periods import linear_fill_rows


def seasonal_fill_rows(x: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Per row of ``x`` [K, n] (non-finite = missing): ``seasonal.seasonal_fill(row, P)[0]``
    where ``periods[row]`` = P > 0, ``seasonal.linear_fill(row)`` where it is 0."""
    x = np.asarray(x, dtype=np.float64)
    periods = np.asarray(periods, dtype=np.int64).reshape(-1)
    out = np.empty_like(x)
    plain = periods <= 0
    if plain.any():
        out[plain] = linear_fill_rows(x[plain])
    for period in np.unique(periods[~plain]):
        rows = np.flatnonzero(periods == period)
        out[rows] = _climatology_fill(x[rows], int(period))
    return out


def climatology_rows(x: np.ndarray, period: int) -> np.ndarray:
    """``seasonal.climatology(row, period)`` of each row of ``x`` [K, n]: [K, period]."""
    k, n = x.shape
    ok = np.isfinite(x)
    r, pos = np.nonzero(ok)  # row-major: each row's visible samples in time order
    t = pos.astype(np.float64)
    v = x[r, pos]
    g = r * period + pos % period  # (row, phase) bins
    size = k * period
    cnt = np.bincount(g, minlength=size).astype(np.float64)
    seen = cnt > 0
    safe = np.where(seen, cnt, 1.0)
    tm = np.bincount(g, weights=t, minlength=size) / safe
    vm = np.bincount(g, weights=v, minlength=size) / safe
    tt = t - tm[g]
    dv = v - vm[g]
    ends = np.cumsum(ok.sum(axis=1))
    b = np.zeros(k)
    start = 0
    for j, end in enumerate(ends.tolist()):  # the one-series function's two dot products
        row = tt[start:end]
        den = float(row @ row)
        b[j] = float(dv[start:end] @ row) / den if den > 0 else 0.0
        start = end
    c = (vm - np.repeat(b, period) * tm).reshape(k, period)
    seen = seen.reshape(k, period)
    s = np.zeros((k, period))
    every = seen.all(axis=1)
    if every.any():
        whole = c[every]
        s[every] = whole - whole.mean(axis=1)[:, None]
    for j in np.flatnonzero(~every):  # a phase never visible: the row's own mean of the rest
        some = seen[j]
        if some.any():
            s[j, some] = c[j, some] - c[j, some].mean()
    return s


def _climatology_fill(x: np.ndarray, period: int) -> np.ndarray:
    """``seasonal_fill(row, period)[0]`` of each row of ``x`` [K, n], one period for all."""
    n = x.shape[1]
    profile = climatology_rows(x, period)[:, np.arange(n) % period]
    anomaly = linear_fill_rows(x - profile)
    # observed samples stay bit-identical, as seasonal_fill keeps them
    return np.where(np.isfinite(x), x, profile + anomaly)


def seasonal_naive_rows(x: np.ndarray, period: int | None) -> np.ndarray:
    """``seasonal.seasonal_naive(row, period)`` of each row of ``x`` [K, n], one period
    (None or 0: linear interpolation) for all rows."""
    x = np.asarray(x, dtype=np.float64)
    out = linear_fill_rows(x)
    if not period:
        return out
    n = x.shape[1]
    r, t = np.nonzero(~np.isfinite(x))
    before, after = t - period, t + period
    use_before = before >= 0
    use_before[use_before] = np.isfinite(x[r[use_before], before[use_before]])
    use_after = ~use_before & (after < n)
    use_after[use_after] = np.isfinite(x[r[use_after], after[use_after]])
    out[r[use_before], t[use_before]] = x[r[use_before], before[use_before]]
    out[r[use_after], t[use_after]] = x[r[use_after], after[use_after]]
    return out


def seasonal_fills(lines: Sequence[np.ndarray], periods: Sequence[int | None]) -> list[np.ndarray]:
    """``seasonal_fill_rows`` of 1-D series of any lengths: per series the seasonal fill with
    its period (None: linear interpolation), series of one length filled together."""
    return _by_length(lines, periods, seasonal_fill_rows)


def naive_fills(lines: Sequence[np.ndarray], periods: Sequence[int | None]) -> list[np.ndarray]:
    """``seasonal_naive_rows`` of 1-D series of any lengths, each with its period (None: linear)."""
    def rows(x: np.ndarray, period: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        for p in np.unique(period):
            at = np.flatnonzero(period == p)
            out[at] = seasonal_naive_rows(x[at], int(p))
        return out
    return _by_length(lines, periods, rows)


def _by_length(lines: Sequence[np.ndarray], periods: Sequence[int | None], fill) -> list[np.ndarray]:
    """``fill(x [K, n], periods [K])`` of the lines of each length, back in their order."""
    out: list[np.ndarray] = [np.empty(0)] * len(lines)
    groups: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(len(line), []).append(i)
    for at in groups.values():
        x = np.stack([np.asarray(lines[i], dtype=np.float64) for i in at])
        filled = fill(x, np.array([periods[i] or 0 for i in at], dtype=np.int64))
        for row, i in zip(filled, at):
            out[i] = row
    return out
