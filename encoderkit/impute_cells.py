"""User data as channels of cells, for ``encoderkit impute`` and ``EncoderImputer``: a
table's columns or a series' channels as flat arrays (``channels``), writing fills back into
the user's own kind of data (``set_cells``, ``with_hidden``) and as the input's own text
(``as_written``, shared with ``encoderkit infill``; its date-time fills in the file's form are
``impute_date_text.py``'s), and the word on infinite values read as missing
(``warn_infinite``). Importable from here too, each from the module that does that job: the
held-back cells that score a fill (``draw_holdout``, ``gap_length``: ``impute_holdout.py``),
the simple baselines (``baseline_fill``, ``series_baselines``: ``impute_baselines.py``), and
the scores and per-column choices made on the held-back cells (``score_holdout``,
``select_fills``: ``impute_scores.py``).

Split out of ``encoderkit/impute.py`` (the command: reading, training, the summary), so
each module keeps one job. Reads DataFrames and numpy arrays (and, for ``as_written``,
the input file's text); no domain code.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.data import textfiles
from encoderkit.errors import DataError
from encoderkit.impute_date_text import dates_as_given
from encoderkit.lazy_exports import lazy_exports
from encoderkit.numerics import held_in_dtype

if TYPE_CHECKING:  # what type checkers and IDEs see
    from encoderkit.impute_baselines import baseline_fill, series_baselines
    from encoderkit.impute_holdout import draw_holdout, gap_length
    from encoderkit.impute_scores import (Choice, Score, cell_errors, cell_errors_of, score_holdout, select_fills,
                                          series_sd)

# the held-back draw, the baselines, the scores and choices live in their own modules, which
# read the cells through this one: their names stay importable from here, imported on first
# use (PEP 562), as importing them here at once would make each module's import wait on the other's
__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("Score", "Choice", "cell_errors", "cell_errors_of", "series_sd", "score_holdout",
                     "select_fills", "_equal"), "encoderkit.impute_scores"),
    **dict.fromkeys(("gap_length", "draw_holdout"), "encoderkit.impute_holdout"),
    **dict.fromkeys(("baseline_fill", "series_baselines"), "encoderkit.impute_baselines")})

__all__ = [
    "Channel", "channels", "series_starts", "time_numbers", "is_missing", "set_cells", "with_hidden",
    "same_cells", "as_written", "TEXT_BLOCK", "EXACT_DIGITS", "filled_infinite", "warn_infinite",
    # impute_holdout, impute_baselines
    "gap_length", "draw_holdout", "baseline_fill", "series_baselines",
    # impute_scores
    "Score", "Choice", "cell_errors", "cell_errors_of", "series_sd", "score_holdout", "select_fills",
]

# ---------------------------------------------------------------- the cells of user data

@dataclass
class Channel:
    """One column of a table or one channel of a series: its values along rows / time
    (``values`` float64 or object), where it sits (``where``) and its kind. ``pool`` names
    the channels judged together by ``select_fills`` (channel c of every series of a dict
    of series, as for the rows of an ``[N, C, L]`` array); empty = the channel alone.
    ``temporal``: a column of dates, datetimes or timedeltas, a number to the model; its
    ``values`` stay the column's own (datetime64, timedelta64, or objects such as
    ``datetime.date``) so a fill is written back as such, and it is scored as numbers
    (``time_numbers``). ``starts``: for a column of a long table (several series stacked,
    each in one block of rows), True at each row where a series begins, so interpolation,
    held-back runs and error scales stay within a series (``series_starts``); None: each
    row of ``values`` along its last axis is one series."""

    name: str
    values: np.ndarray
    categorical: bool = False
    where: tuple = ()
    pool: str = ""
    temporal: bool = False
    starts: np.ndarray | None = None

    @property
    def group(self) -> str:
        return self.pool or self.name


def channels(data: Any, columns: Sequence[str] | None = None,
             categorical: Sequence[str] = (), series_column: Any = None) -> Iterator[Channel]:
    """The fillable 1-D channels of ``data``: the ``columns`` of a DataFrame (rows = time
    for a series), or every channel of an array ``[L]``, ``[C, L]``, ``[N, C, L]`` (time
    last; ``[N, C, L]`` gives channel c of every series together), or of a dict of arrays.
    ``series_column``: the column of a DataFrame naming the series of a long table, its
    rows in blocks of one series each (``Channel.starts``)."""
    if isinstance(data, pd.DataFrame):
        starts = series_starts(data[series_column]) if series_column is not None \
            and series_column in data.columns else None
        for c in (columns if columns is not None else data.columns):
            s = data[c]
            temporal = _is_temporal(s)
            cat = str(c) in set(map(str, categorical)) or not (temporal or (
                pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)))
            if cat:
                vals = s.to_numpy(dtype=object)
            elif temporal:  # as they are: a candidate's own dates go back into the column unchanged
                vals = s.to_numpy()
            else:
                vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
            yield Channel(str(c), vals, cat, ("frame", c), temporal=temporal and not cat, starts=starts)
    elif isinstance(data, Mapping):
        for key in data:
            for ch in channels(np.asarray(data[key])):
                yield Channel(f"{key}:{ch.name}", ch.values, False, (key,) + ch.where, pool=ch.name)
    else:
        x = np.asarray(data, dtype=np.float64)
        if x.ndim == 1:
            yield Channel("channel 0", x, False, ("array", Ellipsis))
        elif x.ndim in (2, 3):
            for c in range(x.shape[-2]):
                yield Channel(f"channel {c}", x[..., c, :], False, ("array", (Ellipsis, c, slice(None))))
        else:
            raise DataError(f"series array of shape {x.shape}; expected [L], [C, L] or [N, C, L]")


def series_starts(ids: pd.Series) -> np.ndarray | None:
    """True at each row where the series ``ids`` names changes (and at row 0): the blocks of
    a long table in time order (``SeriesInfill.time_order``), rows without an id one block
    per run of them. None for one series: a channel alone, as a wide file's."""
    codes = pd.factorize(ids)[0]  # a missing id: -1
    out = np.ones(len(codes), dtype=bool)
    out[1:] = codes[1:] != codes[:-1]
    return out if int(out.sum()) > 1 else None


