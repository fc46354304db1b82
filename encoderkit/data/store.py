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
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import zarr

from encoderkit.data.split import split_indices
from encoderkit.data.store_columns import (BaseArray, Blocks, IdColumn, RaggedMeta, UnsupportedMeta,
                                           record_chunks, write_meta)
from encoderkit.data.store_check import damaged_chunk
from encoderkit.data.store_chunks import ChunkFailure, LocalChunks, chunk_text, failing_chunk
from encoderkit.data.store_link import NO_LINK, layout, link_chunks
from encoderkit.errors import DataError

FORMAT_VERSION = 1
ATTR = "encoderkit"
# in_memory="auto" loads stores below this size; ENCODERKIT_IN_MEMORY_MB overrides it (benchmarks,
# small machines). Larger stores are read by the chunk-aware loader (chunked.py).
AUTO_IN_MEMORY_BYTES = int(float(os.environ.get("ENCODERKIT_IN_MEMORY_MB", 2048)) * 2**20)
# 256 KiB (uncompressed) per chunk of a token field: a record read touches 1-2 chunks and
# decompresses them whole, so smaller chunks read faster (measured: 1 MiB ~6x slower per record
# than 16 KiB) while larger ones mean fewer files; see benchmarks/data_throughput.py.
_TOKEN_CHUNK_BYTES = 1 << 18
# token chunks buffered per field before a write: each zarr append also rewrites the array's
# metadata (one more request on object storage), so write several chunks per append
_FLUSH_CHUNKS = 8
# a record's arrays cost ~100 bytes each beyond their data: a buffer of records of a few tokens
# (table rows) joins every this many into one array, so it costs its data, not its records
_JOIN_PIECES = 1024
# Reads from remote stores (URLs) are retried: object stores fail transiently (throttling,
# dropped connections). A local read error is a corrupt file and is not retried.
READ_RETRIES = 4
READ_BACKOFF_S = 0.2  # first wait; doubles after each failed attempt
_sleep = time.sleep  # the retry wait (tests replace it)

StorePath = str | os.PathLike | zarr.abc.store.Store
# an ingest whose output another process replaced meanwhile (two appends of one store at once)
WRITTEN_MEANWHILE = ("was written by another process while this ingest ran; this one wrote nothing "
                     "(run it again once the other has finished)")


class StoreError(DataError):
    """A store that cannot be read or written: names the location and the problem."""


def _describe(path: StorePath) -> str:
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    return f"<{type(path).__name__}>"


def _is_local(path: StorePath) -> bool:
    return isinstance(path, os.PathLike) or (isinstance(path, str) and "://" not in path)


def _read_options(path: StorePath) -> dict[str, Any]:
    """fsspec options for reading a store at a URL. s3fs downloads an object with concurrent
    ranged GETs when it is large, and to know the size sends a HEAD first, for every object:
    a zarr chunk is small, so read it with one GET (this halves the requests)."""
    if isinstance(path, str) and path.split("://", 1)[0] in ("s3", "s3a"):
        return {"storage_options": {"max_concurrency": 1}}
    return {}


def _json_safe(value: Any, what: str, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise StoreError(f"{where}: the {what} must be JSON-serialisable ({e})") from None


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode of the folder, inode of its root ``zarr.json``) of a local store, None when
    absent. Every writer replaces a store by renaming a new folder over it, made while the
    old one still exists, so the folder's inode changes; the root file's inode guards against
    a filesystem that reuses the folder's number. Not the ctime: a ``chmod``, ``touch`` or a
    file a desktop drops into the folder changes it and refused reads of an unchanged store."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        root = os.stat(path / "zarr.json").st_ino
    except OSError:
        root = -1
    return st.st_ino, root


def recover_stranded(target: Path) -> None:
    """Undo what a writer killed between ``finalize``'s two renames (``target ->
    <name>.old-<pid>``, ``<name>.tmp-<pid> -> target``) left: with no store at ``target``, the
    old store goes back there; once the new one is in place, the old one is removed. A
    warning says which (see ``outputs.restore_dead_replaced``)."""
    from encoderkit.outputs import _zarr_attrs, restore_dead_replaced

    def complete(p: Path) -> bool:
        return p.is_dir() and ATTR in (_zarr_attrs(p) or {})

    restore_dead_replaced(target.absolute(), complete=complete)


