"""FASTA/FASTQ written record by record and a sequence block by block, laid out and
compressed byte for byte as ``io.write_seq_records`` writes the same records whole: the
header line as read, the file's line ending, lines of the record's width (the last one
shorter); ``compress`` packs the written file as the output's name says."""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import BinaryIO, Callable

from encoderkit.data.textfiles import compression

_ERRORS = "surrogateescape"  # headers and qualities are written back byte for byte (``io._ERRORS``)
_COPY = 1 << 20  # bytes packed at a time


class SeqWriter:
    """Writes uncompressed FASTA/FASTQ into ``fh`` (a binary file the caller opened)."""

    def __init__(self, fh: BinaryIO, newline: str) -> None:
        self._write = fh.write
        self._nl = newline.encode("ascii")
        self._fastq = False
        self._width = 0  # FASTA line width of the record being written; 0: one line (so far)
        self._col = 0  # characters on the current line

    def start(self, header: str, fastq: bool, width: int = 0) -> None:
        """A record's header line; its sequence follows in ``sequence`` calls, wrapped at
        ``width`` (FASTA; ``write_seq_records`` keeps the width of the record's first line).
        A width of 0 writes the sequence on one line until ``wrap`` gives one (the first
        line of a record read in blocks may end blocks later)."""
        self._write(("@" if fastq else ">").encode() + header.encode("utf-8", _ERRORS) + self._nl)
        self._fastq, self._width, self._col = fastq, 0, 0
        self.wrap(width)

    def wrap(self, width: int) -> None:
        """The FASTA record's width, where not given yet: what was written so far, no more
        than ``width`` characters, is the first line, and the rest is wrapped at ``width``."""
        if width and not self._width and not self._fastq:
            self._width = max(width, 1)

    def sequence(self, chunk: bytes | bytearray) -> None:
        w, n = self._width, len(chunk)
        if not w or not n:
            self._write(chunk)
            self._col += n
            return
        view, parts, i = memoryview(chunk), [], 0
        if self._col:  # finish the line the last chunk left open
            i = min(w - self._col, n)
            parts.append(view[:i])
            self._col += i
            if self._col == w:
                parts.append(self._nl)
                self._col = 0
        full = i + (n - i) // w * w
        for j in range(i, full, w):
            parts += (view[j:j + w], self._nl)
        if full < n:
            parts.append(view[full:])
            self._col = n - full
        self._write(b"".join(parts))

    def end(self, plus: str | None = None, quality: str | None = None) -> None:
        """After a FASTA record's sequence (its last line ended); for FASTQ, the '+' line
        (``plus``: what followed the '+') and the quality line."""
        if quality is not None:
            self._write(self._nl + b"+" + (plus or "").encode("utf-8", _ERRORS) + self._nl
                        + quality.encode("utf-8", _ERRORS) + self._nl)
        elif self._col:
            self._write(self._nl)
        self._col = 0


class _Packer:
    """``compress`` / ``flush`` of one stream."""

    def __init__(self, compress: Callable[[bytes], bytes], flush: Callable[[], bytes]) -> None:
        self.compress, self.flush = compress, flush


def packer(name: str) -> _Packer | None:
    """The compressor ``write_seq_records`` uses for a file of this name (None: plain):
    ``gzip.compress(data, mtime=0)`` is ``zlib.compress(data, 9, wbits=31)``; bzip2 and xz
    at their module's defaults. Fed in pieces, each writes the bytes it writes whole."""
    method = compression(str(name))
    if method == "gzip":
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        return _Packer(z.compress, z.flush)
    if method == "bz2":
        b = bz2.BZ2Compressor(9)
        return _Packer(b.compress, b.flush)
    if method == "xz":
        x = lzma.LZMACompressor()
        return _Packer(x.compress, x.flush)
    return None


def pack(src: BinaryIO, dst: BinaryIO, how: _Packer) -> None:
    """All of ``src`` (from its start) compressed into ``dst``."""
    src.seek(0)
    while True:
        block = src.read(_COPY)
        if not block:
            break
        dst.write(how.compress(block))
    dst.write(how.flush())