def _is_temporal(s: pd.Series) -> bool:
    """A column of datetimes (time zone or not), timedeltas, or ``datetime.date`` objects
    (how pyarrow hands over a CSV column of ``2020-01-31`` cells or a Parquet date32
    column): the columns the tabular schema reads as numbers (``datetime: true``). Kept
    here, not imported from the domain: this module reads user data without domain code."""
    return (pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype)
            or (s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "date"))


def time_numbers(values: Any) -> np.ndarray:
    """Dates and datetimes as float64 nanoseconds since the epoch (an instant in UTC where
    they carry a time zone), timedeltas as float64 nanoseconds, NaN where missing; values
    that are numbers already (such as ``baseline_fill``'s mean of a date column) as they are."""
    v = np.asarray(values)
    if v.dtype.kind in "fiub":
        return v.astype(np.float64)
    s = pd.Series(v.reshape(-1), dtype=object if v.dtype == object else v.dtype)
    ok = s.notna().to_numpy()
    out = np.full(len(s), np.nan)
    if ok.any():
        t = s[ok]
        kind = pd.api.types.infer_dtype(t, skipna=True)
        if kind in ("floating", "integer", "mixed-integer-float"):
            out[ok] = t.astype(np.float64).to_numpy()
        else:
            t = pd.to_timedelta(t) if kind in ("timedelta", "timedelta64") else pd.to_datetime(t)
            # as_unit: pandas keeps s / ms / us / ns resolutions; the number is always ns
            out[ok] = t.dt.as_unit("ns").astype("int64").to_numpy().astype(np.float64)
    return out.reshape(v.shape)


def is_missing(values: np.ndarray) -> np.ndarray:
    if values.dtype == object or values.dtype.kind in "Mm":  # NaT: np.isfinite knows no timedelta
        return pd.isna(values)
    return ~np.isfinite(values)


