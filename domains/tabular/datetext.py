"""Dates and period labels given as text in a table column.

Why: ingest reads a CSV's ISO dates (``2021-01-31``) as dates (pyarrow), but a DataFrame read
by ``pd.read_csv`` from the very same file holds them as text; ``embed`` / ``predict`` /
``infill`` of it refused the column ("80 of its 80 non-empty cells are not numbers"), and a
schema inferred from such a frame (``EncoderImputer``, ``ingest_frame``) made it categories,
each fill a date seen in it, with advice to "write them as ISO dates" that they were.
Period labels (``2015-01``, ``2005Q1``, ``2020-W05``), one a row, were identifiers left out
of the model, their holes never filled. Such a column is read as the dates it writes (a
period as its first instant; ``date_text`` tells one at schema time), and its holes are
filled with dates written as its cells are (``2021-02-14``, ``2021-03-27T21:00:00+01:00``,
``2005Q3``), not nanoseconds since 1970. So is a column of dates written as Japanese, Chinese
or Korean write them (``2024年1月2日``, ``2024년 1월 2일``), which no reader took for dates: a
column of them was an identifier, left out of the model.
"""

from __future__ import annotations

import re
import warnings
from itertools import islice
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.cjk_dates import LOOK, _CJK, _cjk_day, _cjk_writer
from encoderkit.period_labels import PERIODS, period_start
from encoderkit.session_state import warnings_kept

from domains.tabular.columnfill import _UNITS_NS

# an ISO date as text: a date, a time of day to the minute, second or a fraction (a space or
# T between), and a zone (Z, +01:00, +0100)
_ISO = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})(?:(?P<sep>[ T])(?P<clock>\d{2}:\d{2})(?P<sec>:\d{2})?"
                  r"(?P<frac>\.\d{1,9})?)?\s*(?P<zone>Z|z|[-+]\d{2}:?\d{2})?")
# period labels (what the series reader takes too, ``encoderkit.period_labels``): quarters as
# Stata / Excel / statsmodels write them (2005Q1, 2005-Q1, 2005 Q1, Q1 2005), months (2015-01;
# EViews 1949M01) and ISO weeks (2020-W05). ``2024-03`` is a month here, in a table's text
# column of such labels only (a series' reader takes it for pandas' date, beside 2024-03-15)
TABLE_PERIODS = {**PERIODS, "month": re.compile(r"(?P<y>\d{4})(?:-|[Mm])(?P<n>\d{1,2})")}
_PERIODS = TABLE_PERIODS
# a date as Japanese and Chinese (2024年1月2日) or Korean (2024년 1월 2일) write it:
# ``_CJK`` (encoderkit.data.cjk_dates, which the series reader asks too)
# a time's UTC offset at the end of its text (``Z``, ``+01:00``, ``+0100``)
_ZONE = r"\d(?:[Zz]|\s*[-+]\d{2}:?\d{2})$"
# how many distinct cells ``date_text`` looks at, among a column's first ``_HEAD`` cells,
# before it parses the whole column
_LOOK, _HEAD = LOOK, 4096


def is_text(s: pd.Series) -> bool:
    """Cells of text (not ``datetime.date`` objects, which an object column may hold)."""
    return (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)) and \
        pd.api.types.infer_dtype(s, skipna=True) == "string"


def _marks(s: pd.Series) -> np.ndarray:
    """Which cells of ``s`` are a mark (``.``, ``-``) that stands for a missing one."""
    from domains.tabular.holes import is_mark

    return is_mark(s)


def _held(s: pd.Series) -> np.ndarray:
    """The cells of ``s`` that hold a value: not missing, nor a mark (``.``, ``-``) for one."""
    return s.notna().to_numpy() & ~_marks(s)


def _period_kind(texts: Sequence[str]) -> str | None:
    """The kind of ``_PERIODS`` every text of ``texts`` (stripped, none empty) is a label of.
    Season / fiscal-year labels (``2009-10``, ``2010-11``: each second part the next year's
    last two digits) are no months: read as months, their holes were filled with labels no
    season writes (``2005-08``); such a column stays categories."""
    kind = next((k for k, p in _PERIODS.items() if texts and all(p.fullmatch(t) for t in texts)), None)
    return None if kind == "month" and _seasons(texts) else kind


_SEASON = re.compile(r"(?P<y>\d{4})[-/](?P<n>\d{2})")


def _seasons(texts: Sequence[str]) -> bool:
    """Whether every text is a season label ``YYYY-YY`` whose second year follows the first."""
    hits = [_SEASON.fullmatch(t) for t in texts]
    return all(m is not None and int(m["n"]) == (int(m["y"]) + 1) % 100 for m in hits)


