"""How much text a compressed table holds, and that text as a stream that stops at a bound.

A table is ingested whole or a column at a time by the size of its text (``streaming.py``).
The size of a compressed file says little about it: a 310 KB ``.csv.gz`` of one repeated
row held 160 MB of text, and estimated at four times its size it was read whole (2.4 GB at
peak, then "too large to read into memory" after two minutes). So the text's size is taken
from the format where it says so cheaply, else measured:

- gzip: the trailer's ISIZE, the size of the last member's text modulo 2**32, so a lower
  bound of the whole text (a concatenation of members holds more, a file over 4 GiB too);
- zip: the member's ``file_size``, a claim; Python's ``zipfile`` never returns more than it
  (the data is cut there and its CRC then fails, a damaged file);
- bz2, xz, zstd: a streamed decompression pass that stops as soon as the bound is passed.

A claim below the bound is taken as the text's size, and the whole-file reader is held to
it: it reads such a file through ``Bounded``, which raises ``TextBeyond`` once more text
comes out than the bound, and ingest then takes the table a column at a time.
"""

from __future__ import annotations

import os
import struct
import zipfile
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator

from encoderkit.errors import DataError

# the compressions pyarrow's CSV reader decompresses itself, by the file's name
PYARROW_DECOMPRESSES = (None, "gzip", "bz2", "zstd")
# bytes a measuring pass decompresses at a time
CHUNK_BYTES = 1 << 20


class TextBeyond(Exception):
    """A compressed table holds more than ``limit`` bytes of text, which its format's claim
    (or a measurement made before the file changed) put under it. Not a user error: the
    caller reads the table another way (ingest: a column at a time)."""

    def __init__(self, path: str, limit: int) -> None:
        super().__init__(f"{path}: more than {limit} bytes of text")
        self.path, self.limit = path, limit


def open_stream(path: str, method: str | None) -> BinaryIO:
    """The text of ``path`` (compressed by ``method``, ``textfiles.compression``'s name) as a
    binary stream, decompressed as it is read: gzip, bzip2 and zstd by pyarrow's decoders
    (the ones its CSV reader uses on the file's name), xz by ``lzma``, a ``.zip`` of one
    file by ``zipfile`` (its member read as it is decompressed, never whole)."""
    if method is None:
        return open(path, "rb")
    if method in PYARROW_DECOMPRESSES:
        import pyarrow as pa

        # by the name's bytes: pyarrow opens a name's UTF-8 bytes (reading.arrow_file)
        return pa.input_stream(pa.OSFile(os.fsencode(path)), compression=method)
    if method == "xz":
        import lzma

        return lzma.open(path, "rb")
    if method == "zip":
        return _zip_member(path)
    raise ValueError(f"unknown compression {method!r}")


def _zip_member(path: str) -> BinaryIO:
    """The one file of the ``.zip`` at ``path``, opened for reading (``textfiles.open_text``'s
    rule: a compressed table is one file in the archive)."""
    # the archive is closed at once: its file stays open until the member is closed
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        if len(names) != 1:
            raise DataError(f"a compressed table is one file in the .zip; this one holds "
                            f"{len(names)}" + (f" ({', '.join(names[:4])})" if names else ""), file=path)
        return archive.open(names[0])  # type: ignore[return-value]


def text_size(path: str, method: str | None, limit: int) -> int:
    """The bytes of text the file ``path`` (compressed by ``method``) holds, or a number of
    at least ``limit`` when it holds that much (module docstring: below ``limit`` a gzip or
    zip file's own claim, which ``Bounded`` holds the reader to). A file that cannot be read
    here counts what came out before the problem: its reader names the problem."""
    if method is None:
        return os.path.getsize(path)
    try:
        if method == "gzip":
            return _gzip_size(path)
        if method == "zip":
            with zipfile.ZipFile(path) as archive:
                sizes = [i.file_size for i in archive.infolist() if not i.filename.endswith("/")]
            return sizes[0] if len(sizes) == 1 else 0  # several files: the reader refuses them
    except (OSError, ValueError, EOFError, struct.error, zipfile.BadZipFile):
        return 0
    return _measured(path, method, limit)


def _gzip_size(path: str) -> int:
    """The ISIZE of a gzip file's trailer (its last 4 bytes, little-endian): the last
    member's text modulo 2**32, a lower bound of the whole text."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 18:  # shorter than a gzip header and trailer: damaged, its reader says so
            return 0
        fh.seek(-4, os.SEEK_END)
        return int(struct.unpack("<I", fh.read(4))[0])


def _measured(path: str, method: str, limit: int) -> int:
    """Bytes of text decompressed from ``path`` until its end or until more than ``limit``
    came out, whichever is first: a pass that reads at most about ``limit`` bytes."""
    count = 0
    try:
        with open_stream(path, method) as fh:
            while count <= limit:
                chunk = fh.read(CHUNK_BYTES)
                if not chunk:
                    break
                count += len(chunk)
    except Exception:  # noqa: BLE001 - damaged, or a codec missing: the reader names the problem
        return count
    return count


class Bounded:
    """A binary stream that raises ``TextBeyond`` once more than ``limit`` bytes were read
    from it: what the whole-file reader parses a compressed table from, so that a file
    holding more text than its format claimed is never read whole."""

    closed = False

    def __init__(self, raw: BinaryIO, path: str, limit: int) -> None:
        self.raw, self.path, self.limit, self.count = raw, path, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise TextBeyond(self.path, self.limit)
        return data

    def readable(self) -> bool:
        return True

    def __enter__(self) -> Bounded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        self.raw.close()


@contextmanager
def text_source(path: str, method: str | None, limit: int | None = None) -> Iterator[Any]:
    """What pyarrow's CSV reader reads ``path`` from: its name where pyarrow decompresses it
    itself and the text is not held to ``limit`` (a plain file's size is its text's, so it is
    never held); else the decompressed stream, raising ``TextBeyond`` past ``limit``."""
    if method is None or (limit is None and method in PYARROW_DECOMPRESSES):
        yield path
        return
    raw = open_stream(path, method)
    with (raw if limit is None else Bounded(raw, path, limit)) as src:
        yield src
