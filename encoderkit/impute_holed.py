"""The held-back copy of the input that ``encoderkit impute`` trains on (``impute._fit_and_score``):
which drawn cells may be held back (``readable_holdout``), the ingest options it is read
with (``holed_options``), and an error met reading it said of the user's file
(``holed_error``).

The copy is the input with some observed cells made missing; everything else about how it
is read must be what the first ingest decided for the input, or the outcome depended on
which cells the draw held back: re-inferred, a column of percentages that kept 6 distinct
values out of 9 became an identifier, every column was left out and impute stopped with
"no usable column" naming ``/tmp/encoderkit-impute-*/holed.csv`` (with ``holdout=0`` or
another ``seed``, it filled the file). Split out of ``encoderkit/impute.py`` (the command),
so each module keeps one job; it reads the input's schema and the channels' cells, no
domain code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from encoderkit.data import textfiles
from encoderkit.errors import EncoderkitError
from encoderkit.impute_cells import Channel, is_missing
from encoderkit.numerics import F32_MAX, finite_mean_std


def readable_holdout(truth: Sequence[Channel], hide: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``hide`` (a table's held-back cells per column) without the cells of a number column
    that the model trained on the other cells could not read back: beyond float32 once
    standardised by the mean and standard deviation of the cells left visible (a 1e308
    among values near 5). The model trained on the held-back copy is the one that fills the
    file, held-back cells visible again: holding such a cell back stopped impute at the fill
    ("too large for float32"), while ``holdout=0`` filled the file. Such a cell is an
    extreme the visible cells say nothing of, so the score loses nothing it could measure.
    The statistics are those of every visible cell (ingest's are of its training rows; they
    differ only where another such extreme sits in its validation rows)."""
    out = dict(hide)
    for ch in truth:
        mask = out.get(ch.name)
        if mask is None or not mask.any() or ch.categorical or ch.temporal:
            continue
        values = np.asarray(ch.values, dtype=np.float64)
        visible = ~is_missing(values) & ~mask
        if not visible.any():
            continue
        mean, std = finite_mean_std(values[visible])
        std = std if std > 0 else 1.0  # as ingest's schema: a constant column's std is 1
        at = np.flatnonzero(mask)
        with np.errstate(over="ignore", invalid="ignore"):
            far = at[~(np.abs((values.reshape(-1)[at] - mean) / std) <= F32_MAX)]
        if far.size:
            out[ch.name] = mask.copy()
            out[ch.name].reshape(-1)[far] = False
    return out


def holed_options(schema: Mapping[str, Any], options: Mapping[str, Any], domain: str, holed: str,
                  decimal: str = ".") -> dict[str, Any]:
    """The ingest ``options`` the held-back copy ``holed`` of a table is read with: each
    column the input's first ingest kept (``schema``) with the kind it decided
    (``columns={name: kind}``), each one it left out (excluded, an identifier, no number)
    excluded, the missing-value words its text columns kept, and, for text, the decimal
    mark it read (``decimal``; the copy is written with it). A series' options as given:
    its channels are the number columns, and holding cells back makes none of them another."""
    opts = dict(options)
    if domain != "tabular":
        return opts
    kinds = {str(c["name"]): str(c["kind"]) for c in schema.get("columns", []) if isinstance(c, Mapping)}
    left = {str(c) for c in schema.get("excluded") or ()} | {str(c) for c in schema.get("dropped") or {}}
    given = opts.get("exclude") or []
    opts["columns"] = {**dict(opts.get("columns") or {}), **kinds}
    opts["exclude"] = sorted({*([given] if isinstance(given, str) else map(str, given)), *left} - set(kinds))
    kept = (schema.get("ingest_options") or {}).get("keep_words")
    if kept:
        opts["keep_words"] = list(kept)
    text = Path(textfiles.plain_name(holed)).suffix.lower() in textfiles.TEXT_TABLE_SUFFIXES
    if text and opts.get("decimal", "auto") == "auto":
        opts["decimal"] = decimal
    return opts


def holed_error(e: EncoderkitError, source: str, holed: str, held: int) -> EncoderkitError:
    """``e``, met reading the held-back copy ``holed`` of ``source``, as an error of the
    user's file: it named impute's temporary copy, which the user never wrote and which
    is gone when the command ends. Its data rows are the file's (the copy keeps them in
    the file's order)."""
    message = e.message.replace(str(holed), str(source))
    if held:
        message += (f" (met in impute's copy of the file with {held} observed cell(s) held back to "
                    f"score the fill, which the file itself passed: please report it; holdout=0 "
                    f"holds none back)")
    return type(e)(message, file=source if e.file in (None, str(holed)) else e.file, record=e.record, key=e.key)
