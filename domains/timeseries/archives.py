"""The time-series classification archives' own files -> series and their labels.

Labelled series usually come in one of two files, and both carry the class of each series
beside its values, so one file is both ``ingest``'s input and ``finetune``'s labels:

- ``.ts`` (sktime / aeon; the UEA & UCR archive): ``@`` header lines, ``@data``, then one
  series a line: channels separated by ``:``, values by ``,``, the class (or regression
  target) after the last ``:``, ``?`` = missing; equal or unequal length, one or more
  channels. Read by aeon's own reader (``aeon.datasets.load_from_ts_file``), imported only
  here, so the format is parsed as the archive's maintainers parse it. Two things are
  taken from the file itself: the labels, because aeon lowercases every line (a class
  ``Normal`` would come back ``normal``, and ``banana`` as ``baNaNa``), and the line of a
  problem, which aeon reports as a case number or not at all.
- UCR archive 2018 ``.tsv`` (older releases: ``.txt``, comma- or space-separated): one
  series a line, the class first, then the values; shorter series are padded with NaN at
  the end (removed here), a NaN inside a series is a missing value. No library reads
  these with unequal lengths and exact labels (aeon's ``load_from_tsv_file`` keeps the
  padding and parses the classes as numbers), so the lines are split here.

A series is named ``<file>[i]`` (``i``: its 0-based position in the file), as ingest names
the series of an ``[N, C, L]`` ``.npy`` file, so a store's ids and the labels read back
from the same file agree.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from encoderkit.data.textfiles import MISSING_CELLS as MISSING  # what a UCR cell may hold for a missing value
from encoderkit.data.textfiles import compression, first_cells, first_lines, is_number_cell, open_text, split_cells
from encoderkit.errors import DataError, reading

from .io import array_ids


@dataclass
class Archive:
    """One archive file: its series ``[C, L]`` float64 (NaN = missing) and, per series, the
    label as written (``None``: unlabelled, a ``?``); ``labels`` is None for a file without
    labels (``@classLabel false``)."""

    series: list[np.ndarray]
    labels: list[str | None] | None
    ids: list[str]


def _lines(path: str) -> list[str]:
    """The lines of a text file (decompressed by its name, without a byte-order mark)."""
    with reading(path):
        fh = open_text(path)
        if fh is None:
            raise DataError("decompress it first: archive files are read plain or as .gz, .bz2, "
                            ".xz or .zip", file=path)
        with fh:
            return fh.read().splitlines()


def ucr_lines(path: str) -> bool:
    """Whether the first non-blank line is a class (any text) and then numbers, as in a UCR
    archive file with named classes, and not a header (``id,label``, ``time,co2``)."""
    cells = first_cells(path)
    return len(cells) >= 2 and all(is_number_cell(c) for c in cells[1:])


def _is_time(cell: str) -> bool:
    import pandas as pd

    try:
        pd.to_datetime(cell, format="mixed")
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def ucr_with_words(path: str) -> bool:
    """Whether the first two non-blank lines are each a class that is no number and then
    numbers: a UCR archive file whose classes are words. A wide table never reads so: its
    header's first cell would name a column of words (refused as a channel) unless it is a
    time column (its second line's first cell is then a date / time, or the header names
    channels 0, 1, 2 as pandas writes an array's columns)."""
    lines = first_lines(path, 2)
    if len(lines) < 2:
        return False
    rows = [split_cells(x) for x in lines]
    if not all(len(r) >= 2 and not is_number_cell(r[0]) and all(is_number_cell(c) for c in r[1:]) for r in rows):
        return False
    numbers = [float(c) if c.lower() not in MISSING else None for c in rows[0][1:]]
    n = len(numbers)
    if numbers in (list(range(n)), list(range(1, n + 1))) or _is_time(rows[1][0]):
        return False
    return rows[0][0].lower() not in {"time", "date", "datetime", "timestamp", "t", "ds", "index"}


def one_number(path: str) -> bool:
    """Whether the first non-blank line is a single number other than 0 (the header pandas
    writes for a one-column array): in a UCR file, a class without values."""
    cells = first_cells(path)
    return len(cells) == 1 and is_number_cell(cells[0]) and cells[0] not in ("0", "0.0")


def _refuse(path: str, line: int, series: int, why: str) -> DataError:
    return DataError(f"line {line} (series {series}): {why}", file=path)


# ------------------------------------------------------------------ .ts
def read_ts(path: str) -> Archive:
    """A ``.ts`` file through aeon's reader; any problem is a ``DataError`` naming the file,
    and the line where the reader says which series."""
    try:
        from aeon.datasets import load_from_ts_file
    except ImportError:
        raise DataError("reading .ts files needs aeon: pip install aeon", file=path) from None
    lines = _lines(path)
    at = next((i for i, x in enumerate(lines) if x.strip().lower() == "@data"), None)
    if at is None:
        what = "the file is empty" if not any(x.strip() for x in lines) else "no @data line"
        raise DataError(f"{what}: a .ts file has header lines (@problemName ..., @classLabel ...), "
                        f"then @data, then one series a line", file=path)
    data = lines[at + 1:]
    trailing = False
    while data and not data[-1].strip():  # blank lines at the end: nothing follows them
        data.pop()
        trailing = True
    first = at + 2  # the file line of series 1
    if not data:
        raise DataError("no series after the @data line", file=path)
    blank = next((i for i, x in enumerate(data) if not x.strip()), None)
    if blank is not None:  # aeon reads it as a series of no channels and stops there
        raise _refuse(path, first + blank, blank + 1, "blank line among the series; remove it")
    _check_ts_header(path, lines[:at], data, first)
    try:
        if trailing or compression(path):  # aeon fails on them too / reads no compressed file: a plain copy
            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, "series.ts")
                with open(copy, "w", encoding="utf-8") as fh:
                    fh.write("\n".join(lines[:at + 1] + data) + "\n")
                x, y, meta = load_from_ts_file(copy, return_meta_data=True)
        else:
            x, y, meta = load_from_ts_file(path, return_meta_data=True)
    except (OSError, ValueError, IndexError) as e:
        raise _aeon_error(e, path, data, first) from None
    series = [np.asarray(s, dtype=np.float64) for s in x]
    if len(series) != len(data):  # aeon reads every line after @data; if not, say so
        raise DataError(f"aeon read {len(series)} series from {len(data)} lines after @data",
                        file=path)
    labels = None
    if meta.get("classlabel") or meta.get("targetlabel"):
        labels = [_ts_label(line) for line in data]
        declared = {c.lower() for c in meta.get("class_values") or ()}
        if meta.get("classlabel") and declared:
            for i, lab in enumerate(labels):
                if lab is not None and lab.lower() not in declared:
                    raise _refuse(path, first + i, i + 1, f"class {lab!r} is not among the classes "
                                  f"the @classLabel line declares ({', '.join(_declared(lines[:at]))})")
    return Archive(series, labels, array_ids(os.path.basename(path), 3, len(series)))


