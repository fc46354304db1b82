"""Numbers and dates written as text for people, in forms the readers do not take for
numbers or dates (``1 249,80``, ``45%``, ``(0.34)``, ``31.12.2020``): a column of them is read
as categories, and ingest says how to write them so that they are read as numbers or dates.
Used by the table schema (``domains.tabular.schema.infer_schema``) and the time-series
reader (``domains.timeseries.marks``): domain-free text parsing, so it lives here, where every
domain can import it without importing another domain."""

from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np
import pandas as pd


# A number written for people, once its signs and units are gone (``_number_form``): digits
# grouped in threes by a thousands mark (a comma, a point, an apostrophe as in Swiss 1'234, an
# underscore, or any space: Python's ``\s`` takes U+00A0 and U+202F, the no-break spaces
# French Excel writes, which pyarrow's regex ``\s`` in pandas' ``str.replace`` does not),
# then a decimal point or comma, then an exponent.
_NUMBER_TEXT = re.compile(r"[-+]?(?:\d{1,3}(?P<mark>[,.'’_\s])\d{3}(?:(?P=mark)\d{3})*|\d*)"
                          r"(?:(?P<decimal>[.,])\d+)?(?:[eE][-+]?\d+)?")
_UNITS = re.compile(r"[%$€£¥₹]")
# minus signs besides "-": U+2212 (the typeset minus), U+2012 figure dash, U+2013 en dash,
# U+FE63 small and U+FF0D full-width hyphen-minus
_MINUS = str.maketrans(dict.fromkeys("\u2212\u2012\u2013\ufe63\uff0d", "-"))
# full-width forms (U+FF01..U+FF5E: ０..９, ．, ，, ％, －), what a Japanese, Chinese or Korean
# input method types, as their ASCII characters, and the ideographic space as a space. Only
# these: NFKC would also read ² as 2 and ½ as 1⁄2
_WIDE = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}, 0x3000: 0x20}


def ascii_width(text: str) -> str:
    """``text`` with its full-width characters (``２２９．６``, ``１５％``) as ASCII ones."""
    return text.translate(_WIDE)