def _period_start(kind: str, text: str) -> pd.Timestamp | None:
    """The first instant of the period label ``text`` of ``kind`` (``periods.period_start``);
    None when it names none, or a year no int64 of nanoseconds reaches."""
    return period_start(kind, _PERIODS[kind].fullmatch(text), ns=True)


def text_dates(s: pd.Series) -> pd.Series | None:
    """The text column ``s`` as UTC datetimes when every cell it holds is an ISO date / time,
    every one a period label of one kind (its first instant) or every one a date written
    ``2024年1月2日`` (``_CJK``), else None (the caller says
    which cells are not numbers, as before). Cells such as ``.`` or ``-`` that stand for a
    missing one are missing."""
    if not is_text(s) or not s.notna().any():
        return None
    held = _held(s)
    given = s.astype("string").str.strip()
    codes, distinct = pd.factorize(given[held])
    kind = _period_kind(list(islice(distinct, _LOOK)))
    if kind is not None:
        starts = [_period_start(kind, t) if _PERIODS[kind].fullmatch(t) else None for t in distinct]
        if any(t is None for t in starts):
            return None
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        out[held] = pd.DatetimeIndex(starts).tz_localize("UTC").as_unit("ns")[codes]
        return out
    if distinct.size and all(_CJK.fullmatch(t) for t in islice(distinct, _LOOK)):
        days = [_cjk_day(t) for t in distinct]
        if any(d is None for d in days):
            return None
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        out[held] = pd.DatetimeIndex(days).tz_localize("UTC").as_unit("ns")[codes]
        return out
    with warnings_kept():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(given, errors="coerce", format="ISO8601", utc=True)
        except (ValueError, TypeError, OverflowError):
            return None
    if parsed.isna().to_numpy()[held].any():
        return None
    try:  # the schema speaks nanoseconds since 1970: 9999-12-31 (an "open end") is beyond them
        parsed = parsed.dt.as_unit("ns")
    except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime is a ValueError
        return None
    return parsed.mask(~held)


def date_text(s: pd.Series) -> pd.Series | None:
    """``text_dates`` of a column read to choose its kind: only where its first distinct
    cells are ISO dates or period labels (a column of words says no at once, unparsed), at
    least one cell holds one, and its times all carry a UTC offset or none does (read as UTC,
    a clock time beside instants would be hours off: such a column stays as it was read)."""
    if not is_text(s):
        return None
    head = s.dropna().iloc[:_HEAD]  # the look first: a long column of words is never copied whole
    head = head[~_marks(head)].astype(str).str.strip()
    first = list(islice(pd.unique(head.to_numpy(dtype=object)), _LOOK))
    if not first or (not all(_ISO.fullmatch(t) for t in first) and _period_kind(first) is None
                     and not all(_CJK.fullmatch(t) for t in first)):
        return None
    dates = text_dates(s)
    if dates is not None and _period_kind(first) is None:
        zone = s[_held(s)].astype(str).str.strip().str.contains(_ZONE, regex=True)
        if zone.any() and not zone.all():
            return None
    return dates


def mixed_offsets(s: pd.Series) -> tuple[tuple[int, str], tuple[int, str]] | None:
    """The first time and the first whose UTC offset differs from it (one with, one without),
    each as (row position, cell), where the text column ``s`` holds ISO times of both
    (``date_text`` leaves such a column as it was read: categories); else None. They are ISO
    already: the advice is to give every time its offset (or none), not to write them as ISO
    dates; the rows are named, as the series reader names them (where it refuses them)."""
    if not is_text(s):
        return None
    head = s.dropna().iloc[:_HEAD]
    head = head[~_marks(head)].astype(str).str.strip()
    first = list(islice(pd.unique(head.to_numpy(dtype=object)), _LOOK))
    if not first or not all(_ISO.fullmatch(t) for t in first) or text_dates(s) is None:
        return None
    held = np.flatnonzero(_held(s))
    texts = s.iloc[held].astype(str).str.strip()
    zone = texts.str.contains(_ZONE, regex=True).to_numpy()
    if zone.all() or not zone.any():
        return None
    other = int(np.flatnonzero(zone != zone[0])[0])
    return (int(held[0]), str(texts.iloc[0])), (int(held[other]), str(texts.iloc[other]))


