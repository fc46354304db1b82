"""Writing a record store: ``StoreWriter`` (records appended, then ``finalize``), including an
append that starts from an existing local store by hard-linking its chunks (``start_from``).

The store's layout and how a write is made safe (a temporary renamed into place, the attribute
block written last) are described in ``store.py``. Split out of it; ``StoreWriter`` stays
importable from there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import zarr

from encoderkit.data.store_columns import (BaseArray, Blocks, IdColumn, RaggedMeta, UnsupportedMeta,
                                           record_chunks, write_meta)
from encoderkit.data.store_check import damaged_chunk
from encoderkit.data.store_format import ATTR, FORMAT_VERSION, StoreError, StorePath, _describe, _is_local
from encoderkit.data.store_identity import _stamp, recover_stranded
from encoderkit.data.store_link import NO_LINK, layout, link_chunks
from encoderkit.data.store_zarr import settle_zarr_writes, url_package_problem

if TYPE_CHECKING:
    from encoderkit.data.store import RecordStore

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

# an ingest whose output another process replaced meanwhile (two appends of one store at once)
WRITTEN_MEANWHILE = ("was written by another process while this ingest ran; this one wrote nothing "
                     "(run it again once the other has finished)")


def _json_safe(value: Any, what: str, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise StoreError(f"{where}: the {what} must be JSON-serialisable ({e})") from None


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
            from encoderkit.outputs import check_output, is_store, remove_dead_temporaries, sibling, sibling_prefix

            target = Path(path)
            # what killed writers left (even where this write is refused): a store moved aside
            # between the two renames of finalize goes back, their temporaries go
            recover_stranded(target)
            remove_dead_temporaries(target.absolute().parent, sibling_prefix(target.name, "tmp", ""))
            # overwrite replaces a store only, never a folder of the user's files
            check_output(target, self.overwrite, what="a record store", recognise=is_store)
            # folders this writer creates, deepest first: an aborted write removes them again
            self._made = [p for p in target.absolute().parents if not p.exists()]
            self._tmp: Path | None = sibling(target, "tmp", "")  # shortened where the name is long
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
            if missing := url_package_problem(path):  # before zarr reaches the URL: one line, not a traceback
                raise StoreError(f"{self.where}: {missing}")
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
                from encoderkit.outputs import sibling

                old = sibling(target, "old", "")
                os.replace(target, old)
            os.replace(self._tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


def _base_array(base: RecordStore, name: str) -> BaseArray:
    """Array ``name`` (``meta/<key>``, ``ids``) of the store an append starts from."""
    arr = base._group[name]
    return BaseArray(arr, len(base), lambda sel: base._read(arr, name, sel), Path(base.path) / arr.path)
