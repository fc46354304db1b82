"""The input of ``encoderkit impute`` as the domain reads it (``read_input``): a first
ingest gives the schema, the domain's reader reads the file (a series table put in time
order), and the file is refused where impute could not fill it or write it back; a table's
number columns written with marks such as ``?`` read as numbers (``_marks_as_missing``), a
column of ``Decimal`` objects (a Parquet / Spark / DuckDB decimal) as float64 and written back
as Decimals (``_decimals_as_numbers``, ``_as_decimals``); the columns the model fills
(``_value_columns``). ``ReadInput.write`` writes a fill back in the file's own row order and
text. Split out of ``encoderkit/impute.py`` (the command), so
each module keeps one job.
"""

from __future__ import annotations

import decimal
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError, EncoderkitError, UsageError
from encoderkit.impute_cells import Channel, as_written, is_missing
from encoderkit.impute_cli import word
from encoderkit.impute_layout import first_column
from encoderkit.session_state import warnings_kept


@dataclass
class ReadInput:
    """The file ``path`` as the ``domain`` reads it: the store ``schema`` of a first ingest,
    the domain's ``reader``, the ``data`` (a series table in time order: ``order`` takes the
    file's rows there, None when they are in order already) and the cells the model fills:
    the DataFrame ``columns`` (None: an array's every cell), the ``categorical`` ones, and a
    long table's ``series_column``. ``ingest_options``: as the domain was given them.
    ``decimals``: the columns of ``data`` read from Decimal objects, as they were read."""
    path: str
    domain: str
    schema: Mapping[str, Any]
    reader: Any
    data: Any
    order: np.ndarray | None
    columns: list | None
    categorical: list[str]
    series_column: Any
    ingest_options: Mapping[str, Any]
    decimals: Mapping[Any, np.ndarray] = field(default_factory=dict)

    @property
    def series(self) -> bool:
        return self.domain == "timeseries"

    def write(self, filled: Any, output: str) -> None:
        """``filled`` to ``output``, in the file's own row order and text (text tables)."""
        read = self.data
        if self.decimals:  # observed cells as the file holds them, fills in the column's places
            filled = _as_decimals(filled, self.decimals)
        if self.order is not None:
            filled, read = filled.iloc[np.argsort(self.order)], self.data.iloc[np.argsort(self.order)]
        if isinstance(read, pd.DataFrame):
            filled = as_written(self.path, output, read, filled, self.ingest_options.get("delimiter"),
                                getattr(self.reader, "read_decimal", "."))
        self.reader.write_output(filled, writable(output))  # temporary name + rename (the domain's writer)


def writable(path: str) -> str:
    """The name impute writes ``path`` under (the output, the plot): ``~`` expanded, as
    ``outputs.check_output`` checked it (unexpanded, a folder named ``~`` was made in the
    current one), and its missing folders made, as predict's writer does (``check_parent``
    vetted the nearest existing one before any work)."""
    target = os.path.expanduser(str(path))
    Path(target).absolute().parent.mkdir(parents=True, exist_ok=True)
    return target


