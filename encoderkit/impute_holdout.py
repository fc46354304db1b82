"""The held-back cells that score a fill, for ``encoderkit impute`` and ``EncoderImputer``:
about a given share of each channel's observed cells, drawn cell by cell for a table and in
runs as long as the channel's own gaps for a series (``draw_holdout``, ``gap_length``).

Its own module: how the cells are drawn is one decision (the runs, the share each series
keeps, the cells beside a leading / trailing gap), apart from reading the cells
(``impute_cells.py``, which still exports these names) and from what a fill is scored
against (``impute_baselines.py``). Reads numpy arrays and ``impute_cells.Channel``; no
domain code.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from encoderkit.impute_cells import Channel, is_missing
from encoderkit.selection import run_groups, series_firsts

__all__ = ["gap_length", "draw_holdout"]


def gap_length(values: np.ndarray, starts: np.ndarray | None = None) -> int:
    """Mean length of the runs of missing samples along the last axis (1 if none); a run
    ends where a series does (``starts``, see ``Channel``): a gap at the end of one series
    and one at the start of the next are two gaps."""
    runs = run_groups(is_missing(values), True, starts)
    return max(1, int(round(runs.size / (int(runs[-1]) + 1)))) if runs.size else 1


def draw_holdout(chans: Sequence[Channel], fraction: float, seed: int,
                 runs: bool = False, ends: bool = False) -> dict[str, np.ndarray]:
    """About ``fraction`` of each channel's observed cells, held back. Tables: each cell
    independently. Series (``runs``): runs as long as the channel's own gaps on average, so
    the validation error is measured on holes like the ones being filled (single samples
    would flatter interpolation), each cut where its series ends. A channel always keeps
    at least half of its observed cells, and at least 2, or nothing is held back from it;
    so does each series of a long table's column (``Channel.starts``), as each series of
    a dict of series does: the fill of a series held back whole stopped on "no observed
    value"; so does each row of an ``[N, C, L]`` array. ``ends`` (series): a channel with a
    leading / trailing gap also has the observed samples next to each such gap held back,
    as many as the gap is long or as its series allows, and its runs elsewhere are as long
    as its interior gaps, none if it has none (``impute_regions.end_runs``): held back
    among the observed cells alone, nearly every run was interior, and a forecast was
    judged by interpolation. A channel without such a gap is drawn as without ``ends``."""
    from encoderkit import impute_regions as regions  # it reads this module's cells

    rng = np.random.default_rng(seed)
    out = {}
    for ch in chans:
        observed = ~is_missing(ch.values)
        if runs:
            length = gap_length(ch.values, ch.starts)
            obs = observed.reshape(-1)
            first = series_firsts(observed.shape, ch.starts)
            series = np.cumsum(first) - 1
            stops = np.append(np.flatnonzero(first)[1:], obs.size)  # where each series stops
            edge = regions.end_gaps(ch.values, ch.starts) if ends else None
            if edge is not None and edge.any():
                length = regions.interior_length(ch.values, ch.starts, edge)
            # each drawn start holds back ``length`` samples from it, cut at its series' end
            # (all runs at once: a loop over them was a Python step per run); the draw is
            # made for every channel, so a later channel's cells are the same either way
            draw = rng.random(observed.shape)
            starts = np.flatnonzero(draw < fraction / length) if length else np.zeros(0, dtype=np.int64)
            length = max(length, 1)
            times = (starts[:, None] + np.arange(length)).reshape(-1)
            inside = times < np.repeat(stops[series[starts]], length)
            mask = np.zeros(obs.size, dtype=bool)
            mask[times[inside]] = True
            mask &= obs
            # each series (a long table's, an array's row) keeps its share (see above)
            n_obs = np.bincount(series, weights=obs)
            held = np.bincount(series, weights=mask, minlength=len(n_obs))
            mask[(n_obs - held < np.maximum(2, n_obs // 2))[series]] = False
            if edge is not None and edge.any():
                mask = regions.end_runs(obs, first, edge.reshape(-1), mask)
            mask = mask.reshape(observed.shape)
        else:
            mask = observed & (rng.random(ch.values.shape) < fraction)
        n_obs = int(observed.sum())
        if n_obs - int(mask.sum()) < max(2, n_obs // 2):
            mask[:] = False
        out[ch.name] = mask
    return out
