"""A categorical cell's value matched to the schema's categories, and a fill written in the
form of the column's own cells.

Why: a schema's categories are JSON values (``schema._json_value``: a float column of codes
1.0 .. 7.0 keeps the ints 1 .. 7, a bool column True / False, text its text), while a table
given to predict / embed / infill may hold the same values in another form: ``'6'`` (what
``pd.read_csv(dtype=str)``, ``astype(str)`` or a JSON API gives), ``'6.0'``, ``' 6 '``,
``6.0``, ``np.int64(6)``. Looked up as Python values, each was an unseen category (code 0),
and predictions changed without a word. Filling went the other way: a text column of codes
got the int 6 beside its observed ``'6'``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import pandas as pd

_WHOLE = re.compile(r"\s*[-+]?\d+\s*")
# how many distinct unknown values and categories a message shows
SHOWN = 3


def _number(text: str) -> int | float | None:
    """The number the text ``text`` writes (``'6'``, ``' 6 '``, ``'6.0'``, ``'-1.5e3'``) as
    ``_json_value`` keeps one (6.0 -> 6), or None: not a finite number, or one Python reads
    but a table would not (``'1_000'``, ``'nan'``, ``'inf'``)."""
    if "_" in text:
        return None
    if _WHOLE.fullmatch(text):
        return int(text)  # exact: a long id as text is no float
    try:
        x = float(text)
    except ValueError:
        return None
    if not np.isfinite(x):
        return None
    return int(x) if x.is_integer() else x


class CategoryCodes:
    """Codes of one categorical column's cells (``categories[i]`` is code ``i + 1``; 0 a value
    the column does not know), whatever form its values come in.

    Numbers match by value: ``'6'``, ``' 6 '``, ``'6.0'``, 6.0 and ``np.int64(6)`` are the
    category 6; a number is also the text category that writes it (6 and 6.0 are ``'6'``,
    for a model trained on text codes). Text matches its text (outer spaces aside); a text
    category written as a number with a leading zero (``'01'``: a zip or FIPS code) is only
    ever matched as text. Booleans as ingest keeps them: True is 1 (Python's ``True == 1``,
    which ingest's value counts follow too), and so is its text ``'True'`` / ``'true'`` (what
    a CSV reader takes for True)."""

    def __init__(self, categories: Sequence[Any]) -> None:
        self.categories = list(categories)
        self.lookup: dict[Any, int] = {}
        for i, c in enumerate(self.categories):
            self.lookup.setdefault(c, i + 1)
        self.text = {c: code for c, code in self.lookup.items() if isinstance(c, str)}
        self.numbers = any(isinstance(c, (int, float)) for c in self.categories)  # bools too

    def code(self, value: Any) -> int:
        """The code of ``value``, a JSON-native cell (``schema._json_value``'s)."""
        hit = self.lookup.get(value)
        if hit is not None:
            return hit
        if isinstance(value, str):
            t = value.strip()
            if t in self.text:
                return self.text[t]
            x = _number(t) if self.numbers else None
            if x is not None and x in self.lookup:
                return self.lookup[x]
            if self.numbers and t.lower() in ("true", "false"):  # True is 1, as above
                return self.lookup.get(t.lower() == "true", 0)
            return 0
        if isinstance(value, (bool, int, float)) and self.text:
            return self.text.get(str(value), 0)  # _json_value made 6.0 the int 6: '6'
        return 0

    def codes(self, values: Sequence[Any]) -> np.ndarray:
        """``code`` of each of ``values``, each distinct value looked up once."""
        seen: dict[tuple[type, Any], int] = {}
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            key = (type(v), v)  # the type too: True and 1 may differ ('True' is a text category)
            if key not in seen:
                seen[key] = self.code(v)
            out[i] = seen[key]
        return out

    def unknown_message(self, name: str, values: Sequence[Any], codes: np.ndarray) -> str:
        """What to say of the cells of ``values`` (the column's non-missing ones) whose
        ``codes`` are 0. The encoder reads each such cell as the column's "unknown category"
        input: one embedding for every value it does not know (in training only the values
        past ingest's ``max_categories``, if any, had it), not the missing-cell one. A few
        such cells are also what filling the training table itself meets (values only in
        its validation rows): the advice to check the column is for a column mostly unknown."""
        unknown = [v for v, k in zip(values, codes) if k == 0]
        examples = list(dict.fromkeys(unknown))
        more = " ..." if len(self.categories) > 2 * SHOWN else ""
        check = ": check that the column holds what it held in training, written the same way" \
            if 2 * len(unknown) > len(values) else ""
        return (f"column {name!r}: {len(unknown)} of its {len(values)} non-missing cells hold "
                f"{len(examples)} value(s) the model has no category for (such as {examples[:SHOWN]}; "
                f"its {len(self.categories)} categories are {self.categories[:2 * SHOWN]}{more}: a value "
                f"new to it, seen only in the rows held out for validation, or past ingest's "
                f"max_categories); it reads them as the column's unknown category (one input for "
                f"every value it does not know, not as a missing cell){check}")


def _text(value: Any, decimal: bool) -> Any:
    """A number or boolean fill as text: whole numbers as integers (``'6'``, ``'49'``) unless
    ``decimal``, the column writing its numbers with a point (``'6.0'``, as ``astype(str)``
    of a float column gives); other text as it is."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value) if isinstance(value, bool) else value
    if isinstance(value, float) and not np.isfinite(value):
        return value
    if decimal:
        return str(float(value))
    return str(int(value)) if float(value).is_integer() else str(value)


def like_observed(fill: Sequence[Any], observed: Any) -> list[Any]:
    """``fill`` written as the ``observed`` values (a column's non-missing cells, or a
    category dtype's categories) write theirs: text in a column of text (6 -> ``'6'``; 49.0 ->
    ``'49'``, or ``'49.0'`` where its numbers are written with a point), numbers in an object
    column of numbers (``'6'`` -> 6). Other columns (mixed, or no observed cell) take the
    fills as they are."""
    fill = list(fill)
    values = pd.Series(pd.unique(np.asarray(observed, dtype=object)), dtype=object)
    if values.empty:
        return fill
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "string":
        # the numbers among the texts by the one rule of this module (not 'inf', not '1_000')
        numbers = [str(v).strip() for v in values if _number(str(v)) is not None]
        decimal = any(not _WHOLE.fullmatch(t) for t in numbers)
        return [_text(v, decimal) for v in fill]
    if kind == "decimal":  # a Parquet decimal128 column: Decimals with its digits after the point
        import decimal

        places = min(v.as_tuple().exponent for v in values if isinstance(v, decimal.Decimal))
        step = decimal.Decimal(1).scaleb(int(places)) if isinstance(places, int) else None
        # quantize under the global context rounds to its precision (28 digits by default, a
        # host program's own otherwise): a decimal(38,18) fill of 13 whole digits needs 31
        with decimal.localcontext(decimal.Context(prec=80)):
            return [decimal.Decimal(repr(float(v))).quantize(step) if step is not None and
                    isinstance(v, (int, float, np.number)) and np.isfinite(v) else v for v in fill]
    if kind in ("integer", "floating", "mixed-integer-float"):
        floats = kind != "integer"
        out = []
        for v in fill:
            x = _number(v) if isinstance(v, str) else None
            if x is None and not floats and isinstance(v, (float, np.floating)) and float(v).is_integer():
                x = int(v)  # an object column of ints: the fill 2, not 2.0 (a float beside its ints)
            out.append(v if x is None else float(x) if floats else x)
        return out
    if kind in _NAMED_KINDS:
        return _as_named(fill, values)
    return fill


# observed values whose categories are their text (``schema._json_value``: ``str(value)``)
_NAMED_KINDS = ("bytes", "time", "timedelta")


def _as_named(fill: Sequence[Any], values: pd.Series) -> list[Any]:
    """Each category fill of ``fill`` as the observed value of ``values`` it names. Why: the
    schema keeps a bytes, time of day or duration category as its text (``"b'\\x01'"``,
    ``'09:30:00'``, ``'0 days 00:00:54'``); written as it was, a binary column got the repr
    text as its bytes and a time or duration column mixed text with its values (a traceback
    at the Parquet write). A text no observed cell writes (a model filling another table) is
    read back as the observed cells' type reads it (``_parse_named``)."""
    named = {str(v): v for v in values}
    kind = type(values.iloc[0])
    return [named[v] if isinstance(v, str) and v in named else
            _parse_named(v, kind) if isinstance(v, str) else v for v in fill]


def _parse_named(text: str, kind: type) -> Any:
    """The value of type ``kind`` whose ``str`` is ``text``; ``text`` itself where it writes
    none (a category of another type: as it is)."""
    import ast
    import datetime

    try:
        if issubclass(kind, bytes):
            value = ast.literal_eval(text)  # a bytes literal only (checked below), no code run
            return kind(value) if isinstance(value, bytes) else text
        if issubclass(kind, datetime.time):
            return datetime.time.fromisoformat(text)
        if issubclass(kind, (pd.Timedelta, datetime.timedelta, np.timedelta64)):
            return pd.Timedelta(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return text