def _check_ts_header(path: str, header: list[str], data: list[str], first: int) -> None:
    """What aeon misreads without a word: a file without a ``@classLabel`` line (aeon then
    takes every line's last channel for its class, and the series are empty), and a data
    line without its class (aeon then fails on the next line, naming that one)."""
    tags = {x.split()[0].lower(): x.split()[1:] for x in header if x.strip().startswith("@")}
    if tags.get("@timestamps", ["false"])[:1] == ["true"]:
        raise DataError("@timeStamps true: series written as (time,value) pairs are not read "
                        "(aeon's reader keeps only numbers with a decimal point, times among them); "
                        "write the values alone, in time order, with @timeStamps false", file=path)
    if "@classlabel" not in tags and "@targetlabel" not in tags:
        raise DataError("no @classLabel line: write '@classLabel true <class> <class> ...' (each "
                        "series ends with ':' and its class) or '@classLabel false' (no classes) "
                        "before @data", file=path)
    labelled = any(tags.get(t, ["false"])[:1] == ["true"] for t in ("@classlabel", "@targetlabel"))
    if labelled:
        for i, line in enumerate(data):
            if ":" not in line:
                raise _refuse(path, first + i, i + 1, "no class: the header says each series ends "
                              "with ':' and its class (? where unknown)")


