"""A user's series files read back after ingest (``predict``, ``evaluate``, ``embed``,
``infill`` on a raw file) and labels read from a series file: which reader a file gets,
the records named as ingest names them, the output written back.

Which reader (``file_kind``): ``.npy`` / ``.npz`` / ``.ts`` by extension, since each has
one meaning. A ``.tsv`` whose first line is numbers is a UCR archive file: the wide
layout (rows = time steps) needs a header line naming its channels, so a line of numbers
there is no header, and the UCR archive 2018 ships exactly such files. ``.csv`` / ``.txt``
stay wide tables: a table written from an array has the header ``0,1,2`` (numbers too), and
the older archive's ``.txt`` files are read with ``format=ucr`` (ingest saves it in the
store's schema, so the same files are read back the same way).

A mixin of ``TimeSeriesDomain`` (it reads ``self.options``, ``to_records`` and
``_series_arrays``); split out so the domain module keeps to one job per file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import delimiter, first_cells, headerless, plain_name, write_table
from encoderkit.domain import Record
from encoderkit.errors import DataError
from encoderkit.outputs import atomic_write
from encoderkit.outputs import check_output_kind

from . import io as tsio
from . import parquet
from .archives import one_number, read_archive, ucr_lines, ucr_with_words
from .layout import blank_as_text, read_layout, warn_data_header, write_kwargs, written_names
from .marks import is_sentinel, marked, sentinel_words

ARCHIVE_KINDS = ("ts", "ucr")


def file_kind(path: str, fmt: str = "auto", table: bool = False) -> str:
    """The reader of ``path``: ``fmt`` when set, else csv | npy | npz | ts | ucr by the
    extension (and a ``.tsv``'s first lines, compressed too, see the module docstring);
    otherwise the extension, which no reader takes. ``table``: a column role was given
    (``time_column=``, ``series_column=``, ...), so a ``.tsv`` of words and numbers is a
    wide table, never a UCR file with word classes."""
    if fmt != "auto":
        return fmt
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("npy", "npz", "ts"):
        return ext
    if ext in ("parquet", "pq"):  # parquet.py reads it
        return "parquet"
    if plain_name(path).endswith(".ts"):  # a compressed .ts (x.ts.gz): its text, decompressed
        return "ts"
    # text tables, compressed too (pandas reads x.csv.gz; a tab-separated one by its name)
    plain = os.path.splitext(plain_name(path))[1].lstrip(".")
    if plain == "tsv" and (headerless(path) or one_number(path)
                           or (not table and ucr_with_words(path))):
        return "ucr"
    return "csv" if plain in ("csv", "tsv", "tab", "txt") else ext


def warn_empty(path: str, records: list[Record]) -> None:
    """Warn about series without one observed value: ingest skips them, but a file read
    for predict / embed / evaluate keeps one output row per series, and theirs come from
    no data at all (the model's answer to an empty input)."""
    empty = [str(r.get("id", i)) for i, r in enumerate(records)
             if not np.isfinite(np.asarray(r["values"], dtype=np.float64)).any()]
    if empty:
        more = f" and {len(empty) - 3} more" if len(empty) > 3 else ""
        warnings.warn(f"{path}: {len(empty)} series with no observed value ({', '.join(empty[:3])}{more}): "
                      f"their predictions / embeddings are the model's answer to an empty series, not "
                      f"a reading of data (ingest skips such series)", stacklevel=2)


def warn_empty_channels(path: str, records: list[Record], names: list[str] | None,
                        missing: Any = None, trained: Sequence[int] | None = None) -> None:
    """Warn about channels without one observed value in any series of the file (a column of
    the table left empty): the model reads them as missing, as a table's model reads a column
    absent from its table, so the predictions rest on the other channels alone. ``names``:
    the run's channel names (else channels are named by number); ``missing``: the
    ``missing_value`` option, whose numbers are missing samples too. A file of one time step
    is left unsaid: its one empty sample is a missing value, not a channel that lost its values.
    ``trained``: the observed samples per channel in the run's training records (the schema's
    ``channel_observed``, where ingest recorded it): a channel that held none there is left
    unsaid, as the model never read a value of it (the training file itself draws no word)."""
    counts = {int(r["channels"]) for r in records}
    if len(counts) != 1 or sum(int(r["length"]) for r in records) < 2:
        return
    width = counts.pop()
    seen = np.zeros(width, dtype=bool)
    for r in records:
        v = np.asarray(r["values"], dtype=np.float64).reshape(width, -1)
        seen |= (np.isfinite(v) & ~is_sentinel(v, missing)).any(axis=1)
    if isinstance(trained, (list, tuple)) and len(trained) == width:
        seen |= np.asarray(trained, dtype=np.float64) == 0  # empty in training too: no change
    if seen.all():
        return
    label = list(names) if names and len(names) == width else [f"channel {c}" for c in range(width)]
    empty = [label[c] for c in np.flatnonzero(~seen)]
    warnings.warn(f"{path}: {len(empty)} of the run's {width} channels hold no value in any series "
                  f"of the file and are read as missing, so the predictions / embeddings rest on the "
                  f"other channels: {empty[:10]}{' ...' if len(empty) > 10 else ''}", stacklevel=3)


TABLE_OPTIONS = ("time_column", "series_column", "channels", "value_column", "channel_column")
# the ingest options a file is read back with, which ``TimeSeriesDomain.schema_with_provenance``
# copies into a run's schema from its store's record of the ingest. ``channels`` among them:
# the columns ingest read, every other one left out, words too (``frames.unread_columns``);
# a store records it in its provenance only. It is no option to give again (``read_options``)
READ_OPTIONS = ("format", "time_column", "series_column", "value_column", "channel_column", "missing_value",
                "delimiter", "decimal", "channels")


def refuse_numbers_as_header(path: str, table: bool = False) -> None:
    """A wide CSV / TXT (``format=auto``) whose first line is numbers other than column
    numbers (``0,1,2`` as pandas writes an array's columns): read as a header, its numbers
    would name channels and the first time step would be lost without a word. Most often
    it is an older UCR archive ``.txt``, so the error says how to read one; so it does for
    lines that are each a word and numbers (a UCR file with named classes), unless a column
    role (``table``) says the file is a table."""
    if not table and ucr_with_words(path):
        raise DataError("lines 1 and 2 are each a word, then numbers, as in a UCR archive file "
                        "whose classes are words: read it with format=ucr (a wide table needs a "
                        "header line naming its channels; a column of times or series ids is "
                        "named with time_column= / series_column=)", file=path)
    if not headerless(path):
        return
    cells = first_cells(path)
    try:
        numbers = [float(c) for c in cells]
    except ValueError:
        numbers = []
    if numbers in (list(range(len(cells))), list(range(1, len(cells) + 1))):
        return
    raise DataError("line 1 holds only numbers, so it is no header naming the channels: a UCR "
                    "archive file (the class, then the values, one series a line) is read with "
                    "format=ucr; a wide table (one column per channel) needs a header line",
                    file=path)


def refuse_stray_text(frame: pd.DataFrame, path: str, roles: list[str], decimal: str = ".",
                      place: Any = None) -> None:
    """A channel column with a cell that is no number reads as text, and infill, predict and
    embed use the number columns only: the channel was left out without a word (ingest
    refuses the cell). A column of numbers and text is refused naming the cell, as ingest
    does; one without any number is refused for a run where it could hold series ids (every
    cell given, two values at least), else left as it is with a warning, when the frame's
    series are read (``frames.SeriesFrames._refuse_unread_text``), with advice on its roles."""
    for c in frame.columns:
        if c in roles or pd.api.types.is_numeric_dtype(frame[c]):
            continue
        texts = frame[c].astype("string").str.strip()
        if pd.to_numeric(texts, errors="coerce").notna().any():
            tsio.numeric_column(frame[c].astype("string").fillna(""), path, str(c), decimal, place=place)


def marked_channels(frame: pd.DataFrame, path: str, roles: list[str], decimal: str,
                    words: frozenset[str]) -> pd.DataFrame:
    """``frame`` with each text column whose cells are numbers but for missing marks (``-``,
    ``?``, ``.``: ``marks.marked``) or ``missing_value`` words as numbers, those cells
    missing, as ingest reads them (pandas left the column text, so it was no channel).
    Whole numbers become nullable ``Int64`` (an observed ``2`` is written back as ``2``);
    numbers are parsed exactly (``io.numeric_column``). Other text is left as it is."""
    out = frame
    for j, name in enumerate(frame.columns):
        s = frame.iloc[:, j]
        if name in roles or pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            continue
        text = s.astype("string").str.strip().fillna("")
        hole = marked(text, words) & (text != "").to_numpy()
        if not hole.any():
            continue
        try:  # said at ingest, which reads the same cells first
            values = tsio.numeric_column(text, path, str(name), decimal, words, warn=False)
        except DataError:  # words beside the numbers: refuse_stray_text names the cell
            continue
        rest = (text != "").to_numpy() & ~hole & ~np.isnan(values)
        whole = bool(text[rest].str.fullmatch(r"[-+]?\d+").all())
        if out is frame:
            out = frame.copy()
        out.isetitem(j, pd.array(values, dtype="Float64").astype("Int64") if whole and rest.any()
                     else values)
    return out


class SeriesFiles:
    def read_options(self) -> dict[str, Any]:
        """Column roles, format and missing-value marker of the files read back: the run's,
        which the domain takes from the store's schema (see ``TimeSeriesDomain.__init__``).
        Not ``channels``: embed / infill take no ``channels=`` (the run's channels are its own)."""
        return {k: self.options[k] for k in READ_OPTIONS if k != "channels"}

    def _table_roles(self) -> bool:
        """Whether a column role (``time_column=``, ``series_column=``, ...) makes text files tables."""
        return any(self.options.get(k) for k in TABLE_OPTIONS)

    def _read_kind(self, path: str) -> str:
        """``file_kind`` of a file read back; a store ingested with ``format=ucr`` reads its
        other text files (``.txt``, ``.csv``) as UCR files too, unless their first line is a
        header (a labels table ``id,label``, a wide table): those keep their own reader."""
        kind = file_kind(path, table=self._table_roles())
        if self.options["format"] == "ucr" and kind not in ("npy", "npz", "ts", "parquet") and ucr_lines(path):
            return "ucr"
        return kind

    def read_input(self, path: str) -> Any:
        kind = self._read_kind(path)
        if kind == "csv":
            if self.options["format"] == "auto":  # as ingest refuses it
                refuse_numbers_as_header(path, self._table_roles())
            roles = [self.options[k] for k in ("time_column", "series_column") if self.options[k]]
            sep = self.options["delimiter"]  # as ingest read the store's files (None: by the name)
            # the file's decimal mark and layout in locals, kept on the domain (for
            # write_output) once read: a loaded run's domain is shared by a service's threads,
            # and another thread's read between setting and reading them parsed this file's
            # '0,5' with its '.' (refused)
            decimal = tsio.file_decimal(path, sep, self.options["decimal"], roles)
            data = tsio.read_frame(path, roles, sep, decimal)
            # columns ingest leaves out (outside the channels listed, beside a long table's
            # value) are no channels here either: left as they are, words too
            unread = roles + self.unread_columns(data)
            data = marked_channels(data, path, unread, decimal, sentinel_words(self.options["missing_value"]))
            refuse_stray_text(data, path, unread, decimal)
            # blank header cells, byte-order mark, line ends: written back as they came
            layout = read_layout(path, sep or delimiter(path), data)
            warn_data_header(path, layout.cells)  # the header read_layout read
            data = blank_as_text(data, layout)
            self.read_decimal, self.read_layout, self.read_parquet = decimal, layout, None
        elif kind == "parquet":  # typed columns: text ones checked as a CSV's (marks, stray words)
            data, self.read_parquet = parquet.read_input(path, self.options)
            self.read_decimal, self.read_layout = ".", None
            roles = [self.options[k] for k in ("time_column", "series_column") if self.options[k]]
            unread = roles + self.unread_columns(data)
            data = marked_channels(data, path, unread, ".", sentinel_words(self.options["missing_value"]))
            refuse_stray_text(data, path, unread, place=lambda row: f"row {row + 1}")
        elif kind in ("npy", "npz"):  # checked as ingest checks them (a member that is no array, ...)
            data = tsio.load_arrays(path)
        elif kind in ARCHIVE_KINDS:
            data = read_archive(path, kind).series  # a list of [C, L] series
        else:
            raise ValueError(f"{path}: unknown time-series file type; expected .csv, .parquet, .npy, "
                             f".npz, .ts or a UCR archive .tsv")
        try:  # what the model cannot read in the file: refused here, where the file is known
            # its warnings said once, when the records are made from it: none here, and no
            # filter (one takes the session lock, held by a training in another thread)
            self._series_arrays(data, where=path, warn=False)
        except DataError as e:
            raise DataError(e.message, file=path) from None
        except ValueError as e:
            raise DataError(str(e), file=path) from None
        return data

    def read_records(self, path: str) -> list[Record]:
        """``to_records`` of the file, each series named as ``ingest`` names it (``x.npy[2]``,
        ``x.npz:key``, ``x.ts[2]``): ``read_input`` gives the arrays without the file name
        that ingest's ids hold. A CSV keeps ``to_records``' names (its ``series_column``
        values, which join a store's ``x.csv:<value>`` ids by the part after the file name)."""
        data = self.read_input(path)
        records = self.to_records(data, warn=False, where=path)
        schema = self.schema or {}
        warn_empty_channels(path, records, schema.get("channel_names"), self.options.get("missing_value"),
                            schema.get("channel_observed"))
        if isinstance(data, pd.DataFrame):
            warn_empty(path, records)
            return records
        base = os.path.basename(path)
        if isinstance(data, list):  # an archive file: its series as an [N, C, L] array's
            ids = tsio.array_ids(base, 3, len(data))
        else:
            arrays = [(tsio.npz_label(base, k), a) for k, a in data.items()] \
                if isinstance(data, Mapping) else [(base, data)]
            ids = [rid for label, a in arrays for rid in tsio.array_ids(label, np.ndim(a), len(a))]
        for rec, rid in zip(records, ids, strict=True):  # one record per series, in file order
            rec["id"] = rid
        warn_empty(path, records)
        return records

    def read_labels(self, path: str) -> pd.DataFrame | None:
        """The labels a ``.ts`` / UCR file holds beside its series (``id``: as ingest names
        the series, ``label``: as written, None where ``?``); None for other files, which
        are read as labels tables. A ``.ts`` without labels (``@classLabel false``) is an
        error: used as labels it would label nothing."""
        kind = self._read_kind(path)
        if kind not in ARCHIVE_KINDS:
            return None
        archive = read_archive(path, kind)
        if archive.labels is None:
            raise DataError("holds no labels (@classLabel false, no @targetLabel true): give the "
                            "labels in their own file, or the .ts file written with them", file=path)
        # a series ingest skips (no value observed) has no record: its label joins nothing
        missing = self.options.get("missing_value")
        kept = [i for i, v in enumerate(archive.series) if v.size
                and (np.isfinite(v) & ~is_sentinel(v, missing)).any()]
        frame = pd.DataFrame({"id": [archive.ids[i] for i in kept],
                              "label": pd.Series([archive.labels[i] for i in kept], dtype=object)})
        # the file's series are <name>[0] .. <name>[n-1]: a store holding others of that name
        # was ingested from another file (encoderkit.tasks.labels.check_series_file)
        frame.attrs["series_file"] = (os.path.basename(path), len(archive.series))
        return frame

    def check_output_name(self, data: Any, path: str) -> None:
        if isinstance(data, (pd.DataFrame, Mapping, np.ndarray)):  # archive series: write_output says
            check_output_kind(path, data, parquet=True)

    def write_output(self, data: Any, path: str) -> None:
        if isinstance(data, pd.DataFrame) and plain_name(path).lower().endswith(parquet.SUFFIXES):
            # with the index, columns and types of the Parquet file read (parquet.py)
            parquet.write_frame(data, path, getattr(self, "read_parquet", None))
        elif isinstance(data, pd.DataFrame):
            if parquet.data_index(data):  # a Parquet file's times (its index) as a column
                data = data.reset_index()
            # with the separator and decimal mark the table was read with (a ';' file of
            # 2,25 stays one); else by the name, compressed too (x.tsv.gz is tab-separated)
            sep = self.options["delimiter"] or delimiter(path)
            mark = self.options["decimal"] if self.options["decimal"] != "auto" else self.read_decimal
            mark = "." if mark == sep else mark  # a comma-separated output: 2.25, never "2,25"
            # the frame of the file read_input read: its blank header cells, mark and line ends
            layout = getattr(self, "read_layout", None)
            names, extra = written_names(data, layout), write_kwargs(layout, data)
            atomic_write(path, lambda tmp: write_table(data, tmp, path, sep=sep, index=False, decimal=mark,
                                                       header=names if names is not None else True,
                                                       **extra))
        elif isinstance(data, Mapping):
            atomic_write(path, lambda tmp: np.savez(tmp, **{k: np.asarray(v) for k, v in data.items()}))
        elif isinstance(data, np.ndarray):
            atomic_write(path, lambda tmp: np.save(tmp, data, allow_pickle=False))
        elif isinstance(data, list):
            raise DataError("series read from a .ts / UCR archive file cannot be written by infill "
                            "(in no format: their lengths and channels vary); fill them from Python "
                            "(model.infill(list of arrays)), or convert the file to .npz / .csv "
                            "and infill that", file=path)
        else:
            raise TypeError(f"write_output: unsupported data of type {type(data).__name__}")
