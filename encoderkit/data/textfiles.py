"""What pandas' CSV reader does not do for a file that is filled and written back.

pandas reads a row with fewer fields than the header (a dropped comma, a line cut short)
as a row whose last cells are missing, without a word: a series or set reader then fills
values the file never left out, or stores them as holes. ``check_row_widths`` refuses
such a row, naming its line. And it reads an integer column with holes as floats, so an
observed ``2`` would be written back as ``2.0``: ``keep_integer_columns``.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import os
from typing import Any

import numpy as np
import pandas as pd

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


def keep_integer_columns(frame: pd.DataFrame, path: str | os.PathLike, sep: str = ",") -> pd.DataFrame:
    """``frame`` (read from the CSV ``path``) with each float column that has holes and
    whole numbers in the file as nullable ``Int64``, so infill writes an observed ``2``
    back as ``2`` and its fills as whole numbers (the writers round into such a column)."""
    holes = [c for c in frame.columns if frame[c].dtype == np.float64 and frame[c].isna().any()]
    if holes:
        ints = pd.read_csv(path, sep=sep, usecols=holes, dtype_backend="numpy_nullable")
        for c in holes:
            if pd.api.types.is_integer_dtype(ints[c].dtype):
                frame[c] = ints[c]
    return frame


# compression suffix -> pandas' name for it
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip", ".zst": "zstd"}


def _compression_suffix(path: str) -> str | None:
    low = str(path).lower()
    return next((suffix for suffix in COMPRESSION if low.endswith(suffix)), None)


def plain_name(path: str) -> str:
    """``path`` lower-cased without a compression suffix (``x.tsv.gz`` -> ``x.tsv``)."""
    suffix = _compression_suffix(path)
    return str(path).lower()[: -len(suffix) if suffix else None]


def compression(path: str) -> str | None:
    """pandas' name of the compression a file name asks for (None: plain text)."""
    suffix = _compression_suffix(path)
    return COMPRESSION[suffix] if suffix else None


def delimiter(path: str) -> str:
    """The field separator of a text table: a tab for ``.tsv`` / ``.tab``, else a comma."""
    return "\t" if plain_name(path).endswith((".tsv", ".tab")) else ","