def _declared(header: list[str]) -> list[str]:
    """The classes of the ``@classLabel true ...`` line as written (aeon lowercases them)."""
    return next((x.split()[2:] for x in header if x.split() and x.split()[0].lower() == "@classlabel"), [])


def _ts_label(line: str) -> str | None:
    """The label of a ``.ts`` data line as written: the text after its last ``:``."""
    label = line.rpartition(":")[2].strip()
    return None if label in ("", "?") else label


def _aeon_error(e: Exception, path: str, data: list[str], first: int) -> DataError:
    """aeon's word on a bad ``.ts`` file, with the line it means: aeon names a "case" (its
    1-based series number) for a wrong channel count or length, and nothing for a value
    that is not a number (``float('x')``), which is looked up here."""
    text = re.sub(r"Error loading <[^>]*>\.\s*", "", " ".join(str(e).split()))
    case = re.search(r"case (\d+)", text)
    if case:
        k = int(case.group(1))
        dims = re.search(r"Expecting (\d+) but have read (\d+)", text)
        if dims and "dimensions" in text:
            return _refuse(path, first + k - 1, k, f"{dims.group(2)} channel(s) where the series "
                           f"before it have {dims.group(1)} (channels are separated by ':', and "
                           f"the class follows the last one)")
        if "Expecting univariate" in text:  # aeon checks from series 2; series 1 has as many
            seen = re.search(r"Seen (\d+)", text)
            return _refuse(path, first, 1, f"{seen.group(1) if seen else 'several'} channels "
                           f"(separated by ':'), but the header says @univariate true: write "
                           f"@univariate false")
        if "equal length == True" in text:  # aeon's own words compare channel 0 with channel 0
            return _refuse(path, first + k - 1, k, "its length differs from series 1's, but the "
                           "header says @equalLength true: write @equalLength false for series "
                           "of unequal lengths")
        return _refuse(path, first + k - 1, k, text)
    bad = re.search(r"could not convert string to float: '(.*)'", text)
    if bad:
        token = bad.group(1)
        for i, line in enumerate(data):
            if token in {c.strip() for c in re.split(r"[,:]", line.lower())}:
                return _refuse(path, first + i, i + 1, f"{token!r} is not a number (a missing "
                               f"value is written ?)")
    return DataError(f"cannot read as a .ts file: {text}", file=path)


# ------------------------------------------------------------------ UCR .tsv / .txt
def read_ucr(path: str) -> Archive:
    """A UCR archive file (class, then values, one series a line); tab-separated when the
    first line has a tab, else comma-separated when it has a comma, else by white space.
    Blank lines are skipped; trailing NaN padding is removed."""
    lines = _lines(path)
    rows = [(i + 1, x) for i, x in enumerate(lines) if x.strip()]
    if not rows:
        raise DataError("the file is empty: a UCR archive file holds one series a line, its "
                        "class first, then its values", file=path)
    head = rows[0][1]
    sep = "\t" if "\t" in head else "," if "," in head else None
    series: list[np.ndarray] = []
    labels: list[str | None] = []
    for k, (line_no, line) in enumerate(rows, start=1):
        cells = [c.strip() for c in (line.split(sep) if sep else line.split())]
        label, cells = cells[0], cells[1:]
        try:
            values = np.asarray(["nan" if c.lower() in MISSING else c for c in cells], dtype=np.float64)
        except ValueError:
            j, cell = next((j, c) for j, c in enumerate(cells) if not is_number_cell(c))
            raise _refuse(path, line_no, k, f"value {j + 1} is {cell!r}, not a number (a missing "
                          f"value is NaN or empty)") from None
        end = np.flatnonzero(~np.isnan(values))
        if not end.size:
            what = "every value after the class {!r} is missing" if cells else "no values after the class {!r}"
            raise _refuse(path, line_no, k, what.format(label) + "; a UCR archive line is the class, "
                          "then the series")
        series.append(values[:end[-1] + 1][None, :])  # [1, L]: the padding past the end removed
        labels.append(None if label.lower() in MISSING else label)
    return Archive(series, labels, array_ids(os.path.basename(path), 3, len(series)))


def read_archive(path: str, kind: str) -> Archive:
    """``kind``: ``ts`` or ``ucr``."""
    return read_ts(path) if kind == "ts" else read_ucr(path)
