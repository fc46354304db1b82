"""The per-record arrays of a store being written (record lengths, meta, ids), held compactly.

A writer that keeps a Python object per record until ``finalize`` holds about 200 bytes a record
(an ``int`` for its length, a ``str`` for its id, one object per meta value, and the lists): a
10 M row table held 2 GB of bookkeeping. Here lengths and meta values are numpy blocks of
``RECORD_CHUNK`` values (8 bytes a number), converted from a short Python list as each block
fills; ids, the largest, go to the store's ``ids`` array a chunk at a time as they come. What
is written is what ``np.asarray`` of every record's value wrote (the dtype a meta key's values
promote to, the values, the chunks), only without the whole list at once.

An append (``StoreWriter.start_from``) puts the old store's records first: its ids and meta
chunks are hard-linked where the new array stores them alike (same layout, same dtype), as
the token chunks are, so an append reads and writes its own records, not the old ones.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from encoderkit.data.store_link import NO_LINK, as_meta, layout, link_chunks, meta_dtype

RECORD_CHUNK = 1 << 16  # records per chunk of offsets / meta / ids, and per block held here


class RaggedMeta(ValueError):
    """Meta values of one key that do not form one array (shapes that differ)."""


class UnsupportedMeta(TypeError):
    """Meta values of one key that are not numbers, bools, strings or small numeric arrays."""


def record_chunks(n: int) -> int:
    """Records per chunk of a meta or ids array of ``n`` records (the offsets take ``n + 1``)."""
    return max(1, min(RECORD_CHUNK, n))


class Blocks:
    """Values appended one at a time, held as numpy arrays of ``RECORD_CHUNK`` values.

    ``dtype`` None converts each block as ``np.asarray`` would (meta values); a block whose
    values do not form one array (shapes that differ) keeps the error, raised by ``parts``.
    """

    def __init__(self, dtype: Any = None) -> None:
        self.dtype = dtype
        self.blocks: list[np.ndarray] = []
        self.tail: list[Any] = []
        self.error: ValueError | None = None
        self._sealed = 0  # values in self.blocks

    def __len__(self) -> int:
        return self._sealed + len(self.tail)

    def append(self, value: Any) -> None:
        tail = self.tail
        tail.append(value)
        if len(tail) >= RECORD_CHUNK:
            self._seal()

    def _seal(self) -> None:
        if self.tail:
            try:
                self.blocks.append(np.asarray(self.tail, dtype=self.dtype))
            except ValueError as e:  # ragged values: what np.asarray of all of them raises too
                self.error = self.error or e
                self.blocks.append(np.empty(len(self.tail), dtype=object))
            self._sealed += len(self.tail)
            self.tail = []

    def parts(self) -> list[np.ndarray]:
        """Every value, as the arrays the blocks hold (the last one converted now)."""
        self._seal()
        if self.error is not None:
            raise RaggedMeta(str(self.error))
        return self.blocks

    def array(self) -> np.ndarray:
        """All values in one array (for ``dtype``-fixed blocks: the lengths)."""
        parts = self.parts()
        return np.concatenate(parts) if parts else np.empty(0, dtype=self.dtype)


# ---------------------------------------------------------------------------------- meta arrays
class BaseArray:
    """The meta / ids array of the store an append starts from: the first ``count`` rows."""

    def __init__(self, arr: Any, count: int, read: Callable[[slice], np.ndarray], folder: Path) -> None:
        self.arr, self.count, self.read, self.folder = arr, int(count), read, folder

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(str) if self.arr.dtype.kind in "TUO" else np.dtype(self.arr.dtype)

    def linkable(self, new: Any) -> int:
        """How many whole chunks of this array ``new`` can take by hard link (0: none)."""
        if self.count < RECORD_CHUNK or layout(self.arr) != layout(new):
            return 0
        return self.count // RECORD_CHUNK

    def link(self, new: Any, new_folder: Path, chunks: int) -> bool:
        """Hard-link chunks ``0..chunks-1`` into ``new_folder``; False (nothing linked) where
        this file system has no hard links: the rows are then read and written."""
        try:
            link_chunks(self.folder, new_folder, new.metadata, chunks)
        except OSError as e:
            if e.errno not in NO_LINK:
                raise
            # gone before anything writes there: zarr 3.0 writes a chunk into its file
            shutil.rmtree(new_folder / "c", ignore_errors=True)
            return False
        return True


def write_meta(group: Any, name: str, n: int, new: Blocks, base: BaseArray | None,
               folder: Path | None) -> dict[str, Any]:
    """Write meta array ``name`` of ``n`` records (``base``'s rows, then ``new``'s) a chunk at a
    time; return its spec for the attribute block. ``folder``: the local array folder, where
    ``base``'s whole chunks are linked when its layout and dtype are the new array's."""
    parts = new.parts()
    shapes = {p.shape[1:] for p in parts} | ({base.arr.shape[1:]} if base is not None else set())
    if len(shapes) > 1:
        raise RaggedMeta(f"values of shapes {sorted(shapes)} do not form one array")
    trailing = shapes.pop() if shapes else ()
    dtypes = [p.dtype for p in parts] + ([base.dtype] if base is not None else [])
    dtype = meta_dtype(dtypes)
    if dtype.kind == "O":
        raise UnsupportedMeta(str(dtype))
    chunk = record_chunks(n)
    if dtype.kind == "U":
        created = group.create_array(name, shape=(n, *trailing), dtype=str, chunks=(chunk,))
    else:
        created = group.create_array(name, shape=(n, *trailing), dtype=dtype, chunks=(chunk, *trailing))
    start = 0
    if base is not None and folder is not None:
        linked = base.linkable(created)
        if linked and base.link(created, folder, linked):
            start = linked * RECORD_CHUNK
    for s in range(start, n, chunk):
        created[s:min(s + chunk, n)] = _rows(s, min(s + chunk, n), parts, base, dtype)
    return {"dtype": str(dtype) if dtype.kind != "U" else "str", "shape": list(trailing)}


def _rows(a: int, b: int, parts: Sequence[np.ndarray], base: BaseArray | None, dtype: np.dtype) -> np.ndarray:
    """Rows ``a..b-1`` of base rows followed by the parts' rows, in ``dtype``."""
    out = []
    first = 0 if base is None else base.count
    if a < first:
        out.append(as_meta(base.read(slice(a, min(b, first))), dtype))
    pos = first
    for p in parts:
        lo, hi = max(a, pos), min(b, pos + p.shape[0])
        if lo < hi:
            out.append(as_meta(p[lo - pos:hi - pos], dtype))
        pos += p.shape[0]
        if pos >= b:
            break
    return np.concatenate(out) if len(out) > 1 else out[0]


