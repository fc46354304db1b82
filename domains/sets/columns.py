"""Which columns of a long-format sets CSV the model reads when the user did not name them.

Point-set files as tools write them carry more than points: ImageJ, CloudCompare and
TrackMate write ``X, Y, Z`` in upper case; QGIS, ImageJ and tracking exports add a
per-point ``id`` (a row or spot number); a labelled file keeps its ``label`` column.
Read literally, the first lose their geometry, the second become a vocabulary of items
each seen once, and the third hands the model the answer it is to predict. The rules
here only change defaults: a column the user names (``coord_columns``, ``id_column``,
``feature_columns``) is read as named, exactly.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from encoderkit.data.textfiles import index_labels
from encoderkit.overrides import option_word

DEFAULT_COORDS = ("x", "y", "z")

# Numeric columns named like the answer (compared in lower case, outer spaces stripped):
# left out of the default features, with a warning, since reading them is target leakage.
LABEL_NAMES = ("label", "labels", "class", "classes", "target", "targets", "y_true",
               "category", "truth")

# An item column with at least ID_MIN filled cells, of which at least ID_DISTINCT_SHARE
# are distinct values, is a per-point identifier: each item is seen about once, so nothing
# can be learnt about it and new points (new numbers) are all unknown at inference. Below
# ID_MIN cells a handful of distinct items is an ordinary small example.
ID_MIN = 20
ID_DISTINCT_SHARE = 0.95


def default_coords(columns: Sequence[object]) -> list[str]:
    """Whichever of x, y, z the file has, in any case (``X`` as ImageJ writes it); an exact
    lower-case name wins over another spelling of it. Returns the file's own names, so the
    schema records them and a raw file is read back the same way."""
    out = []
    for name in DEFAULT_COORDS:
        if name in columns:
            out.append(name)
            continue
        other = [c for c in columns if isinstance(c, str) and c.lower() == name]
        if other:
            out.append(other[0])
    return out


def label_like(name: object) -> bool:
    """Whether a column's name says it holds the label / target (``LABEL_NAMES``)."""
    return str(name).strip().lower() in LABEL_NAMES


def identifier_note(column: pd.Series, name: str) -> str | None:
    """Why the item column ``name`` is an identifier rather than items (a message for the
    ingest report), or None when it holds items."""
    present = column.dropna()
    n = len(present)
    if n < ID_MIN:
        return None
    distinct = int(present.astype(str).nunique())
    if distinct < ID_DISTINCT_SHARE * n:
        return None
    share = "all" if distinct == n else f"{distinct} of"
    return (f"column {name!r} is an identifier, not an item ({share} its {n} values are distinct: "
            f"each item is seen about once, so the model can learn nothing about it): left out of "
            f"the model; {option_word('id_column', str(name))} keeps it as the item column")


def label_note(name: str, features: Sequence[str]) -> str:
    """The warning for a label-like numeric column left out of the default features."""
    keep = option_word("feature_columns", [str(c) for c in [*features, name]])
    return (f"column {name!r} is named like a label / target: left out of the features, so "
            f"that the model does not read the answer it is to predict; "
            f"{keep} keeps it in")


def index_note(name: str, column: pd.Series, features: Sequence[str]) -> str:
    """The warning for the row index ``df.to_csv()`` wrote (``textfiles.written_index``), left
    out of the default features: it said only where a row stood in some table."""
    keep = option_word("feature_columns", [str(c) for c in [name, *features]])
    return (f"column {name!r} holds row numbers ({index_labels(column)}, the index pandas' to_csv "
            f"writes): left out of the features; {keep} keeps it in")
