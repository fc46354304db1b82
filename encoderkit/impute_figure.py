"""The figure of an ``encoderkit impute`` with ``plot=<file.png>``: the panels of
``impute_plot`` (``table_panels`` / ``series_panels``) drawn on a ``Figure`` of the Agg canvas
(no pyplot: a notebook's backend and open figures are left as they are) and written with
``outputs.atomic_write``. matplotlib is imported only by ``draw``. Every text is drawn without
mathtext (``PLAIN``): a column name with ``$`` or a backslash is shown as written."""

from __future__ import annotations

import os
import unicodedata
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError
from encoderkit.impute_cells import channels, is_missing
from encoderkit.impute_plot import (MAX_TABLE, NAME_WIDTH, AccuracyBar, HeldBack, ScatterPanel, SeriesPanel,
                                    numbers, series_panels, table_panels)


def shown(name: Any, width: int = NAME_WIDTH) -> str:
    """A column name as text matplotlib draws as it is: a name read with its bytes kept as
    surrogate escapes as UTF-8 (``trainer_outputs.displayable_name``), control and format
    characters (a newline, a NUL, a right-to-left mark) as escapes, cut at ``width``. Every
    text is drawn with ``parse_math=False``: ``$x$`` and backslashes stay as written."""
    from encoderkit.train.trainer_outputs import displayable_name

    text = "".join(c if unicodedata.category(c)[0] != "C" else repr(c)[1:-1]
                   for c in displayable_name(str(name)))
    return text if len(text) <= width else text[:width - 1] + "…"


PLAIN = {"parse_math": False}  # every text drawn: no mathtext from a name's `$`


def _title(fig: Any, text: str) -> None:
    """The figure's title, wrapped to its width (a one-panel figure cut a long one off)."""
    import textwrap

    width = max(40, int(fig.get_figwidth() * 11))  # characters of 10-point text per inch, about
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=10, **PLAIN)


