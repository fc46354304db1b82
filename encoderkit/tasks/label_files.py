"""Reading a labels / split file into a DataFrame whose ``id`` column and label cells mean
what the user wrote (``labels.py`` aligns and encodes it).

What a labels file written by another tool looks like, and how it is read:

* CSV / TSV cells are text, read literally: an id ``NA`` (Namibia, a gene) is an id; only an
  empty cell is missing. Words that tools write for a missing value (``NA``, ``NaN``,
  ``None``, ``null``, ...) are missing in *label* columns only (R writes ``NA``), with a
  warning that names the word and how many rows hold it, because a class named ``None``
  would otherwise vanish without a word (``missing_words``).
* A column with an empty header that holds only row labels (the index ``to_csv`` and R's
  ``write.csv`` write, counted or not: a filtered or shuffled frame's) or nothing (a trailing
  separator) is dropped: it was a regression target.
* Header names are trimmed (``id , label`` names ``id`` and ``label``), and a column named
  ``ID`` / ``Id`` is the id column: otherwise it was taken for a label column, or ignored
  beside a ``label`` column, and the rows were joined by order, silently misaligned when
  the file is not in store order.
* A Parquet file whose ids are its index (``frame.set_index("id").to_parquet(...)``) has
  that index read back as a column, for the same reason.
* A header separated by ``;`` or ``|`` in a ``.csv`` (or tabs, or commas in a ``.tsv``) is
  refused: read with the wrong separator it is one column of joined text, one class per
  record.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.data.textfiles import (UNNAMED, check_row_widths, compression, plain_name, repeated_header_name,
                                      written_index)
from encoderkit.errors import DataError, InputNotFoundError, UsageError

LABEL_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".npy")

# what pandas reads as NaN by default; in a label column they are missing (with a warning)
NA_WORDS = frozenset({"NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None",
                      "<NA>", "#N/A", "#NA", "#N/A N/A", "N/A N/A", "1.#IND", "-1.#IND",
                      "1.#QNAN", "-1.#QNAN", "NaT"})


def read_table(path: str | Path, domain: Any = None):
    """A labels file -> DataFrame (``.npy``: columns ``label`` or ``label_0..``). A data file
    of ``domain`` that holds its own labels (a ``.ts`` series file) is read by the domain
    (``Domain.read_labels``): one file is then both the input and its labels."""
    import pandas as pd

    file = Path(path)
    if not file.exists():
        raise InputNotFoundError(f"labels file {str(file)!r} does not exist", file=file)
    if domain is not None:
        own = domain.read_labels(str(file))
        if own is not None:
            return own
    packed = compression(str(file))  # x.csv.gz, as the data files and impute's outputs
    suffix = Path(plain_name(str(file))).suffix
    if suffix not in LABEL_SUFFIXES or (packed and suffix not in (".csv", ".tsv")):
        raise UsageError(f"labels file {file} must be one of {list(LABEL_SUFFIXES)} "
                         f"(.csv / .tsv also compressed: .gz, .bz2, .xz, .zip, .zst)", file=file)
    if suffix in (".csv", ".tsv"):  # a header of another separator reads as one column of joined
        # text (one class per record); a row longer than the header (but for a separator ending
        # it) or shorter (a comma left out) is named: pandas drops or fills its cells silently
        check_row_widths(file, "\t" if suffix == ".tsv" else ",")
    try:
        if suffix == ".npy":
            a = np.load(file, allow_pickle=False)
            if a.ndim == 1:
                return pd.DataFrame({"label": a})
            if a.ndim == 2:
                return pd.DataFrame(a, columns=[f"label_{j}" for j in range(a.shape[1])])
            raise DataError(f"a labels .npy must be 1-D or 2-D; got shape {a.shape}", file=file)
        if suffix in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            from encoderkit.data.arrow_frames import arrow_to_pandas

            # a pandas category / dictionary column read as its values (pd.read_parquet
            # failed on pandas' own "dictionary<...>[pyarrow]" dtype: arrow_frames); the file
            # opened by its name's bytes, as the other readers do: given the name, pyarrow
            # opens its UTF-8 bytes, refusing a name that is not UTF-8 ('labels_\xfc')
            with pa.OSFile(os.fsencode(file), "rb") as source:
                frame = _index_as_columns(arrow_to_pandas(pq.read_table(source)))
        else:
            # every cell as text, literally: a class label is the text the file holds ("+0"
            # and "-0" are two classes, "007" is not 7), ids stay the strings the store
            # holds, and only an empty cell is missing (NA words: ``missing_words``)
            sep = "\t" if suffix == ".tsv" else ","
            # index_col=False: rows ending with a separator the header lacks (``a,1,``) made
            # pandas take the ids for the index, each label read one column over (as missing)
            frame = pd.read_csv(file, sep=sep, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
            repeated = repeated_header_name(file, sep)  # `id,label,label`: the first label trained
            if repeated:
                raise DataError(f"column {repeated[0]!r} appears more than once in the header", file=file)
        return _id_column(frame, file)
    except DataError:
        raise
    except Exception as e:  # a parse error of pandas / numpy / pyarrow
        raise DataError(f"cannot read labels file: {type(e).__name__}: {' '.join(str(e).split())}",
                        file=file) from None


def _index_as_columns(frame):
    """A Parquet index that carries data (named, or not a plain 0..n-1 range) as columns."""
    import pandas as pd

    index = frame.index
    plain = isinstance(index, pd.RangeIndex) and index.name is None and index.start == 0 and index.step == 1
    return frame if plain else frame.reset_index()


def _id_column(frame, file: Path):
    """Trimmed header names; a single ``ID`` / ``Id`` / `` id `` column renamed ``id``; no
    written row index (``_row_numbers``)."""
    frame.columns = [c.strip() if isinstance(c, str) else c for c in frame.columns]
    frame = frame[[c for c in frame.columns if not _row_numbers(frame, c)]]
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"column {twice[0]!r} appears more than once in the header", file=file)
    if "id" not in names:
        like = [c for c in frame.columns if str(c).lower() == "id"]
        if len(like) == 1:
            frame = frame.rename(columns={like[0]: "id"})
    return frame


def _row_numbers(frame, column: Any) -> bool:
    """Whether ``column`` has an empty header and holds nothing but the row labels pandas or R
    wrote (``textfiles.written_index``: integers each row its own, counted or not; the table
    readers' rule) or nothing at all (a trailing separator). Unlike the table readers (the
    first column only), any nameless column: a labels file has no data columns to lose, and
    a column kept became a regression target. Unnamed columns holding anything else (ids
    written as an index) are kept, so they are not lost."""
    if not (isinstance(column, str) and UNNAMED.fullmatch(column)):
        return False
    cells = frame[column]
    return bool(cells.isna().all()) or written_index(cells, column)


def missing_words(frame, columns: list, file: str) -> Any:
    """``frame`` with NA words in the text ``columns`` (labels) made missing, warning once per
    file about what was read as missing."""
    import pandas as pd

    found: dict[str, int] = {}
    out = frame
    for c in columns:
        col = frame[c]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
        hit = text.map(lambda v: isinstance(v, str) and v in NA_WORDS).to_numpy(dtype=bool)
        if hit.any():
            for word, n in pd.Series(text[hit]).value_counts().items():
                found[str(word)] = found.get(str(word), 0) + int(n)
            if out is frame:
                out = frame.copy()
            out[c] = col.mask(hit, np.nan)
    if found:
        said = ", ".join(f"{w!r} ({n} row(s))" for w, n in sorted(found.items()))
        warnings.warn(f"{file}: label cells {said} are read as missing: those records are "
                      f"unlabelled (leave a cell empty to say so without this warning)", stacklevel=3)
    return out


def counts_header(file: str, frame: Any = None) -> bool:
    """Whether rows of the labels ``file`` are numbered as its lines with the header as row 1
    (a CSV / TSV, compressed too: row 2 is the first record, as a spreadsheet shows it), or
    from 1 at the first data row (Parquet, ``.npy``, labels given in memory, a series file
    read by its domain: a file without a header line, whose first row is row 1)."""
    if frame is not None and getattr(frame, "attrs", {}).get("series_file"):
        return False
    return Path(plain_name(str(file))).suffix in (".csv", ".tsv")


def id_texts(column, file: str, header: bool) -> np.ndarray:
    """The ``id`` column as the store's id strings: text as written; a whole number stored as
    a float (a Parquet / .npy id column with a gap becomes float) as the integer it is. An
    empty id is an error naming its row: it cannot name a record."""
    out = []
    for i, v in enumerate(column.tolist()):
        if is_missing(v):
            raise DataError(f"row {i + (2 if header else 1)}: the id cell is empty", file=file)
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        out.append(str(v))
    return np.asarray(out, dtype=object)


def is_missing(v: Any) -> bool:
    """None, an empty string, a float NaN or a pandas missing value (``pd.NA``, ``NaT``,
    from nullable Parquet columns): an unlabelled cell."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    if isinstance(v, (float, np.floating)):
        return math.isnan(float(v))
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(v)) if np.ndim(v) == 0 else False
    except (TypeError, ValueError):
        return False


