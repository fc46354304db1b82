"""Date-time fills written in the file's own form, for ``impute_cells.as_written``: pandas
wrote ``2021-03-09 21:00:00+00:00`` (UTC, a space, seconds) into a column of
``2021-03-01T08:00+01:00``. Split out of ``impute_cells.py`` (the cells of user data), so
each module keeps one job; reads the file's text and the frames, no domain code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def dates_as_given(given: pd.DataFrame, new: pd.DataFrame, kept: np.ndarray, data: pd.DataFrame,
                   filled: pd.DataFrame) -> pd.DataFrame:
    """``new`` with the fills of a column of date-times written in the file's own form:
    pandas wrote ``2021-03-09 21:00:00+00:00`` (UTC, a space, seconds) into a column of
    ``2021-03-01T08:00+01:00``. The form is the one a sample of the column's observed text
    reads back exactly, to the values the reader parsed; a fill is rounded to the form's
    finest field and given the UTC offset of the observed time nearest to it (a column
    across a daylight-saving change keeps each season's offset). A column no form
    reproduces keeps pandas' text."""
    out = new
    for j in range(given.shape[1]):
        col = filled.iloc[:, j]
        todo = ~kept[:, j] & col.notna().to_numpy()
        if not todo.any() or not pd.api.types.is_datetime64_any_dtype(col.dtype):
            continue
        form = _date_form(given.iloc[:, j], data.iloc[:, j], kept[:, j])
        if form is None:
            continue
        if out is new:
            out = new.copy()
        out.iloc[np.flatnonzero(todo), j] = form(col[todo])
    return out


def _date_form(text: pd.Series, read: pd.Series, kept: np.ndarray):
    """A function writing date-times as ``text`` writes them (see ``dates_as_given``), or
    None. Checked on up to 50 observed cells: each must parse to its ``read`` value and
    format back to its own text."""
    import datetime as dt

    from pandas.tseries.api import guess_datetime_format

    at = np.flatnonzero(kept & read.notna().to_numpy() & (text.to_numpy() != ""))
    if not at.size:
        return None
    sample = at[np.linspace(0, at.size - 1, min(50, at.size)).astype(int)]
    first = str(text.iloc[sample[0]])
    zone = read.dt.tz is not None
    colon = len(first) > 6 and first[-3] == ":" and first[-6] in "+-"
    zulu = first.endswith("Z")

    def write(t: dt.datetime, form: str) -> str:
        s = t.strftime(form)
        if zone and "%z" in form:
            if zulu and t.utcoffset() == dt.timedelta(0):
                return s[:-5] + "Z"
            if colon:
                return s[:-2] + ":" + s[-2:]
        return s

    for day_first in (False, True):
        form = guess_datetime_format(first, dayfirst=day_first)
        if form is None or ("%z" in form) != zone:
            continue
        try:
            parsed = [dt.datetime.strptime(str(text.iloc[i]), form) for i in sample]
        except ValueError:
            continue
        if all(pd.Timestamp(p) == read.iloc[i] and write(p, form) == text.iloc[i] for p, i in zip(parsed, sample)):
            break
    else:
        return None
    unit = "us" if "%f" in form else "s" if "%S" in form else "min" if "%M" in form else \
        "h" if "%H" in form else "D"
    if zone:  # offsets from up to 2,000 observed cells spread over the column
        spread = at[np.linspace(0, at.size - 1, min(2000, at.size)).astype(int)]
        seen = [dt.datetime.strptime(str(text.iloc[i]), form) for i in spread]
        offsets = {pd.Timestamp(p).value: p.utcoffset() for p in seen}
        obs = np.sort(np.array(list(offsets)))

        def local(t: pd.Timestamp) -> dt.datetime:
            k = int(np.clip(np.searchsorted(obs, t.value), 1, obs.size - 1)) if obs.size > 1 else 0
            near = obs[k] if obs.size == 1 or abs(obs[k] - t.value) < abs(obs[k - 1] - t.value) else obs[k - 1]
            return t.tz_convert(dt.timezone(offsets[near])).round(unit).to_pydatetime()
    else:
        def local(t: pd.Timestamp) -> dt.datetime:
            return t.round(unit).to_pydatetime()
    return lambda values: [write(local(t), form) for t in values]
