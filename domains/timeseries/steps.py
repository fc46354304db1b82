"""How a series' time steps vary, in words a user can act on (``uneven_steps``), and the
one warning of a file's or a frame's series whose steps vary (``warn_uneven``).

A series is read as samples in time order, evenly spaced: a time with no row is no gap to
fill, and a 3-day step counts as one. So uneven steps are warned of, and the warning
must not call a regular calendar uneven nor advise what would damage it: months of 28 to
31 days, business days (a weekend is one step; a holiday is no missing day), yyyymmdd
numbers (20210131 -> 20210201 is one day), local times over the spring change of
daylight-saving time (no 02:00 row can exist), nanosecond counters (float64 rounds them),
days written with UTC offsets over a clock change (23 hours apart as instants).
Split from ``times.py``, which reads and orders the times.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

# The advice of a series whose steps vary for no reason these words know.
REGULAR_GRID = ("a series is read as evenly spaced samples in time order, so a missing time is not a gap "
                "to fill: give each missing time a row with empty values, or resample to a regular grid")
_HOUR = 3_600_000_000_000  # ns


class Uneven(str):
    """``uneven_steps``' words for how a series' steps vary (compared and shown as the
    text), with ``advice``: what the user can do about it, which depends on why."""

    advice: str

    def __new__(cls, text: str, advice: str = REGULAR_GRID) -> "Uneven":
        out = super().__new__(cls, text)
        out.advice = advice
        return out


def calendar_months(t: pd.Index) -> np.ndarray | None:
    """Month numbers (12 * year + month - 1) of sorted times that all fall on a calendar
    month: dates at midnight all on the 1st or all on a month's last day, numbers that are
    all yyyymm (194901: six digits, the last two a month), or decimal-year quarters as EViews
    writes them (1959.1 .. 1959.4); None for other times. Used to count steps only (monthly
    data stepped 28 to 31 days, 194912 -> 195001 was a step of 89): rows are ordered by the
    times themselves either way, so a counter misread as yyyymm changes no order."""
    if isinstance(t, pd.DatetimeIndex):
        if not (t == t.normalize()).all():
            return None
        if (t.day == 1).all() or t.is_month_end.all():
            return np.asarray(t.year * 12 + t.month - 1, dtype=np.int64)
        return None
    if not pd.api.types.is_numeric_dtype(t.dtype) or pd.api.types.is_bool_dtype(t.dtype):
        return None
    v = t.to_numpy(np.float64)
    if not np.isfinite(v).all():
        return None
    if (v == np.round(v)).all() and ((v >= 100001) & (v <= 999912)).all():
        year, month = np.divmod(v.astype(np.int64), 100)
        if ((month >= 1) & (month <= 12)).all():
            return year * 12 + month - 1
    tenths = np.round(v * 10)
    if np.allclose(v * 10, tenths, rtol=0.0, atol=1e-6) and ((v >= 1000) & (v < 3000)).all():
        year, quarter = np.divmod(tenths.astype(np.int64), 10)
        if ((quarter >= 1) & (quarter <= 4)).all():
            return year * 12 + 3 * (quarter - 1)
    return None


def calendar_days(t: pd.Index) -> pd.DatetimeIndex | None:
    """The dates of whole numbers that are all yyyymmdd dates of years 1000 to 2999
    (20210131: eight digits, a valid month and day), None for other times. As
    ``calendar_months``: to count steps only (20210131 -> 20210201 is one day, not 70);
    the rows are ordered by the numbers, which is the dates' order."""
    if not pd.api.types.is_integer_dtype(t.dtype) and not (
            pd.api.types.is_float_dtype(t.dtype) and np.isfinite(t.to_numpy(np.float64)).all()
            and (t.to_numpy(np.float64) == np.round(t.to_numpy(np.float64))).all()):
        return None
    v = t.to_numpy(np.float64)
    if not ((v >= 10000101) & (v <= 29991231)).all():
        return None
    dates = pd.to_datetime(pd.Series(v.astype(np.int64).astype(str)), format="%Y%m%d", errors="coerce")
    return None if dates.isna().any() else pd.DatetimeIndex(dates)


