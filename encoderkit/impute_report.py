"""What ``encoderkit impute`` did, and the summary it prints (``ImputeReport``): cells filled
per column / channel (one line per pool of series), the error on held-back cells of the
fill written (with ``select=auto``, each column's chosen fill; the model's own beside it)
next to the baseline, the fill used per column / channel, the time. Split out of
``encoderkit/impute.py`` (the command), so each module keeps one job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from encoderkit.impute_cells import Choice, Score
from encoderkit.impute_regions import REGIONS
from encoderkit.selection import MIN_GROUPS


@dataclass
class ImputeReport:
    domain: str
    output: str
    filled: dict[str, int] = field(default_factory=dict)  # cells filled per column / channel
    scores: list[Score] = field(default_factory=list)
    holdout_cells: int = 0
    steps: int = 0
    seconds: float = 0.0
    nothing_missing: bool = False
    choices: dict[str, Choice] = field(default_factory=dict)  # select=auto: fill used per channel
    pools: dict[str, str] = field(default_factory=dict)  # channel -> its pool (channel c of many series)
    unscored: dict[str, int] = field(default_factory=dict)  # cells held back of channels with nothing to fill
    no_holdout: str = ""  # why no cell was held back (``impute_regions.holdout_shortfall``)
    # empty cells of columns the model leaves out (identifiers, excluded), and why: no "no
    # missing cell in the input" where an identifier column's holes are left as they are
    unfilled: dict[str, str] = field(default_factory=dict)
    # plot=: the held-back cells as scored (``impute_plot.HeldBack`` per column / channel),
    # the picture's path once written, and what it shows or why none was written
    heldback: dict[str, Any] = field(default_factory=dict, repr=False)
    plot: str = ""
    plot_note: str = ""

    def plot_line(self) -> str:
        """The summary's line about ``plot=`` (empty when none was asked for)."""
        if not self.plot_note:
            return ""
        return f"\nplot: {self.plot} ({self.plot_note})" if self.plot else f"\nplot: {self.plot_note}"

    def by_pool(self) -> tuple[dict[str, int], dict[str, Choice]]:
        """Cells filled and choices per pool: one line for channel c of a collection of
        series (they share their choice), one per column / channel otherwise."""
        sizes: dict[str, int] = {}
        for k in self.filled:
            sizes[self.pools.get(k, k)] = sizes.get(self.pools.get(k, k), 0) + 1
        label = {k: (f"{self.pools[k]} ({sizes[self.pools[k]]} series)"
                     if k in self.pools and sizes[self.pools[k]] > 1 else k) for k in self.filled}
        filled: dict[str, int] = {}
        chosen: dict[str, Choice] = {}
        for k, v in self.filled.items():
            filled[label[k]] = filled.get(label[k], 0) + v
            if v and k in self.choices:
                chosen.setdefault(label[k], self.choices[k])
        return filled, chosen

    def summary(self) -> str:
        if self.nothing_missing and self.unfilled:
            left = "; ".join(f"{k!r}: {v}" for k, v in list(self.unfilled.items())[:5])
            return (f"impute {self.domain}: nothing to fill: no missing cell in the columns the "
                    f"model fills; left unfilled, the empty cells of column(s) it leaves out "
                    f"({left}); {self.output} is a copy of the input ({self.seconds:.1f} s)") + self.plot_line()
        if self.nothing_missing:
            return (f"impute {self.domain}: no missing cell in the input; nothing to fill, "
                    f"{self.output} is a copy of the input ({self.seconds:.1f} s)") + self.plot_line()
        baseline = "linear interpolation" if self.domain == "timeseries" else "column mean / mode"
        lines = [f"impute {self.domain}: filled {sum(self.filled.values())} cell(s) -> {self.output}"]
        filled, chosen = self.by_pool()
        width = max((len(k) for k in filled), default=0)
        lines += [f"  {k:<{width}}  {v}" for k, v in filled.items() if v]
        if self.scores and any(s.written is not None for s in self.scores):
            # the fill written, each column's chosen one, not the model's: a column the forest
            # filled was scored as the model's fill (accuracy 0.50 vs the mode's 0.60, where
            # the forest written there scored 0.65)
            lines.append(f"validation on {self.holdout_cells} held-back observed cell(s) (the fill "
                         f"written, per column / channel as below, vs {baseline}; nrmse: lower is "
                         f"better, accuracy: higher; chosen on these same cells, so a little optimistic; drawn at "
                         f"random among the observed cells, so holes that depend on the values, e.g. the highest "
                         f"missing, fill worse):")
            lines += [f"  {s.metric:<8} {_figure(s.written)} vs {s.baseline:.4f} ({s.cells} cells"
                      f"{_where(s)}; the model alone {s.model:.4f})" for s in self.scores]
        elif self.scores:
            lines.append(f"validation on {self.holdout_cells} held-back observed cell(s) "
                         f"(model vs {baseline}; nrmse: lower is better, accuracy: higher; drawn at random among "
                         f"the observed cells, so holes that depend on the values, e.g. the highest missing, "
                         f"fill worse):")
            lines += [f"  {s.metric:<8} {s.model:.4f} vs {s.baseline:.4f} ({s.cells} cells{_where(s)})"
                      for s in self.scores]
        elif self.unscored:
            lines.append(f"validation: none; the {self.holdout_cells} held-back cell(s) are all of "
                         f"column(s) / channel(s) with nothing to fill")
        else:
            lines.append(f"validation: no held-back cell ({self.no_holdout or 'holdout=0 or too few observed cells'})")
        if self.scores and self.unscored:
            names = ", ".join(list(self.unscored)[:5]) + (", ..." if len(self.unscored) > 5 else "")
            lines.append(f"  (not scored: {sum(self.unscored.values())} cell(s) held back of {names}, "
                         f"with nothing to fill)")
        if chosen:
            lines.append("fill used per column / channel (select=auto: another fill replaces the model "
                         "only where it wins clearly on the held-back cells; error: nrmse, categories: "
                         "error rate):")
            width = max(len(k) for k in chosen)
            for k, c in chosen.items():
                if c.ends and not c.cells:  # end gaps only (none inside, or none held back there)
                    lines.append(f"  {k:<{width}}  " + _choice(c.ends, "end gaps:      ", runs=True))
                    continue
                lines.append(f"  {k:<{width}}  " + _choice(c, "interior gaps: " if c.ends else ""))
                if c.ends:
                    lines.append(f"  {'':<{width}}  " + _choice(c.ends, "end gaps:      ", runs=True))
        lines.append(f"time: {self.seconds:.1f} s ({self.steps} training steps per model)")
        return "\n".join(lines) + self.plot_line()


