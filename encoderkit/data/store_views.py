"""A long stored record's token fields read a slice at a time (``FieldView``).

A zarr-backed store reads a record's token fields whole (``RecordStore.read_range``): a
chromosome of 248 Mb is ~500 MB of raw bases before the first window is cut. A reader whose
domain tokenises windows from slices of the record (``reads_field_slices``: genomic) asks for
records longer than ``VIEW_TOKENS`` as views (``views_above``): each field is then read where
it is sliced, a few store chunks at a time, so memory follows a window, not the record.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

# a record longer than this many stored tokens is given as views to a domain that reads slices
# (as many as ``producer.read_records`` reads at once: shorter records are read whole, as before)
VIEW_TOKENS = 1 << 22


def reads_field_slices(domain: Any) -> bool:
    """Whether ``domain``'s ``featurize_windows`` and ``count_tokens`` read a long record's
    token fields only by ``len`` and slices (``record["ids"][a:b]``), so a store may give them
    ``FieldView`` s (the domain's optional ``reads_field_slices`` attribute, default False)."""
    return bool(getattr(domain, "reads_field_slices", False))


class FieldView:
    """One token field of one stored record, ``[L, ...]``, read when sliced.

    ``view[a:b]`` returns a numpy array (a copy); ``len``, ``shape``, ``dtype`` and ``ndim``
    are those of the array it stands for, and ``np.asarray(view)`` reads it whole (a reader
    that needs the record whole gets it, as before views). The last read of whole store
    chunks is kept, so windows cut one after another decompress each chunk once.

    ``read(a, b)``: tokens ``[a, b)`` of the record; ``origin``: the record's first token in
    the store, and ``align`` the field's tokens per store chunk, so reads start and end on
    chunk boundaries."""

    def __init__(self, length: int, tail: tuple[int, ...], dtype: Any, read: Callable[[int, int], np.ndarray],
                 origin: int = 0, align: int = 1) -> None:
        self.shape = (int(length), *tail)
        self.dtype = np.dtype(dtype)
        self._read, self._origin, self._align = read, int(origin), max(1, int(align))
        self._page: tuple[int, int, np.ndarray] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"FieldView(shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self._read(0, len(self)))  # whole: not kept (the record is the caller's now)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> Any:
        n = len(self)
        if isinstance(key, slice):
            a, b, step = key.indices(n)
            return self._slice(a, max(a, b)) if step == 1 else np.asarray(self)[key]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if int(key) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(key)} is out of bounds for a field of {n} tokens")
            return self._slice(i, i + 1)[0]
        return np.asarray(self)[key]  # fancy indexing: as the whole array would answer

    def _slice(self, a: int, b: int) -> np.ndarray:
        if b <= a:
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)
        page = self._page
        if page is None or not page[0] <= a or not b <= page[1]:
            c, o = self._align, self._origin
            lo = max(0, (o + a) // c * c - o)  # the whole chunks the slice touches
            hi = min(len(self), -(-(o + b) // c) * c - o)
            page = self._page = (lo, hi, np.asarray(self._read(lo, hi)))
        return page[2][a - page[0]:b - page[0]].copy()