# ---------------------------------------------------------------------------------- ids
class IdColumn:
    """Record ids, written to the store's ``ids`` array a chunk at a time.

    The array's chunk is ``min(RECORD_CHUNK, n)`` records, known once ``n`` passes one chunk:
    from then on each full chunk of ids is written as it fills; the ids of a store smaller than
    that are written at ``finish``. Each written chunk leaves its ids' hashes (8 bytes a
    record) for ``duplicates``, so finding a repeated id needs no list of every id.
    """

    def __init__(self, group: Any) -> None:
        self.group = group
        self.pending: list[str] = []
        self.written = 0  # ids in the array
        self.array: Any = None
        self._hashes: list[np.ndarray] = []
        self._unhashed: tuple[int, int] | None = None  # linked rows whose hashes are not taken

    def __len__(self) -> int:
        return self.written + len(self.pending)

    def append(self, rid: str) -> None:
        pending = self.pending
        pending.append(rid)
        if len(pending) >= RECORD_CHUNK:
            self._write()

    def start_from(self, base: BaseArray, folder: Path | None) -> None:
        """Begin with ``base``'s ids: its whole chunks linked when ``folder`` (the local ids
        folder) is given and the layouts agree, the rest read a chunk at a time."""
        first = 0
        if folder is not None and base.count >= RECORD_CHUNK:
            self.array = self.group.create_array("ids", shape=(0,), dtype=str, chunks=(RECORD_CHUNK,))
            linked = base.linkable(self.array)
            if linked and base.link(self.array, folder, linked):
                first = linked * RECORD_CHUNK
                self.array.resize((first,))  # metadata only: it grows
                self.written = first
                self._unhashed = (0, first)
        for a in range(first, base.count, RECORD_CHUNK):
            for rid in base.read(slice(a, min(a + RECORD_CHUNK, base.count))).tolist():
                self.append(rid)

    def _write(self) -> None:
        """Write the pending ids (a whole chunk, or the last ones at ``finish``)."""
        ids = np.asarray(self.pending, dtype=str)
        self._hashes.append(np.fromiter(map(hash, self.pending), dtype=np.int64, count=len(self.pending)))
        if self.array is None:
            self.array = self.group.create_array("ids", shape=(0,), dtype=str, chunks=(RECORD_CHUNK,))
        self.array.append(ids)
        self.written += len(self.pending)
        self.pending = []

    def finish(self) -> None:
        """Write the ids not yet written; the array then holds every id."""
        if self.array is None:  # fewer than one chunk of records: the chunk is their count
            n = len(self.pending)
            self.array = self.group.create_array("ids", shape=(n,), dtype=str, chunks=(record_chunks(n),))
            self.array[...] = np.asarray(self.pending, dtype=str)
            self._hashes.append(np.fromiter(map(hash, self.pending), dtype=np.int64, count=n))
            self.written, self.pending = n, []
        elif self.pending:
            self._write()

    def _written_ids(self, a: int, b: int) -> list[str]:
        if b <= a:
            return []
        out = np.asarray(self.array[a:b])
        # numpy's StringDType (zarr's strings) lists as str directly, twice as fast as via "U"
        return out.tolist() if out.dtype.kind == "T" else out.astype(str).tolist()

    def chunks(self) -> Iterator[list[str]]:
        """Every id in order, a chunk at a time."""
        for a in range(0, self.written, RECORD_CHUNK):
            yield self._written_ids(a, min(a + RECORD_CHUNK, self.written))
        if self.pending:
            yield list(self.pending)

    def all(self) -> list[str]:
        return [rid for part in self.chunks() for rid in part]

    def duplicates(self) -> list[str]:
        """The ids held by more than one record, in the order of their first record (what
        ``Counter`` of every id lists first): hashes find the candidates, then only their
        records' ids are compared."""
        if self._unhashed is not None:  # the linked ids of the old store: hashed once, here
            a, b = self._unhashed
            for s in range(a, b, RECORD_CHUNK):
                part = self._written_ids(s, min(s + RECORD_CHUNK, b))
                self._hashes.insert(s // RECORD_CHUNK, np.fromiter(map(hash, part), np.int64, len(part)))
            self._unhashed = None
        hashes = self._hashes + [np.fromiter(map(hash, self.pending), np.int64, len(self.pending))]
        every = np.concatenate(hashes) if hashes else np.empty(0, np.int64)
        ordered = np.sort(every)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if repeated.size == 0:
            return []
        candidates: list[str] = []
        pos = 0
        for part in self.chunks():
            hit = np.flatnonzero(np.isin(every[pos:pos + len(part)], repeated))
            candidates.extend(part[i] for i in hit)
            pos += len(part)
        return [rid for rid, count in Counter(candidates).items() if count > 1]
