"""A series DataFrame read for a run as ingest reads a file (``io.frame_series``): its rows in
time order (a time column, else a time index), a time repeated within a series refused, and a
text column the run has no role for refused where it could hold series ids (else left as it is,
with a warning).

Ingest refuses a column of words beside the channels ("non-numeric cell ... name non-channel
columns with time_column= / series_column=") unless the channels are listed (``channels=``) or
the table is long (``value_column=``: the role columns alone are read). Read back for a run
(infill, predict, embed, evaluate on a file or a DataFrame, impute), such a column was left out
without a word: the ``id`` column of series stacked one under another, through a run whose
store had no series column, made every series one sorted by date, and one series' gap was
ramped towards the next one's level, exit 0. A time given twice within a series (two
overlapping exports joined) was filled from a blend of the row and its duplicate, where ingest
and impute refuse the file. Both are refused here in ingest's words, naming the file (or the
DataFrame's rows), the column and the cells or times; the advice says what the run can read.
A column of words that tells no series apart (a note on a few rows, one site's name on every
row) is no such danger: refusing it stopped files that filled right, so it is left out with
the warning an extra number column gets, and written back as it came.

A mixin of ``TimeSeriesDomain`` (the base of ``SeriesInfill``: it reads ``self.options`` and
``self.schema``); split out of ``filling.py`` so that module keeps to filling.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import plain_name
from encoderkit.errors import DataError, UnusedColumnWarning
from encoderkit.overrides import option_word

from .io import _mostly_times as mostly_times
from .layout import _nameless as nameless, is_blank_empty
from .marks import marked, sentinel_words
from .parquet import SUFFIXES as PARQUET_SUFFIXES
from .steps import uneven_series, warn_uneven_once
from .times import NA_TEXT, sort_key, twice_hint


def row_place(where: str | None) -> Callable[[int], str]:
    """Where row ``i`` of a frame is, in the words of the reader that made it: a CSV's data row
    and line (as ingest counts them), a Parquet file's row from 1, a DataFrame's position from 0."""
    if where is None:
        return lambda i: f"row {i} (counted from 0)"
    if plain_name(where).lower().endswith(PARQUET_SUFFIXES):
        return lambda i: f"row {i + 1}"
    return lambda i: f"data row {i + 1} (line {i + 2})"


def _rows_place(where: str | None, a: int, b: int) -> str:
    """Two rows, as ``row_place`` words them ("lines 3 and 9", "rows 4 and 8, counted from 0")."""
    if where is None:
        return f"rows {a} and {b}, counted from 0"
    if plain_name(where).lower().endswith(PARQUET_SUFFIXES):
        return f"rows {a + 1} and {b + 1}"
    return f"lines {a + 2} and {b + 2}"


def holes(cells: pd.Series, marks: frozenset[str]) -> np.ndarray:
    """The cells of a column that are missing as ``not_numbers`` counts them (NA, an empty or
    NA text, a missing mark, one of ``marks``)."""
    objects = cells.astype(object)
    text = objects.astype("string").str.strip()
    return objects.isna().to_numpy() | text.str.lower().isin(NA_TEXT).to_numpy(dtype=bool) \
        | marked(text.fillna(""), marks)


def not_numbers(column: pd.Series, words: frozenset[str] = frozenset()) -> np.ndarray:
    """Positions of the cells of a column that are neither missing (NA, an empty or NA text,
    a missing mark such as ``?``, one of ``words``) nor a number (or a yes / no value): the
    cells ingest refuses as "non-numeric" in a channel."""
    cells = column.astype(object)
    text = cells.astype("string").str.strip()
    hole = holes(column, words)
    number = pd.to_numeric(text, errors="coerce").notna().to_numpy(dtype=bool)
    if column.dtype == object:  # True / False objects (a Parquet bool column with nulls)
        number = number | cells.map(type).isin([bool, np.bool_]).to_numpy(dtype=bool)
    return np.flatnonzero(~hole & ~number)


class SeriesFrames:
    def time_order(self, data: pd.DataFrame) -> np.ndarray:
        """Row positions of a series DataFrame in the order ingest reads them: by the time
        column (stable), else by a time index (``_index_time``), each series' rows together.
        Rows in another order would be filled as a scrambled series. A time given twice
        within a series is refused, as ingest refuses it."""
        return self._time_order(data)[0]

    def _time_order(self, data: pd.DataFrame, where: str | None = None,
                    warn: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """``time_order`` and the rows' times it sorted by (None: the rows' own order);
        ``where``: the file the frame was read from (named in the errors), else None;
        ``warn=False``: dates that could be day or month first not said (``times.day_first``)."""
        order = np.arange(len(data))
        time, key = self.options["time_column"], self.options["series_column"]
        when = indexed = None
        if time is not None and time in data.columns:
            when = sort_key(data[time], where, time, warn=warn).to_numpy()
            order = np.argsort(when, kind="stable")
        elif (indexed := self._index_time(data, warn)) is not None:
            order = np.argsort(indexed, kind="stable")
            index = data.index  # its times as times, for the words on their steps
            when = index.to_timestamp().to_numpy() if isinstance(index, pd.PeriodIndex) else \
                index.to_numpy() if isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)) else indexed
        codes = None  # each row's series, in ``order``
        if key is not None and key in data.columns:
            codes = pd.factorize(data[key].iloc[order])[0]
            by = np.argsort(codes, kind="stable")
            order, codes = order[by], codes[by]
        if when is not None:
            self._refuse_repeated_times(data, order, indexed if indexed is not None else when, codes, where)
        return order, when

    def _warn_uneven(self, when: np.ndarray | None, groups: list[np.ndarray], names: list[str] | None,
                     where: str | None) -> None:
        """The uneven-steps warning ingest gives a file (``steps.warn_uneven``), for a frame
        given to infill, embed or predict (or a file read back for them), once per process
        for the same words (``steps.warn_uneven_once``): an hourly table with 17 hours absent
        was filled across each absent hour as one step without a word."""
        if when is None:
            return
        found = uneven_series(when, zip(names or [None] * len(groups), groups))
        warn_uneven_once(found, where or "the input")

    def _index_time(self, data: pd.DataFrame, warn: bool = True) -> np.ndarray | None:
        """The times of a DataFrame's rows when its index holds them, as sortable numbers:
        a ``DatetimeIndex`` / ``PeriodIndex`` / ``TimedeltaIndex`` (``df.set_index(dates)``,
        what pandas' own time series are), or an index named as the run's ``time_column``
        (the column made the index), or by ``attrs['time_column']`` (a Parquet file's named
        index, ``parquet.read_input``). None for any other index: rows stay in their order.
        An index of dates was ignored, so an unsorted frame was filled as a scrambled series."""
        index = data.index
        time = self.options["time_column"]
        if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex)):
            gaps = np.flatnonzero(np.asarray(index.isna()))
            if gaps.size:
                raise DataError(f"the DataFrame's index is its time, but row {int(gaps[0])} has none "
                                f"(NaT); give every row its time")
            return np.asarray(index.asi8)
        named = {time, data.attrs.get("time_column")} - {None}
        if isinstance(index, pd.MultiIndex) or index.name is None or str(index.name) not in named:
            return None
        return sort_key(index.to_series(index=pd.RangeIndex(len(index))), None, str(index.name),
                        warn=warn).to_numpy()

    def _refuse_repeated_times(self, data: pd.DataFrame, order: np.ndarray, when: np.ndarray,
                               codes: np.ndarray | None, where: str | None) -> None:
        """Two rows of one series at one time (``when``: each row's sort key; ``order``: the
        rows by series, then time; ``codes``: their series, None for one): which is the
        sample? Refused, as ingest refuses it in a file (``io.frame_series``), in its words
        where the frame is a file read back. A row without a series id (-1) is in none."""
        time, key = self.options["time_column"], self.options["series_column"]
        t = when[order]
        same = t[1:] == t[:-1]
        keyed = codes is not None
        if keyed:
            same &= (codes[1:] == codes[:-1]) & (codes[1:] >= 0)
        again = np.flatnonzero(same)
        if not again.size:
            return
        a, b = sorted((int(order[again[0]]), int(order[again[0] + 1])))
        column = time is not None and time in data.columns
        cells = data[time] if column else data.index.to_series()
        shown, hint = str(cells.iloc[b]), twice_hint(cells.iloc[a], cells.iloc[b], when[b]) if column else ""
        rows = _rows_place(where, a, b)
        if where is not None:  # ingest's words: the series as ingest names it, the file's lines
            base = os.path.basename(where)
            name = f"{base}:{data[key].iloc[b]}" if keyed else base
            raise DataError(f"series {name!r}: time {shown!r} appears twice ({rows}); give each time "
                            f"of a series one row{hint}", file=where)
        series = f"series {str(data[key].iloc[b])!r}: " if keyed else ""
        held = f"in column {time!r}" if column else "in the index"
        raise DataError(f"{series}time {shown!r} appears twice {held} ({rows}); give each time of a "
                        f"series one row{hint}")

    def _listed_channels(self) -> set[str] | None:
        """The channels the run's ingest was given (``channels=``): every other column of its
        files was left out there, words too. None where they were not listed."""
        given = self.options.get("channels") or (self.schema or {}).get("channels")
        return {str(c) for c in given} if given else None

    def unread_columns(self, data: pd.DataFrame) -> list[Any]:
        """The columns of ``data`` that ingest leaves out without reading a cell of them: in a
        long table (``value_column``) all but the role columns, else those outside the channels
        listed at ingest (``_listed_channels``)."""
        value = self.options["value_column"]
        roles = {self.options[k] for k in ("time_column", "series_column", "value_column",
                                           "channel_column")} - {None}
        if value is not None and value in data.columns:
            return [c for c in data.columns if c not in roles]
        listed = self._listed_channels()
        return [] if listed is None else [c for c in data.columns if c not in roles and str(c) not in listed]

    def _refuse_unread_text(self, data: pd.DataFrame, where: str | None = None, warn: bool = True) -> None:
        """A column of ``data`` with cells that are words, which the run reads neither as a
        channel nor as its times or series ids: refused, as ingest refuses it, where it could
        hold series ids (``_could_name_series``) or is a channel with a word among its numbers;
        left out, an ``id`` column merged the series it names into one (see the module
        docstring). Any other such column (a note on a few rows, one site's name on every row)
        cannot tell series apart: it is left as it is, with the warning an extra number column
        gets (``UnusedColumnWarning``; not said with ``warn=False``). A domain built without
        a run's schema reads what it is given, as before."""
        if not self.schema:
            return
        skip = set(self.unread_columns(data))
        skip |= {self.options[k] for k in ("time_column", "series_column")} - {None}
        words = sentinel_words(self.options["missing_value"])
        left = []
        for j, col in enumerate(data.columns):
            cells = data.iloc[:, j]
            if col in skip or pd.api.types.is_numeric_dtype(cells.dtype) or \
                    pd.api.types.is_bool_dtype(cells.dtype) or is_blank_empty(col, cells):
                continue
            bad = not_numbers(cells, words)
            if not bad.size:
                continue
            if not self._could_name_series(cells, bad, words):
                left.append(col)
                continue
            row = int(bad[0])
            raise DataError(f"non-numeric cell {str(cells.iloc[row])!r} at {row_place(where)(row)}, "
                            f"column {str(col)!r}; {bad.size} such cell(s) in that column. "
                            f"Time-series channels must be numbers or empty/NaN for missing values, "
                            f"and {self._text_advice(str(col), cells.iloc[bad], data, where)}", file=where)
        if left and warn:
            names = (self.schema or {}).get("channel_names")
            reads = f"the channels the run was trained on ({list(names)})" if names else \
                "number columns, which the run reads as channels"
            warnings.warn(f"column(s) {list(map(str, left))} hold words, not {reads}: left as they are",
                          UnusedColumnWarning, stacklevel=4)

    def _could_name_series(self, cells: pd.Series, words_at: np.ndarray, marks: frozenset[str]) -> bool:
        """Whether a column of words (``words_at``: its cells that are words) is one to refuse:
        a channel the run reads (by name) or one with numbers beside its words, as ingest and a
        file read back refuse its word cells; or a column that could hold series ids, every
        cell given and two values at least, so that left out, the rows of several series would
        be read as one (what ingest's refusal keeps from happening). A column with an empty
        cell (a note on a few rows) or one value (a constant ``site``) tells no series apart."""
        names = (self.schema or {}).get("channel_names") or []
        if str(cells.name) in set(map(str, names)):
            return True
        hole = holes(cells, marks)
        if int((~hole).sum()) > words_at.size:
            return True  # numbers beside the words: a channel with a word cell
        if hole.any():
            return False
        return cells.astype("string").str.strip().nunique() >= 2

    def _text_advice(self, col: str, texts: pd.Series, data: pd.DataFrame, where: str | None) -> str:
        """What a user can do with a column of words the run cannot read (``_refuse_unread_text``):
        its roles are fixed at ingest, so the advice names what it reads and the ways out. Where
        the table lacks the run's time or series column (``data``: the frame read), the column
        is likely it under another name (a ``DatetimeIndex`` written by ``df.to_csv()`` has a
        blank header; ids in ``station`` for a run of ``id``): the advice is to name it so."""
        time, key = self.options["time_column"], self.options["series_column"]
        names = (self.schema or {}).get("channel_names")
        parts = [f"its times from {time!r} (time_column)"] * bool(time) + \
            [f"its series ids from {key!r} (series_column)"] * bool(key) + \
            [f"the channels {list(names)}" if names else "its number columns as channels"]
        reads = ", ".join(parts[:-1]) + " and " * (len(parts) > 1) + parts[-1]
        head = f"the run reads {reads}, no other column: "
        given = set(map(str, data.columns))

        def name_it(role: str) -> str:  # in the words of the file's header or of pandas
            if where is None:
                return f"rename it (df.rename(columns={{{col!r}: {role!r}}}))"
            return f"give its blank header cell the name {role!r}" if nameless(col) else \
                f"name the column {role!r} in the header line"

        dated = pd.api.types.is_datetime64_any_dtype(texts.dtype) or mostly_times(texts.astype(str).str.strip())
        if dated and time is None:
            index = "" if where is not None else \
                f", or make its times the index (df.index = pd.to_datetime(df[{col!r}])), which orders the rows"
            return (head + f"the column holds dates or times, and the run's store was ingested without "
                    f"time_column: drop the column with the rows in time order{index}; a run ingested "
                    f"with {option_word('time_column', str(col))} reads it as its times")
        timed = time in given or str(data.index.name) == time or \
            isinstance(data.index, (pd.DatetimeIndex, pd.PeriodIndex, pd.TimedeltaIndex))
        if dated and not timed:
            return (head + f"the table has no column {time!r}, and this one holds dates or times: "
                    f"{name_it(time)}, so that the run reads the rows in time order by it")
        if dated:
            return head + f"the column holds dates or times beside the run's own {time!r}: drop it"
        if key is None:
            return (head + f"its store was ingested without series_column, so were {col!r} series ids, "
                    f"the rows of every series would be read as one series: give each series apart "
                    f"(one file or DataFrame per value of {col!r}), or drop the column if it names no "
                    f"series; a run ingested with series_column={col} reads the table as it is")
        if key not in given:
            return (head + f"the table has no column {key!r}, which names the run's series: if {col!r} "
                    f"names them, {name_it(key)}; else add a column {key!r} (one value per series) and "
                    f"drop {col!r}")
        return head + f"drop the column (the run's series ids are in {key!r})"


def long_table_advice(options: Any) -> str:
    """Why a long table with a channel column (one row per series, time and channel) is not
    read back, and how to read it: written wide (one column per channel), which impute,
    infill, embed and predict read. ``options``: the domain's (its column roles)."""
    time, key = options["time_column"], options["series_column"]
    channel, value = options["channel_column"], options["value_column"]
    index = [c for c in (key, time) if c is not None]
    pivot = f", in pandas df.pivot(index={index if len(index) > 1 else index[0]!r}, columns={channel!r}, " \
            f"values={value!r}).reset_index()" if time is not None and value is not None else ""
    roles = "".join(f" {k}={v}" for k, v in (("time_column", time), ("series_column", key)) if v is not None)
    return (f"a long table with a channel column ({channel!r}, one row per channel and time) is read by "
            f"ingest only; write it wide, one column "
            f"per channel{pivot}, and impute that (encoderkit impute domain=timeseries{roles}), or infill, "
            f"embed or predict the wide table, or embed / predict its ingested store")
