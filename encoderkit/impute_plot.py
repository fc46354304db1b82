"""The picture of an ``encoderkit impute`` (``plot=<file.png>``, opt in): what the summary
says, drawn.

A series file: a panel per series / channel with filled cells (at most ``MAX_SERIES``,
those with holes first, in file order): the observed values as a line, the fill where the
input was missing in another colour, and the held-back cells as markers, their truth and the
fill written there (the cells and fill the summary's error is of). A table: a panel per
numeric column with held-back cells (at most ``MAX_TABLE``, the worst nrmse first), the
held-back truth against the fill written, the line y = x, the column's nrmse and fill used
in its title; one bar panel of the held-back accuracy of the categorical columns. Without
held-back cells (``holdout=0``, or none could be drawn) a table's panels show the
distribution of the observed and the filled values of each column instead.

The held-back cells are gathered by ``impute.held_back`` (``held_back_cells``) from the
fills it scores; nothing is filled again here. ``table_panels`` / ``series_panels`` are
the arrays each panel draws (pure; the tests score them); ``impute_figure.draw`` makes the
figure from them (its own module: the drawing, and matplotlib, stay out of an impute without
``plot=``).
``check_plot`` refuses a ``plot=`` impute could not or must not write, before any work,
with the output's own rules (``outputs.check_output``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import UsageError
from encoderkit.impute_cells import Channel, channels, is_missing, time_numbers
from encoderkit.impute_scores import Choice, cell_errors_of
from encoderkit.session_state import warnings_kept

MAX_SERIES = 8  # series / channels drawn; more are said in the title
MAX_TABLE = 12  # numeric columns drawn (worst held-back nrmse first)
MAX_BARS = 30  # categorical columns in the accuracy panel
NAME_WIDTH = 40  # characters of a column name shown in a title
NS_PER_DAY = 86_400e9  # a date column is drawn in days (``time_numbers`` gives nanoseconds)


# ---------------------------------------------------------------- the parameter, checked

def check_plot(plot: str, overwrite: bool, input: str, output: str) -> None:
    """Refuse a ``plot=`` that is not a ``.png`` file impute may write: named like another
    kind, the input or output itself, a directory; an existing file is replaced only with
    ``overwrite=true``, a link, device or a folder's contents never (``check_output``, the
    rule the ``output`` parameter follows)."""
    from encoderkit.outputs import check_output, same_file

    if not isinstance(plot, (str, os.PathLike)) or not str(plot).strip():
        raise UsageError(f"The 'plot' parameter must name a .png file. Got {plot!r} instead.", key="plot")
    if Path(plot).suffix.lower() != ".png":
        raise UsageError(f"The 'plot' parameter must name a .png file (impute draws PNG). Got {str(plot)!r} "
                         f"instead.", key="plot")
    same = [k for k, v in (("input", input), ("output", output)) if same_file(v, plot)]
    if same:
        raise UsageError(f"The 'plot' parameter must differ from '{same[0]}' ({str(plot)!r}).", key="plot")
    if Path(plot).expanduser().is_dir():
        raise UsageError(f"The 'plot' parameter names a directory, {str(plot)!r}: name a .png file "
                         f"(such as {os.path.join(str(plot), 'impute.png')!r})", key="plot")
    check_output(plot, overwrite, what="a plot", file_ok=True)


# ---------------------------------------------------------------- the held-back cells

@dataclass
class HeldBack:
    """The held-back cells of one column / channel that the summary scores: their flat
    positions in the channel's values (``index``, row-major, ascending), the true values, the fill
    written there (select=auto: the chosen candidate's; else the model's), each cell's
    error as the summary counts it (``impute_scores.cell_errors_of``: squared, in units of
    the column's observed standard deviation; categories 0 / 1) and the fill ``used``."""

    name: str
    categorical: bool
    temporal: bool
    index: np.ndarray
    truth: np.ndarray
    fill: np.ndarray
    error: np.ndarray
    used: str

    def figure(self, keep: np.ndarray | slice = slice(None)) -> float:
        """nrmse (numbers) or accuracy (categories) of the cells ``keep``."""
        e = self.error[keep]
        if self.categorical:
            return float(np.mean(1.0 - np.nan_to_num(e, nan=1.0)))  # no fill: a miss, as the summary
        return float(np.sqrt(np.mean(e)))


def _used(c: Choice | None) -> str:
    if c is None:
        return "model"
    return c.used if c.ends is None or c.ends.used == c.used else f"{c.used}; end gaps: {c.ends.used}"


def held_back_cells(truth: Sequence[Channel], model: Sequence[Channel], written: Sequence[Channel],
                    regions: Mapping[str, Mapping[str, np.ndarray]],
                    choices: Mapping[str, Choice]) -> dict[str, HeldBack]:
    """Per channel of ``truth`` with scored held-back cells (``regions``: the summary's
    cells by region, ``impute_regions.scored_cells``), those cells as the summary scores
    them: the cells the model filled (``model``), with the fill ``written``."""
    mine = {c.name: c for c in model}
    out = {c.name: c for c in written}
    cells = {}
    for ch in truth:
        masks = [m[ch.name] for m in regions.values() if ch.name in m]
        if not masks or ch.name not in mine:
            continue
        mask = np.logical_or.reduce(masks)
        got = out.get(ch.name, mine[ch.name]).values
        errs = cell_errors_of(ch, {"model": mine[ch.name].values, "written": got}, mask)
        ok = ~np.isnan(errs["model"])  # as ``impute_scores._pooled``: the cells the model filled
        if not ok.any():
            continue
        flat = np.flatnonzero(np.asarray(mask).reshape(-1))[ok]
        cells[ch.name] = HeldBack(ch.name, ch.categorical, ch.temporal, flat, np.asarray(ch.values).reshape(-1)[flat],
                                  np.asarray(got).reshape(-1)[flat], errs["written"][ok], _used(choices.get(ch.name)))
    return cells


# ---------------------------------------------------------------- what each panel draws

def numbers(values: Any) -> np.ndarray:
    """``values`` as float64 for an axis: dates in days since 1970, timedeltas in days,
    yes / no as 1 / 0, other objects NaN."""
    v = np.asarray(values)
    if v.dtype.kind in "fiub":
        return v.astype(np.float64)
    if v.dtype.kind in "mM":
        return time_numbers(v) / NS_PER_DAY
    flat = pd.Series(v.reshape(-1), dtype=object)
    kind = pd.api.types.infer_dtype(flat, skipna=True)
    if kind in ("date", "datetime", "datetime64", "timedelta", "timedelta64"):
        return time_numbers(v) / NS_PER_DAY
    if kind == "boolean":
        flat = flat.map(lambda x: float(x) if isinstance(x, (bool, np.bool_)) else np.nan)
    return pd.to_numeric(flat, errors="coerce").to_numpy(np.float64).reshape(v.shape)


@dataclass
class ScatterPanel:
    """A numeric column's held-back cells: ``truth`` and ``fill`` (float64; dates in days),
    its ``nrmse`` (the summary's cell errors), the fill ``used``."""

    name: str
    truth: np.ndarray
    fill: np.ndarray
    nrmse: float
    used: str


@dataclass
class AccuracyBar:
    name: str
    accuracy: float
    cells: int
    used: str


def table_panels(cells: Mapping[str, HeldBack], limit: int = MAX_TABLE
                 ) -> tuple[list[ScatterPanel], list[AccuracyBar], int]:
    """The scatter panels (numeric columns, the worst nrmse first, at most ``limit``), the
    accuracy bars (categorical columns, the worst first, at most ``MAX_BARS``), and how
    many numeric columns had held-back cells."""
    numeric = [ScatterPanel(h.name, numbers(h.truth), numbers(h.fill), h.figure(), h.used)
               for h in cells.values() if not h.categorical]
    numeric.sort(key=lambda p: -p.nrmse if np.isfinite(p.nrmse) else -np.inf)
    bars = [AccuracyBar(h.name, h.figure(), len(h.index), h.used) for h in cells.values() if h.categorical]
    bars.sort(key=lambda b: b.accuracy)
    return numeric[:limit], bars[:MAX_BARS], len(numeric)


@dataclass
class SeriesPanel:
    """One series of one channel: ``x`` its times (or sample numbers), ``observed`` (NaN
    where the input was missing), ``filled`` (the output's values), the held-back cells'
    times, truth and fill, their nrmse (None: none held back here) and the fill used."""

    label: str
    x: np.ndarray
    observed: np.ndarray
    filled: np.ndarray
    held_x: np.ndarray
    held_truth: np.ndarray
    held_fill: np.ndarray
    nrmse: float | None
    used: str

    @property
    def n_filled(self) -> int:
        return int(np.isnan(self.observed).sum() - np.isnan(self.filled).sum())


def _bounds(ch: Channel) -> np.ndarray:
    """Where each series of ``ch`` begins in its flat values, and where the last ends."""
    v = np.asarray(ch.values)
    if v.ndim == 2:  # channel c of every series of an [N, C, L] array
        return np.arange(v.shape[0] + 1) * v.shape[1]
    if ch.starts is not None:  # a long table: one block of rows per series
        return np.r_[np.flatnonzero(ch.starts), v.size]
    return np.array([0, v.size])


def _label(ch: Channel, k: int, start: int, ids: Any) -> str:
    if np.asarray(ch.values).ndim == 2:
        return f"{ch.name}, series {k}"
    if ch.starts is not None:
        return f"{ch.name}, series {ids[start] if ids is not None else k}"
    return ch.name


def _times(data: Any, time_column: Any) -> tuple[np.ndarray | None, str]:
    """The rows' times for the x axis (datetime64 or numbers) and its label; None: sample numbers."""
    if not isinstance(data, pd.DataFrame) or time_column is None or time_column not in data.columns:
        return None, "sample"
    t = data[time_column]
    if pd.api.types.is_numeric_dtype(t.dtype) or pd.api.types.is_datetime64_dtype(t.dtype):
        return t.to_numpy(), str(time_column)
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        return t.dt.tz_convert(None).to_numpy(), f"{time_column} (UTC)"
    with warnings_kept():  # a period such as 1959Q1 parses; one that does not: numbered
        warnings.simplefilter("ignore")
        parsed = _parsed(t.astype(str), utc=False)
        if parsed is None or isinstance(parsed.dtype, pd.DatetimeTZDtype):
            # times with UTC offsets, one or several (a DST change: pandas' "Mixed timezones
            # detected", which errors="coerce" does not cover), drawn in UTC
            parsed = _parsed(t.astype(str), utc=True)
            if parsed is None or parsed.isna().any():
                return None, "sample"
            return parsed.dt.tz_convert(None).to_numpy(), f"{time_column} (UTC)"
    if parsed.isna().any():
        return None, "sample"
    return parsed.to_numpy(), str(time_column)


def _parsed(text: pd.Series, utc: bool) -> pd.Series | None:
    """``text`` as times (NaT where one does not parse); None where pandas refuses the whole
    column (naive and offset times mixed without ``utc``, a value out of range)."""
    try:
        return pd.to_datetime(text, errors="coerce", utc=utc)
    except (ValueError, TypeError, OverflowError):
        return None


def series_panels(data: Any, filled: Any, cells: Mapping[str, HeldBack], columns: Sequence[str] | None,
                  categorical: Sequence[str], series_column: Any = None, time_column: Any = None,
                  limit: int = MAX_SERIES) -> tuple[list[SeriesPanel], int, str]:
    """The series panels: series with filled cells first, then those with held-back cells
    only, each in file order, at most ``limit``; how many series had either; the x label."""
    ids = data[series_column].to_numpy() if isinstance(data, pd.DataFrame) and series_column is not None \
        and series_column in data.columns else None
    times, xlabel = _times(data, time_column)
    after = {c.name: c for c in channels(filled, columns, categorical, series_column)}
    # (channel, series k, its bounds) of the series with holes, then of those with held-back
    # cells only: counted per channel in whole-array steps (a file of 20,000 series)
    holes: list[tuple[Channel, int, np.ndarray]] = []
    held_only: list[tuple[Channel, int, np.ndarray]] = []
    for ch in channels(data, columns, categorical, series_column):
        if not np.asarray(ch.values).size:
            continue
        bounds = _bounds(ch)
        missing = is_missing(np.asarray(ch.values)).reshape(-1)
        gaps = np.add.reduceat(missing.astype(np.int64), bounds[:-1]) > 0
        hb = cells.get(ch.name)
        held = np.diff(np.searchsorted(hb.index, bounds)) if hb is not None else np.zeros(len(gaps), np.int64)
        holes += [(ch, int(k), bounds) for k in np.flatnonzero(gaps)]
        held_only += [(ch, int(k), bounds) for k in np.flatnonzero(~gaps & (held > 0))]
    panels = []
    flat: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for ch, k, bounds in (holes + held_only)[:limit]:
        a, b = int(bounds[k]), int(bounds[k + 1])
        if ch.name not in flat:  # a channel's arrays made once, for all its panels
            v = numbers(ch.values).reshape(-1)
            flat[ch.name] = (v, is_missing(np.asarray(ch.values)).reshape(-1),
                             numbers(after[ch.name].values).reshape(-1) if ch.name in after else v)
        flat_in, missing, flat_out = (f[a:b] for f in flat[ch.name])
        x = times[a:b] if times is not None and len(times) == np.asarray(ch.values).size else np.arange(b - a)
        observed = np.where(missing, np.nan, flat_in)
        label = _label(ch, k, a, ids)
        hb = cells.get(ch.name)
        # the held-back cells of this series: a slice of the channel's (sorted) flat positions
        lo, hi = (np.searchsorted(hb.index, a), np.searchsorted(hb.index, b)) if hb is not None else (0, 0)
        if hi > lo:
            sel = slice(int(lo), int(hi))
            panels.append(SeriesPanel(label, x, observed, flat_out, x[hb.index[sel] - a], numbers(hb.truth[sel]),
                                      numbers(hb.fill[sel]), hb.figure(sel), hb.used))
        else:
            empty = np.zeros(0)
            panels.append(SeriesPanel(label, x, observed, flat_out, x[:0], empty, empty, None, _used(None)))
    return panels, len(holes) + len(held_only), xlabel


# ---------------------------------------------------------------- the figure