def set_cells(data: Any, cells: Mapping[str, tuple[np.ndarray, Any]], columns: Sequence[str] | None) -> Any:
    """A copy of ``data`` where, per channel name, the cells ``mask`` take ``values`` (an
    array of the channel's shape, or one scalar such as NaN)."""
    if isinstance(data, pd.DataFrame):
        out = data.copy()
        for ch in channels(data, columns):
            mask, values = cells.get(ch.name, (None, None))
            if mask is None or not mask.any():
                continue
            s = out[ch.where[1]]
            if s.dtype == bool:  # a hole in a numpy bool column: pandas' nullable boolean, as a
                s = s.astype("boolean")  # Parquet bool with nulls reads (objects with NaN wrote as text)
            if isinstance(s.dtype, pd.CategoricalDtype) and np.ndim(values):
                new = [v for v in pd.unique(np.asarray(values, dtype=object)[mask])
                       if not pd.isna(v) and v not in s.cat.categories]
                s = s.cat.add_categories(new)
            if pd.api.types.is_integer_dtype(s.dtype) and np.ndim(values):  # counts: whole numbers
                # rounded and held to the dtype's range (numerics.held_in_dtype): a held-back
                # fill of an int64 column at 2**63 - 30 came back 2**63 through float64, which
                # pandas refused to cast (a traceback), as a uint8 fill of 300
                whole = held_in_dtype(np.asarray(values, dtype=np.float64), np.dtype(getattr(s.dtype, "numpy_dtype", s.dtype)))
                values = pd.array(whole, dtype=s.dtype) \
                    if isinstance(s.dtype, pd.api.extensions.ExtensionDtype) else whole
            out[ch.where[1]] = s.mask(mask, values)
        return out
    if isinstance(data, Mapping):
        # the cells of each key sorted out once: a pass over every cell per key was quadratic
        # (minutes for a file of 20,000 series); ``channels`` names them "<key>:channel <c>",
        # so the key is all before the last colon (a key may hold one)
        mine: dict[str, dict[str, tuple[np.ndarray, Any]]] = {}
        for n, c in cells.items():
            key, _, name = n.rpartition(":")
            mine.setdefault(key, {})[name] = c
        return {k: set_cells(np.asarray(v), mine.get(str(k), {}), None) for k, v in data.items()}
    x = np.array(data, dtype=np.float64 if not np.issubdtype(np.asarray(data).dtype, np.floating)
                 else np.asarray(data).dtype, copy=True)
    for ch in channels(data):
        mask, values = cells.get(ch.name, (None, None))
        if mask is not None and mask.any():
            view = x[ch.where[1]]
            # a float16 / float32 array's fill held to its range (not cast to inf)
            view[mask] = held_in_dtype(values[mask], x.dtype) if np.ndim(values) else values
            x[ch.where[1]] = view
    return x


def with_hidden(data: Any, hide: Mapping[str, np.ndarray], columns: Sequence[str] | None) -> Any:
    """A copy of ``data`` with the cells ``hide[channel name]`` set missing (NaN)."""
    return set_cells(data, {name: (mask, np.nan) for name, mask in hide.items()}, columns)


