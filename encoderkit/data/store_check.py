"""Cheap checks of a store's parts before they are used: the types of its ``encoderkit``
attribute block (``attribute_problem``, on every open), and the chunk files an append
hard-links from the store it appends to (the rest of this docstring).

An append (``StoreWriter.start_from``) takes the old store's whole chunks by hard link, without
reading them, so a damaged chunk file would pass silently into the new store and fail (or not)
at training time. Before linking, each such file is checked without decompressing it: a zero-byte
file, a file that is not a zstd frame (garbage bytes), a frame that says it holds another size
than a chunk of the array (numeric arrays), and a frame whose block headers run past the end of
the file (truncated) or stop before it (bytes appended) are refused. That costs a few small reads
per chunk file, as much as linking it. What it cannot see: bytes changed inside a compressed
block (the decoder finds those when the chunk is read, and the error names the chunk), and a
missing chunk file: zarr does not write a chunk of fill values (a numeric table's ``cat`` field,
a genome's ``soft`` mask without repeats have no chunk file at all), so a deleted chunk reads as
a chunk of zeros, like one never written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_MAX_BLOCK = 128 << 10  # Block_Maximum_Size (RFC 8878 3.1.1.2.3)


def zstd_problem(fd: int, size: int, raw: int | None) -> str | None:
    """Why the ``size`` bytes of file ``fd`` are not zstd frames holding ``raw`` bytes (None
    when they are, or when ``raw`` is None and the frames are whole). Reads headers only."""
    pos = total = 0
    while pos < size:
        head = os.pread(fd, 18, pos)
        if len(head) < 6 or int.from_bytes(head[:4], "little") != _ZSTD_MAGIC:
            if pos:
                return f"{size - pos} bytes after its zstd frame (garbage bytes?)"
            return "no zstd frame at byte 0 (garbage bytes?)"
        descriptor = head[4]  # Frame_Header_Descriptor
        fcs_flag, single = descriptor >> 6, (descriptor >> 5) & 1
        checksum, dict_flag = (descriptor >> 2) & 1, descriptor & 3
        if descriptor & 0x08:
            return f"a zstd frame header with its reserved bit set at byte {pos} (garbage bytes?)"
        at = pos + 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
        fcs_size = (1 if single else 0, 2, 4, 8)[fcs_flag]
        if at + fcs_size - pos > len(head):
            return f"truncated: the file ends inside a zstd frame header ({size} bytes)"
        if fcs_size:
            total += int.from_bytes(head[at - pos:at - pos + fcs_size], "little") + (256 if fcs_size == 2 else 0)
        else:
            raw = None  # a frame that does not say its size: only its structure can be checked
        at += fcs_size
        while True:
            block = os.pread(fd, 3, at)
            if len(block) < 3:
                return f"truncated: the file ends inside a zstd frame ({size} bytes)"
            value = int.from_bytes(block, "little")
            kind, length = (value >> 1) & 3, value >> 3
            if kind == 3 or length > _ZSTD_MAX_BLOCK:
                return f"an invalid zstd block header at byte {at} (garbage bytes?)"
            at += 3 + (1 if kind == 1 else length)
            if at > size:
                return f"truncated: the zstd frame needs more than the file's {size} bytes"
            if value & 1:  # the frame's last block
                break
        pos = at + 4 * checksum
        if pos > size:
            return f"truncated: the zstd frame needs more than the file's {size} bytes"
    if raw is not None and total != raw:
        return f"its zstd frame holds {total} bytes, a chunk of this array {raw}"
    return None


def chunk_problem(path: Path, meta: Any) -> str | None:
    """Why the chunk file at ``path`` cannot be a chunk of the array of metadata ``meta`` (None
    when it can be, or when this array's codecs give nothing to check)."""
    from zarr.codecs import BytesCodec, ZstdCodec  # noqa: PLC0415

    codecs = tuple(meta.codecs)
    dtype = meta.dtype.to_native_dtype() if hasattr(meta.dtype, "to_native_dtype") else np.dtype(meta.dtype)
    numeric = np.dtype(dtype).kind in "biuf"
    raw = int(np.prod(meta.chunk_grid.chunk_shape, dtype=np.int64)) * np.dtype(dtype).itemsize if numeric else None
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return "the file is empty"
        if codecs and isinstance(codecs[-1], ZstdCodec):
            return zstd_problem(fd, size, raw if numeric and isinstance(codecs[0], BytesCodec) else None)
        if len(codecs) == 1 and isinstance(codecs[0], BytesCodec) and raw is not None and size != raw:
            return f"it holds {size} bytes, a chunk of this array {raw}"
        return None
    finally:
        os.close(fd)


def damaged_chunk(folder: Path, meta: Any, count: int) -> tuple[int, str, str] | None:
    """The first of chunk files ``0..count-1`` (along the first axis) of the array in ``folder``
    that is damaged, as (chunk number, file relative to ``folder``, problem); None when none is.
    An absent file is a chunk of fill values, not damage (see the module's docstring)."""
    trailing = (0,) * (len(meta.shape) - 1)
    for k in range(count):
        key = meta.encode_chunk_key((k, *trailing))
        try:
            problem = chunk_problem(folder / key, meta)
        except FileNotFoundError:
            continue
        if problem is not None:
            return k, key, problem
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _spec_problem(kind: str, name: str, spec: Any) -> str | None:
    """Why ``spec``, the attribute block's entry of the ``kind`` (field / meta) array ``name``,
    is not ``{"dtype": text, "shape": [counts]}``."""
    if not isinstance(spec, Mapping):
        return f"{kind} {name!r} = {spec!r}, expected {{'dtype': ..., 'shape': [...]}}"
    dtype, shape = spec.get("dtype"), spec.get("shape")
    if not isinstance(dtype, str):
        return f"{kind} {name!r} has dtype {dtype!r}, expected a dtype name"
    if not isinstance(shape, list) or not all(_count(d) for d in shape):
        return f"{kind} {name!r} has shape {shape!r}, expected a list of sizes"
    return None


def attribute_problem(info: Mapping[str, Any]) -> str | None:
    """Why the attribute block ``info`` (its format version already checked) cannot be the one
    ``StoreWriter.finalize`` writes, whose every key this checks by type: a block edited by
    hand, or damaged, had a reader fail with a ``TypeError`` far from the cause (``None + 1``
    for a missing ``num_records``). None when it can be."""
    for key in ("num_records", "num_tokens"):
        if key not in info:
            return f"no {key!r}"
        if not _count(info[key]):
            return f"{key} = {info[key]!r}, expected a count of 0 or more"
    domain = info.get("domain")
    if not isinstance(domain, str) or not domain:
        return f"domain = {domain!r}, expected a domain name"
    for key in ("schema", "provenance"):  # absent or null: read as empty
        if info.get(key) is not None and not isinstance(info[key], Mapping):
            return f"{key} is a {type(info[key]).__name__}, expected a mapping"
    if info.get("has_ids") is not None and not isinstance(info["has_ids"], bool):
        return f"has_ids = {info['has_ids']!r}, expected true or false"
    for key, kind in (("fields", "field"), ("meta", "meta")):
        arrays = info.get(key)
        if key not in info:
            return f"no {key!r}"
        if not isinstance(arrays, Mapping):
            return f"{key} = {arrays!r}, expected a mapping of array names to their dtype and shape"
        for name, spec in arrays.items():
            said = _spec_problem(kind, name, spec)
            if said:
                return said
    return None
