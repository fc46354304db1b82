"""Codes written as decimal numbers: ``3.1``, ``3.10``, ``3.9`` (versions, chapter and
section numbers, ICD-style codes). Read as numbers, ``3.1`` and ``3.10`` were one value and
a hole was filled with ``3.847``, a version nobody released. A column whose cells are
decimal numbers, two of them spellings of one number apart only by trailing zeros of the
fraction (``3.1`` / ``3.10``, ``2.5`` / ``2.50``; same sign, same whole part), each value
repeated as category codes are, is read as text and its categories: as the
leading-zero codes (``02139``) already are. ``columns={name: numeric}`` reads it as numbers."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from encoderkit.overrides import option_word

_DECIMAL_DIGITS = frozenset("0123456789")
# a column of codes is seen this many times a value on average, with at most so many values
CODE_REPEATS, MAX_CODES = 5, 64


def _decimal(text: str) -> tuple[str, str, str] | None:
    """``3.10``, ``-0.5`` (digits, a point, digits) as its sign, whole part and fraction as
    written (``("-", "0", "5")``); None for any other text."""
    sign, body = (text[:1], text[1:]) if text.startswith(("+", "-")) else ("", text)
    whole, point, frac = body.partition(".")
    if point and whole and frac and set(whole) <= _DECIMAL_DIGITS and set(frac) <= _DECIMAL_DIGITS:
        return sign, whole, frac
    return None


def collapsing(cells: Iterable[str]) -> tuple[str, str] | None:
    """Two spellings among ``cells`` (a column's non-empty texts) of one number, when every
    cell is a decimal number and the values repeat as codes (``CODE_REPEATS``, ``MAX_CODES``);
    else None."""
    return collapsing_counts(Counter(c.strip() for c in cells))


def collapsing_counts(given: Mapping[str, int]) -> tuple[str, str] | None:
    """``collapsing`` of the texts ``given`` with how often each occurs."""
    counts = Counter()
    for text, n in given.items():
        counts[str(text).strip()] += int(n)
    counts.pop("", None)
    total = sum(counts.values())
    if not counts or len(counts) > MAX_CODES or total < CODE_REPEATS * len(counts):
        return None
    parts = {text: _decimal(text) for text in counts}
    if any(p is None for p in parts.values()):
        return None
    # the same sign and whole part, fractions apart only by trailing zeros (3.1 / 3.10): how
    # versions and section numbers differ. -0.0 / 0.0 (pandas writes a rounded negative so)
    # and 1 / 1.0 are one number written by a program, no codes
    seen: dict[tuple[str, str, str], str] = {}
    for text in sorted(counts):
        sign, whole, frac = parts[text]
        first = seen.setdefault((sign, whole, frac.rstrip("0")), text)
        if first != text:
            return first, text
    return None


def codes_message(name: str, pair: tuple[str, str]) -> str:
    return (f"column {name!r}: {pair[0]!r} and {pair[1]!r} are one number but two values: read as "
            f"codes (categories, filled with values seen); {option_word('columns', {name: 'numeric'})} "
            f"reads it as numbers")
