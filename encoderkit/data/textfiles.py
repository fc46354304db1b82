"""What pandas' CSV reader does not do for a file that is filled and written back.

pandas reads a row with fewer fields than the header (a dropped comma, a line cut short)
as a row whose last cells are missing, without a word: a series or set reader then fills
values the file never left out, or stores them as holes. A row with more fields than the
header makes pandas take the first column as the row index (every cell shifts one column),
or fail deep inside a reader. ``check_row_widths`` refuses both, naming the line (empty
fields after the last column, a trailing separator, are allowed: read them with
``index_col=False``), and a header separated by another separator than the file name says,
and UTF-16 text. And pandas reads an integer column with holes as floats, so an
observed ``2`` would be written back as ``2.0``: ``keep_integer_columns``.

``open_text`` opens a text file as pandas would by its name (``.gz``, ``.bz2``, ``.xz``, a
``.zip`` of one file), without a UTF-8 byte-order mark, for the readers that look at lines.
A table's compression is its name's (pandas and pyarrow decompress by name), so a file whose
first bytes say otherwise (gzip data named ``.csv``, read as "not UTF-8 text") is refused
with the name to give it (``check_compression``, from ``open_text`` and ``check_text``);
``sniff_compression`` is the one reading of those bytes (the genomic reader's, which goes
by content).

Every data row ending with a separator the header lacks (``date,co2`` over
``1958-03-29,316.1,``) is read with ``index_col=False`` by every pandas reader here, and is
written back so (``rows_end_with_separator``, ``write_table``): the filled file differs from
the input only in the cells filled. ``written_index``: the row labels pandas or R wrote into
a text file (a nameless first column of integers, each row its own, counted or not), the one
rule of the table and labels readers.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import os
import re
from typing import Any

import numpy as np
import pandas as pd

from encoderkit.errors import DataError, UsageError, reading

_OPENERS: dict[str, Any] = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}  # by compression()
# the first bytes of each compression (pandas' names); bzip2's with its block magic, so a
# text starting "BZh" is not taken for one
_MAGIC = ((b"\x1f\x8b", "gzip"), (re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bz2"), (b"\xfd7zXZ\x00", "xz"),
          (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x28\xb5\x2f\xfd", "zstd"))
MAGIC_BYTES = 10  # enough of a file's start for every ``_MAGIC``
_SEPARATORS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}

# The ``decimal=`` option of the table and series readers: ``auto`` reads a file that is not
# comma-separated and whose number cells are written ``2,25`` (a spreadsheet in a German or
# French locale) with the comma as the decimal mark. COMMA_NUMBER is such a cell (no thousands
# mark; ``12`` too), written so that Python's ``re`` (fullmatch) and pyarrow's RE2 both take it.
DECIMALS = ("auto", ".", ",")
# how pandas names a blank header cell: ``Unnamed: 3``, ``Unnamed: 3.1`` where that name was
# taken, ``Unnamed: 3_level_0`` in a header of several rows (the one definition: the series
# layout, the labels reader and impute's copy of a file's text each asked it)
UNNAMED = re.compile(r"Unnamed: \d+(?:\.\d+)?(?:_level_\d+)?")
COMMA_NUMBER = r"^\s*[-+]?[0-9]+(?:,[0-9]+)?\s*$"


def nameless(name: Any) -> bool:
    """A header cell with no name: blank (only spaces), or pandas' name for one (``UNNAMED``)."""
    return not str(name).strip() or bool(UNNAMED.fullmatch(str(name)))