def read_input(cls: type, domain: str, input: str, output: str, work: Path, ingest_options: Mapping[str, Any],
               time_guess: str | None, say: Callable[[str], None]) -> ReadInput:
    """Read ``input`` as the ``domain`` (class ``cls``) reads it, the first ingest's store under
    ``work``; refuse it where it cannot be written back as ``output``, or names an ``exclude``
    column it lacks. ``time_guess``: the column that made a guessed domain a series, named
    in a read error."""
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    sep = ingest_options.get("delimiter")  # the file's head is read with it (None: by the name)
    try:
        with warnings_kept():  # impute says it of its own (``keep_empty``): kept, not "dropped"
            if domain == "tabular":
                from domains.tabular.schema import entirely_missing_message

                said = re.escape(entirely_missing_message("NAME")).replace("NAME", ".*")
                warnings.filterwarnings("ignore", message=said + r"\Z")
            ingest(domain, [input], str(work / "input.zarr"), overwrite=True, progress=False,
                   verbose=False, **ingest_options)
        schema = RecordStore(str(work / "input.zarr")).schema
        # the channels listed: the reader leaves the other columns out, words too, as ingest did
        reader = cls(schema, **{k: v for k, v in ingest_options.items()
                                if k in ("time_column", "series_column", "missing_value", "channels")
                                and domain == "timeseries"})
        data = reader.read_input(input)
        # a series table in time order (as ingest reads it), so the held-back runs, the
        # interpolation baseline and the fill see the series; written back in file order
        order = reader.time_order(data) if isinstance(data, pd.DataFrame) and hasattr(reader, "time_order") \
            else None
        if order is not None and (order == np.arange(len(order))).all():
            order = None  # in time order already: no copy of the table to make and undo
        data = data.iloc[order] if order is not None else data
    except EncoderkitError as e:
        if time_guess is not None and isinstance(e, DataError):
            from domains.timeseries.times import TimeFormError

            # a table whose first column is called "year" reads as a series by default; not
            # where the times are unreadable or span two columns: a table's fills would
            # ignore the row order (a column mean for every hole of a smooth series)
            where = "first column" if time_guess == first_column(input, sep) else "column"
            table = "" if isinstance(e, TimeFormError) else "; domain=tabular reads it as a table"
            raise DataError(f"{e.message} (read as a series because its {where} {time_guess!r} looks "
                            f"like a time{table})", file=e.file, record=e.record, key=e.key) from None
        raise
    except (ValueError, TypeError, KeyError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise DataError(f"cannot read {input} as {domain}: {msg}", file=input) from None
    if not (isinstance(data, (pd.DataFrame, np.ndarray)) or (isinstance(data, Mapping) and all(
            isinstance(v, np.ndarray) for v in data.values()))):
        # e.g. a .ts / UCR archive file: its series are read (ingest, predict), never written
        raise UsageError(f"impute fills tables and numeric arrays (domain=tabular or timeseries); "
                         f"the {domain} domain reads {input} as {type(data).__name__}, which it "
                         f"cannot write back: save the data as .csv, .npy ([N, C, L]) or .npz "
                         f"(one array a series) and impute that", key="domain")
    reader.check_output_name(data, output)  # the kind of file the data is written as
    if isinstance(data, pd.DataFrame):  # a typo in exclude=[...] would silently fill that column
        excl = ingest_options.get("exclude") or []
        absent = [str(c) for c in ([excl] if isinstance(excl, str) else excl)
                  if str(c) not in map(str, data.columns)]
        if absent:
            raise UsageError(f"exclude names column {absent[0]!r} that {input} does not have "
                             f"(columns: {list(map(str, data.columns))[:20]})", key="exclude")
    decimals: dict[Any, np.ndarray] = {}
    if isinstance(data, pd.DataFrame):
        roles = set() if domain == "tabular" else _roles(schema, ingest_options)
        data, decimals = _decimals_as_numbers(data, roles)
    if domain == "tabular" and isinstance(data, pd.DataFrame):
        data = _marks_as_missing(data, schema, say)
    # a long table (series stacked in blocks of rows, in time order): baseline, held-back
    # runs and error scales kept within each series (``Channel.starts``)
    ids = reader.options.get("series_column") if domain == "timeseries" and isinstance(data, pd.DataFrame) \
        else None
    return ReadInput(input, domain, schema, reader, data, order, _value_columns(data, schema, ingest_options),
                     _categorical(schema), ids, ingest_options, decimals)


def keep_empty(inp: ReadInput) -> list[str]:
    """A table's columns without one observed value (the excluded aside), said once: kept in
    the output as they are, all missing, as nothing is there to fill them from (the schema
    leaves them out, so the model and the classical imputers never see them). Before, ingest
    warned "dropped" and impute then refused the column; scikit-learn's ``SimpleImputer``
    skips such a feature with a warning, and ``EncoderImputer(keep_empty_features=True)``
    keeps it missing, as here (a file keeps its columns). A table with no other column is
    refused by ingest ("no usable column")."""
    data = inp.data
    if inp.domain != "tabular" or not isinstance(data, pd.DataFrame):
        return []
    excl = inp.ingest_options.get("exclude") or []
    skipped = {str(c) for c in ([excl] if isinstance(excl, str) else excl)}
    empty = [str(c) for c in data.columns if str(c) not in skipped and data[c].isna().all()]
    if empty:
        shown = ", ".join(map(repr, empty[:8])) + (f" and {len(empty) - 8} more" if len(empty) > 8 else "")
        warnings.warn(f"{inp.path}: column{'s' if len(empty) > 1 else ''} {shown} "
                      f"{'are' if len(empty) > 1 else 'is'} entirely missing: nothing to fill "
                      f"{'them' if len(empty) > 1 else 'it'} from, so kept in the output as "
                      f"{'they are' if len(empty) > 1 else 'it is'} (all missing)", UserWarning, stacklevel=3)
    return empty


def refuse_empty(inp: ReadInput, truth: Sequence[Channel]) -> None:
    """Refuse a series' channel without one observed value: it has nothing to learn from,
    and the file written would still hold its gaps. ``truth``: the channels of ``inp.data``.
    A table's empty columns are kept as they are instead (``keep_empty``)."""
    data, domain = inp.data, inp.domain
    excl = inp.ingest_options.get("exclude") or []
    skipped = {str(c) for c in ([excl] if isinstance(excl, str) else excl)}
    # a series table: the channels read (a table's empty columns: ``keep_empty``)
    looked = [] if not isinstance(data, pd.DataFrame) or domain == "tabular" else \
        data.columns if inp.columns is None else inp.columns
    empty = [str(c) for c in looked if str(c) not in skipped and data[c].isna().all()]
    empty += [str(ch.name) for ch in truth if len(ch.values) and is_missing(ch.values).all()
              and str(ch.name) not in empty]
    if empty:
        raise DataError(f"{'column' if isinstance(data, pd.DataFrame) else 'channel'} {empty[0]!r} has "
                        f"no observed value, so there is nothing to fill it from (give it some "
                        f"values or {_leave_out_hint(empty, domain)})", file=inp.path)


def _value_columns(data: Any, schema: Mapping[str, Any], ingest_options: Mapping[str, Any]) -> list | None:
    """The DataFrame columns the model fills: the schema's columns for a table; numeric
    columns other than the time / series columns for a series."""
    if not isinstance(data, pd.DataFrame):
        return None
    known = [c.get("name") for c in schema.get("columns", []) if isinstance(c, Mapping)]
    if known:
        names = {str(c): c for c in data.columns}
        return [names[n] for n in known if n in names]
    given = ingest_options.get("channels")
    if given:  # the channels read: another number column is left as it is, neither held back nor scored
        names = {str(c): c for c in data.columns}
        return [names[str(n)] for n in given if str(n) in names]
    roles = _roles(schema, ingest_options)
    # a decimal channel is float64 by now (``_decimals_as_numbers``); a yes / no column is a
    # channel too, as True / False objects (a Parquet bool with nulls)
    return [c for c in data.columns if c not in roles and (pd.api.types.is_numeric_dtype(data[c].dtype) or (
        data[c].dtype == object and pd.api.types.infer_dtype(data[c], skipna=True) == "boolean"))]


def _roles(schema: Mapping[str, Any], ingest_options: Mapping[str, Any]) -> set:
    """A series table's time and series columns (as the schema and the options name them)."""
    return {schema.get("time_column"), schema.get("series_column"),
            ingest_options.get("time_column"), ingest_options.get("series_column")}


def _decimals_as_numbers(data: pd.DataFrame, skip: set) -> tuple[pd.DataFrame, dict[Any, np.ndarray]]:
    """``data`` with each column of ``Decimal`` objects (how pyarrow hands over a Parquet
    decimal128 / decimal256 column) but those in ``skip`` as float64, and those columns as
    read (object arrays). As numbers they are filled, held back and scored as the number
    columns are (as objects a series left them out: "no missing cell", holes kept); the
    cells read are written back as they were (``_as_decimals``): float64 holds about 16
    digits, so 1.234567890123456789 was written 1.234567890123456690."""
    out, kept = data, {}
    for c in data.columns:
        s = data[c]
        if c in skip or s.dtype != object or pd.api.types.infer_dtype(s, skipna=True) != "decimal":
            continue
        if out is data:
            out = data.copy()
        kept[c] = s.to_numpy(dtype=object, copy=True)
        # Decimal('NaN') is missing to pandas (isna): NaN here too
        out[c] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out, kept


def _as_decimals(filled: pd.DataFrame, read: Mapping[Any, np.ndarray]) -> pd.DataFrame:
    """``filled`` with each column of ``read`` (``_decimals_as_numbers``) back as Decimals:
    the cells read as they were, a fill rounded to the places of the column's observed cells
    (a Parquet decimal's scale: 7.3 in a decimal(10, 2) column is 7.30); a cell left
    missing stays missing (None)."""
    out = filled.copy()
    for c, given in read.items():
        values = given.copy()
        holes = pd.isna(values)
        places = [v.as_tuple().exponent for v in values[~holes]]
        step = decimal.Decimal(1).scaleb(min(places)) if places and all(isinstance(p, int) for p in places) \
            else None
        fills = out[c].to_numpy(dtype=object)
        values[holes] = [_decimal(v, step) for v in fills[holes]]
        out[c] = pd.Series(values, index=out.index, dtype=object)
    return out


def _decimal(value: Any, step: decimal.Decimal | None) -> decimal.Decimal | None:
    """The number ``value`` as the shortest Decimal that reads back as it (``repr``), to
    ``step``'s places; None where it is missing or not finite."""
    if isinstance(value, decimal.Decimal):
        return value if value.is_finite() else None
    if pd.isna(value) or not np.isfinite(float(value)):
        return None
    out = decimal.Decimal(repr(float(value)))
    if step is None:
        return out
    # a context of 80 digits: the default 28 could not quantize a decimal(38, 18) cell
    with decimal.localcontext(decimal.Context(prec=80)):
        return out.quantize(step)


def _marks_as_missing(data: pd.DataFrame, schema: Mapping[str, Any], say: Callable[[str], None]) -> pd.DataFrame:
    """``data`` with each column the schema reads as numbers but the file holds as text
    (numbers plus a few marks such as ``?``, ``n/a``, ``-``) as float64, its marks missing.
    The model already reads those marks as missing cells (``schema.numeric_values``); left
    as text they were neither filled nor scored as numbers (a held-back cell compared as
    text: every fill a miss). They are filled, and the summary says how many there were."""
    from domains.tabular.schema import _is_datetime, _is_timedelta, numeric_values

    names = {str(c): c for c in data.columns}
    out = data
    for col in schema.get("columns", []):
        c = names.get(str(col.get("name"))) if isinstance(col, Mapping) else None
        if c is None or col.get("kind") != "numeric" or col.get("datetime"):
            continue  # dates given as text (2015-01, 2005Q1) are read as dates (datetext.py)
        s = data[c]
        if pd.api.types.is_numeric_dtype(s.dtype) or _is_datetime(s) or _is_timedelta(s):
            continue
        # as the model reads them (full-width digits ２２９．６ too: values.numeric_values)
        parsed = pd.Series(numeric_values(s), index=s.index, dtype="float64")
        marks = s.notna() & parsed.isna()
        if out is data:
            out = data.copy()
        out[c] = parsed
        if marks.any():
            shown = sorted(map(str, pd.unique(s[marks])))[:3]
            say(f"impute: column {str(c)!r}: {int(marks.sum())} cell(s) that are not numbers "
                f"({', '.join(map(repr, shown))}) read as missing and filled")
    return out


def _categorical(schema: Mapping[str, Any]) -> list[str]:
    return [c["name"] for c in schema.get("columns", []) if isinstance(c, Mapping)
            and c.get("kind") == "categorical"]


def _leave_out_hint(empty: Sequence[str], domain: str) -> str:
    """How to leave the columns / channels ``empty`` out, in words the command accepts: a
    table's ``exclude=[...]``; a series' channel is dropped from the file (its reader has no
    exclude, and fills every numeric column of a series table)."""
    if domain == "tabular":
        return f"exclude it: exclude=[{', '.join(word(n) for n in empty)}]"
    return "drop it from the file"