def check_series_file(frame, ids: np.ndarray, file: str) -> None:
    """Labels read from a data file that names its records ``<name>[0]`` .. ``<name>[n-1]``
    (``frame.attrs["series_file"] = (name, n)``, a ``.ts`` / UCR file): a store whose
    records of that name go past ``n``, or lack some of the file's, was ingested from
    another file, and joining by position would label the wrong series. The message starts
    with ``file`` itself: the ids it quotes hold the file's name, which keeps
    ``EncoderkitError`` from naming the file in front."""
    name, n = frame.attrs.get("series_file", (None, 0))
    if name is None:
        return
    pattern = re.compile(re.escape(name) + r"\[(\d+)\]$")
    held = [int(m.group(1)) for m in (pattern.match(str(x)) for x in ids) if m]
    shown = ", ".join(repr(str(x)) for x in ids[:3])
    if not held:
        raise DataError(f"{file}: none of its {n} series is a record here: ids {name}[0] .. {name}[{n - 1}] "
                        f"(as ingest names this file's series) match none of the records (their "
                        f"ids look like {shown}); give the file the data came from, or labels by id",
                        file=file)
    have = set(map(str, ids))
    absent = [str(x) for x in frame["id"] if str(x) not in have]
    if max(held) >= n or absent:
        raise DataError(f"{file}: holds {n} series, but the records named after a file {name} are "
                        f"{len(held)} (up to {name}[{max(held)}]"
                        + (f"; {absent[0]!r} is not one" if absent else "") + "): it is not the "
                        "file those records were ingested from, so its classes would label "
                        "the wrong series", file=file)