def same_cells(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """``[rows, columns]`` bool: where ``b`` holds the value ``a`` holds (two missing cells
    count as the same), column by column and by position. A fill changes only the cells it
    fills, so this is every cell but those; asking ``a`` alone which cells are missing
    would miss the ones a domain also fills (a series' ``inf`` and ``missing_value``)."""
    out = np.zeros(a.shape, dtype=bool)
    for j in range(a.shape[1]):
        x, y = a.iloc[:, j], b.iloc[:, j]
        gone_x, gone_y = x.isna().to_numpy(), y.isna().to_numpy()
        numeric = [pd.api.types.is_numeric_dtype(s.dtype) for s in (x, y)]
        if all(numeric):
            eq = x.to_numpy(np.float64, na_value=np.nan) == y.to_numpy(np.float64, na_value=np.nan)
        elif isinstance(x.dtype, pd.StringDtype) and x.dtype == y.dtype:
            # text both: compared as the arrays they are (a Python string per cell of each
            # column took several times the file's size); a missing cell equals nothing
            eq = (x.reset_index(drop=True) == y.reset_index(drop=True)).to_numpy(dtype=bool, na_value=False)
        else:  # text, dates, categories: Python equality, only where both hold a value
            xs, ys = x.to_numpy(dtype=object), y.to_numpy(dtype=object)
            eq = np.array([not (p or q) and bool(u == v)
                           for u, v, p, q in zip(xs, ys, gone_x, gone_y)], dtype=bool)
        out[:, j] = (gone_x & gone_y) | (~gone_x & ~gone_y & eq)
    return out


def as_written(source: str, output: str, data: pd.DataFrame, filled: pd.DataFrame,
               delimiter: str | None, decimal: str = ".") -> pd.DataFrame:
    """``filled`` with every cell the fill left alone as the text ``source`` holds, when
    both files are delimited text of one kind, compressed or not (pandas would rewrite
    ``1.50`` as ``1.5`` and ``2020-01-01T10:00+01:00`` as ``2020-01-01 09:00:00+00:00``);
    ``filled`` as it is where the text does not line up cell for cell with ``data`` (the
    file as read, in file order). ``delimiter``: the one the file was read with (None: by
    its name); ``decimal``: its decimal mark, which filled numbers are written with. Used by
    ``encoderkit impute`` and ``encoderkit infill``. The empty columns with a blank header
    cell that the table reader drops (a separator ending every line, ``a,b,``) are written
    back where they were, as the series writer keeps them (``_blank_empty``)."""
    kinds = [Path(textfiles.plain_name(p)).suffix for p in (source, output)]
    if kinds[0] != kinds[1] or kinds[0] not in textfiles.TEXT_TABLE_SUFFIXES:
        return filled
    sep = delimiter or textfiles.delimiter(source)
    blank = data.shape[1] > 1  # one column: an empty line is a missing cell (as the reader reads it)

    def text(f: Any) -> pd.DataFrame:  # in blocks of rows: at once, a Python string per cell
        # index_col=False, as every reader reads the file: rows ending with a separator the
        # header lacks made pandas take the first column for the index (each cell one over).
        # Read as objects, then str: read as str, pandas warns of that dropped empty field
        with pd.read_csv(f, sep=sep, dtype=object, keep_default_na=False, skip_blank_lines=blank,
                         index_col=False, chunksize=TEXT_BLOCK) as reader:
            parts = [part.astype(str) for part in reader]
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    try:
        given = text(source)
        # pandas' text of the filled table, as UTF-8 bytes: a str read back through StringIO
        # took 4 bytes a character, besides the str itself
        written = io.BytesIO()
        filled.to_csv(written, sep=sep, index=False, decimal=decimal, encoding="utf-8")
        written.seek(0)
        new = text(written)
        del written
    except (ValueError, OSError, ImportError, pd.errors.ParserError):
        return filled
    # the reader's dropped columns set aside: without them the text lines up with ``data``
    given, blanks = _blank_empty(given, data)
    if given.shape != data.shape or new.shape != data.shape or filled.shape != data.shape \
            or list(given.columns) != list(new.columns):
        return filled
    kept = same_cells(data, filled)
    fills = dates_as_given(given, _integers_as_given(given, _spelled_as_given(given, new, kept), kept, data),
                           kept, data, filled)
    out = given  # the file's text with pandas' text of each fill put in, column by column
    for j in range(out.shape[1]):  # (given.where(kept, fills) made a Python string of every cell)
        at = np.flatnonzero(~kept[:, j])
        if at.size:
            out.iloc[at, j] = fills.iloc[at, j].to_numpy()
    out.columns = filled.columns  # pandas names a blank header cell "Unnamed: 1"; the file does not
    for at, (name, cells) in blanks.items():  # in file order, so each goes back where it was
        out.insert(at, name, cells.to_numpy(), allow_duplicates=True)
    return out


def _blank_empty(given: pd.DataFrame, data: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, tuple[str, pd.Series]]]:
    """``given`` (a file's text) without the columns the table reader dropped from ``data``:
    a blank header cell over cells that are all missing (empty, only spaces, or a
    missing-value word: ``read_checks.unnamed_empty``), and those columns by position, each
    with its header cell as written and its cells. Taken out only when they are exactly
    what ``given`` has beyond ``data``; else ``given`` as it is (and none)."""
    extra = given.shape[1] - data.shape[1]
    if extra <= 0:
        return given, {}
    import pyarrow.csv as pacsv

    missing = set(pacsv.ConvertOptions().null_values)  # the words pyarrow reads as missing
    names = set(map(str, data.columns))
    blanks = {}
    for j, name in enumerate(map(str, given.columns)):
        nameless = bool(textfiles.UNNAMED.fullmatch(name)) or not name.strip()
        if not nameless or name in names:
            continue
        cells = given.iloc[:, j]
        if (cells.str.strip().eq("") | cells.isin(missing)).all():
            blanks[j] = ("" if textfiles.UNNAMED.fullmatch(name) else name, cells)
    if len(blanks) != extra:
        return given, {}
    return given.iloc[:, [j for j in range(given.shape[1]) if j not in blanks]], blanks