def written_index(cells: pd.Series, name: Any) -> bool:
    """Whether the column ``cells`` under the header cell ``name`` is the row index pandas
    (``df.to_csv()``) or R (``write.csv``) wrote into a text file: a nameless header cell
    (``nameless``) over integers, each row its own, none missing. Counted (0..n-1, a slice's
    100..159, R's 1..n) or not: a frame filtered (0, 2, 5, 9) or shuffled (7, 3, 1) before it
    was written keeps its old labels. As data they said only where a row stood in some
    other table. The one rule of the table readers (``domains.tabular.identifiers.row_numbers``:
    the first column) and the labels reader (``encoderkit.tasks.label_files``: any nameless
    column); numbers or their text (a labels file is read as text). A whole-number float
    column (``2.0``) counts, as pandas' own ``Int64`` with no hole would."""
    if not nameless(name) or not len(cells) or pd.api.types.is_bool_dtype(cells.dtype) or cells.isna().any():
        return False
    if pd.api.types.is_numeric_dtype(cells.dtype):
        v = cells.to_numpy(dtype=np.float64)
    elif pd.api.types.is_object_dtype(cells.dtype) or pd.api.types.is_string_dtype(cells.dtype):
        text = cells.astype(str).str.strip()
        # 1e3, 2.5, ids with letters, codes with leading zeros (007): no index pandas writes
        if not text.str.fullmatch(r"-?(?:0|[1-9][0-9]*)").all():
            return False
        v = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    else:
        return False
    return bool(np.isfinite(v).all() and (v == np.round(v)).all() and np.unique(v).size == v.size)


def index_labels(cells: pd.Series) -> str:
    """The labels of a ``written_index`` column as the readers' messages show them: the count
    (``100..159``), or the first ones where they are no count (a filtered or shuffled
    frame's: ``7, 3, 1, ..., each row its own``)."""
    text = not pd.api.types.is_numeric_dtype(cells.dtype)  # integers written as text ("7")
    v = pd.to_numeric(cells.astype(str).str.strip() if text else cells).to_numpy(dtype=np.float64)
    if len(v) > 1 and (np.diff(v) == 1).all():
        return f"{int(v[0])}..{int(v[-1])}"
    return ", ".join(str(int(x)) for x in v[:3]) + (", ..." if len(v) > 3 else "") + ", each row its own"


def check_decimal(path: str | os.PathLike, delimiter: str, decimal: str) -> None:
    """A ``DataError`` when the decimal mark is the file's separator: ``2,25`` would be two cells."""
    if decimal == delimiter:
        raise DataError(f"decimal={decimal!r} is also the delimiter, so a number could not be told "
                        f"from two cells: give another delimiter= or decimal=", file=os.fspath(path))


def sniff_compression(head: bytes) -> str | None:
    """The compression (pandas' name) whose magic ``head``, a file's first ``MAGIC_BYTES``
    bytes, starts with; None: none (plain text, or another format)."""
    for magic, method in _MAGIC:
        if magic.match(head) if isinstance(magic, re.Pattern) else head.startswith(magic):
            return method
    return None


