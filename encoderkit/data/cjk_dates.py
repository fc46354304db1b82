"""Dates as Japanese and Chinese (``2024年1月2日``) or Korean (``2024년 1월 2일``) write them,
which no reader takes for dates (pandas' parser refuses them): read as days, and days written
back as the observed cells write theirs. Domain-free text parsing: the table domain's text
dates (``domains.tabular.datetext``), the series reader's time column
(``domains.timeseries.times``) and ``impute``'s guess of a time column
(``encoderkit.impute_layout``) all ask it, none of them through another domain."""

from __future__ import annotations

import re
from itertools import islice
from typing import Callable, Sequence

import pandas as pd

# a date as Japanese and Chinese (2024年1月2日) or Korean (2024년 1월 2일) write it: no reader
# takes it for a date (pandas' parser refuses it), and a column of them was an identifier
_CJK = re.compile(r"(?P<y>\d{4})\s*(?:年|년)\s*(?P<m>\d{1,2})\s*(?:月|월)\s*(?P<d>\d{1,2})\s*(?:日|일)")
# how many distinct cells ``cjk_days`` matches before it parses them all (a column of words
# says no at once); the table domain's ``datetext`` looks at as many
LOOK = 20


def _cjk_day(text: str) -> pd.Timestamp | None:
    """The day ``2024年1月2日`` (``_CJK``) writes; None when it is none (month 13, 30 February)."""
    m = _CJK.fullmatch(text)
    if m is None:
        return None
    try:
        return pd.Timestamp(int(m["y"]), int(m["m"]), int(m["d"]))
    except (ValueError, OverflowError):
        return None


def cjk_days(texts: pd.Series) -> pd.Series | None:
    """The days of ``texts`` (stripped, none empty) when every one is a date written
    ``2024年1月2日`` (``_CJK``), as naive datetimes (as a series' time column is read); else
    None: the series reader's and ``impute``'s guess of a time column ask it, pandas reads none."""
    codes, distinct = pd.factorize(texts)
    if not distinct.size or not all(_CJK.fullmatch(str(t)) for t in islice(distinct, LOOK)):
        return None
    days = [_cjk_day(str(t)) for t in distinct]
    if any(d is None for d in days):
        return None
    return pd.Series(pd.DatetimeIndex(days)[codes], index=texts.index, name=texts.name)


def _cjk_writer(texts: Sequence[str]) -> Callable[[pd.DatetimeIndex], list[str]]:
    """Days written as the observed ``texts`` (``_CJK``) write theirs: the first one's
    characters and spaces, its digits ASCII, month and day zero-padded where an observed one
    is (``2024年01月02日``)."""
    hits = [_CJK.fullmatch(t) for t in texts]
    pad = any(len(g) == 2 and g.startswith("0") for m in hits for g in (m["m"], m["d"]))
    first = hits[0]
    text, spans = first.string, sorted((first.span(k), k) for k in ("y", "m", "d"))

    def write(days: pd.DatetimeIndex) -> list[str]:
        out = []
        for t in days:
            fields = {"y": str(t.year), "m": f"{t.month:02d}" if pad else str(t.month),
                      "d": f"{t.day:02d}" if pad else str(t.day)}
            parts, last = [], 0
            for (a, b), k in spans:
                parts += [text[last:a], fields[k]]
                last = b
            out.append("".join(parts) + text[last:])
        return out
    return write