# rows of a file's text read at a time by ``as_written`` (pandas' parser holds a Python string
# per cell of what it reads at once: several times the file's size for a whole file)
TEXT_BLOCK = 1 << 16

# how a file may spell a yes / no column, beside pandas' True / False
_BOOLEAN_SPELLINGS = (("TRUE", "FALSE"), ("true", "false"))


def _spelled_as_given(given: pd.DataFrame, new: pd.DataFrame, kept: np.ndarray) -> pd.DataFrame:
    """``new`` (pandas' text of the filled table) with the fills of a boolean column spelled
    as the file spells its observed cells (``TRUE`` / ``FALSE`` or lower case): pandas writes
    ``True``, which left one column in two spellings."""
    out = new
    for j in range(given.shape[1]):
        seen = given.iloc[:, j][kept[:, j]]
        seen = seen[(seen != "").to_numpy(dtype=bool, na_value=True)]  # the observed texts but empty cells
        for yes, no in _BOOLEAN_SPELLINGS:
            if len(seen) and seen.isin([yes, no]).all():  # every one yes or no, in this spelling
                if out is new:
                    out = new.copy()
                fill = np.flatnonzero(~kept[:, j])  # only the fills: the rest is the file's own text
                out.iloc[fill, j] = new.iloc[fill, j].replace({"True": yes, "False": no}).to_numpy()
    return out


_INTEGER_TEXT = r"^\s*[-+]?\d+\s*$"
_SIGNED_TEXT = r"^\s*[-+]\d+\s*$"  # +118: a sign on every number
_EXPONENT_TEXT = r"^\s*[-+]?\d(?:\.(\d+))?[eE][-+]?\d+\s*$"  # 1.060e+03
EXACT_DIGITS = 15  # every integer of at most 15 digits is a float64 exactly