def check_compression(path: str | os.PathLike) -> None:
    """A ``DataError`` where a local file's first bytes and its name disagree about its
    compression: the name is what pandas, pyarrow and the writers go by, so gzip data named
    ``g.csv`` read as text that is not UTF-8, and text named ``g.csv.gz`` as a broken gzip
    stream. The message gives the name to use. A file that cannot be opened is left to
    the reader to report."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            found = sniff_compression(fh.read(MAGIC_BYTES))
    except OSError:
        return None
    named = compression(path)
    if found == named:
        return None
    # said by suffix, not by name: the file itself is named first (``EncoderkitError``)
    ext = os.path.splitext(path[: -len(_compression_suffix(path) or "")] if named else path)[1]
    now = ext + (_compression_suffix(path) or "") if named else ext
    if found is None:
        raise DataError(f"is named {now} but holds no {named} data: name it {ext or 'without ' + now}",
                        file=path)
    new = ext + next(k for k, v in COMPRESSION.items() if v == found)
    # a spreadsheet (.xlsx, .ods) or a .npz is zip data too, and no zipped text file
    what = " (if it is one zipped text file; a spreadsheet such as .xlsx is zip data too: save it as CSV)" \
        if found == "zip" else ""
    raise DataError(f"holds {found} data but is named {now or 'without a suffix'}: name it {new}{what} "
                    f"(a table's compression is read from its name)", file=path)


def open_text(path: str | os.PathLike, errors: str = "strict", binary: bool = False) -> Any:
    """``path`` opened for reading text (UTF-8, a byte-order mark dropped; bytes with
    ``binary``), decompressed by its name as pandas decompresses it (``.gz``, ``.bz2``,
    ``.xz``, ``.zip`` holding one file); None for a compression only pandas reads here
    (``.zst``, ``.tar``). Data compressed otherwise than its name says is refused
    (``check_compression``)."""
    path = os.fspath(path)
    check_compression(path)
    method = compression(path)
    if method == "zstd" or path.lower().endswith(".tar"):
        return None
    if method == "zip":
        import io
        import zipfile

        # the member as a stream, decompressed as it is read: the readers that look at a file's
        # first lines (or count its fields) held a whole point cloud or series in memory. The
        # archive is closed at once; its file stays open until the member is closed
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise DataError(f"a compressed table is one file in the .zip; this one holds "
                                f"{len(names)}" + (f" ({', '.join(names[:4])})" if names else ""), file=path)
            raw = archive.open(names[0])
        return raw if binary else io.TextIOWrapper(raw, encoding="utf-8-sig", errors=errors, newline="")
    opener = _OPENERS.get(method, open)
    if binary:
        return opener(path, "rb")
    return opener(path, "rt", encoding="utf-8-sig", errors=errors, newline="")


def check_text(path: str | os.PathLike) -> None:
    """A ``DataError`` for UTF-16 / UTF-32 text (Excel's "Unicode text"), which UTF-8 readers turn into
    one garbled column; other encodings fail where they are decoded."""
    path = os.fspath(path)
    with reading(path):
        fh = open_text(path, binary=True)  # refuses data compressed otherwise than its name says
        if fh is None:
            return
        with fh:
            head = fh.read(4)
    # UTF-32's little-endian mark starts with UTF-16's: tested first
    if head in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        raise DataError("is UTF-32 text (it starts with a UTF-32 byte-order mark); save it as UTF-8",
                        file=path)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError("is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8",
                        file=path)


def check_row_widths(path: str | os.PathLike, delimiter: str = ",", option: bool = False,
                     given: bool = False) -> None:
    """A ``DataError`` naming the first line with fewer fields than the header line, or more
    (other than empty ones after the last column), a header separated by another separator,
    or UTF-16 text. Blank lines are skipped, as pandas skips them; ``.zst`` / ``.tar`` files
    are not checked (pandas reads them; this only adds a check). ``option``: the reader
    takes a ``delimiter=`` option, which the error about the header then gives; ``given``:
    ``delimiter`` is that option's (not the file name's)."""
    path = os.fspath(path)
    check_text(path)
    with reading(path):
        fh = open_text(path)  # strict: text that is no UTF-8 is said so, not counted in fields
        if fh is None:
            return
        with fh:
            _check_rows(path, fh, delimiter, option, given)


def check_header(path: str | os.PathLike, delimiter: str = ",") -> None:
    """A ``DataError`` where the header line is separated by another separator than
    ``delimiter`` (the file name's): one column of joined text (``_check_header``). The
    labels reader's check; the table, series and set readers get it with ``check_row_widths``."""
    path = os.fspath(path)
    with reading(path):
        fh = open_text(path, errors="replace")
        if fh is None:
            return
        with fh:
            try:
                header = next(csv.reader(fh, delimiter=delimiter), None)
            except csv.Error:
                return
    _check_header(path, header, delimiter)


def _check_header(path: str, header: list[str] | None, delimiter: str, option: bool = False,
                  given: bool = False) -> None:
    """``header`` (the first row, as ``csv`` splits it by ``delimiter``) is one column whose
    text holds another separator (outside quotes): refused, naming it and the fix."""
    if header is None or len(header) != 1:
        return
    text = all(ch >= " " or ch == "\t" for ch in header[0]) and "\ufffd" not in header[0]
    if not text:
        return
    mine = _SEPARATORS.get(delimiter, repr(delimiter))  # a delimiter= option: any character
    said = f"delimiter={delimiter!r} says" if given else "the file's name says"
    for other, word in _SEPARATORS.items():
        if other != delimiter and other in header[0]:
            fix = {"\t": "name it .tsv", ",": "name it .csv"}.get(other, f"save it {mine}-separated")
            if option:  # the reader takes the separator as an option: the fix is that option
                fix = f"give delimiter={'tab' if other == chr(9) else repr(other)}" + (
                    f" (or {fix})" if other in "\t," and not given else "")
            raise DataError(f"the header line is {word}-separated, but {said} "
                            f"{mine}-separated: {fix}", file=path)


def _check_rows(path: str, fh: Any, delimiter: str, option: bool = False, given: bool = False) -> None:
    reader = csv.reader(fh, delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error:
        return
    if header is None:
        return
    width = len(header)
    _check_header(path, header, delimiter, option, given)
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error:  # a NUL byte, a huge field: pandas' reader has its own word on it
            return
        if row and len(row) == width - 1 and not header[-1].strip():  # ``date,co2,`` over ``1958-03-29,316.1``
            raise DataError(f"the header line ends with a separator (a last column with no name) that "
                            f"line {reader.line_num} does not have: delete it from the header", file=path)
        if row and len(row) < width:
            raise DataError(f"line {reader.line_num} has {len(row)} field(s) where the header has "
                            f"{width}; write a missing value as an empty field (1,,3), not by "
                            f"leaving its comma out", file=path)
        if len(row) > width and any(c.strip() for c in row[width:]):
            raise DataError(f"line {reader.line_num} has {len(row)} fields where the header has "
                            f"{width}; give every column a name in the header, and each row one "
                            f"field per column", file=path)


def keep_integer_columns(frame: pd.DataFrame, path: str | os.PathLike, sep: str = ",") -> pd.DataFrame:
    """``frame`` (read from the CSV ``path``) with each float column that has holes and
    whole numbers in the file as nullable ``Int64``, so infill writes an observed ``2``
    back as ``2`` and its fills as whole numbers (the writers round into such a column)."""
    holes = [c for c in frame.columns if frame[c].dtype == np.float64 and frame[c].isna().any()]
    if holes:
        # index_col=False, as the frame was read: rows ending with a separator the header
        # lacks made pandas take the first column for the index, every cell one column over
        ints = pd.read_csv(path, sep=sep, usecols=holes, dtype_backend="numpy_nullable", index_col=False)
        for c in holes:
            if pd.api.types.is_integer_dtype(ints[c].dtype) and len(ints) == len(frame):
                frame[c] = ints[c].array  # by position: the frame's index is its own
    return frame


# compression suffix -> pandas' name for it
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip", ".zst": "zstd"}


TEXT_TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")  # delimited tables; also compressed (.gz, .zip, ...)


def repeated_header_name(path: str | os.PathLike, sep: str = ",") -> tuple[str, list[int]] | None:
    """The first name the header line gives two or more columns (trimmed) and their 1-based
    positions, else None. Read as written: pandas renames a repeat (``x, x`` -> ``x, x.1``),
    so a check of the frame's columns never sees it and the first column wins silently."""
    first = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, index_col=False,
                        keep_default_na=False)
    names = [str(v).strip() for v in first.iloc[0].tolist()] if len(first) else []
    for name in dict.fromkeys(names):
        where = [i + 1 for i, n in enumerate(names) if n == name]
        if name and len(where) > 1:
            return name, where
    return None


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


def write_compression(path: str) -> Any:
    """``to_csv``'s ``compression`` for writing ``path`` (often through a temporary name):
    the method its name asks for, and for a ``.zip`` the member named as the file without
    ``.zip`` (pandas would name it after the temporary, or ``zip`` for an open handle)."""
    method = compression(path)
    if method == "zip":
        return {"method": "zip", "archive_name": os.path.basename(str(path))[: -len(".zip")]}
    return method


def rows_end_with_separator(path: str | os.PathLike, delimiter: str = ",") -> bool:
    """Whether every data row of the text table ``path`` ends with a separator its header
    line lacks (``date,co2`` over ``1958-03-29,316.1,``): an empty field past the last
    column, which the readers drop (``index_col=False``) and ``write_table`` writes back, so
    the filled file differs from the input only where it was filled. The whole file is read
    only when its first data row is such (a plain file: one line)."""
    fh = open_text(path, errors="replace")
    if fh is None:  # .zst / .tar: pandas-only compressions, written back by pandas' rules
        return False
    with fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                return False
            rows = (row for row in reader if row)  # blank lines, as pandas skips them
            first = next(rows, None)
            if first is None or len(first) != len(header) + 1 or first[-1].strip():
                return False
            return all(len(row) == len(header) + 1 and not row[-1].strip() for row in rows)
        except csv.Error:  # a NUL byte, a huge field: the reader says what is wrong
            return False


def write_table(frame: pd.DataFrame, tmp: str, path: str, row_end: bool = False, **to_csv: Any) -> None:
    """``frame.to_csv(tmp, **to_csv)``, compressed as ``path`` (the name ``tmp`` becomes) asks
    (``write_compression``); ``row_end``: each data row ends with a separator the header
    line lacks, as the file read did (``rows_end_with_separator``). That takes two writes to
    one stream, the header then the rows with an empty last field, so the stream is opened
    here, by the same compression pandas would use."""
    if not row_end:
        frame.to_csv(tmp, compression=write_compression(path), **to_csv)
        return
    import contextlib
    import io
    import zipfile

    encoding = to_csv.pop("encoding", None) or "utf-8"
    header = to_csv.pop("header", True)
    method = compression(path)
    with contextlib.ExitStack() as stack:
        if method == "zip":
            archive = stack.enter_context(zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED))
            raw = stack.enter_context(archive.open(write_compression(path)["archive_name"], "w"))
        elif method == "zstd":
            import zstandard

            raw = stack.enter_context(zstandard.open(tmp, "wb"))
        else:
            raw = stack.enter_context(_OPENERS.get(method, open)(tmp, "wb"))
        fh = stack.enter_context(io.TextIOWrapper(raw, encoding=encoding, newline=""))
        frame.iloc[:0].to_csv(fh, header=header, **to_csv)  # the header line alone
        rows = frame.copy(deep=False)
        rows.insert(frame.shape[1], "", "", allow_duplicates=True)  # the empty last field
        rows.to_csv(fh, header=False, **to_csv)


