"""Numeric fills a column could hold: one domain-free rule applied where a fill is final.

A model's fill of a numeric column / channel, and a classical imputer's beside it, is a
number in the column's units that nothing ties to the values the column can take: the
linear chain (BayesianRidge) extrapolates a count to -84 where every observed count is
>= 5, and a fill computed in the model's float32 normalised space comes back as
``-4.87e-08`` where the value meant is ``0`` (or ``8.294049041734702`` for an observed
``8.294049``). The rule, per numeric column (or channel, pooled as ``impute_cells.channels``
groups them), decided from the values the fill is fitted on:

(a) every observed value >= 0: fills are clipped at 0; every observed value in [0, 1]:
    fills are clipped to [0, 1]. Never to the observed [min, max]: clipping a count at its
    observed minimum made the fills worse (the audit of session 54, RESULTS.md), clipping
    at 0 never did. One observed negative value and the column is left alone.
(b) a fill within float32 resolution of its nearest observed value becomes that value
    exactly (``snap_tolerance``).

Categorical cells, dates and cells that were observed are never touched; a whole-number
column stays whole (0, 1 and observed values are whole). The spread a fill comes with
(``return_std``) is left as it was: a clipped fill keeps the std of its unclipped value.

Once per fill, where it is final: a domain's own fill applies the rule (``encoderkit infill``
of a run: its fill is final), unless its caller assembles the final fill itself and applies
the rule there (``deferred``: ``encoderkit impute``, whose fill of a column may be another
candidate's, the column mean or an interpolation, that no domain made). Applied twice, the
two passes decided from different values: the table domain's bound counted the training
range as evidence of its own, which in ``impute`` is the file itself, so a column of fewer
than ``MIN_EVIDENCE`` observed values was clipped, and held-back rows filled a few at a time
were snapped to the values of those rows alone.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.numerics import finite_mean_std

# float32's machine epsilon: the relative resolution of a fill computed in float32
F32_EPS = float(np.finfo(np.float32).eps)
# a fill this many column standard deviations from an observed value is that value, however
# near the column's centre it lies (float32 noise of a normalised value is below it: 6e-8 sd
# at the centre; the brief's figure)
SNAP_SD = 1e-6
# Observed values a bound needs where the rows being filled are all the evidence (no training
# range): a series seen twice at 0.0 and 0.8 says little about [0, 1] (all of 10 draws >= 0
# from a column that is negative a quarter of the time: 6%)
MIN_EVIDENCE = 10


# set within ``deferred``: a domain's fill leaves the rule to its caller (per thread / task)
_DEFERRED: ContextVar[bool] = ContextVar("encoderkit_plausible_deferred", default=False)


@contextmanager
def deferred() -> Iterator[None]:
    """Within: a domain's fill leaves its numeric fills as made (``is_deferred``), for the
    caller applies the rule itself where its fill is final (module doc: once per fill)."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def is_deferred() -> bool:
    """Whether a caller's ``deferred`` section is open (in this thread): a domain's fill then
    skips the rule."""
    return _DEFERRED.get()


@dataclass(frozen=True)
class ColumnRange:
    """What a numeric column's fills may be: ``lower`` / ``upper`` (None: unbounded on that
    side), and the observed values a fill is snapped to (``values`` sorted, unique) with the
    column's mean and standard deviation, which set ``snap_tolerance``."""

    values: np.ndarray
    lower: float | None
    upper: float | None
    mean: float
    sd: float


