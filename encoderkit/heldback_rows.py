"""The fills of ``EncoderImputer``'s held-back cells (``select='auto'``) made on the inputs the
final fill has: each held-back cell filled from its row with only that cell hidden among the
held-back ones (``held_back_fills``).

Why: ``fit`` holds back ~5% of every column's observed cells at once, so a held-back cell's
row lost on average ~2 more cells (breast_cancer: 853 cells in 441 rows, up to 8 in a row),
cells its final fill will have. On collinear columns that is most of a linear imputer's
error: one ``mean_radius`` cell whose row also had ``mean_perimeter`` and ``mean_area``
held back took IterativeImputer's held-back NRMSE from 0.03 to 0.178 (its error on the
table's real holes: 0.015), and ``select='auto'`` kept a blend 3x worse. The models are still
fitted with every held-back cell hidden (none of them sees the cells it is scored on); only
the fills are made row by row, as ``transform`` makes them (each row's fill depends on that
row alone).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd


# at most this many layers: the rows filled are at most this many times the rows with a
# held-back cell (review r3: a 200-column table holds ~9 held-back cells a row, 21 layers,
# 18,070 rows filled for 2,000 and a fit 4.3x the CPU); a row with more held-back cells than
# this hides several in one layer (k, k + MAX_LAYERS, ...), as every row did before
MAX_LAYERS = 4


def layers(hide: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """The columns with held-back cells and, per cell of them, its layer: for the k-th
    held-back cell of its row (in column order) ``1 + (k - 1) % MAX_LAYERS``, 0 for a cell not
    held back. A row with at most ``MAX_LAYERS`` held-back cells has one in each layer, so
    hiding a layer's cells hides nothing else of that row."""
    names = [c for c, m in hide.items() if np.asarray(m).any()]
    if not names:
        return [], np.zeros((0, 0), dtype=np.int64)
    held = np.column_stack([np.asarray(hide[c], dtype=bool).reshape(-1) for c in names])
    k = np.cumsum(held, axis=1)
    return names, np.where(held, 1 + (k - 1) % MAX_LAYERS, 0)


def held_back_fills(fill: Callable[[pd.DataFrame], Mapping[str, pd.DataFrame]], frame: pd.DataFrame,
                    hide: Mapping[str, np.ndarray], at_once: bool = False) -> dict[str, pd.DataFrame]:
    """Per name of ``fill``'s candidates, ``frame`` with its held-back cells ``hide`` (column
    -> row mask) taken from that candidate's fill of their rows, each layer (``layers``) hidden
    on its own: ``fill`` is called once per layer, on the rows that have a cell of it, and
    must fill each row from that row alone (``transform``'s promise). Cells not held back
    keep ``frame``'s values (only the held-back ones are scored). The rows filled in all are
    as many as the held-back cells (about 5% of the cells; one pass of the table when no row
    has two). ``at_once``: ``fill`` called once, on every layer's rows stacked (a row with
    two held-back cells twice, one hidden each time): the same fills by that promise, without
    a fitted imputer's fixed cost per call (``encoderkit impute``: a forest's replay of every
    round's trees was ~1.5 s a call on breast_cancer, 8 layers)."""
    from encoderkit.impute_cells import channels, set_cells, with_hidden

    names, rank = layers(hide)
    found: dict[str, dict[str, np.ndarray]] = {}
    ks = list(range(1, int(rank.max(initial=0)) + 1))
    for group in ([ks] if at_once and ks else [[k] for k in ks]):
        placed, parts = [], []  # per layer of the group: its mask and rows, the rows hidden
        for k in group:
            layer = rank == k
            rows = np.flatnonzero(layer.any(axis=1))
            part = frame.iloc[rows].reset_index(drop=True)  # positions: fills align by index
            parts.append(with_hidden(part, {c: layer[rows, j] for j, c in enumerate(names)}, names))
            placed.append((layer, rows))
        fills = fill(parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True))
        for name, filled in fills.items():
            got = {ch.name: ch.values for ch in channels(filled, names)}
            mine = found.setdefault(name, {})
            start = 0
            for layer, rows in placed:
                for j, c in enumerate(names):
                    values = np.asarray(got[c])[start:start + len(rows)]
                    if c not in mine:  # numbers as float64 (set_cells rounds an integer column's), else objects
                        number = values.dtype.kind in "iuf"
                        mine[c] = np.full(len(frame), np.nan if number else None,
                                          dtype=np.float64 if number else object)
                    here = layer[rows, j]
                    mine[c][rows[here]] = values[here]
                start += len(rows)
    return {name: set_cells(frame, {c: (np.asarray(hide[c], dtype=bool), v) for c, v in cols.items()}, names)
            for name, cols in found.items()}