def _integers_as_given(given: pd.DataFrame, new: pd.DataFrame, kept: np.ndarray,
                       data: pd.DataFrame) -> pd.DataFrame:
    """``new`` with the number fills of a column of whole numbers spelled as its observed
    cells are (``given``: the file's text; ``kept``: the cells the fill left alone), where
    pandas wrote a float: ``101.0`` beside observed ``118`` and ``+118`` becomes ``101`` and
    ``+101``, ``688.0`` beside ``1.060e+03`` becomes ``6.880e+02`` (``688`` where that form
    would not hold it exactly). A column of integers too long for a float (some observed cell
    has more than ``EXACT_DIGITS`` digits) has every finite fill written as an integer: a
    column of integers beyond int64's range is modelled as numbers, and pandas wrote
    ``7.938927285908685e+20`` beside observed ``36233319495134572544`` (a reader then took the
    column as floats). A fill with a fraction in a column of short integers keeps pandas'
    text (a series of counts is filled between them), and so do a fill that is no finite
    number and every fill of a column with decimals (``1.50``, ``2.0``). ``data`` (the file
    as read) is not needed beyond its shape."""
    out = new
    for j in range(min(given.shape[1], data.shape[1])):
        seen = given.iloc[:, j][kept[:, j]]
        seen = seen[(seen != "").to_numpy(dtype=bool, na_value=True)]
        spell = _integer_form(seen) if len(seen) else None
        if spell is None:
            continue
        form, write = spell
        long = bool(seen.str.match(_INTEGER_TEXT).all() and (seen.str.strip().str.lstrip("+-").str.len()
                                                             > EXACT_DIGITS).any())
        fill = np.flatnonzero(~kept[:, j])
        texts = new.iloc[fill, j]
        numbers = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(numbers) & (long | (numbers == np.round(numbers)))
        wrong = ~texts.str.match(form).to_numpy(dtype=bool, na_value=True) & whole
        if wrong.any():
            if out is new:
                out = new.copy()
            out.iloc[fill[wrong], j] = [write(v) for v in numbers[wrong]]
    return out


def _integer_form(seen: pd.Series) -> tuple[str, Any] | None:
    """How the observed texts ``seen`` of a column of whole numbers write them: the pattern
    of that form and a writer of a whole float in it; None when they are not all whole numbers
    written as integers (``+`` on each, or not) or in e-notation."""
    def plain(v: float) -> str:
        return str(int(round(v)))
    if seen.str.match(_INTEGER_TEXT).all():
        if seen.str.match(_SIGNED_TEXT).all() and seen.str.strip().str.startswith("+").any():  # not only -3
            return _SIGNED_TEXT, lambda v: f"{int(round(v)):+d}"
        return _INTEGER_TEXT, plain
    if not seen.str.match(_EXPONENT_TEXT).all():
        return None
    digits = seen.str.extract(_EXPONENT_TEXT)[0]
    values = pd.to_numeric(seen, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not (np.isfinite(values).all() and (values == np.round(values)).all()):
        return None
    places = int(digits.fillna("").str.len().max())
    upper = seen.str.contains("E").all()

    def exponent(v: float) -> str:  # the column's form where it holds the fill exactly
        text = f"{v:.{places}{'E' if upper else 'e'}}"
        return text if float(text) == v else plain(v)
    return _EXPONENT_TEXT, exponent


def filled_infinite(data: Any, filled: Any) -> dict[str, int]:
    """Per channel of ``data`` (a DataFrame, a numeric array or a dict of them; other data
    has none), how many infinite values ``filled`` (its fill) holds a finite number for:
    the ones the fill read as missing."""
    def numeric(x: Any) -> bool:
        return isinstance(x, np.ndarray) and x.dtype.kind in "fiub"
    if not (isinstance(data, pd.DataFrame) or numeric(data) or (
            isinstance(data, Mapping) and data and all(numeric(v) for v in data.values()))):
        return {}
    after = {ch.name: ch.values for ch in channels(filled)}
    out = {}
    for ch in channels(data):
        new = after.get(ch.name)
        if ch.values.dtype == object or ch.temporal or new is None or np.shape(new) != ch.values.shape:
            continue
        try:
            new = np.asarray(new, dtype=np.float64)
        except (TypeError, ValueError):  # the fill made a number column text: not a fill of it
            continue
        out[ch.name] = int((np.isinf(ch.values) & np.isfinite(new)).sum())
    return out


def warn_infinite(source: str, counts: Mapping[str, int], stacklevel: int = 2) -> None:
    """Say that ``counts`` (per column / channel) infinite values of ``source`` were read as
    missing and filled, as ingest warns of them; without it they were filled without a word."""
    if any(counts.values()):
        shown = [f"{k} {n}" for k, n in counts.items() if n][:5]
        warnings.warn(f"{source}: {sum(counts.values())} infinite value(s) read as missing and "
                      f"filled ({', '.join(shown)})", stacklevel=stacklevel + 1)
