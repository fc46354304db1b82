"""zarr v3 record store: ragged records as flat per-token arrays plus offsets.

Layout of one store (a zarr group)::

    offsets          int64 [N+1]     record i holds tokens offsets[i]:offsets[i+1]
    fields/<name>    [T, ...]        one flat array per per-token field
    meta/<name>      [N, ...]        per-record scalars / small arrays
    ids              str [N]         optional record ids
    attrs["encoderkit"] = {format_version, domain, schema, provenance, fields, meta, ...}

The ``encoderkit`` attribute block is written last, by ``finalize``: a group
without it is an unfinished ingest and is refused. Local stores are also written
under ``<path>.tmp-<pid>`` and renamed into place, so an interrupted ingest leaves
nothing at ``path``. An append (``StoreWriter.start_from``) hard-links the old
store's whole chunks (tokens; meta and ids where stored alike) into that temporary instead
of copying its records, once their files pass a check (``store_check``).
Any location zarr opens works (local directory, fsspec URL such as
``s3://bucket/x.zarr``, a ``zarr.storage.MemoryStore``).

Reading: zarr costs a fraction of a millisecond per call, so small stores are
best loaded into numpy once (``in_memory=True``, or ``"auto"``: below
``AUTO_IN_MEMORY_BYTES``); then a record is a few array slices.

This module reads (``RecordStore``); the writer is ``store_writer.py``, what both share
``store_format.py``, the stamp and identity checks ``store_identity.py`` and the zarr helpers
``store_zarr.py``. Every name stays importable from here.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import zarr

from encoderkit.data.split import split_indices
from encoderkit.data.store_check import attribute_problem
from encoderkit.data.store_chunks import ChunkFailure, LocalChunks, chunk_text, failing_chunk
from encoderkit.data.store_format import ATTR, FORMAT_VERSION, StoreError, StorePath, _describe, _is_local
from encoderkit.data.store_identity import _stamp, records_identity, recover_stranded
from encoderkit.data.store_views import FieldView
from encoderkit.data.store_writer import WRITTEN_MEANWHILE, StoreWriter
from encoderkit.data.store_zarr import _read_options, settle_zarr_writes, url_package_problem

__all__ = [
    "FORMAT_VERSION", "ATTR", "AUTO_IN_MEMORY_BYTES", "READ_RETRIES", "READ_BACKOFF_S", "StorePath",
    "StoreError", "RecordStore", "records_identity", "recover_stranded",
    # store_writer and store_zarr
    "StoreWriter", "WRITTEN_MEANWHILE", "settle_zarr_writes",
]

# in_memory="auto" loads stores below this size; ENCODERKIT_IN_MEMORY_MB overrides it (benchmarks,
# small machines). Larger stores are read by the chunk-aware loader (chunked.py).
AUTO_IN_MEMORY_BYTES = int(float(os.environ.get("ENCODERKIT_IN_MEMORY_MB", 2048)) * 2**20)
# Reads from remote stores (URLs) are retried: object stores fail transiently (throttling,
# dropped connections). A local read error is a corrupt file and is not retried.
READ_RETRIES = 4
READ_BACKOFF_S = 0.2  # first wait; doubles after each failed attempt
_sleep = time.sleep  # the retry wait (tests replace it)


class RecordStore:
    """Read a finished store: ``len``, ``store[i]``, ``read_many``, iteration, ``split``.

    ``store[i]`` is a dict of the token fields (numpy ``[L, ...]``), the meta
    values and ``"id"``. ``in_memory``: True loads every array once; "auto" does so
    below ``AUTO_IN_MEMORY_BYTES``. ``expect_domain`` refuses a store of another domain.
    """

    def __init__(self, path: StorePath, in_memory: bool | str = False,
                 expect_domain: str | None = None) -> None:
        self.path = path
        self.where = where = _describe(path)
        if _is_local(path) and not Path(path).exists():
            recover_stranded(Path(path))  # an overwrite killed between its renames left it aside
        if _is_local(path) and not Path(path).exists():
            raise StoreError(f"{where}: no such record store (path does not exist)")
        # what was at the path when it was opened: a read (check_unchanged) and an append can
        # tell it was replaced since; kept absolute, so a later change of directory is no change
        self._stamp_path = Path(path).absolute() if isinstance(path, (str, os.PathLike)) and _is_local(path) else None
        self.opened_stamp = _stamp(self._stamp_path) if self._stamp_path is not None else None
        if missing := url_package_problem(path):  # s3:// without s3fs is no "not a record store"
            raise StoreError(f"{where}: {missing}")
        try:
            # a local store opened by its absolute path: zarr resolves a relative one against the
            # current directory at each read, so a later os.chdir read zeros from elsewhere
            opened = os.fspath(self._stamp_path) if self._stamp_path is not None else path
            group = zarr.open_group(opened, mode="r", **_read_options(path))
        except Exception as e:
            raise StoreError(f"{where}: not a record store (cannot open it as a zarr group: {e})") from None
        info = group.attrs.get(ATTR)
        if not isinstance(info, Mapping):
            raise StoreError(f"{where}: not a finished encoderkit record store (no {ATTR!r} attribute block; "
                             f"an interrupted ingest leaves none)")
        version = info.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise StoreError(f"{where}: store format version {version!r} is not supported; this encoderkit "
                             f"reads versions 1..{FORMAT_VERSION} (written by encoderkit "
                             f"{info.get('encoderkit_version', '?')}; upgrade encoderkit or re-ingest)")
        if problem := attribute_problem(info):  # each key read below has the type it is read as
            raise StoreError(f"{where}: the store's {ATTR!r} attribute block has {problem} "
                             f"(truncated or corrupt store)")
        self.info = dict(info)
        self.domain: str = str(info.get("domain"))
        if expect_domain is not None and self.domain != expect_domain:
            raise StoreError(f"{where}: store holds domain {self.domain!r} records, expected {expect_domain!r}")
        self.schema: dict[str, Any] = dict(info.get("schema") or {})
        self.provenance: dict[str, Any] = dict(info.get("provenance") or {})
        self._group = group
        try:
            self._fields = {k: group[f"fields/{k}"] for k in info["fields"]}
            self._meta = {k: group[f"meta/{k}"] for k in info["meta"]}
            self._ids = group["ids"] if info.get("has_ids") else None
            offsets_arr = group["offsets"]
        except KeyError as e:
            raise StoreError(f"{where}: store is missing array {e} (truncated or corrupt store)") from None
        self.remote = not _is_local(path) and not isinstance(path, zarr.abc.store.Store)
        self.offsets = self._read(offsets_arr, "offsets", slice(None)).astype(np.int64, copy=False)
        self._offsets_chunk = int(offsets_arr.chunks[0])
        self._validate(info)
        # tokens per chunk of each token field: the chunk-aware loader aligns its reads to these
        self.token_chunks: dict[str, int] = {k: int(a.chunks[0]) for k, a in self._fields.items()}
        self._direct: dict[str, LocalChunks] | None = None
        if in_memory == "auto":
            in_memory = self.nbytes < AUTO_IN_MEMORY_BYTES
        elif not isinstance(in_memory, bool):
            raise ValueError(f"The 'in_memory' parameter must be True, False or 'auto'. Got {in_memory!r}.")
        self.in_memory = False
        self._memory_copy: RecordStore | None = None
        if in_memory:
            self._load_arrays()

    @property
    def identity(self) -> str:
        """A digest of the records the store holds, so that a resumed run can tell that it
        still trains on them (``records_identity``). A store moved, or re-ingested from the
        same files, keeps its identity; one appended to does not."""
        return records_identity(self.provenance, self.info, self.offsets)

    def _load_arrays(self) -> None:
        self._fields = {k: self._read(a, f"fields/{k}", slice(None)) for k, a in self._fields.items()}
        self._meta = {k: self._read(a, f"meta/{k}", slice(None)) for k, a in self._meta.items()}
        if self._ids is not None:
            self._ids = self._read(self._ids, "ids", slice(None))
        self.in_memory = True

    def to_memory(self) -> RecordStore:
        """This store with every array loaded into numpy (itself if already loaded). The copy is
        cached, so loaders built repeatedly on one store load it once."""
        if self.in_memory:
            return self
        if self._memory_copy is None:
            copy = object.__new__(RecordStore)
            copy.__dict__.update(self.__dict__)
            copy._load_arrays()
            self._memory_copy = copy
        return self._memory_copy

    def reopen(self) -> RecordStore:
        """This store with fresh array handles (same offsets and info). A forked DataLoader
        worker needs it for a URL store: the parent's HTTP session belongs to the parent's
        event loop."""
        if self.in_memory or not self.remote:
            return self
        copy = object.__new__(RecordStore)
        copy.__dict__.update(self.__dict__)
        group = zarr.open_group(self.path, mode="r", **_read_options(self.path))
        copy._group = group
        copy._fields = {k: group[f"fields/{k}"] for k in self._fields}
        copy._meta = {k: group[f"meta/{k}"] for k in self._meta}
        copy._ids = group["ids"] if self._ids is not None else None
        copy._memory_copy = None
        return copy

    # ---- checks ----
    def check_unchanged(self) -> None:
        """Refuse, naming the store, when another store now lies at its path: an ``ingest``
        with ``overwrite=true`` (or ``append=true``) renamed a new one into place while this
        command read it. Its chunk files are read by path, so reads after the rename would
        come from the new store at the old one's offsets (zarr reads a chunk missing in the
        gap between the two renames as zeros). Called after every read of a local store, so no
        record read is used once the store changed, and once more by each reader (embed,
        predict, evaluate) before it publishes its output, so an output never mixes the
        two stores. It costs a stat of one folder (about 4 us; 6 checks per ``read_range``:
        under 1% of a full pass over a table store, profiled)."""
        if self.opened_stamp is not None and _stamp(self._stamp_path) != self.opened_stamp:
            raise StoreError("was replaced while this command read it (an ingest with overwrite=true "
                             "or append=true of it?); rerun once that has finished", file=self.where)

    def _read(self, arr: Any, name: str, sel: Any) -> np.ndarray:
        attempts = 1 + (READ_RETRIES if getattr(self, "remote", False) else 0)
        for attempt in range(attempts):
            try:
                out = arr[sel]
                break
            except Exception as e:
                if attempt + 1 < attempts:
                    _sleep(READ_BACKOFF_S * 2 ** attempt)
                    continue
                tried = f" after {attempts} attempts" if attempts > 1 else ""
                self.check_unchanged()  # a chunk gone with a replaced store: say that instead
                raise StoreError(f"{self.where}: cannot read array {name!r} {failing_chunk(arr, sel)}{tried} "
                                 f"(corrupt or unreachable store? {type(e).__name__}: {e})",
                                 file=self.where, key=name) from None
        self.check_unchanged()  # after the read: what it returned came from the store opened
        out = np.asarray(out)
        if out.dtype.kind == "T":  # numpy StringDType from zarr string arrays -> fixed-width str
            out = out.astype(object).astype(str)
        return out if out.ndim else out[()]

    def _validate(self, info: Mapping[str, Any]) -> None:
        where, off = self.where, self.offsets
        n = info.get("num_records")
        if off.ndim != 1 or off.shape[0] != n + 1:
            raise StoreError(f"{where}: offsets has shape {off.shape}, expected [{n + 1}] for {n} records "
                             f"(truncated store)")
        if off[0] != 0 or (off.shape[0] > 1 and (np.diff(off) < 0).any()):
            # a lost offsets chunk reads as its fill value -1: say which chunk
            at = 0 if off[0] != 0 else int(np.flatnonzero(np.diff(off) < 0)[0]) + 1
            raise StoreError(f"{where}: offsets are not a non-decreasing sequence from 0 (at entry {at}: offsets "
                             f"chunk {at // self._offsets_chunk} is missing or corrupt; corrupt store)")
        for k, a in self._fields.items():
            spec = info["fields"][k]
            if a.shape[0] != off[-1]:
                raise StoreError(f"{where}: field {k!r} holds {a.shape[0]} tokens but offsets end at "
                                 f"{int(off[-1])} (truncated or corrupt store)")
            if list(a.shape[1:]) != list(spec["shape"]) or str(a.dtype) != spec["dtype"]:
                raise StoreError(f"{where}: field {k!r} is {a.dtype}{list(a.shape[1:])}, the store's "
                                 f"attributes say {spec['dtype']}{spec['shape']} (corrupt store)")
        for k, a in self._meta.items():
            if a.shape[0] != n:
                raise StoreError(f"{where}: meta {k!r} has {a.shape[0]} rows for {n} records (corrupt store)")
        if self._ids is not None and self._ids.shape[0] != n:
            raise StoreError(f"{where}: ids has {self._ids.shape[0]} rows for {n} records (corrupt store)")

    # ---- properties ----
    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    @property
    def field_names(self) -> list[str]:
        return list(self._fields)

    @property
    def meta_names(self) -> list[str]:
        return list(self._meta)

    @property
    def lengths(self) -> np.ndarray:
        """int64 [N] tokens per record."""
        return np.diff(self.offsets)

    @property
    def token_bytes(self) -> int:
        """Bytes per token summed over the token fields (uncompressed)."""
        return sum(a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)) for a in self._fields.values())

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])

    @property
    def nbytes(self) -> int:
        """Uncompressed size of all arrays (what ``in_memory`` would load)."""
        total = self.offsets.nbytes
        for a in list(self._fields.values()) + list(self._meta.values()):
            total += int(np.prod(a.shape, dtype=np.int64)) * (a.dtype.itemsize if a.dtype.kind != "T" else 16)
        return total

    def split(self, name: str, fraction: float = 0.05, seed: int = 0) -> np.ndarray:
        """Record indices of the "train" or "validation" split (see ``split.py``)."""
        return split_indices(len(self), name, fraction, seed)

    # ---- reading ----
    def _index(self, i: int) -> int:
        n = len(self)
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"record index {i} out of range for a store of {n} records")
        return i

    def _record_id(self, i: int) -> str:
        if self._ids is None:
            return str(i)
        if self.in_memory:
            return str(self._ids[i])
        return str(self._read(self._ids, "ids", i))

    def record_ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The ids of records ``start..stop-1`` (their positions as text in a store without
        ids), read from the ids array alone: no tokens are read."""
        stop = len(self) if stop is None else stop
        if stop <= start:
            return []
        if self._ids is None:
            return [str(i) for i in range(start, stop)]
        ids = self._ids[start:stop] if self.in_memory else self._read(self._ids, "ids", slice(start, stop))
        return [str(i) for i in ids]

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = self._index(i)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        if self.in_memory:
            rec: dict[str, Any] = {k: v[a:b] for k, v in self._fields.items()}
            for k, v in self._meta.items():
                rec[k] = v[i]
        else:
            rec = {k: self._read(v, f"fields/{k}", slice(a, b)) for k, v in self._fields.items()}
            for k, v in self._meta.items():
                rec[k] = self._read(v, f"meta/{k}", i)
        rec["id"] = self._record_id(i)
        return rec

    def _read_tokens(self, name: str, a: int, b: int) -> np.ndarray:
        if self._direct is None:
            self._direct = {}
            if isinstance(self.path, (str, os.PathLike)) and _is_local(self.path):
                for k, arr in self._fields.items():
                    # an array layout this fast path does not know: zarr reads it
                    with contextlib.suppress(Exception):
                        self._direct[k] = LocalChunks(self._stamp_path or Path(self.path), arr)
        direct = self._direct.get(name)
        if direct is not None and b > a:
            try:
                out = direct.read(a, b)
                self.check_unchanged()  # as _read does: these chunk files are read by path too
            except ChunkFailure as e:
                self.check_unchanged()
                raise StoreError(f"{self.where}: cannot read array 'fields/{name}' {e} (corrupt store?)",
                                 file=self.where, key=f"fields/{name}") from None
            except OSError as e:
                self.check_unchanged()
                raise StoreError(f"{self.where}: cannot read array 'fields/{name}' "
                                 f"{chunk_text(self._fields[name], slice(a, b))} ({e})",
                                 file=self.where, key=f"fields/{name}") from None
            if out is not None:
                return out
        return self._read(self._fields[name], f"fields/{name}", slice(a, b))

    def read_range(self, start: int, stop: int, ids: bool = True,
                   views_above: int | None = None) -> list[dict[str, Any]]:
        """Records ``start..stop-1`` with one read per array (fast for zarr-backed stores).
        ``ids=False`` leaves out ``"id"`` (decoding a string chunk costs as much as the tokens).
        ``views_above``: a record of more tokens comes with ``FieldView`` s for its token fields,
        read where they are sliced (``store_views``; a zarr-backed store only: a loaded one's
        slices are views already); the records between are read as before."""
        if self.in_memory:
            return [self[i] for i in range(start, stop)]
        if stop <= start:
            return []
        if views_above is not None:
            long = start + np.flatnonzero(np.diff(self.offsets[start:stop + 1]) > views_above)
            if long.size:
                out: list[dict[str, Any]] = []
                for a, r in zip([start, *(long + 1).tolist()], [*long.tolist(), None]):
                    out += self.read_range(a, stop if r is None else r, ids)
                    if r is not None:
                        out.append(self._view_record(r, ids))
                return out
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        fields = {k: self._read_tokens(k, a, b) for k in self._fields}
        meta = {k: self._read(v, f"meta/{k}", slice(start, stop)) for k, v in self._meta.items()}
        want_ids = ids
        ids = self._read(self._ids, "ids", slice(start, stop)) if self._ids is not None and want_ids else None
        out: list[dict[str, Any]] = []
        for j, i in enumerate(range(start, stop)):
            s, e = int(self.offsets[i]) - a, int(self.offsets[i + 1]) - a
            rec: dict[str, Any] = {k: v[s:e] for k, v in fields.items()}
            for k, v in meta.items():
                rec[k] = v[j]
            if want_ids:
                rec["id"] = str(ids[j]) if ids is not None else str(i)
            out.append(rec)
        return out

    def read_many(self, indices: Sequence[int] | np.ndarray, views_above: int | None = None) -> list[dict[str, Any]]:
        """Records at ``indices`` (in that order); runs of consecutive indices are read at once.
        ``views_above``: as ``read_range``'s (a longer record's token fields as views)."""
        idx = [self._index(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
        if self.in_memory:
            return [self[i] for i in idx]
        out: list[dict[str, Any]] = []
        j = 0
        while j < len(idx):
            k = j + 1
            while k < len(idx) and idx[k] == idx[k - 1] + 1:
                k += 1
            if k - j > 1 or views_above is not None:
                out.extend(self.read_range(idx[j], idx[k - 1] + 1, views_above=views_above))
            else:
                out.append(self[idx[j]])
            j = k
        return out

    def _view_record(self, i: int, ids: bool = True) -> dict[str, Any]:
        """Record ``i`` with a ``FieldView`` per token field (read when sliced), its meta
        values and (``ids``) its id."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])

        def reader(name: str) -> Any:
            return lambda s, e: self._read_tokens(name, a + s, a + e)
        rec: dict[str, Any] = {k: FieldView(b - a, tuple(v.shape[1:]), v.dtype, reader(k), origin=a,
                                            align=self.token_chunks[k]) for k, v in self._fields.items()}
        for k, v in self._meta.items():
            rec[k] = self._read(v, f"meta/{k}", i)
        if ids:
            rec["id"] = self._record_id(i)
        return rec

    def __iter__(self) -> Iterator[dict[str, Any]]:
        block = 1024
        for start in range(0, len(self), block):
            yield from self.read_range(start, min(start + block, len(self)))

    def __repr__(self) -> str:
        return (f"RecordStore({self.where!r}, domain={self.domain!r}, records={len(self)}, "
                f"tokens={self.num_tokens}, in_memory={self.in_memory})")
