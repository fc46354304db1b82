"""The values that flow through a domain (``encoderkit.domain``, which re-exports them, is
where plug-ins import them from): a stored ``Record``; an ``Example`` (one sequence of tokens,
before masking) and the windows a long one is cut into; a ``MaskedExample``; what a head
returns (``HeadOutput``); what ``ingest`` writes into (``RecordWriter``) and fills
(``IngestReport``); and the callables a domain is given or gives (``Masker``, ``PredictFn``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, overload

import numpy as np

if TYPE_CHECKING:  # torch is imported where a tensor is made (domain.to_tensor): the contract loads without it
    from torch import Tensor

# A stored record: per-token fields (each [L, ...], same L), per-record metadata, "id".
Record = dict[str, Any]


@dataclass
class Example:
    """One sequence of tokens from one record, numpy, before masking."""

    fields: dict[str, np.ndarray]  # per-token fields, each [L, ...]; the embedder's inputs
    positions: np.ndarray  # [L, D] int32/float32 (D = 0 allowed: shape [L, 0])
    record: int = -1  # index of the source record
    window: int = 0  # window number within the record
    # first token of this window within the record's token sequence; with a [CLS] in every
    # window (``cls_position``), the record position of the window's first token after it
    start: int = 0
    context: dict[str, Any] = field(default_factory=dict)  # per-example values decode needs

    def __len__(self) -> int:
        return int(self.positions.shape[0])


@dataclass
class MaskedExample:
    """An example after masking: what the packer concatenates into a PackedBatch."""

    inputs: dict[str, np.ndarray]  # [L, ...] corrupted input fields
    positions: np.ndarray  # [L, D]
    targets: dict[str, np.ndarray]  # each [P, ...], P = predict.sum(), in token order
    predict: np.ndarray  # [L] bool
    weights: np.ndarray | None = None  # [L] float32 per-token loss weight
    record: int = -1
    window: int = 0
    start: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    # fine-tuning labels (``encoderkit.tasks``): per sequence [1, ...] or per token [L, ...]
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.positions.shape[0])


# (example, rng) -> MaskedExample
Masker = Callable[[Example, np.random.Generator], MaskedExample]


@dataclass
class HeadOutput:
    """What a domain head returns for the hidden states at predicted tokens."""

    predictions: dict[str, Tensor]  # each [P, ...]: raw outputs (logits, values)
    loss: Tensor | None = None  # scalar, the weighted total; None without targets
    losses: dict[str, Tensor] = field(default_factory=dict)  # per-part scalar losses (detached ok)
    metrics: dict[str, Tensor] = field(default_factory=dict)  # e.g. masked accuracy (scalars)


class RecordWriter(Protocol):
    """What a domain's ``ingest`` writes into (implemented by ``encoderkit.data.store``)."""

    def append(self, fields: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None,
               id: str | None = None) -> int: ...


@dataclass
class IngestReport:
    """Counts a domain fills while ingesting; the framework prints it."""

    records: int = 0
    tokens: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    warnings: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # other totals a domain reports (e.g. samples)
    # what the store is made of, one line each (a sets store's columns): descriptions, not totals,
    # so the parts of a parallel ingest say each once where their counts add up
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def summary(self, with_warnings: bool = True) -> str:
        """The report as ``key: value`` lines; ``with_warnings=False`` leaves out the
        ``warning: ...`` lines (``encoderkit ingest`` says those on stderr, where warnings go:
        stdout's lines are for a script to read)."""
        lines = [f"records written: {self.records}", f"tokens: {self.tokens}"]
        lines += [f"{name}: {n}" for name, n in sorted(self.counts.items())]
        lines += self.notes
        total = sum(self.skipped.values())
        lines.append(f"records skipped: {total}")
        lines += [f"  {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        lines += [f"warning: {w}" for w in self.warnings] if with_warnings else []
        return "\n".join(lines)


# list of masked examples -> per example, head predictions at its predict tokens (numpy, [P_i, ...])
PredictFn = Callable[[Sequence[MaskedExample]], list[dict[str, np.ndarray]]]


def window_bounds(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) windows of ``size`` covering ``range(n)`` with at least ``overlap``
    tokens shared between neighbours; the last window ends at ``n``."""
    if size <= 0:
        raise ValueError(f"window size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"window overlap must be in [0, {size}), got {overlap}")
    if n <= size:
        return [(0, n)]
    step = size - overlap
    starts = list(range(0, n - size, step)) + [n - size]
    return [(s, s + size) for s in starts]


def window_starts(n: int, size: int, overlap: int) -> np.ndarray:
    """The starts of ``window_bounds(n, size, overlap)`` as an int64 array (a chromosome cut
    into 10^5 windows: no list of tuples)."""
    window_bounds(min(n, size), size, overlap)  # its checks of size and overlap (one window)
    if n <= size:
        return np.zeros(1, dtype=np.int64)
    return np.append(np.arange(0, n - size, size - overlap, dtype=np.int64), np.int64(n - size))


class LazyWindows(Sequence[Example]):
    """A record's windows made one at a time, when indexed or iterated: what
    ``Domain.featurize_windows`` may return for a long record, so that the loader, ``embed``
    and the budgets hold one window at a time, never the record's tokens whole.

    ``bounds``: ``[W, 2]`` int64, each window's ``[start, end)`` tokens within the record;
    ``make(w)``: window ``w`` (its ``window`` = w and ``start`` = ``bounds[w, 0]``)."""

    def __init__(self, bounds: np.ndarray, make: Callable[[int], Example]) -> None:
        self.bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        self._make = make

    def __len__(self) -> int:
        return int(self.bounds.shape[0])

    @overload
    def __getitem__(self, w: int) -> Example: ...

    @overload
    def __getitem__(self, w: slice) -> list[Example]: ...

    def __getitem__(self, w: int | slice) -> Example | list[Example]:
        if isinstance(w, slice):
            return [self[i] for i in range(*w.indices(len(self)))]
        i = int(w) + (len(self) if int(w) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(f"window {w} out of range for a record of {len(self)} windows")
        return self._make(i)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens of each window, without making any."""
        return self.bounds[:, 1] - self.bounds[:, 0]


def window_lengths(windows: Sequence[Example]) -> np.ndarray:
    """Tokens of each of a record's windows: read off a ``LazyWindows`` without making them."""
    if isinstance(windows, LazyWindows):
        return windows.lengths
    return np.array([len(w) for w in windows], dtype=np.int64)


def slice_example(example: Example, start: int, end: int, window: int) -> Example:
    return Example(
        fields={k: v[start:end] for k, v in example.fields.items()},
        positions=example.positions[start:end],
        record=example.record, window=window, start=example.start + start,
        context=example.context)
