"""The marks files write for a missing value in a column of numbers, beyond an empty cell and
pyarrow's NA words (``MISSING_MARKS``: ``.``, ``-``, ``missing``, ...; Stata's ``.a`` ..
``.z``), and which cells of a text column are one (``is_mark``).

Its own module in ``encoderkit/data``, not in a domain: the table reader
(``domains/tabular/holes.py``) and the series reader (``domains/timeseries/marks.py``) read
the same marks as missing, so one file reads alike as a table and as a series, and a domain
does not import another's modules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Words and signs that stand for "no value" in a column of numbers in files that do not leave
# the cell empty: SAS and Stata write "." (and ".a" to ".z", extended missing codes),
# spreadsheets "-" or "--", others "missing", "n.a.", "nd" (pyarrow already reads NA, N/A,
# NULL, nan as missing, and the table reader "?"). A text column whose cells are numbers but
# for such marks is numbers with holes, however many holes: counted against the table schema's
# ``numeric_fraction`` the marks made a column 30% missing a column of categories, whose holes
# nothing filled.
MISSING_MARKS = frozenset({".", "-", "--", "---", "*", "missing", "none", "n.a.", "n.a", "nd", "n.d.",
                           "na.", "unknown", "not available", "#value!", "#div/0!"})
_STATA_MISSING = r"^\.[a-z]$"  # .a to .z, after lower-casing and trimming (RE2 and re alike)


def is_mark(text: pd.Series) -> np.ndarray:
    """Which cells of ``text`` (strings or missing) are one of ``MISSING_MARKS`` or a Stata
    extended missing code (any case, outer spaces ignored)."""
    word = text.astype("string").str.strip().str.lower()
    hit = word.isin(MISSING_MARKS) | word.str.match(_STATA_MISSING)
    return hit.fillna(False).to_numpy(dtype=bool)