def zoned(s: pd.Series) -> bool:
    """Whether the dates of ``s`` carry a UTC offset: a zoned datetime column, or text cells
    written with one (``+01:00``, ``Z``)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return getattr(s.dtype, "tz", None) is not None
    if not is_text(s):
        return False
    texts = s[_held(s)].astype(str).str.strip()
    return bool(texts.str.contains(_ZONE, regex=True).any()) and \
        _period_kind(list(islice(pd.unique(texts), _LOOK))) is None


def trained_zoned(col: dict[str, Any]) -> bool | None:
    """Whether the schema's datetime column ``col`` was trained on times with a UTC offset:
    its ``zoned`` (text dates), else its source dtype (``datetime64[ns, UTC]``); None for a
    column of dates (``object``: ``datetime.date`` values), which have no time of day."""
    if "zoned" in col:
        return bool(col["zoned"])
    dtype = str(col.get("dtype", ""))
    return ("," in dtype) if dtype.startswith("datetime64") else None


def date_fills(ns: Sequence[float], observed: Sequence[Any]) -> list[str]:
    """Fills given as nanoseconds since the epoch (UTC) written as the ``observed`` text
    cells write theirs: a period label as the column writes them (``2005Q3``, the period
    nearest to the fill), ``2021-02-14`` (rounded to a day) for a column of dates, a date
    and time to the minute, second or fraction (``T`` or a space between, as observed), with
    the UTC offset of the observed time nearest to the fill, written as that cell writes it
    (``Z``, ``+01:00``, ``+0100``; a column across a daylight-saving change keeps each
    season's offset); ISO text of the UTC time where the cells share no one form."""
    from domains.tabular.holes import is_mark

    texts = [str(v).strip() for v in observed]
    texts = [t for t, mark in zip(texts, is_mark(pd.Series(texts, dtype=object))) if not mark]
    values = np.round(np.asarray(ns, dtype=np.float64)).astype(np.int64)
    stamps = pd.to_datetime(values, unit="ns")
    kind = _period_kind(texts) if texts else None
    if kind is not None:
        write = _period_writer(kind, texts)
        return [write(t) for t in stamps]
    if texts and all(_CJK.fullmatch(t) for t in texts):
        return _cjk_writer(texts)(stamps.round("D"))
    hits = [_ISO.fullmatch(t) for t in texts]
    if not texts or not all(hits):
        return [t.isoformat() for t in stamps]
    if all(h["clock"] is None and h["zone"] is None for h in hits):
        return [t.strftime("%Y-%m-%d") for t in stamps.round("D")]
    forms = {(h["sep"], h["sec"] is not None, len(h["frac"] or "")) for h in hits}
    if len(forms) != 1 or any(h["clock"] is None for h in hits):
        return [t.isoformat() for t in stamps]
    sep, seconds, frac = forms.pop()
    offsets, styles = _observed_zones(texts, hits)
    # rounded on the wall clock to the coarsest unit every observed time is a multiple of (a
    # column of hours gets hours, as a datetime column's fills do: columnfill._round_to_unit)
    # and at least to the form's last field
    field = 10 ** (9 - (frac - 1)) if frac else 10**9 if seconds else 60 * 10**9
    walls = offsets[:, 0] + offsets[:, 1] * 60 * 10**9
    unit = next((u for u in _UNITS_NS if u >= field and not np.any(walls % u)), field)
    out = []
    for v in values:
        k = int(np.argmin(np.abs(offsets[:, 0] - v)))  # the observed time nearest the fill
        minutes, style = int(offsets[k, 1]), styles[k]
        local = pd.Timestamp(int(round((int(v) + minutes * 60 * 10**9) / unit)) * unit, unit="ns")
        out.append(_clock_text(local, sep, seconds, frac - 1 if frac else 0) + _zone_text(minutes, style))
    return out


def _clock_text(t: pd.Timestamp, sep: str, seconds: bool, digits: int) -> str:
    """``t`` (rounded already) as ``YYYY-MM-DD<sep>HH:MM[:SS[.f...]]``."""
    text = t.strftime(f"%Y-%m-%d{sep}%H:%M" + (":%S" if seconds or digits else ""))
    if digits:
        text += "." + f"{t.value % 10**9:09d}"[:digits]
    return text


def _zone_text(minutes: int, style: str) -> str:
    """A UTC offset of ``minutes`` written in ``style``: ``""`` (none), ``Z``, ``+01:00``, ``+0100``."""
    if not style:
        return ""
    if style in ("Z", "z") and minutes == 0:
        return style
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}{m:02d}" if style == "+0000" else f"{sign}{h:02d}:{m:02d}"


