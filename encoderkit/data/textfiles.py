"""Checks on delimited text files that pandas' reader does not make.

pandas reads a row with fewer fields than the header (a dropped comma, a line cut short)
as a row whose last cells are missing, without a word: a series or set reader then fills
values the file never left out, or stores them as holes. ``check_row_widths`` refuses
such a row, naming its line.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import os
from typing import Any

from encoderkit.errors import DataError, reading

_OPENERS: dict[str, Any] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def check_row_widths(path: str | os.PathLike, delimiter: str = ",") -> None:
    """A ``DataError`` naming the first line with fewer fields than the header line.
    Blank lines are skipped, as pandas skips them; files compressed other than gzip, bzip2
    or xz are not checked (pandas reads them; this only adds a check)."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _OPENERS and suffix in (".zip", ".zst", ".tar"):
        return
    opener = _OPENERS.get(suffix, open)
    with reading(path), opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, None)
        except csv.Error:
            return
        if header is None:
            return
        width = len(header)
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error:  # a NUL byte, a huge field: pandas' reader has its own word on it
                return
            if row and len(row) < width:
                raise DataError(f"line {reader.line_num} has {len(row)} field(s) where the header has "
                                f"{width}; write a missing value as an empty field (1,,3), not by "
                                f"leaving its comma out", file=path)
