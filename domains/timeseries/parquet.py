"""Series in Parquet files: Nixtla's long layout (``unique_id, ds, y``), pandas'
``df.to_parquet()`` of a frame indexed by its times, wide files with a time column and
one column per channel. Read as a CSV of the same data is read (``io.frame_series``: the
same options, records, order and checks), its typed columns as they are: numbers (NaN /
None missing), datetimes, nullable ``Int64`` / ``Float64``, Arrow strings.

The index pandas wrote (kept in the file's metadata, never through pickle) is read as
columns, named as ``reset_index`` names them (an unnamed level ``index``), as the table
reader does. The time is ``time_column=`` where given, else the index level of datetimes
(periods, durations), else a single named index level; another index level is no channel.
``read_input`` keeps that time as the frame's index (``filling`` orders the rows by it) and
``write_frame`` writes a filled frame back with the file's own index, columns and Arrow
types (the output is cast to the input's schema).
"""

from __future__ import annotations

import warnings

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError, reading
from encoderkit.outputs import atomic_write

from . import io as tsio
from .marks import sentinel_words

SUFFIXES = (".parquet", ".pq")


@dataclass
class ParquetLayout:
    """What ``write_frame`` restores of the file a frame was read from."""

    schema: Any  # the file's Arrow schema (its pandas metadata included)
    names: list[Any] = field(default_factory=list)  # the index levels' names as read
    moved: list[tuple[str, int]] = field(default_factory=list)  # levels read as columns: (column, level)
    plain: bool = True  # the index left in the frame was pandas' 0..n-1 (or none)


def read_frame(path: str, rows: int | None = None) -> tuple[pd.DataFrame, Any]:
    """The file (its first ``rows`` rows) as pandas reads it (its index restored from the
    metadata pandas wrote; integer columns with missing cells as nullable ``Int64``, not
    float64) and its Arrow schema. Any problem reading it is a ``DataError`` naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from encoderkit.data.arrow_files import arrow_file, refuse_repeated_names
    from encoderkit.data.arrow_frames import decode_dictionaries

    with reading(path):
        try:
            # by the name's bytes (a name under a locale that is not UTF-8: arrow_file)
            with arrow_file(path) as f:
                # one name for two columns: said as a table's is, not in pyarrow's words
                refuse_repeated_names(pq.read_schema(f).names, path)
                f.seek(0)
                if rows is None:
                    table = pq.read_table(f)
                else:  # a head: the first batch, with the schema that holds pandas' metadata
                    whole = pq.ParquetFile(f)
                    first = next(whole.iter_batches(batch_size=rows), None)
                    table = whole.schema_arrow.empty_table() if first is None else \
                        pa.Table.from_batches([first], schema=whole.schema_arrow)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"cannot read it as Parquet ({' '.join(str(e).split())})", file=path) from None
        table = decode_dictionaries(table)  # a pandas category / dictionary column: its values
        frame = table.to_pandas()
        for i, fld in enumerate(table.schema):  # by position: an index column is not in the frame
            name = fld.name
            if pa.types.is_integer(fld.type) and name in frame.columns and frame[name].dtype == np.float64 \
                    and table.column(i).null_count:
                frame[name] = table.column(i).to_pandas(types_mapper={fld.type: pd.Int64Dtype()}.get)
    return frame, table.schema


def plain_index(index: pd.Index) -> bool:
    """A 0..n-1 row number: what pandas writes for no index at all."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


def as_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, Any]]]:
    """``frame`` with its index levels (unless plain) as its first columns, and each one's
    (column, the level's own name: None where it has none)."""
    if plain_index(frame.index):
        return frame, []
    names = list(frame.index.names)
    out = frame.reset_index()
    return out, list(zip(out.columns[:len(names)].map(str), names))


def _timelike(column: pd.Series) -> bool:
    dtype = column.dtype
    return pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype) \
        or isinstance(dtype, pd.PeriodDtype)


def time_of(frame: pd.DataFrame, levels: list[tuple[str, Any]], time_column: str | None,
            roles: set) -> str | None:
    """The time column of ``frame`` (``as_columns``' with ``levels``): ``time_column`` where
    given, else the one index level of datetimes / periods / durations, else the one index
    level when it is named and no other role's (``roles``: series, value, channel columns)."""
    if time_column is not None:
        return time_column
    found = [c for c, _ in levels if _timelike(frame[c])]
    if len(found) == 1:
        return found[0]
    if len(levels) == 1 and levels[0][1] is not None and levels[0][0] not in roles:
        return levels[0][0]
    return None


def _text(column: pd.Series) -> pd.Series:
    """Cells as a CSV of the same data holds them: text, a missing cell empty."""
    return column.astype("string").fillna("").astype(object)


def yes_no_objects(cells: pd.Series) -> bool:
    """A column of True / False objects and missing cells: how pandas reads a Parquet bool
    column with nulls (unless the file's pandas metadata says ``boolean``). A channel, as a
    bool column without nulls and a ``boolean`` one are."""
    if cells.dtype != object:
        return False
    given = cells.dropna()
    return bool(len(given)) and bool(given.map(type).isin([bool, np.bool_]).all())