def duration(ns: int) -> str:
    """A step of ``ns`` nanoseconds in words: ``1 hour``, ``15 minutes``, ``3 days``, in
    the largest unit that divides it (pandas wrote ``0 days 01:00:00``)."""
    for unit, size in (("day", 24 * _HOUR), ("hour", _HOUR), ("minute", 60_000_000_000),
                       ("second", 1_000_000_000), ("millisecond", 1_000_000), ("microsecond", 1_000),
                       ("nanosecond", 1)):
        if ns % size == 0:
            n = ns // size
            return f"{n} {unit}{'s' if abs(n) != 1 else ''}"
    raise AssertionError(ns)  # every whole number of ns is a multiple of 1 ns


def _kinds(steps: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """The kinds of ``steps`` (sorted, a step within ``tolerance`` of the one before it is of
    its kind), each kind's smallest step and its count. Float times: 0.3 - 0.2 is no 0.1,
    and epoch seconds with a fraction (1700000000.123) step by 0.001 +- 2e-7."""
    ranked = np.sort(steps)
    new = np.concatenate([[True], np.diff(ranked) > tolerance])
    return ranked[new], np.bincount(np.cumsum(new) - 1)


def _business_days(t: pd.DatetimeIndex) -> Uneven | None | bool:
    """The words for dates that are business days (Monday to Friday, each at one time of
    day) with weekdays absent; None when they are even on a calendar of business days (no
    weekday absent, or only US federal holidays, pandas' ``USFederalHolidayCalendar``);
    False when the times are no business days (then judged as times)."""
    local = t.tz_localize(None) if t.tz is not None else t
    day = local.normalize()
    if (local.dayofweek >= 5).any() or len(set((local - day).asi8)) != 1:
        return False
    dates = day.to_numpy().astype("datetime64[D]")
    skipped = np.busday_count(dates[:-1], dates[1:])  # weekdays from each date to the next
    if not (skipped == 1).sum() * 2 >= len(skipped) or not (day.dayofweek[1:] < day.dayofweek[:-1]).any():
        return False  # not mostly one weekday per step, or no weekend crossed
    every = pd.bdate_range(day[0], day[-1])
    absent = every.difference(day)
    if absent.empty:
        return None
    from pandas.tseries.holiday import USFederalHolidayCalendar

    holidays = USFederalHolidayCalendar().holidays(day[0], day[-1])
    if absent.isin(holidays).all():
        return None
    shown = ", ".join(d.strftime("%Y-%m-%d") for d in absent[:3]) + (", ..." if len(absent) > 3 else "")
    return Uneven(f"its times are business days (Monday to Friday: a weekend is one step) with "
                  f"{len(absent)} weekday{'s' if len(absent) > 1 else ''} absent ({shown})",
                  "a series is read as evenly spaced samples in time order, so an absent weekday is "
                  "no gap to fill: if it had no data (a holiday), nothing is wrong; if its data is "
                  "missing, give it a row with empty values")


def _spring_forward(t: pd.DatetimeIndex, steps: np.ndarray, common: int) -> str | None:
    """The words for local times without a UTC offset whose only uneven steps are one hour
    longer than the rest, each in the small hours of a Sunday: the clocks set forward at the
    start of summer time skip an hour (02:00 -> 03:00 in most zones that change on a Sunday),
    so the step is even in time and no row is missing. None otherwise. The hour repeated
    when the clocks go back is refused as a repeated time, with its own hint
    (``times.twice_hint``)."""
    if t.tz is not None or common > _HOUR or _HOUR % common:
        return None
    odd = np.flatnonzero(steps != common)
    if not (steps[odd] == common + _HOUR).all():
        return None
    start = t[odd]
    if not ((start.dayofweek == 6) & (start.hour < 3)).all():
        return None
    return (f"; the odd step, {start[0]:%Y-%m-%d %H:%M} -> {t[odd[0] + 1]:%H:%M}, is where clocks are "
            f"set forward for summer time")


_DAY = 24 * _HOUR


def _wall_clock(t: pd.DatetimeIndex) -> pd.DatetimeIndex | None:
    """Times with a zone (a file's cells with UTC offsets are read as instants, in UTC) as
    the local wall-clock times they were written in, when that is what makes them regular:
    their steps are whole days but for a few of a day +- 1 hour (or +- 30 minutes), which take
    turns, one offset and back (``2021-03-28 00:00+01:00`` then ``2021-03-29 00:00+02:00``:
    23 hours in UTC, one day on the wall clock). The offsets themselves are gone by here, so
    the clock change is read off the steps; the times are shifted to keep the first one's
    offset (steps are all that is judged). None when that does not apply."""
    if t.tz is None or len(t) < 3:
        return None
    ns = t.as_unit("ns").asi8
    steps = np.diff(ns)
    off = (steps + _DAY // 2) % _DAY - _DAY // 2  # how far each step is from whole days
    if not off.any() or not np.isin(np.abs(off), (0, _HOUR // 2, _HOUR)).all() or (steps < _HOUR).any():
        return None
    shift = np.concatenate([[0], np.cumsum(off)])  # the offset's change since the first time
    if len(set(shift.tolist())) > 2:  # a third offset: no clock changing back and forth
        return None
    first = int(pd.Timedelta(t[0].utcoffset() or 0).value)  # the first time's offset: kept
    return pd.DatetimeIndex(ns - shift + first)


def _jitter(steps: np.ndarray) -> bool:
    """Whether steps that mostly differ stay in a band about their median, fewer than a
    quarter under half or over twice it: a sampler's timestamp jitter (a 50 Hz logger at
    +- 4 ms: none), not an event log's gaps (exponential: about 54%). The rule impute's
    layout guess uses (``encoderkit.impute_layout.WIDE_SHARE``), so its advice agrees."""
    median = float(np.median(steps))
    return median > 0 and int(((steps < median / 2) | (steps > 2 * median)).sum()) < 0.25 * steps.size


def uneven_steps(when: Any) -> Uneven | None:
    """How the steps between a series' times ``when`` (``sort_key``'s: numbers, or dates
    with or without a time zone) vary, or None when they are even: one step, a calendar
    frequency pandas names (months, quarters, business days), one step of whole months
    (``calendar_months``: also yyyymm numbers and with a month absent), yyyymmdd numbers
    stepped by a day (``calendar_days``), business days less US federal holidays. Whole
    numbers are stepped in int64: float64 rounded nanosecond counters (1 ms read as 999936). The words say why where they know (business days with weekdays
    absent, a daylight-saving change), and their ``advice`` what to do."""
    t = pd.Index(when).unique().sort_values()
    if len(t) < 3:
        return None
    note = ""
    days = calendar_days(t) if calendar_months(t) is None else None
    if days is not None:  # 20210131 -> 20210201 is a day
        t, note = days, "; the times are read as yyyymmdd dates"
    months = calendar_months(t)  # months of 28 to 31 days, 194912 -> 195001: one step each
    hint = None
    if months is not None:
        steps, tolerance = np.diff(months), 0.0
    elif isinstance(t, pd.DatetimeIndex):
        wall = _wall_clock(t)
        if wall is not None:  # a daily series over a change of daylight-saving time, with offsets
            t, note = wall, note + "; the times are judged on the wall clock, without their UTC offsets"
        if pd.infer_freq(t) is not None:
            return None
        business = _business_days(t)
        if business is not False:
            return business
        steps, tolerance = np.diff(t.as_unit("ns").asi8), 0.0
    elif isinstance(t, pd.TimedeltaIndex):  # a frame's index of times since a start
        steps, tolerance = np.diff(t.as_unit("ns").asi8), 0.0
    elif pd.api.types.is_integer_dtype(t.dtype):  # int64 as it is: float64 rounded ns counters
        steps, tolerance = np.diff(t.to_numpy(np.int64)), 0.0
    elif pd.api.types.is_numeric_dtype(t.dtype) and not pd.api.types.is_bool_dtype(t.dtype):
        v = t.to_numpy(np.float64)
        steps = np.diff(v)
        # a few units in the last place of the largest time, or of a step: rounding, not a step
        tolerance = 8 * float(np.spacing(np.max(np.abs(v)))) + 1e-9 * float(np.max(np.abs(steps)))
    else:
        return None
    kinds, counts = _kinds(steps, tolerance)
    if kinds.size == 1:
        return None
    most = int(np.argmax(counts))
    common = kinds[most]
    if months is not None:
        shown = f"{int(common)} month{'s' if common != 1 else ''}"
    elif isinstance(t, (pd.DatetimeIndex, pd.TimedeltaIndex)):
        shown = duration(int(common))
        hint = _spring_forward(t, steps, int(common)) if isinstance(t, pd.DatetimeIndex) else None
    elif pd.api.types.is_integer_dtype(t.dtype):
        shown = str(int(common))
    else:
        shown = f"{float(common):g}"
    text = f"its time steps vary ({int(steps.size - counts[most])} of {steps.size} are not the most common, {shown}{note})"
    if steps.size >= 10 and counts[most] * 2 < steps.size and _jitter(steps):
        return Uneven(text + "; they stay near the median step, as a sampler's timestamp jitter does",
                      "a series is read as evenly spaced samples in time order, as a steady sampler's are; "
                      "if its rate changed, resample to a regular grid")
    if steps.size >= 10 and counts[most] * 2 < steps.size:  # most steps differ: an event log, not samples missing a few
        return Uneven(text, REGULAR_GRID + "; if the rows are events at irregular times rather than "
                      "samples, read the file as a table (domain=tabular), whose rows need no order")
    if hint:
        return Uneven(text + hint, "if that is so here, the samples are evenly spaced in time, as a series is "
                                   "read, and no row is missing (times with a UTC offset, 2021-03-28 "
                                   "03:00+02:00, or in UTC are read without this warning)")
    return Uneven(text)


def uneven_series(when: np.ndarray, series: Iterable[tuple[str | None, np.ndarray]]
                  ) -> list[tuple[str | None, Uneven]]:
    """``(name, uneven_steps)`` of each series whose steps vary; ``series``: each one's name
    (None: a frame's one series) and rows of ``when``. A file of many series mostly repeats one grid of times, so each
    grid is judged once (keyed by its bytes; object arrays, times with a zone, each time):
    judging every series anew took seconds per 10,000 series."""
    seen: dict[bytes, Uneven | None] = {}
    found = []
    for name, rows in series:
        t = when[rows]
        key = None if t.dtype.hasobject else t.tobytes()
        how = seen[key] if key in seen else uneven_steps(t)
        if key is not None:
            seen[key] = how
        if how is not None:
            found.append((name, how))
    return found


# The words of every uneven-steps warning given in this process: infill, embed and predict
# read the frame a file's ingest (or impute's first read) already warned of, again and again
# (impute fills its held-back copy, then the file, then each other candidate's fill)
_SAID: set[str] = set()


def _message(where: str | None, found: Sequence[tuple[str | None, Uneven]]) -> str:
    name, how = found[0]
    place = f"{where}: " if where else ""
    named = f"series {name!r}: " if name is not None else ""  # a frame of one series names none
    return f"{place}{named}{_said(found)}; {getattr(how, 'advice', REGULAR_GRID)}"


def _said(found: Sequence[tuple[str | None, Uneven]]) -> str:
    """The words of a warning but for the series' name (a file's ingest names it
    ``x.csv:key``, a frame read in memory ``key``): what ``_SAID`` remembers."""
    more = f" ({len(found)} series like it)" if len(found) > 1 else ""
    return f"{found[0][1]}{more}"


def warn_uneven(path: str, found: Sequence[tuple[str, Uneven]]) -> None:
    """One warning for the series of ``path`` whose time steps vary (``uneven_steps``),
    every time a file is read (ingest)."""
    if found:
        _SAID.add(_said(found))
        warnings.warn(_message(path, found), stacklevel=3)


def warn_uneven_once(found: Sequence[tuple[str | None, Uneven]], where: str | None = None) -> None:
    """``warn_uneven`` of data read in memory (a frame given to infill, embed, predict, or a
    file read back for them), unless the same words were said before in this process: one
    command reads the same table again and again."""
    if found and _said(found) not in _SAID:
        _SAID.add(_said(found))
        warnings.warn(_message(where, found), stacklevel=4)
