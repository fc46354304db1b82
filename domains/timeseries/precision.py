"""Channels whose changes float32 cannot hold: a level far above their variation
(cumulative meter readings, epoch seconds: 1234567890123.456 + 10 * sin(t)) is stored as one
value, since float32 keeps about 7 significant digits (steps of 131072 at 1.2e12). The store
and the model read float32, so pretraining, embed and fine-tuning saw a constant without a
word; ``io.check_range`` looks at magnitudes only. ``impute`` and ``infill`` fill in float64
and keep such a channel's values.

Warned of, not stored otherwise: a store's value field has one dtype, fixed by its first
record (``StoreWriter``), so float64 for one channel would be float64 for the whole store,
and an offset per series and channel has no place in the store (meta arrays hold one shape
for every record; a schema's offset per channel name serves one level, not many meters).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

# float32 rounding larger than this share of a channel's spread (standard deviation) is warned of
LOST_SHARE = 0.01
BATCH = 1 << 20  # samples judged together: one pass of numpy over many short series


def flat_rows(x: np.ndarray, lengths: np.ndarray) -> list[tuple[int, float, float, int, int]]:
    """The rows of ``x`` (channels laid end to end, ``lengths`` samples each; float64, NaN /
    inf unobserved) that float32 rounds by more than ``LOST_SHARE`` of their spread: ``(row,
    mean, spread, distinct values, distinct in float32)`` each. A row of one value has no
    spread to lose. Judged by segment sums: one channel at a time took 30 us a series."""
    lengths = np.asarray(lengths, dtype=np.int64)
    kept = np.flatnonzero(lengths >= 2)  # reduceat reads an empty segment as its next value
    if not kept.size:
        return []
    x = np.asarray(x, dtype=np.float64)[np.repeat(lengths >= 2, lengths)]
    starts = np.concatenate([[0], np.cumsum(lengths[kept])[:-1]])
    seen = np.isfinite(x)
    x = np.where(seen, x, 0.0)
    count = np.add.reduceat(seen.astype(np.int64), starts)
    with np.errstate(over="ignore", invalid="ignore"):  # check_range refuses what float32 cannot hold
        mean = np.add.reduceat(x, starts) / np.maximum(count, 1)
        dev = np.where(seen, x - np.repeat(mean, lengths[kept]), 0.0)
        spread = np.sqrt(np.add.reduceat(dev * dev, starts) / np.maximum(count, 1))
        lost = np.maximum.reduceat(np.abs(x.astype(np.float32).astype(np.float64) - x), starts)
    flagged = np.flatnonzero((count >= 2) & (spread > 0) & np.isfinite(spread) & (lost > LOST_SHARE * spread))
    out = []
    for k in flagged:
        row = x[starts[k]:starts[k] + lengths[kept[k]]][seen[starts[k]:starts[k] + lengths[kept[k]]]]
        out.append((int(kept[k]), float(mean[k]), float(spread[k]), int(np.unique(row).size),
                    int(np.unique(row.astype(np.float32)).size)))
    return out


class Float32Check:
    """The series of a file (or of the data given to embed / predict) with a channel whose
    changes float32 loses (``flat_rows``), gathered one series at a time (``add``) and judged
    ``BATCH`` samples at a time, for one warning (``warn``): the first such channel, how many
    series hold one, the remedy."""

    def __init__(self) -> None:
        self.first: tuple[str, str, list[tuple[int, float, float, int, int]]] | None = None
        self.alike = 0
        self._pending: list[tuple[str, Sequence[str] | None, np.ndarray]] = []
        self._size = 0

    def add(self, sid: str, values: np.ndarray, names: Sequence[str] | None = None) -> None:
        """Series ``sid``: ``values`` ``[C, L]`` float64 (NaN unobserved), its channels' ``names``."""
        values = np.asarray(values, dtype=np.float64)
        self._pending.append((sid, names, values if values.ndim == 2 else values.reshape(1, -1)))
        self._size += values.size
        if self._size >= BATCH:
            self._judge()

    def _judge(self) -> None:
        if not self._pending:
            return
        channels = np.array([v.shape[0] for _, _, v in self._pending])
        found = flat_rows(np.concatenate([v.ravel() for _, _, v in self._pending]),
                          np.repeat([v.shape[1] for _, _, v in self._pending], channels))
        first_row = np.concatenate([[0], np.cumsum(channels)])
        by_series: dict[int, list[tuple[int, float, float, int, int]]] = {}
        for row, *rest in found:
            i = int(np.searchsorted(first_row, row, side="right")) - 1
            by_series.setdefault(i, []).append((row - int(first_row[i]), *rest))
        for i in sorted(by_series):
            sid, names, _ = self._pending[i]
            c = by_series[i][0][0]
            name = str(names[c]) if names is not None and c < len(names) else str(c)
            self.alike += 1
            self.first = self.first or (sid, name, by_series[i])
        self._pending, self._size = [], 0

    def warn(self, file: str | None = None, stacklevel: int = 3) -> None:
        """The one warning of the series added (none when no channel loses its changes)."""
        self._judge()
        if self.first is None:
            return
        sid, name, found = self.first
        _, mean, spread, before, after = found[0]
        more = f"; {self.alike} series hold such a channel" if self.alike > 1 else \
            f"; {len(found)} channels of it alike" if len(found) > 1 else ""
        where = f"{file}: " if file else ""
        step = float(np.spacing(np.float32(abs(mean))))
        warnings.warn(f"{where}series {sid!r}, channel {name!r}: its values ({mean:.10g} +- {spread:.3g}) "
                      f"are finer than float32, the store's and the model's number type, resolves at "
                      f"their level (steps of {step:.3g}): {before} distinct values are held as {after}, "
                      f"so a model sees the channel {'constant' if after == 1 else 'coarsened'}{more}; "
                      f"subtract a level from it (its first value) or give its changes (differences of "
                      f"a cumulative count) before ingest", stacklevel=stacklevel)
