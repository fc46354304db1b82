"""Where a series' cells lie, for ``encoderkit impute``: inside the span of its observed
samples (an interior gap, which a fill interpolates) or past its first / last one (a
leading or trailing gap, a forecast: every fill extrapolates there). Held-back runs drawn
among the observed cells are nearly all interior, and interpolation wins there: the choice
and the score made on them said little about a trailing gap (a year of weekly co2 left
empty: nrmse 0.027 printed, 0.13 on the year itself, filled flat by interpolation).

So, for a series with such a gap, ``end_runs`` holds back the observed samples next to it,
as many as the gap is long (or as the series allows), and the cells are judged by region:
``split_hide`` gives the held-back cells each choice is made on (interior ones for the
interior gaps, the ones past the held-back series' ends for the end gaps), ``scored_cells``
the ones the summary scores, per region, of the channels with such gaps to fill only,
``with_ends`` and ``written_channels`` the choices and the fill so assembled, ``fill_ends``
the file's end gaps filled with the end choice. ``holdout_shortfall`` says why no cell was
held back. Reads numpy arrays and ``impute_cells.Channel``; no domain code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from encoderkit.impute_cells import Channel, channels, gap_length, is_missing, set_cells
from encoderkit.impute_scores import Choice
from encoderkit.selection import run_groups, series_firsts

# the summary's names of the regions a held-back cell is scored in ("": no series with an end gap)
REGIONS = {"": "", "inner": "inside the observed span, as the interior gaps",
           "ends": "next to the leading / trailing gaps, held back as they are (extrapolation)"}


def _ranks(observed: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat: each cell's series, the observed samples of its series at or before it, and
    each series' observed count."""
    obs = np.asarray(observed, dtype=bool).reshape(-1)
    series = np.cumsum(first) - 1
    seen = np.cumsum(obs)
    begins = np.flatnonzero(first)
    within = seen - (seen[begins] - obs[begins])[series]
    total = np.bincount(series, weights=obs, minlength=len(begins)).astype(np.int64)
    return series, within, total