def unfilled_columns(data: Any, kept: Any, schema: Mapping[str, Any]) -> dict[str, str]:
    """The table ``data``'s columns other than ``kept`` (those the model fills) that have
    empty cells, each with how many and why the schema left it out (``dropped``: an
    identifier; ``excluded``); none for an array or a series' channels."""
    if not isinstance(data, pd.DataFrame) or kept is None:
        return {}
    why = {**{str(c): "excluded" for c in schema.get("excluded", [])}, **dict(schema.get("dropped", {}))}
    held = {str(c) for c in kept}
    out = {}
    for c in data.columns:
        holes = int(data[c].isna().sum())
        if str(c) not in held and str(c) in why and holes:
            out[str(c)] = f"{holes} empty cell(s), {why[str(c)]}"
    return out


def _figure(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _where(s: Score) -> str:
    return f" {REGIONS[s.region]}" if s.region else ""


def _choice(c: Choice, label: str, runs: bool = False) -> str:
    """One line of the fills used: the candidate, each one's held-back error, how many cells;
    too few runs to switch said so (a series' end is one run: one series' end gap keeps the
    model)."""
    if not c.cells:
        return f"{label}{c.used:<9} (no held-back cell)"
    errs = "  ".join(f"{n} {e:.4f}" for n, e in c.errors.items())
    few = f"; {c.groups} run(s), fewer than {MIN_GROUPS}: the model is kept" \
        if runs and 0 < c.groups < MIN_GROUPS else ""
    return f"{label}{c.used:<9} {errs}  ({c.cells} held back{few})"
