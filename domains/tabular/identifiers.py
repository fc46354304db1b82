"""Which text columns of a table are identifiers (names, e-mail addresses, row ids, free
text) rather than categories, and what ingest says of one: the one rule that both
``encoderkit ingest`` and ``EncoderImputer`` apply (through ``schema.column_entry``).

A column is an identifier when nearly each of its values occurs once: at least
``IDENTIFIER_SHARE`` of its observed cells hold distinct values, and it has at least
``IDENTIFIER_MIN`` observed cells. As categories, values seen about once teach the model
nothing, a hidden cell of it can never be filled right, and every value would be stored in
plain JSON in the store's schema and in every checkpoint (one learned row each). Asking for
*every* value distinct let one repeated address (239 distinct e-mails in 240 rows) keep the
whole column as categories without a word. Below 20 observed cells the share asks for every
value distinct (19 of 20 is the first that passes with a repeat), so small tables' real
categories (5 regions in 12 rows) stay categories. Only text is an identifier: numbers,
booleans and times (a Period column holds one month a row) are not; nor are (``schema``
asks) numbers or dates written as text, which are kept with a warning instead.

Row numbers (``row_numbers``) are left out the same way: a first column with a blank header
(or pandas' ``Unnamed: 0``) holding integers, each row its own, is the index ``df.to_csv()``
writes by default (0..n-1, or 100..159 for a slice; R's ``write.csv`` writes 1..n; a frame
filtered or shuffled before it was written keeps its old labels: 0, 2, 5, 9 or 7, 3, 1). As
a model column it was a numeric input that only said where a row stood in some table,
held-back cells were spent on it, and a slice's fills differed from the same rows' without
it. A column with a name (``patient_id`` 1001..1060) is the user's data, whatever it holds.
"""

from __future__ import annotations

import math

import pandas as pd

from encoderkit.data.textfiles import index_labels, written_index
from encoderkit.overrides import option_word

# IDENTIFIER_MIN: fewer observed cells than this, and a column of distinct words may still be
# categories (one constant with the big-integer ids' rule in ``schema``)
from domains.tabular.kinds import IDENTIFIER_MIN

# this share of the observed cells distinct, and the column is an identifier (the sets
# domain's item columns use the same share: ``domains/sets/columns.py``)
IDENTIFIER_SHARE = 0.95


def near_unique(s: pd.Series) -> tuple[int, int] | None:
    """``(distinct values, observed cells)`` of the text column ``s`` when it is an identifier
    (module docstring), else None."""
    present = s.dropna()
    n = len(present)
    if n < IDENTIFIER_MIN or pd.api.types.infer_dtype(present, skipna=True) != "string":
        return None  # numbers, booleans, and times such as Period values (one a row) are no ids
    distinct = int(present.nunique())
    return (distinct, n) if distinct >= IDENTIFIER_SHARE * n else None


def _share(distinct: int, n: int) -> str:
    """``distinct / n`` as a percentage rounded down (239 of 240 is 99.5%, never 100%)."""
    return f"{math.floor(1000 * distinct / n) / 10:g}%"


def identifier_message(name: str, distinct: int, n: int, keep: str) -> str:
    """What ingest says of the identifier column ``name`` (``distinct`` values in ``n``
    observed cells); ``keep``: the option that keeps it in (``bigids.identifier_override``)."""
    if distinct == n:
        counted = f"each of its {n} values occurs once"
    else:
        counted = f"{distinct} distinct values in its {n} cells, {_share(distinct, n)}: nearly each occurs once"
    return (f"column {name!r} is an identifier ({counted}): left out of the model, its cells "
            f"kept as they are ({keep})")


def identifier_reason(distinct: int, n: int) -> str:
    """Why the identifier column was dropped, as ``task.label_column`` says it again."""
    return "it is an identifier (each of its values occurs once)" if distinct == n else \
        f"it is an identifier ({distinct} distinct values in its {n} cells, {_share(distinct, n)})"


def row_numbers(s: pd.Series, name: str) -> bool:
    """Whether the first column ``s`` (called ``name``) holds row labels (module docstring):
    a blank or ``Unnamed: 0`` header over integers each row its own, no cell missing,
    counted or not (``textfiles.written_index``, the labels reader's rule too). Asked of the
    first column only: that is where pandas and R write the index; a nameless column further
    on is the user's data (a labels file, which holds no data columns to lose, drops any)."""
    return len(s) >= 2 and written_index(s, name)


def row_numbers_message(name: str, s: pd.Series) -> str:
    """What ingest says of the row-number column ``name`` (``row_numbers``): the count it
    holds (``100..159``), or its first labels where they are no count (a filtered or
    shuffled frame's: ``7, 3, 1, ...``)."""
    keep = option_word("columns", {name: "numeric"})
    shown = index_labels(s)
    return (f"column {name!r} holds row numbers ({shown}, the index pandas' to_csv writes): left out of "
            f"the model, its cells kept as they are (the ingest option {keep} keeps it in)")