def _grid(fig: Any, n: int, cols: int, extra_rows: float = 0.0) -> tuple[list[Any], Any]:
    """``n`` axes in rows of ``cols``, and, with ``extra_rows``, one axis across the bottom."""
    rows = -(-n // cols) if n else 0 if extra_rows else 1  # held-back categories alone: the bars alone
    heights = [1.0] * rows + ([extra_rows] if extra_rows else [])
    fig.set_size_inches(13 if cols > 2 else 9, 0.9 + 3.0 * rows + 3.0 * extra_rows)
    spec = fig.add_gridspec(len(heights), cols, height_ratios=heights)
    axes = [fig.add_subplot(spec[i // cols, i % cols]) for i in range(n)]
    bottom = fig.add_subplot(spec[-1, :]) if extra_rows else None
    return axes, bottom


def _truth_vs_fill(ax: Any, truth: np.ndarray, fill: np.ndarray) -> None:
    """Held-back truth (x) against the fill (y) on equal axes, with the line y = x."""
    from matplotlib.ticker import MaxNLocator

    ax.scatter(truth, fill, s=12, alpha=0.7, color="tab:blue", edgecolors="none")
    both = np.concatenate([truth, fill])
    both = both[np.isfinite(both)]
    if both.size:
        lo, hi = float(both.min()), float(both.max())
        pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=0.8, ls="--")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("held-back truth", fontsize=7)
    ax.set_ylabel("fill", fontsize=7)
    ax.tick_params(labelsize=7)


def _scatter(ax: Any, p: ScatterPanel) -> None:
    _truth_vs_fill(ax, p.truth, p.fill)
    ax.set_title(f"{shown(p.name)}\nnrmse {p.nrmse:.3f}, {p.used}, {len(p.truth)} cells", fontsize=8, **PLAIN)


def _bars(ax: Any, bars: Sequence[AccuracyBar], total: int) -> None:
    pos = np.arange(len(bars))
    ax.barh(pos, [b.accuracy for b in bars], color="tab:blue")
    ax.set_yticks(pos, labels=[f"{shown(b.name, 30)} ({b.cells} cells, {b.used})" for b in bars], fontsize=7, **PLAIN)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    for y, b in zip(pos, bars):
        ax.text(min(b.accuracy + 0.01, 0.9), y, f"{b.accuracy:.2f}", va="center", fontsize=7)
    more = f", the worst {len(bars)} of {total}" if total > len(bars) else ""
    ax.set_title(f"categorical columns: held-back accuracy of the fill written{more}", fontsize=8, **PLAIN)
    ax.tick_params(axis="x", labelsize=7)


def _distribution(ax: Any, name: str, observed: np.ndarray, filled: np.ndarray, categorical: bool) -> None:
    """The observed values of a column next to its fills: shares per category (the 8 most
    frequent observed) or densities over shared bins."""
    if categorical:
        obs, new = pd.Series(observed).astype(str), pd.Series(filled).astype(str)
        top = obs.value_counts().index[:8].tolist()
        pos = np.arange(len(top))
        ax.bar(pos - 0.2, [np.mean(obs == c) for c in top], 0.4, label="observed", color="0.6")
        ax.bar(pos + 0.2, [np.mean(new == c) if len(new) else 0 for c in top], 0.4, label="filled",
               color="tab:red")
        ax.set_xticks(pos, labels=[shown(c, 10) for c in top], rotation=45, ha="right", fontsize=7, **PLAIN)
        ax.set_ylabel("share", fontsize=7)
    else:
        o, f = numbers(observed), numbers(filled)
        o, f = o[np.isfinite(o)], f[np.isfinite(f)]
        both = np.concatenate([o, f])
        bins = np.histogram_bin_edges(both, bins=20) if both.size else 10
        ax.hist(o, bins=bins, density=True, alpha=0.6, label="observed", color="0.5")
        ax.hist(f, bins=bins, density=True, alpha=0.6, label="filled", color="tab:red")
        ax.set_ylabel("density", fontsize=7)
    ax.set_title(f"{shown(name)}\n{len(filled)} filled, {len(observed)} observed", fontsize=8, **PLAIN)
    ax.tick_params(labelsize=7)


def _table_figure(fig: Any, cells: Mapping[str, HeldBack], data: pd.DataFrame, filled: pd.DataFrame,
                  columns: Sequence[str] | None, categorical: Sequence[str], source: str) -> str:
    """Draw a table's panels into ``fig``; return what they show, in words."""
    scatter, bars, n_numeric = table_panels(cells)
    if cells:
        n_cat = sum(h.categorical for h in cells.values())
        # the bar panel's height in panel rows: a bar is ~0.2 inch
        axes, bottom = _grid(fig, len(scatter), 4 if len(scatter) > 3 else max(1, len(scatter)),
                             extra_rows=(0.5 + 0.2 * len(bars)) / 3.0 if bars else 0.0)
        for ax, p in zip(axes, scatter):
            _scatter(ax, p)
        if bottom is not None:
            _bars(bottom, bars, n_cat)
        parts = ([f"{len(scatter)} of {n_numeric} numeric"
                  f"{' (the worst nrmse first)' if n_numeric > len(scatter) else ''}"] if n_numeric else []) + \
            ([f"{len(bars)} of {n_cat} categorical"] if n_cat else [])
        what = f"held-back cells: truth vs the fill written; {', '.join(parts)} column(s) with held-back cells"
        # what the figure means, said once: the mean's own nrmse is about 1 by construction
        note = " (nrmse: root mean square error over the column's standard deviation; the column mean " \
            "scores about 1)" if n_numeric else ""
        _title(fig, f"impute {shown(source, 60)}: {what}{note}")
        return what
    # no held-back cell: the fills' distribution next to the observed values, per column filled
    chans = [(ch, is_missing(ch.values)) for ch in channels(data, columns, categorical)]
    chans = sorted([c for c in chans if c[1].any()], key=lambda c: -int(c[1].sum()))
    after = {ch.name: ch for ch in channels(filled, columns, categorical)}
    drawn = chans[:MAX_TABLE]
    axes, _ = _grid(fig, len(drawn), 4 if len(drawn) > 3 else max(1, len(drawn)))
    for ax, (ch, gap) in zip(axes, drawn):
        _distribution(ax, ch.name, ch.values[~gap], after[ch.name].values[gap], ch.categorical)
    if axes:
        axes[0].legend(fontsize=7)
    what = (f"no held-back cell scored: observed vs filled values; {len(drawn)} of {len(chans)} column(s) with fills"
            f"{', the most filled first' if len(chans) > len(drawn) else ''}")
    _title(fig, f"impute {shown(source, 60)}: {what}")
    return what


ZOOM_FROM = 300  # a series this long also gets a panel zoomed on its longest gap


def zoom_window(observed: np.ndarray) -> tuple[int, int] | None:
    """The samples [start, stop) around the longest gap of ``observed`` (NaN = missing), the
    gap three times its length on each side, at least 60 samples; None for a series shorter
    than ``ZOOM_FROM`` (its whole line shows the gaps) or without a gap."""
    gap = np.isnan(observed)
    if len(observed) < ZOOM_FROM or not gap.any():
        return None
    edges = np.flatnonzero(np.diff(np.r_[0, gap.astype(np.int8), 0]))
    starts, stops = edges[::2], edges[1::2]
    k = int(np.argmax(stops - starts))
    pad = max(3 * int(stops[k] - starts[k]), 30)
    return max(0, int(starts[k]) - pad), min(len(observed), int(stops[k]) + pad)


def _series_line(ax: Any, p: SeriesPanel, lo: int = 0, hi: int | None = None) -> None:
    """The observed line, the fill where the input was missing and the held-back cells
    (truth and fill) of the samples [lo, hi) of ``p``."""
    hi = len(p.x) if hi is None else hi
    x, observed, filled = p.x[lo:hi], p.observed[lo:hi], p.filled[lo:hi]
    ax.plot(x, observed, color="0.25", lw=0.9, label="observed")
    gap = np.isnan(observed)
    # the fill where the input was missing, with a neighbour on each side (a one-sample
    # gap still shows as a short line)
    near = gap | np.r_[False, gap[:-1]] | np.r_[gap[1:], False]
    ax.plot(x, np.where(near, filled, np.nan), color="tab:red", lw=1.2, label="filled")
    if len(p.held_x):
        inside = (p.held_x >= x[0]) & (p.held_x <= x[-1]) if len(x) else np.zeros(len(p.held_x), bool)
        ax.scatter(p.held_x[inside], p.held_truth[inside], s=14, facecolors="none", edgecolors="black", lw=0.8,
                   label="held back: truth", zorder=3)
        ax.scatter(p.held_x[inside], p.held_fill[inside], s=14, marker="x", color="tab:blue", lw=0.9,
                   label="held back: fill", zorder=4)
    ax.tick_params(labelsize=7)


def _few_ticks(ax: Any, x: np.ndarray, n: int) -> None:
    """At most about ``n`` ticks on the x axis, dates written concisely (2 panels of dates side
    by side wrote their ticks over each other)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator

    if np.asarray(x).dtype.kind == "M":
        locator = AutoDateLocator(minticks=2, maxticks=n + 1)  # 2 to n + 1: an interval for every span tried
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(n))


def _errors(ax: Any, p: SeriesPanel) -> None:
    """The fill's error at each held-back cell of ``p`` over time, around 0."""
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--")
    ax.scatter(p.held_x, p.held_fill - p.held_truth, s=10, color="tab:blue", marker="x", lw=0.8)
    ax.set_title("held back: fill − truth", fontsize=8)
    ax.tick_params(labelsize=7)
    # the series' whole span (where along it the errors lie), and 0 in the middle
    ax.set_xlim(p.x[0], p.x[-1])
    top = np.nanmax(np.abs(p.held_fill - p.held_truth)) if len(p.held_x) else 0.0
    if np.isfinite(top) and top > 0:
        ax.set_ylim(-1.15 * top, 1.15 * top)
    _few_ticks(ax, p.x, 4)


def _series_figure(fig: Any, panels: Sequence[SeriesPanel], total: int, xlabel: str, source: str,
                   held: bool) -> str:
    # per series: the line over time; a long one also zoomed on its longest gap (a gap of 12
    # samples is a few pixels of a line of 2,000); and its held-back cells' errors over time
    # (an error of 0.02 sd is invisible on the line)
    zooms = [zoom_window(p.observed) for p in panels]
    cols = [5.0] + ([2.2] if any(zooms) else []) + ([1.6] if any(len(p.held_x) for p in panels) else [])
    spec = fig.add_gridspec(len(panels), len(cols), width_ratios=cols)
    axes = [fig.add_subplot(spec[i, 0]) for i in range(len(panels))]
    for i, (ax, p, zoom) in enumerate(zip(axes, panels, zooms)):
        _series_line(ax, p)
        score = f"; {len(p.held_x)} held back, nrmse {p.nrmse:.3f} ({p.used})" if p.nrmse is not None else ""
        ax.set_title(f"{shown(p.label, 60)}: {p.n_filled} filled{score}", fontsize=8, loc="left", **PLAIN)
        if zoom is not None:
            near = fig.add_subplot(spec[i, 1])
            _series_line(near, p, *zoom)
            near.set_title("its longest gap, zoomed", fontsize=8)
            _few_ticks(near, p.x, 4)
            ax.axvspan(p.x[zoom[0]], p.x[zoom[1] - 1], color="0.85", zorder=0)
        if len(p.held_x):
            _errors(fig.add_subplot(spec[i, len(cols) - 1]), p)
    # below the panels, not over the first one's samples
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    axes[-1].set_xlabel(shown(xlabel), fontsize=8, **PLAIN)
    what = f"{len(panels)} of {total} series / channel(s) with filled or held-back cells" + \
        (" (those with holes first, in file order)" if total > len(panels) else "")
    if not held:
        what += "; no held-back cell scored (holdout=0, or none drawn): the fills alone"
    _title(fig, f"impute {shown(source, 60)}: {what}")
    return what


def draw(path: str, inp: Any, filled: Any, cells: Mapping[str, HeldBack]) -> str:
    """Draw the picture of the impute of ``inp`` (``impute_read.ReadInput``) that wrote
    ``filled``, its held-back cells ``cells``, into the PNG ``path``; return what it shows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from encoderkit.impute_read import writable
    from encoderkit.outputs import atomic_write
    from encoderkit.session_state import warnings_kept

    source = os.path.basename(str(inp.path))
    with warnings_kept():
        # a name in a script the font lacks (CJK in DejaVu Sans) is drawn as boxes: said once here, not per glyph
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from")
        if inp.series:
            time_column = inp.schema.get("time_column") or inp.ingest_options.get("time_column")
            panels, total, xlabel = series_panels(inp.data, filled, cells, inp.columns, inp.categorical,
                                                  inp.series_column, time_column)
            fig = Figure(figsize=(13, 1.2 + 2.4 * max(1, len(panels))), layout="constrained")
            FigureCanvasAgg(fig)
            what = _series_figure(fig, panels, total, xlabel, source, bool(cells))
        else:  # sized by ``_grid``
            fig = Figure(layout="constrained")
            FigureCanvasAgg(fig)
            what = _table_figure(fig, cells, inp.data, filled, inp.columns, inp.categorical, source)
        try:  # as the output: ~ expanded, a missing folder made (``impute_read.writable``)
            atomic_write(writable(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        except OSError as e:
            raise DataError(f"cannot write the plot: {e.strerror or e} (the output was written)", file=path) from None
    return what