def wide_text(s: pd.Series) -> bool:
    """Whether the text column ``s`` has a cell with a full-width character (``ascii_width``)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or \
            isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.infer_dtype(s, skipna=True) != "string":
        return False
    return bool(s.str.contains("[\uff01-\uff5e\u3000]", regex=True).fillna(False).any())


def _number_form(text: str) -> tuple[str, bool] | None:
    """How the text cell ``text`` writes a number, or None if it is none: ``(marks, signs)``,
    ``marks`` one of ``"plain"`` (``2.5``, ``-3``, ``1e5``, as readers take them),
    ``"thousands"`` (``1,234.5``, ``1.249,80``, ``1 249,80``, ``1'234``), ``"comma?"``
    (``12,345``: a thousands comma or a decimal one) or ``"comma"`` (a decimal comma alone:
    ``2,25``); ``signs``: a sign, unit or character readers do not take (``−0.5`` with
    U+2212, the accounting negative ``(0.34)``, ``45%``, ``$3.50``, full-width digits
    ``１５``)."""
    form = _wide_form(text)
    return None if form is None else (form[0], form[1] or form[2])


def _wide_form(text: str) -> tuple[str, bool, bool] | None:
    """``_number_form`` of ``text``, its signs apart from whether it is written with
    full-width characters (``２２９．６``): ``(marks, signs, wide)``."""
    t = text.strip()
    wide = ascii_width(t)
    t, wide = wide.strip(), wide != t
    signs = False
    if len(t) > 2 and t[0] == "(" and t[-1] == ")":  # accounting: (1,234.00) is -1234
        t, signs = "-" + t[1:-1].strip(), True
    bare = _UNITS.sub("", t.translate(_MINUS)).strip()
    signs = signs or bare != t
    # startswith, not ``bare[:1] in "-+"``: "" is in every string, and a cell of only blanks or
    # a unit ("", "%", "$") left bare empty, so bare[0] raised IndexError
    bare = bare[0] + bare[1:].lstrip() if bare.startswith(("-", "+")) else bare  # "- 5", "-$5" -> "-5"
    m = _NUMBER_TEXT.fullmatch(bare)
    if m is None or not any(c.isdigit() for c in bare):
        return None
    mark, decimal = m["mark"], m["decimal"]
    if mark is not None and mark == decimal:  # 1,234,5: no number
        return None
    if mark is not None and (decimal is not None or bare.count(mark) > 1 or mark not in ",."):
        return "thousands", signs, wide
    if mark == ",":
        return "comma?", signs, wide
    # a lone point mark (1.234) is a decimal point (``thousands_points`` says where a column
    # shows it to be a thousands mark)
    return ("comma" if decimal == "," else "plain"), signs, wide


def _formatted_numbers(values: Any, share: float) -> bool:
    """Text such as ``12,345``, ``1 249,80`` (no-break spaces), ``45%``, ``$3.50``, ``−0.5``
    (U+2212), ``(1,234.00)``: numbers once separators and signs go (``_number_form``). Not a
    column of plain numbers as text (codes such as ``01``, ``02``): nothing to strip there."""
    text = [v for v in values if isinstance(v, str)]
    if not text or len(text) < len(values):
        return False
    forms = [f for f in map(_number_form, text) if f is not None]
    return bool(len(forms) >= share * len(text) and any(f != ("plain", False) for f in forms))


def _number_advice(values: Any) -> tuple[str, str]:
    """For a column that ``_formatted_numbers`` takes: an example cell that is not plain, and
    what to do so that its numbers are read, which depends on how they are written: the
    option decimal=',' reads a decimal comma, never a thousands mark (``1.249,80`` stays
    text)."""
    forms = {v: f for v in values if isinstance(v, str) and (f := _wide_form(v)) is not None}
    marks = {m for m, _, _ in forms.values()}
    signs = any(s for _, s, _ in forms.values())
    wide = next((v for v, (_, _, w) in forms.items() if w), None)
    example = next((v for kind in ("thousands", "comma?", "comma", "plain")
                    for v, (m, s, w) in forms.items() if m == kind and (s or w or m != "plain")), "")
    steps = []
    if wide is not None:
        steps.append(f"write the digits and marks as ASCII ones ({ascii_width(wide).strip()} for {wide.strip()})")
    if "thousands" in marks:
        steps.append("remove the thousands marks (decimal=',' does not read them)")
    elif "comma?" in marks and "comma" not in marks:
        steps.append("remove the thousands commas (12,345 for 12345)")
    if signs:
        steps.append("write signs and units plainly (-0.5 for −0.5 or (0.5), 45 for 45%, 3.50 for $3.50)")
    if "comma" in marks or (marks & {"thousands", "comma?"} and re.search(r",\d+$", example)):
        steps.append("for a decimal comma, use the ingest option decimal=','")
    return example, "; ".join(steps)


# Whole numbers with points as thousands marks, as a German, Danish or Italian spreadsheet
# writes them (27.004, 1.234.567), beside whole numbers below 1000 that need no mark (809)
_POINT_GROUPED = re.compile(r"[-+]?[1-9]\d{0,2}(?:\.\d{3})+")
_BELOW_1000 = re.compile(r"[-+]?\d{1,3}")
# this many distinct grouped cells at least: decimals written with three digits each, as
# their shortest text, drop a trailing zero one time in ten (5.15 for 5.150), and whole
# numbers are rare among them, so a column of decimals passes with only a few cells
MIN_GROUPED = 3


class PointedCells(tuple):
    """``(grouped, whole)``: a cell written with points and one without, as
    ``thousands_points`` finds them; ``several``: a cell of two point groups or more
    (``1.204.331``, which no decimal is) where the column holds one, else None."""

    several: str | None

    def __new__(cls, grouped: str, whole: str, several: str | None = None) -> "PointedCells":
        pair = super().__new__(cls, (grouped, whole))
        pair.several = several
        return pair


def thousands_points(texts: Iterable[Any]) -> PointedCells | None:
    """A cell written with points and one without (``("27.004", "809")``) when the cells
    ``texts`` (a column's, as written; empty ones are skipped) can be whole numbers with
    points as thousands marks: each either digits grouped in threes by points (``27.004``,
    led by no zero) or a whole number below 1000 (``809``), at least ``MIN_GROUPED`` distinct
    ones of the first kind and one of the second. Read with a decimal point, ``27.004`` and
    ``5.152`` are 27 and 5 beside 809, and the column's order is scrambled. Else None.

    None only where thousands are impossible, as a missed warning is a silent wrong
    result: a pointed cell led by ``0`` or by 4+ digits (``0.125``, ``1234.567``), a point
    group not of exactly 3 digits (``2.5``), a whole number of 4+ digits without a point
    (``1250``: a writer of thousands points writes ``1.250``), or a negative zero (``-0``:
    a rounded measurement, never a count). Measurements of three decimals beside whole
    ones (``1.125``, ``3``, ``4.500``) can be counts too: said as a possibility
    (``thousands_message``), unless a cell of several groups (``1.204.331``) settles it."""
    grouped: dict[str, None] = {}
    wholes: list[str] = []
    for v in texts:
        c = str(v).strip() if v is not None else ""
        if not c:
            continue
        if _POINT_GROUPED.fullmatch(c):
            grouped.setdefault(c)
        elif _BELOW_1000.fullmatch(c):
            if c.startswith("-") and int(c) == 0:
                return None
            wholes.append(c)
        else:
            return None
    if not wholes or len(grouped) < MIN_GROUPED:
        return None
    return PointedCells(next(iter(grouped)), wholes[0], next((c for c in grouped if c.count(".") > 1), None))


def point_candidates(values: np.ndarray) -> bool:
    """Whether the float64 ``values`` (a column read with a decimal point) can be such a
    column (``thousands_points``), so its text is worth a look: each one whole below 1000,
    or at least 1 with at most three decimals, and at least one of each kind."""
    v = np.abs(values[~np.isnan(values)])
    if v.size == 0 or np.any(v >= 1000):
        return False
    whole = v == np.floor(v)
    with np.errstate(invalid="ignore", over="ignore"):
        three = np.abs(v * 1000 - np.round(v * 1000)) < 1e-6 * np.maximum(v, 1)
    return bool(whole.any() and (~whole).any() and np.all(whole | ((v >= 1) & three)))


def thousands_message(name: str, pair: tuple[str, str]) -> str:
    """What a reader says of the column ``name`` that ``thousands_points`` takes (``pair``):
    that its points are thousands marks where a cell of several groups settles it
    (``PointedCells.several``), else that they could be (decimals of three digits beside
    whole numbers are read as written, and may be right)."""
    grouped, whole = pair
    count = int(grouped.replace(".", ""))
    several = getattr(pair, "several", None)
    if several:
        return (f"column {name!r} holds whole numbers with points as thousands marks, as German "
                f"spreadsheets write them ({several!r} has several groups, which no decimal has), "
                f"read as decimals: {grouped!r} as {float(grouped):g} beside {int(whole)}, not "
                f"{count}; remove the thousands marks (decimal=',' does not read them): read as "
                f"decimals, the column's order is scrambled and its fills wrong")
    return (f"column {name!r} holds numbers such as {grouped!r} beside {whole!r}, read as "
            f"decimals ({float(grouped):g} beside {int(whole)}), but its points could be thousands "
            f"marks ({grouped} = {count}, as German spreadsheets write whole numbers): if so, "
            f"remove the thousands marks (decimal=',' does not read them), since read as decimals "
            f"the column's order is scrambled and its fills wrong; if they are decimals, nothing "
            f"to do")


# A date written as text in a form the readers do not take for a date (they take ISO 8601:
# 2020-12-31): 31.12.2020, 12/31/2020, 31-12-20, 2020/12/31, 31 Dec 2020, Dec 31, 2020, each
# with an optional time of day; 2020年12月31日 (Japanese, Chinese), 2020년 12월 31일 (Korean).
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_TIME_OF_DAY = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[ap]\.?m\.?)?\s*(?:z|[-+]\d{2}:?\d{2})?)?"
_DATE_TEXT = re.compile(rf"(?:(?P<a>\d{{1,2}})(?P<s>[./-])(?P<b>\d{{1,2}})(?P=s)(?:\d{{4}}|\d{{2}})"
                        rf"|\d{{4}}(?P<t>[./-])\d{{1,2}}(?P=t)\d{{1,2}}"
                        rf"|\d{{1,2}}[ -]?{_MONTH}[ -]?,?\s*\d{{2,4}}"
                        rf"|{_MONTH}\s*\d{{1,2}}(?:st|nd|rd|th)?,?\s*\d{{4}}"
                        rf"|\d{{4}}\s*[年년]\s*\d{{1,2}}\s*[月월]\s*\d{{1,2}}\s*[日일]){_TIME_OF_DAY}",
                        re.IGNORECASE)


def _is_date_text(text: str) -> bool:
    m = _DATE_TEXT.fullmatch(text.strip())
    if m is None:
        return False
    if m["a"] is None:
        return True
    a, b = int(m["a"]), int(m["b"])  # day and month, in either order
    return 1 <= a <= 31 and 1 <= b <= 31 and min(a, b) <= 12


def _text_dates(values: Any, share: float) -> bool:
    """Whether the text ``values`` are dates (at least ``share`` of them; ``_is_date_text``)
    in a form that was not read as dates: ``31.12.2020``, ``12/31/2020``, ``31 Dec 2020``."""
    text = [v for v in values if isinstance(v, str)]
    if not text or len(text) < len(values):
        return False
    return bool(sum(map(_is_date_text, text)) >= share * len(text))