def check_codec(path: str, key: str = "output") -> None:
    """Before any work: a compressed output name whose codec is not installed is a usage
    error (pandas would raise it when writing, after training). Only ``.zst`` needs a
    package (``zstandard``); the others are in Python's standard library."""
    if compression(path) != "zstd":
        return
    try:
        import zstandard  # noqa: F401
    except ImportError:
        raise UsageError(f"writing {os.path.basename(str(path))!r} needs the zstandard package "
                         f"(pip install zstandard); or name the file .gz, .bz2, .xz or .zip",
                         file=str(path), key=key) from None


def delimiter(path: str) -> str:
    """The field separator of a text table: a tab for ``.tsv`` / ``.tab``, else a comma."""
    return "\t" if plain_name(path).endswith((".tsv", ".tab")) else ","


# ---------------------------------------------------------------- first lines of a text file

# Cells that mean "no value" in a headerless numeric text file (UCR archives write NaN).
MISSING_CELLS = frozenset({"", "?", "nan", "-nan", "na", "n/a"})


def is_number_cell(cell: str) -> bool:
    """A cell that is a number, or a missing-value word of a numeric text file."""
    try:
        float(cell)
    except ValueError:
        return cell.lower() in MISSING_CELLS - {""}
    return True


def first_lines(path: str | os.PathLike, n: int) -> list[str]:
    """The first ``n`` non-blank lines of a text file among its first 100 (decompressed by
    its name); none for a file that cannot be read (its reader names the problem)."""
    try:
        fh = open_text(path, errors="replace")
        if fh is None:
            return []
        with fh:
            lines = [x.strip() for x in (fh.readline(1 << 20) for _ in range(100)) if x.strip()]
    except Exception:  # a damaged or compressed-otherwise file: its reader names the problem
        return []
    return lines[:n]


def split_cells(line: str) -> list[str]:
    """A line's cells: split by tabs, else commas, else white space."""
    sep = "\t" if "\t" in line else "," if "," in line else None
    return [c.strip() for c in line.strip().split(sep)]


def first_cells(path: str | os.PathLike) -> list[str]:
    """The cells of the first non-blank line (``split_cells``); none for an empty or
    unreadable file."""
    lines = first_lines(path, 1)
    return split_cells(lines[0]) if lines else []


def headerless(path: str | os.PathLike) -> bool:
    """Whether the first non-blank line of a text file is two or more numbers: data (a UCR
    archive line: class, values), never a header that names columns."""
    cells = first_cells(path)
    return len(cells) >= 2 and all(is_number_cell(c) for c in cells)