def settle_zarr_writes(timeout: float = 120.0) -> None:
    """Wait until zarr's event loop has no task left: the writes of a batch that kept running
    after one of them failed. Their errors are collected (not printed); a task still running
    after ``timeout`` seconds is left."""
    import asyncio

    try:  # zarr's own event loop: no public handle, so a zarr without it is simply not waited on
        from zarr.core import sync as zsync

        loop = zsync.loop[0]
    except (ImportError, AttributeError, IndexError, TypeError):
        return
    if loop is None or loop.is_closed() or not loop.is_running():
        return

    async def settle() -> None:
        me = asyncio.current_task()
        while pending := [t for t in asyncio.all_tasks() if t is not me and not t.done()]:
            await asyncio.wait(pending)  # a task's writes may start more tasks: look again
            for t in pending:
                if not t.cancelled():
                    t.exception()  # retrieved: asyncio logs no "exception was never retrieved"

    future = asyncio.run_coroutine_threadsafe(settle(), loop)
    try:
        future.result(timeout)
    except Exception:
        future.cancel()


class StoreWriter:
    """Append records, then ``finalize(schema, provenance)``.

    Use as a context manager: an exception inside the ``with`` block removes what
    was written, and leaving the block without ``finalize`` is an error.
    Token fields are buffered and written whole chunks at a time, ids too (a chunk of ids
    at a time); record lengths and meta values are held as numpy blocks (8 bytes a number,
    ``store_columns``) and written at the end.
    ``start_from(store)`` first takes a local store's records without copying them (append).
    """

    def __init__(self, path: StorePath, domain: str, overwrite: bool = False,
                 chunk_bytes: int = _TOKEN_CHUNK_BYTES) -> None:
        self.path = path
        self.domain = str(domain)
        self.overwrite = bool(overwrite)
        self.where = _describe(path)
        self._chunk_bytes = int(chunk_bytes)
        self._finalized = False
        self._closed = False
        self._lengths = Blocks(np.int64)
        self._field_spec: dict[str, tuple[np.dtype, tuple[int, ...]]] | None = None
        self._buffers: dict[str, list[np.ndarray]] = {}
        self._buffered: dict[str, int] = {}
        self._loose: dict[str, int] = {}  # arrays at the end of a buffer not yet joined
        self._chunks: dict[str, int] = {}
        self._meta: dict[str, Blocks] | None = None
        self._ids: IdColumn | None = None
        # the store this writer started from (start_from) and its offsets: its meta is written
        # (linked where it can be) at finalize
        self._base: RecordStore | None = None
        self._base_offsets: np.ndarray | None = None
        self.copy_reason: str | None = None  # why start_from could not link (then records are copied)

        if _is_local(path):
            from encoderkit.outputs import check_output, is_store, remove_dead_temporaries

            target = Path(path)
            # what killed writers left (even where this write is refused): a store moved aside
            # between the two renames of finalize goes back, their temporaries go
            recover_stranded(target)
            remove_dead_temporaries(target.absolute().parent, f"{target.name}.tmp-")
            # overwrite replaces a store only, never a folder of the user's files
            check_output(target, self.overwrite, what="a record store", recognise=is_store)
            # folders this writer creates, deepest first: an aborted write removes them again
            self._made = [p for p in target.absolute().parents if not p.exists()]
            self._tmp: Path | None = target.with_name(f"{target.name}.tmp-{os.getpid()}")
            # what is at the target now: another writer that replaces it meanwhile is noticed
            self._found = _stamp(target)
            try:
                if self._tmp.exists():
                    shutil.rmtree(self._tmp)
                self._group = zarr.open_group(str(self._tmp), mode="w")
                self._group.create_group("fields")
                self._group.create_group("meta")
            except OSError as e:  # a full disk, a read-only folder: nothing may stay behind
                self.abort()
                raise self._write_error(e) from None
        else:
            # No rename exists for URLs / in-memory stores: the attribute block written
            # last by finalize is what marks the store complete.
            self._tmp = None
            if not self.overwrite:
                try:
                    existing = zarr.open_group(path, mode="r")
                except (FileNotFoundError, zarr.errors.BaseZarrError):
                    existing = None  # nothing there (or not a group): nothing to protect
                if existing is not None and ATTR in existing.attrs:
                    raise StoreError(f"{self.where}: already holds a store; pass overwrite=True")
            self._group = zarr.open_group(path, mode="w")
            self._group.create_group("fields")
            self._group.create_group("meta")

    # ---- context manager ----
    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        if not self._finalized and not self._closed:
            self.abort()
            raise StoreError(f"{self.where}: writer closed without finalize(); nothing was written")

    def _write_error(self, exc: OSError) -> StoreError:
        """A failed write (``ENOSPC``, ``EROFS``, ...) as one line naming the store, not the input."""
        return StoreError(f"cannot write the store: {exc.strerror or exc}", file=self.where)

    def abort(self) -> None:
        """Discard everything written so far."""
        if self._closed:
            return
        self._closed = True
        # zarr writes a chunk batch as concurrent tasks and returns at the first failure (a
        # full disk) while the others still run: they would recreate the temporary after it
        # is removed, and print "Task was destroyed but it is pending!" at exit
        settle_zarr_writes()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            for folder in self._made:
                try:
                    folder.rmdir()  # only if still empty
                except OSError:
                    break
        else:
            # best effort while another error propagates: an empty group, no attribute block
            with contextlib.suppress(Exception):
                zarr.open_group(self.path, mode="w")

    # ---- appending ----
    def __len__(self) -> int:
        base = 0 if self._base_offsets is None else self._base_offsets.shape[0] - 1
        return base + len(self._lengths)

    @property
    def ids(self) -> list[str] | None:
        """The record ids appended so far (None when records carry no id): a list of them all,
        read back from the store; ``duplicate_ids`` finds repeated ones without it."""
        return None if self._ids is None else self._ids.all()

    def duplicate_ids(self) -> list[str]:
        """The ids held by more than one record so far, in the order of their first record."""
        return [] if self._ids is None else self._ids.duplicates()

    def append(self, fields: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None,
               id: str | None = None) -> int:
        """Add one record; return its index."""
        if self._closed or self._finalized:
            raise StoreError(f"{self.where}: append after finalize/abort")
        index = len(self)
        arrays = {k: np.asarray(v) for k, v in fields.items()}
        if not arrays:
            raise StoreError(f"{self.where}: record {index} has no fields")
        if self._field_spec is None:
            try:
                self._start_fields(arrays)
            except OSError as e:
                raise self._write_error(e) from None
        spec = self._field_spec
        if set(arrays) != set(spec):
            raise StoreError(f"{self.where}: record {index} has fields {sorted(arrays)}, "
                             f"the store has {sorted(spec)}")
        length = None
        for name, a in arrays.items():
            dtype, trailing = spec[name]
            if a.ndim < 1 or a.shape[1:] != trailing:
                raise StoreError(f"{self.where}: record {index} field {name!r} has shape {a.shape}; "
                                 f"expected [L, {', '.join(map(str, trailing))}]".replace(", ]", "]"))
            if length is None:
                length = a.shape[0]
            elif a.shape[0] != length:
                raise StoreError(f"{self.where}: record {index} fields have different lengths "
                                 f"({ {k: v.shape[0] for k, v in arrays.items()} })")
            if a.dtype != dtype:
                if not np.can_cast(a.dtype, dtype, casting="same_kind"):
                    raise StoreError(f"{self.where}: record {index} field {name!r} has dtype {a.dtype}, "
                                     f"the store has {dtype}")
                arrays[name] = a.astype(dtype)
        # every check passes before anything is buffered, so a refused record leaves no trace
        meta = dict(meta or {})
        if self._meta is not None and set(meta) != set(self._meta):
            raise StoreError(f"{self.where}: record {index} has meta keys {sorted(meta)}, "
                             f"record 0 had {sorted(self._meta)}")
        if index == 0:
            self._ids = IdColumn(self._group) if id is not None else None
        if (id is None) != (self._ids is None):
            raise StoreError(f"{self.where}: record {index} {'has no' if id is None else 'has an'} id, "
                             f"unlike record 0: give ids for all records or none")
        for name, a in arrays.items():
            buffer = self._buffers[name]
            buffer.append(a)
            self._buffered[name] += a.shape[0]
            self._loose[name] += 1
            if self._loose[name] >= _JOIN_PIECES:
                buffer[-_JOIN_PIECES:] = [np.concatenate(buffer[-_JOIN_PIECES:])]
                self._loose[name] = 0
            if self._buffered[name] >= self._chunks[name] * _FLUSH_CHUNKS:
                try:
                    self._flush(name, final=False)
                except OSError as e:
                    raise self._write_error(e) from None
        self._lengths.append(int(length))
        self._append_meta(index, meta)
        if self._ids is not None:
            try:
                self._ids.append(str(id))
            except OSError as e:
                raise self._write_error(e) from None
        return index

    def start_from(self, base: RecordStore) -> bool:
        """Begin with the records of the local store ``base`` (an append), before any ``append``.

        Returns True when done without copying: each token field's chunk files that lie wholly
        below ``base``'s token count are hard-linked into this writer's temporary (nothing ever
        writes them again: later writes start at that chunk boundary, and zarr deletes chunks
        only when an array shrinks), the tokens of its last partial chunk go into the buffer;
        the whole chunks of its ids, and of each meta array whose dtype the appended values
        keep, are linked likewise (ids now, meta at ``finalize``), and offsets are rewritten.
        So the cost is the chunk count plus one chunk per array, not the store's size, and
        ``base`` is never written. A chunk file to be linked that is damaged (empty, truncated,
        not a chunk of its array: ``store_check``) refuses the append with a ``StoreError``
        naming the store, array and chunk. Returns False, with ``copy_reason`` saying why and
        the writer still empty, where that cannot be done (a URL, a layout this writer would not
        produce, a file system without hard links): the caller then appends ``base``'s records.
        """
        if self._closed or self._finalized or len(self) or self._field_spec is not None:
            raise StoreError(f"{self.where}: start_from must come before any record is appended")
        self.copy_reason = self._link_refusal(base)
        if self.copy_reason is None:
            self._check_linkable(base)
            self.copy_reason = self._link_fields(base)
        if self.copy_reason is not None:  # back to an empty writer
            for name in self._field_spec or {}:
                shutil.rmtree(self._tmp / "fields" / name, ignore_errors=True)
            self._field_spec, self._buffers, self._buffered, self._chunks, self._loose = None, {}, {}, {}, {}
            return False
        tokens = base.num_tokens
        for name, (dtype, _) in (self._field_spec or {}).items():  # the old partial last chunk
            start = (tokens // self._chunks[name]) * self._chunks[name]  # continues in the buffer
            if start < tokens:
                tail = base._read(base._group[f"fields/{name}"], f"fields/{name}", slice(start, tokens))
                self._buffers[name] = [np.asarray(tail, dtype=dtype)]
                self._buffered[name] = tokens - start
        self._base, self._base_offsets = base, np.asarray(base.offsets, dtype=np.int64)
        self._meta = {k: Blocks() for k in base.meta_names}
        if base.info.get("has_ids"):
            self._ids = IdColumn(self._group)
            try:
                self._ids.start_from(_base_array(base, "ids"), self._tmp / "ids")
            except OSError as e:
                raise self._write_error(e) from None
        return True

    def _link_refusal(self, base: RecordStore) -> str | None:
        """Why ``base`` cannot be linked into this writer (None when it can be tried)."""
        if self._tmp is None or not isinstance(base.path, (str, os.PathLike)) or not _is_local(base.path):
            return "not a local store"
        if len(base) == 0 or not base.field_names:
            return "the store holds no records"
        if Path(base.path).absolute() == Path(self.path).absolute() \
                and getattr(base, "opened_stamp", self._found) != self._found:
            raise StoreError(WRITTEN_MEANWHILE, file=self.where)
        return None

    def _check_linkable(self, base: RecordStore) -> None:
        """Refuse ``base`` when a chunk file an append would link is damaged (``store_check``):
        its whole chunks of tokens, meta and ids. Nothing is written before this."""
        n = len(base)
        arrays = ([(f"fields/{k}", base.num_tokens) for k in base.field_names]
                  + [(f"meta/{k}", n) for k in base.meta_names] + ([("ids", n)] if base.info.get("has_ids") else []))
        for name, rows in arrays:
            arr = base._group[name]
            found = damaged_chunk(Path(base.path) / arr.path, arr.metadata, rows // int(arr.chunks[0]))
            if found is not None:
                k, key, problem = found
                raise StoreError(f"{base.where}: cannot append to this store: array {name!r} chunk {k} "
                                 f"(file {name}/{key}) is damaged: {problem}. Nothing was written and "
                                 f"the store is as it was; restore it from a copy or ingest it again",
                                 file=base.where, key=name)

    def _link_fields(self, base: RecordStore) -> str | None:
        """Create the token fields as ``base`` has them, cut at the last whole chunk, and
        hard-link those chunks' files; None when done, else why it cannot be done here."""
        tokens = base.num_tokens
        spec = {k: (np.dtype(base.info["fields"][k]["dtype"]), tuple(base.info["fields"][k]["shape"]))
                for k in base.field_names}
        try:
            self._start_fields({k: np.empty((0, *shape), dtype) for k, (dtype, shape) in spec.items()})
            for name, (_, shape) in spec.items():
                old, new = base._group[f"fields/{name}"], self._group["fields"][name]
                below = tokens // self._chunks[name]  # chunks wholly below the old token count
                new.resize((below * self._chunks[name], *shape))  # metadata only: it grows
                if layout(old) != layout(new):
                    return f"field {name!r} is stored in another layout than this writer's"
                link_chunks(Path(base.path) / old.path, self._tmp / new.path, new.metadata, below)
        except OSError as e:
            if e.errno not in NO_LINK:
                raise self._write_error(e) from None
            return f"no hard links from {base.where} to {self._tmp} ({e.strerror or e})"
        return None

    def _start_fields(self, arrays: dict[str, np.ndarray]) -> None:
        self._field_spec = {}
        for name, a in arrays.items():
            if a.ndim < 1:
                raise StoreError(f"{self.where}: field {name!r} must be an array [L, ...], got a scalar")
            if a.dtype.kind not in "biuf":
                raise StoreError(f"{self.where}: field {name!r} has dtype {a.dtype}; "
                                 f"token fields must be bool, int, uint or float")
            self._field_spec[name] = (a.dtype, tuple(a.shape[1:]))
            per_token = a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
            self._chunks[name] = max(1024, self._chunk_bytes // max(per_token, 1))
            self._buffers[name] = []
            self._buffered[name] = 0
            self._loose[name] = 0
            self._group["fields"].create_array(
                name, shape=(0, *a.shape[1:]), dtype=a.dtype,
                chunks=(self._chunks[name], *a.shape[1:]))

    def _flush(self, name: str, final: bool) -> None:
        # Write whole chunks only (each chunk written once); keep the remainder buffered.
        data = np.concatenate(self._buffers[name]) if self._buffers[name] else None
        if data is None:
            return
        chunk = self._chunks[name]
        n = data.shape[0] if final else (data.shape[0] // chunk) * chunk
        if n:
            self._group["fields"][name].append(data[:n])
        rest = data[n:]
        self._buffers[name] = [rest] if rest.shape[0] else []
        self._buffered[name] = rest.shape[0]
        self._loose[name] = 0

    def _append_meta(self, index: int, meta: dict[str, Any]) -> None:
        if self._meta is None:
            self._meta = {k: Blocks() for k in meta}
        if set(meta) != set(self._meta):
            raise StoreError(f"{self.where}: record {index} has meta keys {sorted(meta)}, "
                             f"record 0 had {sorted(self._meta)}")
        for k, v in meta.items():
            self._meta[k].append(v)

    # ---- finishing ----
    def finalize(self, schema: Mapping[str, Any], provenance: Mapping[str, Any] | None = None) -> None:
        if self._finalized:
            raise StoreError(f"{self.where}: finalize called twice")
        try:
            self._write_rest(schema, provenance or {})
        except OSError as e:
            self.abort()
            raise self._write_error(e) from None
        except BaseException:
            self.abort()
            raise
        self._finalized = True
        self._closed = True

    def _write_rest(self, schema: Mapping[str, Any], provenance: Mapping[str, Any]) -> None:
        if self._base is not None and _stamp(Path(self.path)) != self._found:
            # before the old store's meta is read (RecordStore.check_unchanged would refuse the
            # read): said as an ingest says it
            raise StoreError(WRITTEN_MEANWHILE, file=self.where)
        schema = _json_safe(dict(schema), "schema", self.where)
        provenance = _json_safe(dict(provenance), "provenance", self.where)
        g = self._group
        for name in self._buffers:
            self._flush(name, final=True)
        n = len(self)
        offsets = np.zeros(n + 1, dtype=np.int64)
        b = 0 if self._base_offsets is None else self._base_offsets.shape[0] - 1
        if b:
            offsets[:b + 1] = self._base_offsets
        np.cumsum(self._lengths.array(), out=offsets[b + 1:])
        offsets[b + 1:] += offsets[b]
        # fill_value -1: a lost offsets chunk reads as -1 and fails the monotonicity check
        g.create_array("offsets", shape=offsets.shape, dtype=np.int64,
                       chunks=(record_chunks(n + 1),), fill_value=-1)[:] = offsets
        meta_spec = {}
        for k, values in (self._meta or {}).items():
            base = _base_array(self._base, f"meta/{k}") if self._base is not None else None
            folder = self._tmp / "meta" / k if self._tmp is not None else None
            try:
                meta_spec[k] = write_meta(g["meta"], k, n, values, base, folder)
            except RaggedMeta as e:
                raise StoreError(f"{self.where}: meta {k!r} differs in shape between records ({e})") from None
            except UnsupportedMeta as e:
                raise StoreError(f"{self.where}: meta {k!r} has values of dtype {e}; "
                                 f"meta must be numbers, bools, strings or small numeric arrays") from None
        if self._ids is not None:
            self._ids.finish()
        from encoderkit import __version__ as ek_version  # noqa: PLC0415 (avoid import cycle at load)
        g.attrs[ATTR] = {
            "format_version": FORMAT_VERSION,
            "domain": self.domain,
            "schema": schema,
            "provenance": provenance,
            "fields": {k: {"dtype": str(d), "shape": list(s)} for k, (d, s) in (self._field_spec or {}).items()},
            "meta": meta_spec,
            "num_records": n,
            "num_tokens": int(offsets[-1]),
            "has_ids": self._ids is not None,
            "encoderkit_version": ek_version,
        }
        if self._tmp is not None:
            target = Path(self.path)
            if _stamp(target) != self._found:
                # two ingests of one output at once (two appends, say): the later rename would
                # silently drop the records the other one wrote
                raise StoreError(WRITTEN_MEANWHILE, file=self.where)
            old = None
            if target.exists():
                # rename cannot replace a non-empty directory: move the old store aside first
                old = target.with_name(f"{target.name}.old-{os.getpid()}")
                os.replace(target, old)
            os.replace(self._tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


def _base_array(base: RecordStore, name: str) -> BaseArray:
    """Array ``name`` (``meta/<key>``, ``ids``) of the store an append starts from."""
    arr = base._group[name]
    return BaseArray(arr, len(base), lambda sel: base._read(arr, name, sel), Path(base.path) / arr.path)


def records_identity(provenance: Mapping[str, Any], info: Mapping[str, Any], offsets: np.ndarray) -> str:
    """``RecordStore.identity`` of a store with this provenance, attribute block and offsets:
    domain, schema, fields, counts, the sha256 of the source files and every record's length,
    not when or where it was written. ``ingest.run_records`` computes it for the store as it
    was before its appends."""
    import hashlib

    files = [f.get("sha256") or f.get("path") for f in provenance.get("files", []) if isinstance(f, Mapping)]
    described = {k: info.get(k) for k in ("domain", "schema", "fields", "meta", "num_records",
                                           "num_tokens", "has_ids")}
    described.update(files=files, options=provenance.get("options"))
    h = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(offsets, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]


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

    def read_range(self, start: int, stop: int, ids: bool = True) -> list[dict[str, Any]]:
        """Records ``start..stop-1`` with one read per array (fast for zarr-backed stores).
        ``ids=False`` leaves out ``"id"`` (decoding a string chunk costs as much as the tokens)."""
        if self.in_memory:
            return [self[i] for i in range(start, stop)]
        if stop <= start:
            return []
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        fields = {k: self._read_tokens(k, a, b) for k in self._fields}
        meta = {k: self._read(v, f"meta/{k}", slice(start, stop)) for k, v in self._meta.items()}
        want_ids = ids
        ids = self._read(self._ids, "ids", slice(start, stop)) if self._ids is not None and want_ids else None
        out = []
        for j, i in enumerate(range(start, stop)):
            s, e = int(self.offsets[i]) - a, int(self.offsets[i + 1]) - a
            rec: dict[str, Any] = {k: v[s:e] for k, v in fields.items()}
            for k, v in meta.items():
                rec[k] = v[j]
            if want_ids:
                rec["id"] = str(ids[j]) if ids is not None else str(i)
            out.append(rec)
        return out

    def read_many(self, indices: Sequence[int] | np.ndarray) -> list[dict[str, Any]]:
        """Records at ``indices`` (in that order); runs of consecutive indices are read at once."""
        idx = [self._index(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
        if self.in_memory:
            return [self[i] for i in idx]
        out: list[dict[str, Any]] = []
        j = 0
        while j < len(idx):
            k = j + 1
            while k < len(idx) and idx[k] == idx[k - 1] + 1:
                k += 1
            out.extend(self.read_range(idx[j], idx[k - 1] + 1) if k - j > 1 else [self[idx[j]]])
            j = k
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        block = 1024
        for start in range(0, len(self), block):
            yield from self.read_range(start, min(start + block, len(self)))

    def __repr__(self) -> str:
        return (f"RecordStore({self.where!r}, domain={self.domain!r}, records={len(self)}, "
                f"tokens={self.num_tokens}, in_memory={self.in_memory})")