def read_series(path: str, *, time_column: str | None = None, series_column: str | None = None,
                channels: list[str] | None = None, value_column: str | None = None,
                channel_column: str | None = None, missing_value: Any = None,
                index_channels: Sequence[str] = ()) -> list[tsio.Series]:
    """The series of a Parquet file, as ``io.read_csv`` reads a CSV of the same data (see
    the module docstring for the index; a column ``Unnamed: 0`` of row labels, a CSV's
    index read by pandas and written again, is no channel either: ``io.frame_series``);
    any problem is a ``DataError`` naming the file."""
    frame, _ = read_frame(path)
    frame, levels = as_columns(frame)
    roles = {series_column, value_column, channel_column, *(channels or ())}
    time = time_of(frame, levels, time_column, roles)
    # another index level (row labels, an id not named series_column) is no channel
    frame = frame.drop(columns=[c for c, _ in levels if c != time and c not in roles])
    for c in frame.columns:  # channels typed as they are; other text read as a CSV's cells
        if c not in (series_column, channel_column) and yes_no_objects(frame[c]):
            frame[c] = frame[c].astype("boolean")  # its True / False cells were "non-numeric" text
        if c in (series_column, channel_column) or c != time and not (
                pd.api.types.is_numeric_dtype(frame[c].dtype) or pd.api.types.is_bool_dtype(frame[c].dtype)):
            frame[c] = _text(frame[c])
    with reading(path):
        return tsio.frame_series(frame, path, time_column=time, series_column=series_column,
                                 channels=channels, value_column=value_column,
                                 channel_column=channel_column, words=sentinel_words(missing_value),
                                 unit="row", index_channels=index_channels)


def read_input(path: str, options: Mapping[str, Any]) -> tuple[pd.DataFrame, ParquetLayout]:
    """A Parquet series file as the DataFrame ``infill`` fills and ``write_frame`` writes
    back: its time kept as the index when the index holds it (``attrs['time_column']``
    names it for ``filling``), index levels a role names (``series_column``) as columns."""
    frame, schema = read_frame(path)
    layout = ParquetLayout(schema, list(frame.index.names), plain=plain_index(frame.index))
    cols, levels = as_columns(frame)
    roles = {options.get("series_column"), options.get("value_column"), options.get("channel_column")}
    given = options.get("time_column")
    time = time_of(cols, levels, given if given in cols.columns else None, roles)
    columns = [c for c, _ in levels]
    move = [c for c in columns if c in roles or (time in columns and c != time)]
    if move:
        positions = [columns.index(c) for c in move]
        frame = frame.reset_index(level=positions)
        layout.moved = list(zip(frame.columns[:len(move)].map(str), positions))
        layout.plain = len(move) == len(levels)
    if time is not None and time in columns:
        frame.attrs["time_column"] = time
    return frame, layout


def data_index(frame: pd.DataFrame) -> bool:
    """Whether ``frame``'s index is data (named, times, several levels), not row numbers."""
    index = frame.index
    return isinstance(index, (pd.MultiIndex, pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)) \
        or index.name is not None


def row_numbers(index: pd.Index) -> bool:
    """Whether ``index`` only numbers the rows 0..n-1 (in any order: a frame reordered by
    time and back), unnamed: not written, as pandas writes no RangeIndex."""
    return index.nlevels == 1 and index.name is None and pd.api.types.is_integer_dtype(index.dtype) \
        and bool((np.sort(index.to_numpy()) == np.arange(len(index))).all())


def write_frame(data: pd.DataFrame, path: str, layout: ParquetLayout | None) -> None:
    """``data`` as a Parquet file, atomically: with the index, columns and Arrow types of the
    file it was read from (``layout``), else with its index where that is data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from encoderkit.data.arrow_files import arrow_file

    frame = data
    if layout is not None and layout.moved and all(c in frame.columns for c, _ in layout.moved):
        frame = frame.set_index([c for c, _ in layout.moved], append=not layout.plain)
        moved = [p for _, p in layout.moved]
        now = ([] if layout.plain else [i for i in range(len(layout.names)) if i not in moved]) + moved
        if frame.index.nlevels > 1:
            frame = frame.reorder_levels([now.index(i) for i in range(len(layout.names))])
        frame.index = frame.index.set_names(layout.names)
    table = pa.Table.from_pandas(frame, preserve_index=not row_numbers(frame.index))
    if layout is not None and table.schema.names == layout.schema.names:
        try:  # the file's own types and pandas metadata (string, not large_string; its index)
            table = table.cast(layout.schema)
        except (pa.ArrowException, ValueError) as e:  # e.g. a fill an int column cannot hold
            warnings.warn(f"{path}: written with the filled table's own column types, not the input "
                          f"file's ({' '.join(str(e).split())[:200]})", stacklevel=3)
    def write(tmp: str) -> None:
        with arrow_file(tmp, "wb") as sink:  # by the name's bytes, as it was read
            pq.write_table(table, sink)

    atomic_write(path, write)


def head(path: str, rows: int) -> pd.DataFrame | None:
    """The first ``rows`` rows of a Parquet file as a CSV reader would see them, for
    ``encoderkit impute``'s guess of a series: the index as columns (``as_columns``),
    datetimes, categories and Arrow strings as text cells (the guess reads dates from text;
    a missing cell of pandas' ``string`` is ``NA``, which compares as neither equal nor not);
    None when the file cannot be read (its reader names the problem)."""
    from encoderkit.data.arrow_files import repeated_name

    try:
        frame, _ = read_frame(path, rows)
    except Exception:
        return None
    if repeated_name(list(frame.columns)) is not None:  # a column by name would be two: the reader refuses it
        return None
    frame, _ = as_columns(frame)
    for c in frame.columns:
        col = frame[c]
        if _timelike(col) or isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col.dtype):
            frame[c] = col.astype(str).where(col.notna(), None).astype(object)
    return frame.reset_index(drop=True)
