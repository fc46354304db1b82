"""Saying how a store's schema orders names differently from a checkpoint's, for
``Domain.pretrained_schema_differences`` (fine-tuning from a checkpoint on another store:
a weight indexed by schema position must keep its meaning)."""

from __future__ import annotations

from typing import Any, Sequence


def order_differences(what: str, pretrained: Sequence[Any], now: Sequence[Any], of: str = "",
                      where: str = "the store") -> list[str]:
    """How the names ``now`` (indexed as ``where`` indexes them) differ from ``pretrained``
    (the checkpoint's), for ``Domain.pretrained_schema_differences``: names missing, then new
    ones, then those at another place (``what``: "column", "category", ...; ``of``: " of 'x'")."""
    at = {v: i for i, v in enumerate(now)}
    was = {v: i for i, v in enumerate(pretrained)}
    return ([f"{what} {v!r}{of} ({_nth(i)} in pretraining) is not in {where}"
             for v, i in was.items() if v not in at]
            + [f"{what} {v!r}{of} is new ({_nth(j)} in {where})" for v, j in at.items() if v not in was]
            + [f"{what} {v!r}{of} is {_nth(at[v])} in {where}, {_nth(i)} in pretraining"
               for v, i in was.items() if v in at and at[v] != i])


def _nth(i: int) -> str:
    """0-based index -> "1st", "2nd", "3rd", "11th", ..."""
    n = i + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
