"""The held-back cells' verdict, for ``encoderkit impute`` and ``EncoderImputer``: each
fill's error on the cells held back (``cell_errors``, ``cell_errors_of``; a long table's
series each in its own unit, ``series_sd``), the model against the simple baseline
(``score_holdout``: ``Score``), the fill written beside them (``score_written``), and the
fill used per column / channel (``select_fills``: ``Choice``).

Split out of ``impute_cells.py`` (the cells of user data, the held-back cells drawn, the
baselines, the fills written back), whose ``Channel`` it scores; its names stay
importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from encoderkit.impute_cells import Channel, is_missing, time_numbers
from encoderkit.numerics import finite_mean_std, power_of_two_below
from encoderkit.selection import run_groups, series_firsts


@dataclass
class Score:
    """Error on the held-back cells of one kind: ``metric`` is ``nrmse`` (root mean square
    error over the column's / channel's observed standard deviation, pooled over cells) or
    ``accuracy``; ``model`` and ``baseline`` the two values; ``cells`` how many were scored;
    ``written`` (``select=auto``; None otherwise) the value of the fill written, each
    column's / channel's chosen candidate, on the same cells: the model's own figure is not
    the output's where another fill replaced it. ``region``: which held-back cells of series
    with a leading / trailing gap these are ("" all)."""

    metric: str
    model: float
    baseline: float
    cells: int
    written: float | None = None
    region: str = ""  # series with end gaps: "inner" or "ends" (``impute_regions.REGIONS``)


def _equal(a: Any, b: Any) -> bool:
    """Category equality across dtypes (a code 3 read back as 3.0 is still 3). Whole numbers
    compare as the exact integers they are: as floats, a fill 1456789012345678848 (a
    19-digit code rounded through float64) was the held-back 1456789012345678901, a hit."""
    num = (int, float, np.integer, np.floating)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, (bool, np.bool_)) \
            and not isinstance(b, (bool, np.bool_)):
        return _exact(a) == _exact(b)
    return str(a) == str(b)


def _exact(v: Any) -> int | float:
    """A number as a Python int when it is whole (a float's own exact value), else a float."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    return int(f) if f.is_integer() else f


def cell_errors(ch: Channel, pred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per held-back cell of ``ch`` (``mask``, row-major order): the squared error in units
    of the channel's observed standard deviation (numbers; dates and times as nanoseconds)
    or 0 / 1 (categories); NaN where ``pred`` has no value."""
    return cell_errors_of(ch, {"": pred}, mask)[""]


def cell_errors_of(ch: Channel, preds: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """``cell_errors`` of each of ``preds`` (fills of ``ch`` by name), the channel's held-back
    values and scale found once: scoring every candidate of a file of many series found
    them once per candidate, most of the scoring's time."""
    values = time_numbers(ch.values) if ch.temporal else ch.values
    true = values[mask]
    if ch.categorical:
        sd: Any = None
    elif ch.starts is not None:  # a long table's column: each series in its own unit
        sd = series_sd(values, ch.starts)[np.asarray(mask).reshape(-1)]
    else:
        obs = values[~is_missing(values)].astype(np.float64)
        sd = finite_mean_std(obs)[1] or 1.0  # an inf sd scored every fill 0
    out = {}
    for name, pred in preds.items():
        p = np.asarray(pred)[mask]
        if ch.temporal:
            p = time_numbers(p)
        if ch.categorical:
            err = np.array([0.0 if _equal(a, b) else 1.0 for a, b in zip(p, true)])
        else:  # divided before the difference: values near the float limit differ by more than it
            err = (p.astype(np.float64) / sd - true.astype(np.float64) / sd) ** 2
        err[is_missing(p)] = np.nan
        out[name] = err
    return out


def series_sd(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per cell of a long table's column (``Channel.starts``), the standard deviation of
    its series' observed values (1 where it is 0 or there are none), as a dict of series
    scales each series apart: the column's own spread held the series' levels (series at
    0, 100 and -50, each of spread 0.7, scored every error about 90 times too small). All
    series at once; each scaled by a power of two near its largest magnitude, so nothing
    over- or underflows (as ``finite_mean_std``)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    obs = ~is_missing(v)
    first = series_firsts(v.shape, starts)
    bounds = np.flatnonzero(first)
    series = np.cumsum(first) - 1
    seen = np.where(obs, v, 0.0)
    top = np.maximum.reduceat(np.abs(seen), bounds)
    scale = power_of_two_below(top)
    u = seen / scale[series]
    n = np.maximum(np.add.reduceat(obs.astype(np.float64), bounds), 1.0)
    mean = np.add.reduceat(u, bounds) / n
    sd = np.sqrt(np.add.reduceat(np.where(obs, (u - mean[series]) ** 2, 0.0), bounds) / n) * scale
    return np.where(sd > 0, sd, 1.0)[series]


def score_holdout(truth: Sequence[Channel], model: Sequence[Channel], base: Mapping[str, np.ndarray],
                  hide: Mapping[str, np.ndarray]) -> list[Score]:
    """The model's fill ``model`` and the baseline's ``base`` on the held-back cells
    ``hide`` of ``truth``, pooled per metric over the cells the model filled."""
    pooled, n = _pooled(truth, {"model": {c.name: c.values for c in model}, "base": base}, hide)
    return [Score(m, pooled["model"][m], pooled["base"][m], n[m]) for m in n]


def score_written(scores: Sequence[Score], truth: Sequence[Channel], model: Sequence[Channel],
                  written: Sequence[Channel], hide: Mapping[str, np.ndarray]) -> list[Score]:
    """``scores`` (``score_holdout``) with the figure of ``written`` (the fill written:
    each channel's chosen candidate) on the same held-back cells."""
    pooled, _ = _pooled(truth, {"model": {c.name: c.values for c in model},
                                "written": {c.name: c.values for c in written}}, hide)
    return [replace(s, written=pooled["written"].get(s.metric)) for s in scores]


def _pooled(truth: Sequence[Channel], fills: Mapping[str, Mapping[str, np.ndarray]],
            hide: Mapping[str, np.ndarray]) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
    """Per fill of ``fills`` (name -> channel name -> values; ``model`` among them), its
    ``nrmse`` and ``accuracy`` pooled over the held-back cells that ``model`` filled; and how
    many cells each metric counts. A categorical cell another fill leaves empty is a miss."""
    sq = {k: 0.0 for k in fills}
    hit = {k: 0.0 for k in fills}
    n_num, n_cat = 0, 0
    for ch in truth:
        mask = hide.get(ch.name)
        if mask is None or not mask.any() or ch.name not in fills["model"]:
            continue
        errs = cell_errors_of(ch, {k: f[ch.name] for k, f in fills.items()}, mask)
        ok = ~np.isnan(errs["model"])
        if not ok.any():
            continue
        for k, e in errs.items():
            if ch.categorical:
                hit[k] += float(np.sum(1 - np.nan_to_num(e[ok], nan=1.0)))  # no fill: a miss
            else:
                sq[k] += float(np.sum(e[ok]))
        if ch.categorical:
            n_cat += int(ok.sum())
        else:
            n_num += int(ok.sum())
    out: dict[str, dict[str, float]] = {k: {} for k in fills}
    counts = {}
    if n_num:
        counts["nrmse"] = n_num
        for k in fills:
            out[k]["nrmse"] = (sq[k] / n_num) ** 0.5
    if n_cat:
        counts["accuracy"] = n_cat
        for k in fills:
            out[k]["accuracy"] = hit[k] / n_cat
    return out, counts


@dataclass
class Choice:
    """The fill used for one column / channel (``select=auto``): ``used`` names the
    candidate; ``errors`` the held-back error of each candidate that filled every scored
    cell (``metric``: nrmse, or error rate for categories); ``cells`` how many were scored,
    in ``groups`` runs (series) or cells (tables). ``ends``: a series channel with a leading
    / trailing gap, the choice for those gaps (``impute_regions``), made on the held-back
    samples next to the ends; this one is then the interior gaps'."""

    used: str = "model"
    metric: str = "nrmse"
    errors: dict[str, float] = field(default_factory=dict)
    cells: int = 0
    groups: int = 0
    ends: Choice | None = None


def select_fills(truth: Sequence[Channel], fills: Mapping[str, Sequence[Channel]],
                 hide: Mapping[str, np.ndarray], runs: bool) -> dict[str, Choice]:
    """Per channel of ``truth``, the candidate of ``fills`` (name -> the candidate's
    channels; ``model`` among them) to use, chosen on the held-back cells ``hide`` by
    ``encoderkit.selection.choose`` (series: ``runs`` of held-back samples are the groups).
    Channels of one ``pool`` (channel c of each series of a collection) are judged together
    on all their held-back cells and share the choice: one model fills them all, and a
    short series alone holds too few cells to tell candidates apart. A candidate that
    leaves a scored cell missing is not one for that pool."""
    from encoderkit.selection import choose

    by = {k: {c.name: c for c in v} for k, v in fills.items()}
    pools: dict[str, list[Channel]] = {}
    for ch in truth:
        pools.setdefault(ch.group, []).append(ch)
    out = {}
    for members in pools.values():
        metric = "error rate" if members[0].categorical else "nrmse"
        errs: dict[str, list[np.ndarray]] = {}
        groups: list[np.ndarray] = []
        n_groups = 0  # runs of earlier members: each member's runs are groups of their own
        for ch in members:
            mask = hide.get(ch.name)
            if mask is None or not mask.any() or ch.name not in by["model"]:
                continue
            own = cell_errors_of(ch, {k: f[ch.name].values for k, f in by.items() if ch.name in f}, mask)
            ok = ~np.isnan(own["model"])
            own_groups = np.unique(run_groups(mask, runs, ch.starts)[ok], return_inverse=True)[1].reshape(-1)
            groups.append(own_groups + n_groups)
            n_groups += int(own_groups.max()) + 1 if len(own_groups) else 0
            for k in by:
                errs.setdefault(k, []).append(own[k][ok] if k in own else np.full(int(ok.sum()), np.nan))
        pooled = {k: np.concatenate(v) for k, v in errs.items()}
        pooled = {k: e for k, e in pooled.items() if not np.isnan(e).any()}
        if not groups or not len(pooled.get("model", ())):
            choice = Choice(metric=metric)
        else:
            summary = {k: float(np.mean(e)) if metric == "error rate" else float(np.sqrt(np.mean(e)))
                       for k, e in pooled.items()}
            choice = Choice(choose(pooled, np.concatenate(groups)), metric, summary, len(pooled["model"]), n_groups)
        for ch in members:
            out[ch.name] = choice
    return out
