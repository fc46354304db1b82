"""A date column given as text to a model whose schema reads it as dates.

Why: ingest reads a CSV's ISO dates (``2021-01-31``) as dates (pyarrow), but a DataFrame read
by ``pd.read_csv`` from the very same file holds them as text; ``embed`` / ``predict`` /
``infill`` of it refused the column ("80 of its 80 non-empty cells are not numbers"). Such a
column is read as the dates it writes, and its holes are filled with dates written as its
cells are (``2021-02-14``, not nanoseconds since 1970).
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from encoderkit.session_state import warnings_kept

# the ISO forms a fill is written in, by how the column's cells are written
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MINUTES = re.compile(r"\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}")
_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}")


def is_text(s: pd.Series) -> bool:
    """Cells of text (not ``datetime.date`` objects, which an object column may hold)."""
    return (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)) and \
        pd.api.types.infer_dtype(s, skipna=True) == "string"


def text_dates(s: pd.Series) -> pd.Series | None:
    """The text column ``s`` as UTC datetimes when every cell it holds is an ISO date / time
    (``marks``: cells such as ``.`` or ``-`` that stand for a missing one, are missing), else
    None (the caller says which cells are not numbers, as before)."""
    from domains.tabular.holes import is_mark

    if not is_text(s) or not s.notna().any():
        return None
    given = s.astype("string").str.strip()
    with warnings_kept():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(given, errors="coerce", format="ISO8601", utc=True)
        except (ValueError, TypeError, OverflowError):
            return None
    held = s.notna().to_numpy() & ~is_mark(s)
    if parsed.isna().to_numpy()[held].any():
        return None
    return parsed.mask(~held)


def date_fills(ns: Sequence[float], observed: Sequence[Any]) -> list[str]:
    """Fills given as nanoseconds since the epoch written as the ``observed`` text cells write
    theirs: ``2021-02-14`` (rounded to a day) for a column of dates, with a time to the minute
    or second (``T`` or a space between, as observed) otherwise."""
    texts = [str(v).strip() for v in observed]
    stamps = pd.to_datetime(np.round(np.asarray(ns, dtype=np.float64)).astype(np.int64), unit="ns")
    if texts and all(_DATE.fullmatch(t) for t in texts):
        return [t.strftime("%Y-%m-%d") for t in stamps.round("D")]
    for form, unit, clock in ((_MINUTES, "min", "%H:%M"), (_SECONDS, "s", "%H:%M:%S")):
        hits = [form.fullmatch(t) for t in texts]
        if texts and all(hits):
            sep = hits[0].group(1)
            return [t.strftime(f"%Y-%m-%d{sep}{clock}") for t in stamps.round(unit)]
    return [t.isoformat() for t in stamps]
