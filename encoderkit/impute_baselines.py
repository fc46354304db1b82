"""The simple baselines a fill is scored against, for ``encoderkit impute`` and
``EncoderImputer``: linear interpolation along time of each series' visible samples, or a
column's mean / most frequent value (``baseline_fill``), and the interpolation of many series
channels in one call (``series_baselines``, also the linear candidate's fill of a series:
``impute_candidates.py``).

Its own module: the baselines are the reference every candidate's error is put beside, apart
from reading the cells (``impute_cells.py``, which still exports these names) and from
drawing the held-back cells (``impute_holdout.py``). Reads numpy arrays and
``impute_cells.Channel``; no domain code.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from encoderkit.impute_cells import Channel, time_numbers
from encoderkit.numerics import finite_mean_std
from encoderkit.selection import series_firsts

__all__ = ["baseline_fill", "series_baselines"]


def baseline_fill(ch: Channel, visible: np.ndarray, series: bool) -> np.ndarray:
    """The simple baseline at every cell: linear interpolation along time of the visible
    samples of each series (series; constant past its ends), or the column mean / most
    frequent value. A date / time column's mean is a number of nanoseconds
    (``time_numbers``): a value to score, not one to write into the column. The mean is
    ``finite_mean_std``'s: numpy's of a column near float64's maximum overflowed to inf
    (the baseline scored nan)."""
    v = ch.values
    if series:
        x = _series_numbers(ch)
        line = _interp_series(x.reshape(-1), np.asarray(visible).reshape(-1),
                              series_firsts(x.shape, ch.starts)).reshape(x.shape)
        return _yes_no(line) if ch.categorical else line
    if ch.categorical:
        mode = pd.Series(v[visible]).mode(dropna=True)
        return np.full(v.shape, mode.iloc[0] if len(mode) else None, dtype=object)
    if ch.temporal:
        v = time_numbers(v)
    return np.full(v.shape, finite_mean_std(v[visible])[0] if visible.any() else np.nan)


def series_baselines(chans: Sequence[Channel], visible: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``baseline_fill(ch, vis, series=True)`` of each channel of ``chans`` (numbers), all in
    one interpolation: a dict of many series has a channel per series, and a call per
    channel was most of the linear candidate's time. The same numbers (``_interp_series``
    lays series end to end already; channels are more series after them)."""
    xs = [_series_numbers(ch) for ch in chans]
    if not xs:
        return []
    flat = _interp_series(np.concatenate([x.reshape(-1) for x in xs]),
                          np.concatenate([np.asarray(v).reshape(-1) for v in visible]),
                          np.concatenate([series_firsts(x.shape, ch.starts) for x, ch in zip(xs, chans)]))
    ends = np.cumsum([x.size for x in xs])[:-1]
    return [_yes_no(part.reshape(x.shape)) if ch.categorical else part.reshape(x.shape)
            for part, x, ch in zip(np.split(flat, ends), xs, chans)]


def _series_numbers(ch: Channel) -> np.ndarray:
    """A series channel's values as float64, NaN where missing. A yes / no channel (a
    Parquet bool: pandas' ``boolean`` with ``<NA>``, or True / False / None objects; a
    category to ``channels``) as 1 / 0, as the series domain reads it: float64 of ``<NA>``
    was a TypeError."""
    v = ch.values
    if v.dtype != object:
        return np.asarray(v, dtype=np.float64)
    return pd.array(v.reshape(-1), dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan).reshape(v.shape)


def _yes_no(line: np.ndarray) -> np.ndarray:
    """An interpolated yes / no channel as True / False objects, the nearer of 1 and 0 (the
    series domain's own fill of such a channel), None where there is no value."""
    out = np.full(line.shape, None, dtype=object)
    ok = ~np.isnan(line)
    out[ok] = (line[ok] >= 0.5).tolist()
    return out


def _interp_series(x: np.ndarray, visible: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per series of ``x`` (flat; ``first``: True where a series begins), ``np.interp`` of
    its ``visible`` samples at every time (constant past its first / last; NaN for a series
    with none), all series in one call, the same numbers as a call per series: the series
    laid end to end (times are positions, whole numbers, so each fill's differences are the
    series' own) and each series' times clipped to its first and last visible sample, where
    ``np.interp`` returns the sample itself, so no fill reaches into the next series."""
    n = x.size
    out = np.full(n, np.nan)
    if not n or not visible.any():
        return out
    series = np.cumsum(first) - 1
    seen = np.flatnonzero(visible)
    own, at = np.unique(series[seen], return_index=True)  # positions in order: a series' first
    lo = np.full(int(series[-1]) + 1, np.nan)
    hi = lo.copy()
    lo[own] = seen[at]
    hi[own] = seen[np.append(at[1:], seen.size) - 1]
    some = ~np.isnan(lo)[series]
    pos = np.arange(n, dtype=np.float64)
    q = np.clip(pos[some], lo[series[some]], hi[series[some]])
    out[some] = np.interp(q, pos[visible], x[visible])
    return out
