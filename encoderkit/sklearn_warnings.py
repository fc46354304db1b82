"""What ``EncoderImputer`` tells its user, in the user's terms: columns named as
``get_feature_names_out`` names them (``x3`` for an array, not the internal ``c3``), what
happens to them said as it happens (a column ``keep_empty_features`` keeps is not "dropped"),
each warning pointing at the caller's line (``caller_level``), not at a line of encoderkit.
Split out of ``encoderkit/sklearn.py`` (the estimator), so each module keeps one job.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

_PACKAGE = str(Path(__file__).resolve().parent)


def caller_level() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the function calling this one that names
    the first frame outside the encoderkit package: the user's line, however many of the
    estimator's own frames (``fit`` -> ``_fit`` through a decorator, ``fit_transform`` ->
    ``transform`` -> ``_transform``) lie between (the outermost frame if all are ours)."""
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and _ours(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


def _ours(filename: str) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(_PACKAGE)
    except (OSError, ValueError):  # "<stdin>", "<string>": the caller's
        return False


def empty_features_message(names: Sequence[str], kept: bool, every: bool) -> str:
    """What ``fit`` says of the columns ``names`` (the user's names) with no observed value:
    kept in ``transform``'s output, still missing (``keep_empty_features=True``), or left out
    of it, as scikit-learn's imputers skip them; ``every``: no column had a value, so no
    model was trained."""
    shown = list(names) if len(names) <= 8 else [*names[:8], "..."]
    what = ("kept in transform's output with their cells missing (keep_empty_features=True)" if kept else
            "left out of transform's output, as scikit-learn's imputers skip such features "
            "(get_feature_names_out names the columns kept; keep_empty_features=True keeps them, "
            "missing)")
    alone = "; no column has an observed value, so no model was trained" if every else ""
    return f"EncoderImputer: {len(names)} column(s) entirely missing at fit {shown}: {what}{alone}"


def unknown_value_messages(frame: pd.DataFrame, columns: Sequence[Mapping[str, Any]],
                           names: Mapping[str, str], quiet: Collection[str] = ()) -> list[str]:
    """One message per categorical column of ``frame`` (``transform``'s ``X`` read as at fit)
    holding values the fitted schema ``columns`` has no category for, in words true at
    ``transform``: the encoder, each model of ``return_std`` and the classical imputers read
    the same cells, and each reader said them again (a fit-time story among them: "seen only
    in the rows held out for validation"). ``names``: internal column name -> the user's;
    ``quiet``: columns the models do not read (the domain's ``drop_columns``), as
    ``encode_frame`` leaves them unsaid."""
    from domains.tabular.cells import SHOWN, CategoryCodes
    from domains.tabular.values import _json_value

    out = []
    for col in columns:
        c = col["name"]
        if col["kind"] == "numeric" or c not in frame.columns or c in quiet:
            continue
        s = frame[c]
        ok = s.notna().to_numpy()
        values = [_json_value(v) for v in s.to_numpy(dtype=object)[ok]]
        bad = np.asarray(CategoryCodes(col["categories"]).codes(values)) == 0
        if not bad.any():
            continue
        unknown = [v for v, k in zip(values, bad) if k]
        examples = list(dict.fromkeys(unknown))
        cats = list(col["categories"])
        more = " ..." if len(cats) > 2 * SHOWN else ""
        check = "; check that the column holds what it held at fit, written the same way" \
            if 2 * len(unknown) > len(values) else ""
        out.append(f"EncoderImputer.transform: column {names.get(c, c)!r}: {len(unknown)} of its "
                   f"{len(values)} non-missing cells hold {len(examples)} value(s) that are none of the "
                   f"{len(cats)} categories fit learned for it (such as {examples[:SHOWN]}; its categories: "
                   f"{cats[:2 * SHOWN]}{more}; a value not in fit's X, or there only in the rows fit set "
                   f"aside for validation or past max_categories): the models read each as the column's "
                   f"unknown category (one input for every value they do not know, not a missing cell); "
                   f"the cells come back as they are{check}")
    return out


def user_names(columns: Sequence[str], frame_columns: Sequence[Any] | None) -> dict[str, str]:
    """Internal column name -> the name the user knows it by (``get_feature_names_out``'s):
    a DataFrame's label as text, an array's ``x0``, ``x1``, ..."""
    if frame_columns is not None:
        return {c: str(c) for c in columns}
    return {c: f"x{i}" for i, c in enumerate(columns)}

