"""What a sets model says of a user's table that differs from the one it was trained on:
coordinate columns written in another case (read, as ingest reads them), columns it has no
input for (said, not dropped without a word) and items it has no token for (said, with
examples). ``SetsUserData`` calls these where a long-format frame or its records are read.

What the run's own ingest chose is not drift: the options its store's ingest was given (the
store's provenance, read when a run is loaded: ``ingest_choices``) leave columns out by naming
``feature_columns`` / ``coord_columns``, and read items seen fewer than ``min_count`` times as
[UNK]. So the pretraining file itself draws no word, and a file with a column or item the
training file did not have still does.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

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


def ingest_choices(options: Any) -> dict[str, Any]:
    """What a sets store's ingest was told (its provenance ``options``) that says which columns
    and items the run left out by choice: ``named`` (``feature_columns`` / ``coord_columns``,
    when given) and ``min_count`` (1 when not given). Kept in a run's schema as
    ``ingest_choices`` (``SetsUserData.schema_with_provenance``)."""
    opts = options if isinstance(options, Mapping) else {}
    count = opts.get("min_count", 1)
    count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else 1
    return {"named": [k for k in ("feature_columns", "coord_columns") if opts.get(k) is not None],
            "min_count": count}


def unused_columns_message(frame: pd.DataFrame, read: Sequence[str], coord_names: Sequence[str],
                           feature_names: Sequence[str], has_ids: bool,
                           named: Collection[str] = ()) -> str | None:
    """What to say of the number columns of ``frame`` that the model has no input for (a
    third coordinate given to a 2-D model, a feature it was not trained on), or None. Ingest
    reads every number column as a feature unless told otherwise, so such a column is data the
    user may expect the model to read. Left unsaid, as ingest leaves them out too: columns of
    text, label-like names (``columns.label_like``) and, for a model without items, an ``id``
    column (the point numbers ingest leaves out of the model). ``named``: the options the
    run's ingest was given (``ingest_choices``): with ``coord_columns`` named, an x / y / z
    column the model lacks was left out by choice; with ``feature_columns`` named, so was any
    other number column. Without them ingest would have read the column, so the training file
    had none: said."""
    skip = set(map(str, read)) | ({"id"} if not has_ids else set())
    extra = [str(c) for c in frame.columns if str(c) not in skip and not label_like(c)
             and pd.api.types.is_numeric_dtype(frame[c])]
    axis_like = {c for c in extra if c.lower() in DEFAULT_COORDS}  # a coordinate to default ingest
    chosen = (axis_like if "coord_columns" in named else set()) | \
        (set(extra) - axis_like if "feature_columns" in named else set())
    extra = [c for c in extra if c not in chosen]
    if not extra:
        return None
    dims = len(coord_names)
    axes = [c for c in extra if c.lower() in DEFAULT_COORDS[dims:]] if dims else []
    why = (f" ({axes} would be a further coordinate: the model reads {dims}-D sets)") if axes else ""
    return (f"column(s) {extra} are not coordinates or features the run was trained on "
            f"(coordinates {list(coord_names)}, features {list(feature_names)}): left as they are, "
            f"the model does not read them{why}")


def rarer_than_min_count(items: Sequence[Any], elements: int, trained_elements: int,
                         min_count: int) -> set[Any]:
    """Those of the unknown ``items`` (one entry per element) that are as rare among the
    ``elements`` given as the items ingest's ``min_count`` left out of the vocabulary were
    among its ``trained_elements``: fewer than ``min_count`` occurrences once scaled to the
    training size. Ingest read them as [UNK] too, so they are no drift: the training file
    itself (same size, each such item seen fewer than ``min_count`` times) gives all of its
    [UNK] items here. With ``min_count`` 1 every item seen in training has a token: none."""
    if min_count <= 1 or elements <= 0 or trained_elements <= 0:
        return set()
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return {i for i, c in counts.items() if c * trained_elements < min_count * elements}


def unknown_items_message(column: str, items: Sequence[Any], vocab: Sequence[str],
                          given: int, rare: int = 0, min_count: int = 1) -> str | None:
    """What to say of the ``items`` (each given item that is not in ``vocab``, in the order
    given) among the ``given`` non-missing items of the item ``column``, or None when there
    is none. Said whenever one occurs, as a table says an unknown category: the model reads
    each as [UNK], one input for every item it does not know, which moves its predictions.
    ``rare``: further unknown items left out of ``items`` as ingest's ``min_count`` explains
    them (``rarer_than_min_count``), named in the message only when some are said."""
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
            f"times (its items are {list(vocab[:2 * SHOWN])}{more}){check}"
            + (f"; {rare} more are as rare as the items that ingest's min_count={min_count} read as "
               f"[UNK] in training" if rare else ""))
