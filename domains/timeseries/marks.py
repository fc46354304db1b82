"""Cells of a series file that stand for "no value" beyond an empty cell and the NA words
(``times.NA_TEXT``), and the ``missing_value=`` option that names more of them.

The marks are the table reader's (``encoderkit.data.missing_marks.MISSING_MARKS``: ``.`` as SAS
and Stata write, ``-``, ``--``, ``missing``, Stata's ``.a`` .. ``.z``) and ``?`` (the UCI
repository's), so one file reads alike as a table and as a series: a ``-`` in a channel
refused the series although the table reader took it for a hole.

``missing_value``: a number (``-999``), a word (``?``, ``n.v.``) or a list of them, as the
tabular option takes it. A number matches cells by value (``-999.0`` too), a word by its
text; a number given as text (``'-999'``) does both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from encoderkit.data.missing_marks import is_mark

# what the table reader reads as missing through pyarrow rather than MISSING_MARKS
EXTRA_MARKS = frozenset({"?"})


def _entries(missing_value: Any) -> list[Any]:
    if missing_value is None:
        return []
    return list(missing_value) if isinstance(missing_value, (list, tuple)) else [missing_value]


def valid_missing_value(value: Any) -> bool:
    """Whether ``value`` is null, a number, a word, or a non-empty list of numbers / words
    (never a bool: ``missing_value=true`` is a typo, not a mark)."""
    def one(v: Any) -> bool:
        return (isinstance(v, (int, float, str)) and not isinstance(v, bool)
                and not (isinstance(v, str) and not v.strip()))
    if value is None:
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(one(v) for v in value)
    return one(value)


def sentinel_numbers(missing_value: Any) -> np.ndarray:
    """The entries of ``missing_value`` that are numbers (``'-999'`` too), as float64."""
    entries = pd.Series(_entries(missing_value), dtype=object)
    return pd.to_numeric(entries, errors="coerce").dropna().to_numpy(np.float64)


def sentinel_words(missing_value: Any) -> frozenset[str]:
    """The texts of the entries of ``missing_value`` (trimmed), matched against cell texts."""
    return frozenset(str(v).strip() for v in _entries(missing_value))


def is_sentinel(values: Any, missing_value: Any) -> np.ndarray:
    """Which numbers of ``values`` are one of ``missing_value``'s numbers."""
    x = np.asarray(values)
    numbers = sentinel_numbers(missing_value) if missing_value is not None else np.empty(0)
    if not numbers.size:
        return np.zeros(np.shape(x), dtype=bool)
    return np.isin(x, numbers)


def marked(stripped: pd.Series, words: frozenset[str] = frozenset()) -> np.ndarray:
    """Which cells of ``stripped`` (trimmed texts) are a missing mark (``MISSING_MARKS``,
    Stata's ``.a``, ``?``) or one of ``words`` (``missing_value``'s)."""
    text = stripped.astype("string")
    hit = is_mark(text) | text.isin(EXTRA_MARKS | words).fillna(False).to_numpy(dtype=bool)
    return np.asarray(hit, dtype=bool)


def marks_message(path: str, column: str, cells: pd.Series) -> str:
    """What the readers say of a column's marked cells ``cells`` (their texts), as the table
    reader says it."""
    shown = sorted(map(str, pd.unique(cells.astype(str).str.strip())))[:3]
    return (f"{path}: column {column!r}: {len(cells)} cell(s) {', '.join(map(repr, shown))} "
            f"read as missing values")


def written_numbers_advice(cells: pd.Series) -> str | None:
    """For a channel's cells that are no number (``cells``, trimmed texts): what to do when
    some are numbers written with thousands marks, signs or units (``2,710.349``, ``45%``,
    ``−0.5``), in the table reader's words (``encoderkit.data.textforms._number_advice``); else
    None. Asked before the "it holds dates" advice: pandas parses ``2,710.349`` as a date,
    and that advice would have ordered the rows by GDP. A lone ``12,345`` (a thousands or
    a decimal comma) is left to the decimal-comma advice."""
    from encoderkit.data.textforms import _number_advice, _number_form

    distinct = list(dict.fromkeys(cells.astype(str)))[:200]
    forms = [f for v in distinct if (f := _number_form(v)) is not None]
    thousands, signs = any(m == "thousands" for m, _ in forms), any(s for _, s in forms)
    if not (thousands or signs):
        return None
    example, advice = _number_advice(distinct)
    what = " and ".join(w for w, on in (("thousands marks", thousands), ("signs or units", signs)) if on)
    return f"numbers written with {what} ({example}): {advice}"