def _observed_zones(texts: Sequence[str], hits: Sequence[re.Match]) -> tuple[np.ndarray, list[str]]:
    """Up to 2,000 observed times spread over the column: ``[K, 2]`` int64 of each one's
    instant (UTC nanoseconds; its clock time for a time without a zone) and UTC offset in
    minutes, and how each writes its zone (``""``, ``Z``, ``+00:00``, ``+0000``)."""
    at = np.linspace(0, len(texts) - 1, min(2000, len(texts))).astype(int)
    rows, styles = [], []
    for i in at:
        z = hits[i]["zone"] or ""
        t = pd.Timestamp(texts[i])
        minutes = int(t.utcoffset().total_seconds() // 60) if t.tzinfo is not None else 0
        rows.append((t.tz_convert("UTC").as_unit("ns").value if t.tzinfo is not None else t.as_unit("ns").value,
                     minutes))
        styles.append(z if z in ("Z", "z") else "+00:00" if ":" in z else "+0000" if z else "")
    return np.array(rows, dtype=np.int64).reshape(-1, 2), styles


def _period_writer(kind: str, texts: Sequence[str]) -> Callable[[pd.Timestamp], str]:
    """A function writing an instant as the label of the ``kind`` period nearest to it, in
    the form of the observed labels ``texts`` (the first one's, its number zero-padded where
    the observed labels write it with two digits: ``2015-01``, ``2005Q1``, ``Q1 2005``, ``2020-W05``)."""
    pattern = _PERIODS[kind]
    first = pattern.fullmatch(texts[0])
    y, n = ("y", "n") if first["y"] is not None else ("y2", "n2")
    numbers = [m["n"] or m["n2"] for m in map(pattern.fullmatch, texts) if m is not None]
    # a two-digit field seen (``09``, or ``10`` with no ``1``..``9`` beside it) is padded
    # (``2019-10`` .. ``2020-10`` gets ``2020-01``, not ``2020-1``); ``2019-9`` is not
    pad = any(len(g) == 2 and g.startswith("0") for g in numbers) or \
        (any(len(g) == 2 for g in numbers) and not any(len(g) == 1 for g in numbers))
    spans = sorted([(first.span(y), "y"), (first.span(n), "n")])
    text = texts[0]

    def label(year: int, number: int) -> str:
        parts, last = [], 0
        for (a, b), which in spans:
            parts.append(text[last:a])
            parts.append(str(year) if which == "y" else f"{number:02d}" if pad else str(number))
            last = b
        return "".join(parts) + text[last:]

    def nearest(t: pd.Timestamp) -> str:
        if kind == "week":
            monday = (t - pd.Timedelta(days=t.weekday())).normalize()
            start = monday + pd.Timedelta(days=7) if (t - monday) >= pd.Timedelta(days=3.5) else monday
            iso = start.isocalendar()
            return label(int(iso[0]), int(iso[1]))
        step = 3 if kind == "quarter" else 1
        index = (t.year * 12 + t.month - 1) // step  # the period holding t, then the nearer start
        here = pd.Timestamp(index * step // 12, index * step % 12 + 1, 1)
        nxt = here + pd.DateOffset(months=step)
        if (nxt - t) < (t - here):
            index += 1
        return label(index * step // 12, index * step % 12 // step + 1)
    return nearest


def zone_message(col: dict[str, Any], s: pd.Series) -> str | None:
    """What to say when the times of ``s`` and those the schema's datetime column ``col`` was
    trained on differ in carrying a UTC offset: either way one is read as UTC where the other
    was clock time (a run trained on ``07:00+02:00`` given ``07:00`` filled ``05:00`` beside
    it), which no reader can set right for the user. None when they agree, or ``s`` holds
    dates without a time of day, or nothing."""
    trained = trained_zoned(col)
    if trained is None or not s.notna().any() or (pd.api.types.infer_dtype(s, skipna=True) == "date"):
        return None
    if is_text(s) and not any(_ISO.fullmatch(t) and _ISO.fullmatch(t)["clock"]
                              for t in islice(s[_held(s)].astype(str).str.strip(), _LOOK)):
        return None  # dates, or period labels: no clock to misread
    given = zoned(s)
    if given == trained:
        return None
    name = col["name"]
    if trained:
        return (f"column {name!r}: the model was trained on times that carry a UTC offset and "
                f"these have none: they are read as UTC times, not as the local clock times they "
                f"may be, so fills may be hours off beside them; give them with their offsets, as "
                f"in training")
    return (f"column {name!r}: the model was trained on times without a UTC offset and these "
            f"carry one: they are read as UTC instants (07:00+02:00 as 05:00), where training read "
            f"clock times as written, so fills may be hours off beside them; give them as clock "
            f"times without offsets, as in training")
