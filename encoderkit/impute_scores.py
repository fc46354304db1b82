"""The held-back cells' verdict, for ``encoderkit impute`` and ``EncoderImputer``: each
fill's error on the cells held back (``cell_errors``, ``cell_errors_of``; a long table's
series each in its own unit, ``series_sd``), the model against the simple baseline
(``score_holdout``: ``Score``), and the fill used per column / channel (``select_fills``:
``Choice``).

Split out of ``impute_cells.py`` (the cells of user data, the held-back cells drawn, the
baselines, the fills written back), whose ``Channel`` it scores; its names stay
importable from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from encoderkit.impute_cells import Channel, is_missing, time_numbers
from encoderkit.numerics import finite_mean_std
from encoderkit.selection import run_groups, series_firsts


@dataclass
class Score:
    """Error on the held-back cells of one kind: ``metric`` is ``nrmse`` (root mean square
    error over the column's / channel's observed standard deviation, pooled over cells) or
    ``accuracy``; ``model`` and ``baseline`` the two values; ``cells`` how many were scored."""

    metric: str
    model: float
    baseline: float
    cells: int


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
    ok = top > 0
    scale = np.where(ok, np.ldexp(1.0, np.frexp(np.where(ok, top, 1.0))[1] - 1), 1.0)
    u = seen / scale[series]
    n = np.maximum(np.add.reduceat(obs.astype(np.float64), bounds), 1.0)
    mean = np.add.reduceat(u, bounds) / n
    sd = np.sqrt(np.add.reduceat(np.where(obs, (u - mean[series]) ** 2, 0.0), bounds) / n) * scale
    return np.where(sd > 0, sd, 1.0)[series]


def score_holdout(truth: Sequence[Channel], model: Sequence[Channel], base: Mapping[str, np.ndarray],
                  hide: Mapping[str, np.ndarray]) -> list[Score]:
    sq_m, sq_b, n_num, hit_m, hit_b, n_cat = 0.0, 0.0, 0, 0.0, 0.0, 0
    filled = {c.name: c for c in model}
    for ch in truth:
        mask = hide.get(ch.name)
        if mask is None or not mask.any() or ch.name not in filled:
            continue
        both = cell_errors_of(ch, {"model": filled[ch.name].values, "base": base[ch.name]}, mask)
        ok = ~np.isnan(both["model"])
        if not ok.any():
            continue
        e_m, e_b = both["model"][ok], both["base"][ok]
        if ch.categorical:
            hit_m += float(np.sum(1 - e_m))
            hit_b += float(np.sum(1 - np.nan_to_num(e_b, nan=1.0)))  # no mode: a miss
            n_cat += len(e_m)
        else:
            sq_m += float(np.sum(e_m))
            sq_b += float(np.sum(e_b))
            n_num += len(e_m)
    out = []
    if n_num:
        out.append(Score("nrmse", (sq_m / n_num) ** 0.5, (sq_b / n_num) ** 0.5, n_num))
    if n_cat:
        out.append(Score("accuracy", hit_m / n_cat, hit_b / n_cat, n_cat))
    return out


@dataclass
class Choice:
    """The fill used for one column / channel (``select=auto``): ``used`` names the
    candidate; ``errors`` the held-back error of each candidate that filled every scored
    cell (``metric``: nrmse, or error rate for categories); ``cells`` how many were scored."""

    used: str = "model"
    metric: str = "nrmse"
    errors: dict[str, float] = field(default_factory=dict)
    cells: int = 0


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
            choice = Choice(choose(pooled, np.concatenate(groups)), metric, summary, len(pooled["model"]))
        for ch in members:
            out[ch.name] = choice
    return out
