"""What a sets model says of a user's table that differs from the one it was trained on:
coordinate columns written in another case (read, as ingest reads them), columns it has no
input for (said, not dropped without a word) and items it has no token for (said, with
examples). ``SetsUserData`` calls these where a long-format frame or its records are read.
"""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from .columns import DEFAULT_COORDS, label_like

# share of the given items unknown to the vocabulary above which the warning also asks
# whether the item column is the one the model was trained with (not, e.g., point numbers)
UNKNOWN_SHARE = 0.5
SHOWN = 5  # examples of unknown items, and items of the vocabulary, named in a message


def match_coord_case(frame: pd.DataFrame, coord_names: Sequence[str], taken: Sequence[str]) -> pd.DataFrame:
    """``frame`` with a coordinate column written in another case renamed to the model's name
    (``X`` for a model trained on ``x``, or the reverse), as ingest reads x / y / z in any case
    (``columns.default_coords``); an exact name wins, and a column another field reads
    (``taken``: set, item, feature columns) or two spellings of one name are left alone."""
    columns = [c for c in frame.columns if isinstance(c, str)]
    rename: dict[str, str] = {}
    for name in coord_names:
        if name in frame.columns or str(name).lower() not in DEFAULT_COORDS:
            continue
        other = [c for c in columns if c.lower() == str(name).lower() and c not in taken]
        if len(other) == 1:
            rename[other[0]] = name
    return frame.rename(columns=rename) if rename else frame


def unused_columns_message(frame: pd.DataFrame, read: Sequence[str], coord_names: Sequence[str],
                           feature_names: Sequence[str], has_ids: bool) -> str | None:
    """What to say of the number columns of ``frame`` that the model has no input for (a
    third coordinate given to a 2-D model, a feature it was not trained on), or None. Ingest
    reads every number column as a feature unless told otherwise, so such a column is data the
    user may expect the model to read. Left unsaid, as ingest leaves them out too: columns of
    text, label-like names (``columns.label_like``) and, for a model without items, an ``id``
    column (the point numbers ingest leaves out of the model)."""
    skip = set(map(str, read)) | ({"id"} if not has_ids else set())
    extra = [str(c) for c in frame.columns if str(c) not in skip and not label_like(c)
             and pd.api.types.is_numeric_dtype(frame[c])]
    if not extra:
        return None
    dims = len(coord_names)
    axes = [c for c in extra if c.lower() in DEFAULT_COORDS[dims:]] if dims else []
    why = (f" ({axes} would be a further coordinate: the model reads {dims}-D sets)") if axes else ""
    return (f"column(s) {extra} are not coordinates or features the run was trained on "
            f"(coordinates {list(coord_names)}, features {list(feature_names)}): left as they are, "
            f"the model does not read them{why}")


def unknown_items_message(column: str, items: Sequence[Any], vocab: Sequence[str],
                          given: int) -> str | None:
    """What to say of the ``items`` (each given item that is not in ``vocab``, in the order
    given) among the ``given`` non-missing items of the item ``column``, or None when there
    is none. Said whenever one occurs, as a table says an unknown category: the model reads
    each as [UNK], one input for every item it does not know, which moves its predictions."""
    if not items:
        return None
    examples = list(dict.fromkeys(items))
    more = " ..." if len(vocab) > 2 * SHOWN else ""
    check = (f"; is {column!r} the item column the model was trained with (not, e.g., point "
             f"numbers)?") if len(items) > UNKNOWN_SHARE * given else ""
    return (f"column {column!r}: {len(items)} of the {given} items given ({len(items) / given:.0%}) "
            f"are not in the model's vocabulary of {len(vocab)} items and are read as [UNK], one "
            f"input for every item it does not know (not as a missing item): {len(examples)} "
            f"value(s) such as {examples[:SHOWN]}, new to it or seen fewer than ingest's min_count "
            f"times (its items are {list(vocab[:2 * SHOWN])}{more}){check}")