def outside_span(observed: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Flat bool: True before the first and after the last ``observed`` sample of each
    series (``first``: True where a series begins, ``series_firsts``); every cell of a
    series with none."""
    obs = np.asarray(observed, dtype=bool).reshape(-1)
    if not obs.size:
        return obs.copy()
    series, within, total = _ranks(obs, first)
    return (within == 0) | ((within == total[series]) & ~obs)


def end_gaps(values: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """The missing cells of ``values`` past the ends of their series' observed span, in
    ``values``' shape (``starts``: see ``Channel``)."""
    missing = is_missing(values)
    if not missing.size:
        return missing
    first = series_firsts(missing.shape, starts)
    return (missing.reshape(-1) & outside_span(~missing, first)).reshape(missing.shape)


def interior_length(values: np.ndarray, starts: np.ndarray | None, ends: np.ndarray) -> int:
    """Mean length of the gaps of ``values`` that are not end gaps (``ends``); 0 if none."""
    groups = run_groups(is_missing(values) & ~ends, True, starts)
    return max(1, int(round(groups.size / (int(groups[-1]) + 1)))) if groups.size else 0


def end_runs(observed: np.ndarray, first: np.ndarray, ends: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """Flat held-back mask: ``interior`` (the runs drawn among the observed samples) with,
    in each series with a leading / trailing gap (``ends``, flat), the observed samples
    next to that gap held back too, as many as the gap is long. A series keeps at least
    half of its observed samples (rounded up) and 2: the end runs are shortened to that
    (shared between its two ends in proportion to their gaps), and the series' interior
    runs are dropped where they would take more."""
    obs = np.asarray(observed, dtype=bool).reshape(-1)
    series, within, total = _ranks(obs, first)
    cap = np.maximum(total - np.maximum(2, (total + 1) // 2), 0)
    lead = ends & (within == 0)
    n = len(total)
    g_lead = np.bincount(series, weights=lead, minlength=n).astype(np.int64)
    g_trail = np.bincount(series, weights=ends & ~lead, minlength=n).astype(np.int64)
    trail = np.minimum(g_trail, cap * g_trail // np.maximum(g_lead + g_trail, 1))
    first_n = np.minimum(g_lead, cap - trail)
    held = obs & ((within <= first_n[series]) | (within > (total - trail)[series]))
    over = np.bincount(series, weights=held | interior, minlength=n) > cap
    return held | (interior & ~over[series])


def _past_held(ch: Channel, mask: np.ndarray) -> np.ndarray:
    """The held-back cells ``mask`` of ``ch`` past the span of the samples left visible."""
    visible = ~is_missing(ch.values) & ~mask
    first = series_firsts(visible.shape, ch.starts)
    return mask & outside_span(visible, first).reshape(mask.shape)


def split_hide(truth: Sequence[Channel], hide: Mapping[str, np.ndarray]
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The held-back cells the interior choice is made on, and those the end choice is,
    for the channels of the pools (``Channel.group``) with an end gap to fill: past the
    visible span (extrapolated, as those gaps are) or not. Pools without one: every cell
    for the one choice, as before, and no end choice."""
    with_ends = {ch.group for ch in truth if end_gaps(ch.values, ch.starts).any()}
    inner: dict[str, np.ndarray] = {}
    past: dict[str, np.ndarray] = {}
    for ch in truth:
        mask = hide.get(ch.name)
        if mask is None:
            continue
        if ch.group in with_ends:
            past[ch.name] = _past_held(ch, mask)
            inner[ch.name] = mask & ~past[ch.name]
        else:
            inner[ch.name] = mask
    return inner, past


def with_ends(choices: Mapping[str, Choice], ends: Mapping[str, Choice]) -> dict[str, Choice]:
    """``choices`` (interior gaps) with the end gaps' choice of each channel in ``ends``."""
    return {k: replace(c, ends=ends[k]) if k in ends else c for k, c in choices.items()}


def scored_cells(truth: Sequence[Channel], hide: Mapping[str, np.ndarray], series: bool
                 ) -> dict[str, dict[str, np.ndarray]]:
    """The held-back cells the summary scores, by region (``REGIONS``): only of channels
    with something to fill (a complete channel's cells moved the figure of the others);
    of a series channel with an end gap, its cells past the visible span (if it has end
    gaps to fill) and the others (if it has interior gaps to fill) apart. Region "" alone
    where no channel has an end gap. A ``truth`` with no missing cell at all (a caller
    scoring a complete table) has every channel scored."""
    out: dict[str, dict[str, np.ndarray]] = {"": {}, "inner": {}, "ends": {}}
    complete = not any(is_missing(ch.values).any() for ch in truth)
    for ch in truth:
        mask = hide.get(ch.name)
        missing = is_missing(ch.values)
        if mask is None or not mask.any() or not (missing.any() or complete):
            continue
        gaps = end_gaps(ch.values, ch.starts) if series else np.zeros_like(missing)
        if not gaps.any():
            out[""][ch.name] = mask
            continue
        past = _past_held(ch, mask)
        out["ends"][ch.name] = past
        if (missing & ~gaps).any():
            out["inner"][ch.name] = mask & ~past
    if out["ends"]:
        out["inner"] = {**out.pop(""), **out["inner"]}
        return {k: v for k, v in out.items() if any(m.any() for m in v.values())}
    return {"": out[""]} if out[""] else {}


def unscored(truth: Sequence[Channel], hide: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Per channel with nothing to fill, the cells held back from it (not scored; see
    ``scored_cells``)."""
    if not any(is_missing(ch.values).any() for ch in truth):
        return {}
    return {ch.name: int(hide[ch.name].sum()) for ch in truth
            if ch.name in hide and hide[ch.name].any() and not is_missing(ch.values).any()}


def written_channels(model: Sequence[Channel], fills: Mapping[str, Mapping[str, Channel]],
                     choices: Mapping[str, Choice], past: Mapping[str, np.ndarray]) -> list[Channel]:
    """Per channel of ``model`` (the model's fill), the fill written on the held-back cells:
    its chosen candidate's (``fills``: name -> channel name -> channel), the end choice's
    on its held-back cells past the visible span (``past``)."""
    out = []
    for ch in model:
        c = choices.get(ch.name)
        got = fills.get(c.used if c else "model", {}).get(ch.name, ch)
        if c is not None and c.ends is not None and ch.name in past and past[ch.name].any():
            end = fills.get(c.ends.used, {}).get(ch.name, ch)
            got = replace(got, values=np.where(past[ch.name], end.values, got.values))
        out.append(got)
    return out


def fill_ends(fills: Mapping[str, Any], used: Mapping[str, str], filled: Any, data: Any,
              columns: Sequence[str] | None, categorical: Sequence[str], series_column: Any = None) -> Any:
    """``filled`` with the end gaps of ``data`` of each channel in ``used`` (its end
    choice) taken from that candidate's fill (``fills``, ``model`` among them)."""
    cells = {}
    own: dict[str, dict[str, Channel]] = {}
    for ch in channels(data, columns, categorical, series_column):
        name = used.get(ch.name)
        if name is None or name not in fills:
            continue
        gaps = end_gaps(ch.values, ch.starts)
        if gaps.any():
            if name not in own:
                own[name] = {c.name: c for c in channels(fills[name], columns, categorical)}
            cells[ch.name] = (gaps, own[name][ch.name].values)
    return set_cells(filled, cells, columns) if cells else filled


def holdout_shortfall(truth: Sequence[Channel], fraction: float, runs: bool) -> str:
    """Why no observed cell was held back, in words for the summary."""
    if fraction <= 0:
        return "holdout=0"
    gaps = [ch for ch in truth if is_missing(ch.values).any()]
    if not gaps:
        return "no column / channel has a cell to fill"

    def most(ch: Channel) -> int:  # the observed samples of its longest series (or column)
        obs = ~is_missing(ch.values)
        if not runs:
            return int(obs.sum())
        first = series_firsts(obs.shape, ch.starts)
        return int(np.bincount(np.cumsum(first) - 1, weights=obs.reshape(-1)).max())

    ch = max(gaps, key=most)
    n = most(ch)
    keep = max(2, (n + 1) // 2)
    if n <= 2:
        return f"too few observed cells: at most {n} in a column / channel with gaps, and 2 are kept"
    if not runs:
        return f"none of the {n} observed cells of {ch.name} drawn at holdout={fraction}"
    length = gap_length(ch.values, ch.starts)
    if length > n - keep:
        return (f"the gaps of {ch.name} are {length} samples long on average, and a held-back run as "
                f"long would leave fewer than {keep} of its {n} observed samples (a series keeps half); "
                f"the fill is not scored")
    return (f"no run of {length} samples was drawn among the {n} observed samples of {ch.name} "
            f"(holdout={fraction}); a larger holdout draws more")
