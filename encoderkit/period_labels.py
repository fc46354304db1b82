"""Period labels pandas does not read as dates, and the first instant each names: quarters as
Stata / Excel / statsmodels write them (``1959 Q1``, ``1959-Q1``, ``Q1 1959``, ``1959q1``),
EViews months (``1949M01``, ``1949m1``) and ISO weeks (``2020-W05``, ``%G-W%V``). The one
reading of them, for a table's text column (``domains/tabular/datetext.py``, which also takes
``2024-03`` for a month label there) and a series' time column (``domains/timeseries/times.py``:
its ``2024-03`` is pandas' date, beside ``2024-03-15`` in the same column).

In ``encoderkit/``, not in a domain: both domains read these labels, and a domain does not
import another's modules. Reads text with ``re`` and makes pandas Timestamps; no domain code.
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd

_QUARTER = re.compile(r"(?P<y>\d{4})\s*[-/. ]?\s*[Qq](?P<n>[1-4])|[Qq](?P<n2>[1-4])\s*[-/. ]?\s*(?P<y2>\d{4})")
_WEEK = re.compile(r"(?P<y>\d{4})-?[Ww](?P<n>\d{1,2})")

# kind -> pattern (``fullmatch``): the labels pandas reads as none, or as something else
# (``1949M01`` as a minute)
PERIODS = {"quarter": _QUARTER, "month": re.compile(r"(?P<y>\d{4})[Mm](?P<n>\d{1,2})"), "week": _WEEK}

# the years a datetime64[ns] holds (nanoseconds since 1970 in an int64)
NS_YEARS = (1678, 2261)


def year_number(m: re.Match) -> tuple[int, int]:
    """The year and the period's number (quarter, month, week) of a label ``m`` matched."""
    return int(m["y"] or m.groupdict().get("y2")), int(m["n"] or m.groupdict().get("n2"))


def period_start(kind: str, m: re.Match, ns: bool = False) -> pd.Timestamp | None:
    """The first instant of the period ``m`` (a match of ``PERIODS[kind]``) names; None when
    it names none (month 13, week 53 of a year of 52 ISO weeks). ``ns``: also None for a year
    outside ``NS_YEARS`` (a table stores dates as nanoseconds; and a code such as
    ``4711-02`` is no month)."""
    year, n = year_number(m)
    if ns and not NS_YEARS[0] <= year <= NS_YEARS[1]:
        return None
    if kind == "quarter":
        return pd.Timestamp(year, 3 * n - 2, 1)
    if kind == "month":
        return pd.Timestamp(year, n, 1) if 1 <= n <= 12 else None
    try:
        return pd.Timestamp(datetime.fromisocalendar(year, n, 1))  # from its Monday
    except ValueError:
        return None
