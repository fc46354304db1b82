"""Reading a store's chunks: whole-chunk reads of local arrays without zarr's event loop
(``LocalChunks``, the chunk-aware loader's fast path) and, for an error message, which chunk
of a read failed (``failing_chunk``, ``chunk_text``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class ChunkFailure(Exception):
    """A chunk read that still failed after its retries (the message names the chunk)."""


class LocalChunks:
    """Whole-chunk reads of a local zstd (or uncompressed) zarr array in the calling thread.

    zarr's own read passes every call through its event-loop thread (~3 ms per chunk on a
    busy core, 2-3x the zstd decode itself); the chunk-aware loader reads whole runs of
    chunks, so for plain local arrays it reads the chunk files directly. Anything else (other
    codecs, sharding, URLs, a missing chunk file) returns None and the caller uses zarr.
    """

    def __init__(self, root: Path, arr: Any) -> None:
        import numcodecs  # noqa: PLC0415 (zarr's dependency)
        from zarr.codecs import BytesCodec, ZstdCodec  # noqa: PLC0415

        meta = arr.metadata
        codecs = tuple(meta.codecs)
        endian = str(getattr(codecs[0].endian, "value", codecs[0].endian)) if codecs else ""
        ok = (codecs and isinstance(codecs[0], BytesCodec) and endian in ("None", "little")
              and all(isinstance(c, ZstdCodec) for c in codecs[1:]) and len(codecs) <= 2
              and arr.dtype.kind in "biuf" and np.dtype(arr.dtype).byteorder in "=<|")
        self.ok = bool(ok) and np.little_endian
        self.dir = root / arr.path
        self.chunk = tuple(int(c) for c in arr.chunks)
        self.dtype = np.dtype(arr.dtype)
        self.key = meta.chunk_key_encoding.encode_chunk_key
        self.zstd = numcodecs.Zstd() if len(codecs) == 2 else None

    def read(self, start: int, stop: int) -> np.ndarray | None:
        if not self.ok:
            return None
        c = self.chunk[0]
        parts = []
        for k in range(start // c, (stop - 1) // c + 1):
            path = self.dir / self.key((k,) + (0,) * (len(self.chunk) - 1))
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                return None  # an unwritten chunk: zarr knows its fill value
            try:
                data = self.zstd.decode(raw) if self.zstd is not None else raw
                block = np.frombuffer(data, dtype=self.dtype).reshape(self.chunk)
            except Exception as e:
                raise ChunkFailure(f"chunk {k} ({type(e).__name__}: {e})") from None
            parts.append(block[max(start - k * c, 0):min(stop - k * c, c)])
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)


def failing_chunk(arr: Any, sel: Any) -> str:
    """For an error message: the first chunk of ``sel`` that cannot be read (one try each),
    else the chunk range of ``sel``."""
    chunks = getattr(arr, "chunks", None)
    if chunks and isinstance(sel, slice) and len(chunks) >= 1:
        c = int(chunks[0])
        start, stop = sel.start or 0, sel.stop if sel.stop is not None else arr.shape[0]
        if (stop - 1) // c > start // c:
            for k in range(start // c, (stop - 1) // c + 1):
                try:
                    arr[k * c:min((k + 1) * c, arr.shape[0])]
                except Exception:
                    return f"chunk {k}"
    return chunk_text(arr, sel)


def chunk_text(arr: Any, sel: Any) -> str:
    """'chunk 3' / 'chunks 3-4' / 'chunk of record 7' for an error message."""
    chunks = getattr(arr, "chunks", None)
    if not chunks:
        return ""
    c = int(chunks[0])
    if isinstance(sel, slice):
        start, stop = sel.start or 0, sel.stop if sel.stop is not None else arr.shape[0]
        first, last = start // c, max(start, stop - 1) // c
        return f"chunk {first}" if first == last else f"chunks {first}-{last}"
    if isinstance(sel, (int, np.integer)):
        return f"chunk {int(sel) // c}"
    return ""
