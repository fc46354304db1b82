"""Files read and written through pyarrow, for every domain's Parquet reader and writer (and
the table reader's text): a file opened by the bytes the system names it with
(``arrow_file``), and a Parquet file's columns each given their own name
(``refuse_repeated_names``).

Its own module in ``encoderkit/data``, not in a domain: the table and series readers both
open Parquet files this way and refuse the same repeated names (``domains/tabular/reading.py``
and ``domains/timeseries/parquet.py``), and a domain does not import another's modules.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from encoderkit.errors import DataError


@contextmanager
def arrow_file(path: str, mode: str = "rb") -> Iterator[Any]:
    """The file ``path`` opened for pyarrow (``mode`` "rb", or "wb" to write it) by the bytes
    the system names it with. Given a name, pyarrow opens its UTF-8 bytes: under a locale
    that is not UTF-8 (ISO-8859-1: ``tabelle_ü.csv`` is ``tabelle_\\xfc.csv`` on disk), or for
    a name whose bytes are not UTF-8, that is another file or none ("Failed to open local
    file"); a writer wrote another file. pyarrow reads and writes a name through the same
    kind of file, so nothing else changes."""
    import pyarrow as pa

    with pa.OSFile(os.fsencode(path), mode) as f:
        yield f


def repeated_name(names: Sequence[Any]) -> tuple[str, list[int]] | None:
    """The first name two or more of ``names`` (a Parquet file's top-level columns) share and
    their 1-based positions, else None."""
    for name in dict.fromkeys(names):
        where = [i + 1 for i, n in enumerate(names) if n == name]
        if len(where) > 1:
            return str(name), where
    return None


def refuse_repeated_names(names: Sequence[Any], path: str) -> None:
    """A ``DataError`` for a Parquet file that gives one name to two columns, as a text
    table's repeated header name is refused (``textfiles.repeated_header_name``): pyarrow
    cannot tell them apart (its "Multiple matches for FieldRef"), and a column given by the
    name would be one of the two without a word."""
    repeated = repeated_name(list(names))
    if repeated:
        name, where = repeated
        raise DataError(f"the file names column {name!r} {len(where)} times (columns "
                        f"{', '.join(map(str, where))}); give every column its own name", file=path)