def column_range(observed: np.ndarray, known: tuple[float, float] | None = None) -> ColumnRange | None:
    """The ``ColumnRange`` of a column whose observed (finite) values are ``observed``.
    ``known``: the (min, max) the training data showed where the fill is of other rows than
    those it was fitted on (``encoderkit infill`` of a trained run); a bound holds only where
    both the training data and the rows being filled keep to it, and those two values are
    snap targets too. None: nothing observed and nothing known, so nothing to decide from."""
    v = np.asarray(observed, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    enough = known is not None or v.size >= MIN_EVIDENCE
    if known is not None:
        v = np.concatenate([v, [x for x in known if np.isfinite(x)]])
    if v.size == 0:
        return None
    values = np.unique(v)
    lo, hi = float(values[0]), float(values[-1])
    lower = 0.0 if lo >= 0.0 and enough else None
    upper = 1.0 if lower is not None and hi <= 1.0 else None
    # without overflow (values near 1e200: numpy's std is inf, which would snap every fill)
    mean, sd = finite_mean_std(v)
    return ColumnRange(values, lower, upper, float(mean), float(sd))


def snap_tolerance(r: ColumnRange, target: np.ndarray) -> np.ndarray:
    """How far from the observed value ``target`` a fill may lie and still be that value
    written through float32. A fill made in a normalised space ``z = (x - mean) / sd`` held
    as float32 carries a rounding error up to ``eps / 2 * |z|`` there, ``eps / 2 * |x - mean|``
    in the column's units; four times that (the model's own float32 arithmetic on top),
    and never less than ``SNAP_SD`` standard deviations (a value at the centre, z near 0)."""
    return SNAP_SD * r.sd + 4.0 * F32_EPS * np.abs(target - r.mean)


def plausible_values(fills: np.ndarray, r: ColumnRange | None) -> np.ndarray:
    """``fills`` (float64, NaN kept) under the rule of the module doc for the column ``r``."""
    x = np.array(fills, dtype=np.float64, copy=True)
    if r is None or x.size == 0:
        return x
    if r.lower is not None or r.upper is not None:
        with np.errstate(invalid="ignore"):
            x = np.clip(x, -np.inf if r.lower is None else r.lower, np.inf if r.upper is None else r.upper)
    ok = np.isfinite(x)
    if ok.any():
        vals = r.values
        pos = np.clip(np.searchsorted(vals, x[ok]), 1, max(vals.size - 1, 1))
        left, right = vals[pos - 1], vals[np.minimum(pos, vals.size - 1)]
        nearest = np.where(np.abs(x[ok] - left) <= np.abs(right - x[ok]), left, right)
        snap = np.abs(x[ok] - nearest) <= snap_tolerance(r, nearest)
        y = x[ok]
        y[snap] = nearest[snap]
        x[ok] = y
    return x


def plausible_series(arrays: Sequence[np.ndarray], filled: Sequence[np.ndarray],
                     observed: Sequence[np.ndarray]) -> list[np.ndarray]:
    """A series domain's fills ``filled`` (one ``[C, L]`` array per series of ``arrays``) with
    every cell not ``observed`` (``[C, L]`` bool each: finite and no ``missing_value``) under
    the rule of the module doc, each channel of each series decided from its own observed
    values: a series domain fills each series as if alone (its own scale; a collection's
    fill is each series' own, bit for bit), so its bounds are the series' own too. The
    arrays that need no change are the very ones given."""
    out = []
    for arr, seen, fill in zip(arrays, observed, filled):
        new = fill
        for j in range(arr.shape[0]):
            cells = ~seen[j] & np.isfinite(fill[j])
            if not cells.any():
                continue
            now = plausible_values(fill[j][cells], column_range(arr[j][seen[j]]))
            if (now != fill[j][cells]).any():
                new = np.array(new, copy=True) if new is fill else new
                new[j][cells] = now
        out.append(new)
    return out


def _numeric(ch: Any) -> bool:
    return not ch.categorical and not ch.temporal and ch.values.dtype.kind == "f"


def plausible_fills(data: Any, filled: Any, columns: Sequence[str] | None = None, categorical: Sequence[str] = (),
                    series_column: Any = None) -> Any:
    """``filled`` (a fill of ``data``: a DataFrame, an array ``[L]``, ``[C, L]``, ``[N, C, L]``
    or a dict of arrays, as ``impute_cells.channels`` reads them) with every numeric cell
    missing in ``data`` and filled in ``filled`` under the rule of the module doc, decided per
    channel group (a column; channel c of every series of an array or dict) from the values
    ``data`` holds there. Anything else comes back as it is; nothing to change: the very
    object ``filled``."""
    from encoderkit.impute_cells import channels

    if not isinstance(data, (pd.DataFrame, np.ndarray, Mapping)) or not isinstance(filled, type(data)):
        return filled
    if isinstance(data, Mapping) and not all(isinstance(v, np.ndarray) for v in (*data.values(), *filled.values())):
        return filled  # a dict of tables or of lists: not the arrays ``channels`` reads
    if isinstance(data, np.ndarray) and (data.dtype.kind not in "fiu" or data.shape != np.shape(filled)):
        return filled
    made = {ch.name: ch for ch in channels(filled, columns, categorical, series_column)}
    changes = _changes(list(channels(data, columns, categorical, series_column)), made)
    return _written(filled, changes, made) if changes else filled


def plausible_channels(given: Sequence[Any], made: Sequence[Any]) -> list[Any]:
    """``made`` (``impute_cells.Channel`` fills of the channels ``given``, matched by name)
    with the cells missing in ``given`` under the rule of the module doc, as ``plausible_fills``
    decides it; a channel that needs no change is the very one given."""
    from dataclasses import replace

    changes = _changes(given, {ch.name: ch for ch in made})
    out = []
    for ch in made:
        if ch.name in changes:
            mask, vals = changes[ch.name]
            values = np.array(ch.values, dtype=np.float64, copy=True)
            values[mask] = vals
            ch = replace(ch, values=values)
        out.append(ch)
    return out


def _changes(given: Sequence[Any], made: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per channel name, the cells of ``made[name]`` the rule changes and their new values
    (channel name -> (cells, values)); the bounds pooled over each group of ``given``."""
    from encoderkit.impute_cells import is_missing

    groups: dict[str, list[np.ndarray]] = {}
    work = []
    for ch in given:
        new = made.get(ch.name)
        if new is None or not _numeric(ch) or not _numeric(new) or new.values.shape != ch.values.shape:
            continue
        seen = ~is_missing(ch.values)
        groups.setdefault(ch.group, []).append(ch.values[seen])
        cells = ~seen & np.isfinite(new.values)
        if cells.any():
            work.append((ch, new, cells))
    ranges = {g: column_range(np.concatenate(v)) for g, v in groups.items()}
    changes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for ch, new, cells in work:
        now = plausible_values(new.values[cells], ranges[ch.group])
        differ = now != new.values[cells]
        if differ.any():
            mask = np.zeros(cells.shape, dtype=bool)
            mask[cells] = differ
            changes[ch.name] = (mask, now[differ])
    return changes


def _written(filled: Any, changes: Mapping[str, tuple[np.ndarray, np.ndarray]], made: Mapping[str, Any]) -> Any:
    """A copy of ``filled`` with ``changes`` (channel name -> (cells, their new values)), each
    column / array in its own dtype (a float32 column stays float32, Int64 stays Int64)."""
    if isinstance(filled, pd.DataFrame):
        out = filled.copy()
        for name, (mask, vals) in changes.items():
            col = made[name].where[1]
            s = out[col].copy()
            vals = pd.array(vals, dtype=s.dtype) if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) \
                else vals.astype(s.dtype)
            s.iloc[np.flatnonzero(mask)] = vals
            out[col] = s
        return out
    if isinstance(filled, Mapping):
        out = dict(filled)
        for name, (mask, vals) in changes.items():
            key = made[name].where[0]
            arr = out[key] = np.array(out[key], copy=True) if out[key] is filled[key] else out[key]
            _put(arr, made[name].where[1:], mask, vals)
        return out
    out = np.array(filled, copy=True)
    for name, (mask, vals) in changes.items():
        _put(out, made[name].where, mask, vals)
    return out


def _put(arr: np.ndarray, where: tuple, mask: np.ndarray, vals: np.ndarray) -> None:
    """``arr[index][mask] = vals`` in place (``where``: ``("array", index)``, a channel's place
    as ``impute_cells.channels`` gives it)."""
    index = where[1]
    view = arr[index]
    view[mask] = vals.astype(arr.dtype)
    arr[index] = view
