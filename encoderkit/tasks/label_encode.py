"""Labels encoded for a task (``Labels`` from ``label_align.py``): classes named by their
text and ordered (``class_names``, ``class_kind``, ``class_values``), a label's class code
(``class_code``, ``class_coder``), class indices (``encode_classes``), regression targets
(``encode_regression``, by name: ``target_columns``) and multilabel indicators
(``encode_multilabel``). Part of the labels API of ``encoderkit/tasks/labels.py`` (its
module doc describes the rules), split out so each module keeps one job.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from encoderkit.errors import DataError, UsageError
from encoderkit.tasks.label_align import Labels
from encoderkit.tasks.label_files import is_missing

# a ``;``-separated multilabel cell for a record with none of the labels (an empty cell is
# unlabelled); ``predict`` writes it for an empty predicted set, so its output reads back
EMPTY_SET = "[]"


def _class_name(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, Decimal) and v.is_finite():
        return _decimal_name(v)
    return str(v).strip()


def _decimal_name(v: Decimal) -> str:
    """A decimal label (a Parquet ``decimal128`` column's value) by its value, not by its
    column's scale: ``1.50`` of a decimal(10,2) and ``1.500`` of a decimal(10,3) are the class
    ``1.5`` (a float label's name), ``3.00`` is ``3``; in positional notation (``100``, not
    ``1E+2``). Exactly, whatever the decimal context: ``Decimal.normalize`` rounds to the
    context's precision (28 digits, or fewer where a host program lowers it), which merged
    distinct decimal(38,0) labels into one class named by a value not in the data."""
    sign, digits, exponent = v.as_tuple()
    while len(digits) > 1 and digits[-1] == 0:  # trailing zeros carry the scale, not the value
        digits, exponent = digits[:-1], int(exponent) + 1
    if digits == (0,) or not digits:
        return "0"  # also -0 and 0E-5
    # building a Decimal from a tuple and formatting it without a precision are exact
    return format(Decimal((sign, digits, exponent)), "f")


def class_code(index: Mapping[str, int], x: Any, kind: str = "") -> int | None:
    """The code of label ``x`` in a model's class ``index`` (name -> code; ``None``: not a
    class). A bool class matches across file types: Parquet / .npy bools are named ``true``
    / ``false``, while pandas writes them to a CSV as ``True`` / ``False``. Where the model's
    classes are numbers (``kind`` ``int`` / ``float``: ``TaskSpec.class_kind``), a label
    matches the class of equal value, whatever the file: a float column written to a CSV
    by pandas says ``1.0`` for the class ``1``. Many labels: ``class_coder`` (the value map
    built once)."""
    return class_coder(index, kind)(x)


def class_coder(index: Mapping[str, int], kind: str = "") -> Callable[[Any], int | None]:
    """``class_code`` for one class ``index``, its value map built once. Int classes match
    exactly (``decimal.Decimal`` of the label's text, no float on the way): only an exactly
    whole value, and never a float label of magnitude >= 2**53 (a float there may already
    be a neighbouring integer rounded: 2**53 + 1 reads as 2**53)."""
    lowered: dict[str, list[int]] = {}
    for c, i in index.items():
        if c.lower() in ("true", "false"):
            lowered.setdefault(c.lower(), []).append(i)
    by_value = _by_value(index, kind) if kind in ("int", "float") else {}

    def code(x: Any) -> int | None:
        name = _class_name(x)
        if name in index:
            return index[name]
        if isinstance(x, Decimal) and str(x) in index:  # a run before decimals were numbers: "1.50"
            return index[str(x)]
        same = lowered.get(name.lower(), ())
        if len(same) == 1:
            return same[0]
        if by_value:
            value = _numeric(x, kind)
            if value is not None:
                return by_value.get(value)
        return None
    return code


# a number as a CSV cell writes it: 1, -2, 1.0, .5, 1e3 (not "1_000", "inf", "0x1")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EXACT_FLOAT = 2 ** 53  # floats of this magnitude or more are not all integers' neighbours apart


def _numeric(x: Any, kind: str = "float") -> Decimal | float | None:
    """Label ``x`` as a number to look up in ``_by_value(index, kind)``, or None (text, a
    bool, NaN; for ``kind`` ``int``, a float of magnitude >= 2**53). Int classes: an exact
    ``Decimal`` (of the text as written, or of an int / float label); float classes: a float."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        value: Any = int(x)
    elif isinstance(x, (float, np.floating)):
        value = float(x)
        if math.isnan(value) or (kind == "int" and abs(value) >= _EXACT_FLOAT):
            return None
    elif isinstance(x, Decimal):  # a Parquet decimal column's value: exact
        if not x.is_finite():
            return None
        value = x
    elif isinstance(x, str) and _NUMBER_TEXT.fullmatch(x.strip()):
        value = x.strip()
    else:
        return None
    if kind != "int":
        return float(value)
    return Decimal(value)


def _by_value(index: Mapping[str, int], kind: str) -> dict[Any, int]:
    """``index`` keyed by the classes' values: an exact ``Decimal`` for int classes (equal
    values hash alike: ``Decimal('1') == Decimal('1.0')``), a float for float classes."""
    found: dict[Any, int] = {}
    for c, i in index.items():
        try:
            found.setdefault(Decimal(int(c)) if kind == "int" else float(c), i)
        except ValueError:
            continue
    return found


def class_mismatch(x: Any, classes: Sequence[str], kind: str) -> str:
    """Why label ``x`` matches no class of a model whose classes are ``classes`` of ``kind``,
    and how to write the labels so that they do."""
    shown = list(classes[:20]) + (["..."] if len(classes) > 20 else [])
    base = f"label {x!r} is not a class of this model ({shown}"
    if kind in ("int", "float"):
        return (base + f"; its classes are numbers ({kind}), so a label matches the class of equal "
                "value, as 1, 1.0 or 1e0 all match '1')")
    if classes and all(_NUMBER_TEXT.fullmatch(str(c)) for c in classes) and _numeric(x) is not None:
        return (base + "; its classes are text, read from a CSV / TSV labels file as written, so "
                f"a label matches only when written the same way: write {x!r} as the class is "
                f"written, one of {shown})")
    return base + ")"


def _sort_classes(names: set[str]) -> list[str]:
    """Numeric order where every name is a number (ties such as "+0" / "-0" by text), else text order."""
    try:
        return sorted(names, key=lambda c: (float(c), c))
    except ValueError:
        return sorted(names)


def class_names(labels: Labels, token: bool) -> list[str]:
    seen: set[str] = set()
    for v, ok in zip(labels.values, labels.labelled):
        if not ok:
            continue
        items = v if token else [v]
        seen.update(_class_name(x) for x in items if not is_missing(x))
    return _sort_classes(seen)


CASE_VARIANTS = "labels that differ only in letter case"  # how that warning begins


def case_variants_said(classes: Sequence[str], file: str) -> None:
    """Warn where class names differ only in letter case (``Setosa`` / ``setosa``) or in
    Unicode form (a composed ``é`` / ``e`` + combining accent, as macOS file names and some
    editors write it; a full-width ``Ａ`` / ``A``; compared in NFKC): each is its own class (a
    label is matched as written, its surrounding whitespace stripped, its case kept), which
    splits one class in two when a file mixes spellings."""
    groups: dict[str, list[str]] = {}
    for c in classes:
        groups.setdefault(unicodedata.normalize("NFKC", str(c)).casefold(), []).append(str(c))
    twins = [g for g in groups.values() if len(g) > 1]
    if not twins:
        return
    forms = [g for g in twins if len({x.casefold() for x in g}) > 1]  # not letter case alone
    shown = "; ".join(" / ".join(map(_variant, g)) if g in forms else " / ".join(map(repr, g))
                      for g in twins[:5]) + (f" and {len(twins) - 5} more" if len(twins) > 5 else "")
    if not forms:
        warnings.warn(f"{CASE_VARIANTS}: {shown} (in {file}) are separate classes (labels keep their "
                      f"case; only surrounding whitespace is stripped); write them alike if they are "
                      f"one class", stacklevel=3)
        return
    warnings.warn(f"{CASE_VARIANTS} or Unicode form: {shown} (in {file}) are separate classes (labels "
                  f"are matched as written: the same letters in another Unicode form, a composed é "
                  f"or e + a combining accent, a full-width letter, are another class); write them "
                  f"alike if they are one class (unicodedata.normalize('NFC', label) on each, or "
                  f"'NFKC' for full-width letters)", stacklevel=3)


def _variant(label: str) -> str:
    """``label`` as a warning shows it beside a Unicode twin: its repr, with the code points
    spelled out where it holds a character outside ASCII (``'Café' ('Caf\\xe9')``)."""
    return repr(label) if label.isascii() else f"{label!r} ({ascii(label)})"


_INT_TEXT = re.compile(r"0|-?[1-9][0-9]*")  # as str(int) writes it: not "01", "+1", "-0", "1.0"


def class_kind(labels: Labels, classes: list[str], token: bool) -> str:
    """What the labels were, so ``predict`` returns its classes as the caller's labels are
    (``(out["prediction"] == y).mean()`` was 0 for int labels against text '1'): ``bool``,
    ``int`` or ``float`` where every label is one (a float beside ints: ``float``); text
    labels whose classes are all written as ints (a CSV labels file of 0/1) ``int``; else
    ``str``. A kind whose values do not name the classes back (``class_values``) is ``str``."""
    kinds: set[str] = set()
    for v, ok in zip(labels.values, labels.labelled):
        if not ok:
            continue
        for x in (v if token else [v]):
            if is_missing(x):
                continue
            # a decimal (a Parquet decimal128 column) is a number: a float class, named by
            # its value (``_decimal_name``); one a float cannot name back stays text (below)
            kinds.add("bool" if isinstance(x, (bool, np.bool_)) else
                      "int" if isinstance(x, (int, np.integer)) else
                      "float" if isinstance(x, (float, np.floating, Decimal)) else "str")
    kind = kinds.pop() if len(kinds) == 1 else "float" if kinds == {"int", "float"} else "str"
    if kind == "str" and classes and all(_INT_TEXT.fullmatch(c) for c in classes):
        kind = "int"
    try:
        back = [_class_name(x) for x in class_values(classes, kind)]
    except (TypeError, ValueError, KeyError):
        back = None
    return kind if back == list(classes) else "str"


def class_values(classes: Sequence[str], kind: str) -> np.ndarray:
    """The class names ``classes`` as values of ``kind`` (``TaskSpec.class_kind``): int64 /
    float64 / bool, or object text. A run saved before the kind was recorded (``""``) gets
    ints where every class is written as an int ('0', '12', '-3'; not '01' or '1.0'), text
    otherwise: its float and bool labels are not told apart from text, so they stay text."""
    if not kind:
        kind = "int" if classes and all(_INT_TEXT.fullmatch(c) for c in classes) else "str"
    if kind == "int":
        ints = [int(c) for c in classes]
        fits = all(-2**63 <= v < 2**63 for v in ints)  # beyond int64: Python ints
        return np.asarray(ints, dtype=np.int64 if fits else object)
    if kind == "float":
        return np.asarray([float(c) for c in classes], dtype=np.float64)
    if kind == "bool":
        return np.asarray([{"true": True, "false": False}[c.lower()] for c in classes], dtype=bool)
    return np.asarray(list(classes), dtype=object)


def encode_classes(labels: Labels, classes: list[str], token: bool) -> list[np.ndarray] | np.ndarray:
    """Class indices (-1 = unlabelled): ``[N]`` or, for token tasks, one ``[L_i]`` per record."""
    index = {c: i for i, c in enumerate(classes)}

    def code(x: Any) -> int:
        return -1 if is_missing(x) else index.get(_class_name(x), -2)

    if token:
        out = []
        for r, v in enumerate(labels.values):
            arr = np.asarray([code(x) for x in v], dtype=np.int64) if v is not None else np.zeros(0, np.int64)
            if (arr == -2).any():
                raise DataError(f"record {r}: token label not among the classes {classes}", file=labels.file)
            out.append(arr)
        return out
    y = np.asarray([code(v) if ok else -1 for v, ok in zip(labels.values, labels.labelled)], dtype=np.int64)
    bad = np.flatnonzero(y == -2)
    if bad.size:
        raise DataError(f"{labels.where(int(bad[0]))}: label {labels.values[bad[0]]!r} is not one of "
                        f"the classes {classes}", file=labels.file)
    return y


# a number written with a decimal comma, thousands marked with dots or not: 0,5  -1.234,5
_COMMA_DECIMAL = re.compile(r"[-+]?(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+),[0-9]+")


def _comma_said(x: Any) -> str:
    """What a regression label that is no number adds where it reads as one with a decimal
    comma (a German or French spreadsheet's ``0,5``): the labels' numbers take a point."""
    text = str(x).strip()
    if not _COMMA_DECIMAL.fullmatch(text):
        return ""
    point = text.replace(".", "").replace(",", ".")
    return (f" (it reads as {float(point)!r} with a decimal comma; numbers in a labels file are "
            f"written with a decimal point: {point})")


def _number(x: Any, file: str, where: str) -> float:
    if is_missing(x):
        return float("nan")
    if isinstance(x, (bool, np.bool_)):
        return float(x)
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise DataError(f"{where}: regression label {x!r} is not a number{_comma_said(x)}", file=file) from None
    if math.isinf(value):  # NaN means unlabelled; an infinite target has no loss to learn from
        raise DataError(f"{where}: regression label {x!r} is infinite; leave it empty to mark "
                        f"the record unlabelled", file=file)
    return value


def encode_regression(labels: Labels, ids: np.ndarray, token: bool) -> list[np.ndarray] | np.ndarray:
    """Float targets (NaN = missing): ``[N, K]`` or, for token tasks, one ``[L_i, 1]`` per record."""
    if token:
        return [np.asarray([[_number(x, labels.file, f"record {ids[r]!r}")] for x in v], dtype=np.float64)
                if v is not None else np.zeros((0, 1)) for r, v in enumerate(labels.values)]
    k = len(labels.names)
    y = np.full((len(labels.values), k), np.nan)
    for r, (v, ok) in enumerate(zip(labels.values, labels.labelled)):
        if ok:
            row = v if isinstance(v, tuple) else (v,)
            y[r] = [_number(x, labels.file, f"{labels.where(r)} (id {ids[r]!r})") for x in row]
    if k > 1 and labels.labelled.any():
        # a target no record has: its head output would train on nothing and predict noise
        empty = [name for j, name in enumerate(labels.names) if np.isnan(y[labels.labelled, j]).all()]
        if empty:
            raise DataError(f"regression target column {empty[0]!r} has no value in any labelled row; "
                            f"drop it, or choose the targets with task.label_names", file=labels.file)
    return y


def _indicator(x: Any, labels: Labels, r: int) -> float:
    """One multilabel indicator cell: 0 / 1, or true / false as pandas writes a bool column."""
    if isinstance(x, str) and x.strip().lower() in ("true", "false"):
        return float(x.strip().lower() == "true")
    try:
        value = float(x)
    except (TypeError, ValueError):
        value = float("nan")
    if value not in (0.0, 1.0):
        raise DataError(f"{labels.where(r)}: multilabel columns must hold 0/1 (or true/false); got "
                        f"{x!r} in {tuple(labels.values[r])!r}", file=labels.file)
    return value


def encode_multilabel(labels: Labels) -> tuple[np.ndarray, list[str]]:
    """``[N, C]`` 0/1 indicators and the label names (several 0/1 columns, or one column
    of ``;``-separated label names)."""
    from encoderkit.tasks.head_size import check_label_block

    n = len(labels.values)
    if len(labels.names) > 1:
        check_label_block(n, len(labels.names), labels.file)
        y = np.zeros((n, len(labels.names)))
        for r, (v, ok) in enumerate(zip(labels.values, labels.labelled)):
            if ok:
                y[r] = [_indicator(x, labels, r) for x in v]
        return y, list(labels.names)
    sets = [_label_set(v, labels, r) if ok else set()
            for r, (v, ok) in enumerate(zip(labels.values, labels.labelled))]
    _warn_empty_sets(labels)
    names = _sort_classes(set().union(*sets)) if sets else []
    index = {c: i for i, c in enumerate(names)}
    check_label_block(n, len(names), labels.file)
    y = np.zeros((n, len(names)))
    for r, s in enumerate(sets):
        for c in s:
            y[r, index[c]] = 1.0
    return y, names


def _label_set(v: Any, labels: Labels, r: int) -> set[str]:
    """One ``;``-separated multilabel cell -> its label names; ``[]``: the empty set."""
    parts = {s.strip() for s in str(v).split(";") if s.strip()}
    if EMPTY_SET in parts and len(parts) > 1:
        raise DataError(f"{labels.where(r)}: {v!r} holds {EMPTY_SET} (none of the labels) beside "
                        f"labels", file=labels.file)
    return set() if EMPTY_SET in parts else parts


def _warn_empty_sets(labels: Labels) -> None:
    """A ``;`` multilabel file's empty cells are unlabelled, as in every labels file, but a
    tool writing a record's label set joined by ``;`` writes an empty set as an empty cell:
    128 of 800 records then left training and validation without a word. Said aloud, with
    the way to write an empty set."""
    rows = labels.rows
    empty = [r for r in np.flatnonzero(~np.asarray(labels.labelled, dtype=bool))
             if rows is None or rows[r] is not None]  # a record without a row is not a cell
    if empty:
        warnings.warn(f"{labels.file}: {len(empty)} record(s) have an empty multilabel cell (first: "
                      f"{labels.where(int(empty[0]))}): an empty cell means unlabelled (not trained on "
                      f"or scored), not an empty label set; write {EMPTY_SET} for a record with none "
                      f"of the labels (or leave its row out to say unlabelled)", stacklevel=4)


def target_columns(frame, targets: Sequence[str], file: str, names: Sequence[str] | None = None,
                   exclude: Sequence[str] = ()) -> list[str] | None:
    """The columns of a labels ``frame`` holding a regression run's ``targets``, found by
    name: pairing them by position scored a file with its columns reordered (or holding
    ``Pulse`` alone) against the wrong targets, and a file with more columns than the run
    has targets crashed. ``names`` (``evaluate(label_names=...)``): those targets alone,
    scored on their own. Otherwise every target needs a column of its name (a ``DataError``
    names the first without one); other columns (one the run was not trained on with
    ``task.label_names``) are ignored with a warning. A one-target run whose file holds one
    label column (or a ``label`` column) takes it whatever its name, as classification does:
    ``None``, ``align`` picks it."""
    columns = [str(c) for c in frame.columns if str(c) != "id" and str(c) not in exclude]
    targets = [str(t) for t in targets]
    if names:
        names = [str(c) for c in names]
        if len(targets) == 1:
            if len(names) > 1:
                raise UsageError(f"label_names={names}: this run predicts one target "
                                 f"({targets[0]!r}); name one column", key="label_names")
            return names
        unknown = [c for c in names if c not in targets]
        if unknown:
            raise UsageError(f"label_names: {unknown[0]!r} is not a target of this run (its "
                             f"targets: {targets})", key="label_names")
        return names
    if len(targets) == 1 and targets[0] not in columns and (len(columns) == 1 or "label" in columns):
        return None
    missing = [t for t in targets if t not in columns]
    if missing:
        near = [c for c in columns if c.lower() == missing[0].lower()]
        hint = f" ({near[0]!r} differs in case)" if near else ""
        raise DataError(f"no column {missing[0]!r} for the run's target {missing[0]!r}{hint}: targets "
                        f"are matched to columns by name (targets {targets}, columns {columns}); name "
                        f"a column after every target (from Python, evaluate(..., label_names=[...]) "
                        f"scores some of them)", file=file)
    extra = [c for c in columns if c not in targets]
    if extra:
        warnings.warn(f"{file}: column(s) {extra} are not targets of this run (its targets: "
                      f"{targets}): ignored", stacklevel=3)
    return targets
