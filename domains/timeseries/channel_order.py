"""The channels of the files one ``ingest`` reads, matched by name.

A wide table's channels are its number columns, in the order the file writes them; a long
table's are its ``channel_column`` values, in the order they first appear. A store holds a
series as ``[C, L]`` with no names, so channel k of every record must be one channel: two
files that wrote the same channels in another order were stored with them swapped (channel 0
was 'a' in one file's series and 'b' in the other's), and every model trained on the store
mixed them without a word. The first named file now sets the order, and a later file with
the same channels in another order is laid out in it. Files with other channels (a collection
of datasets pretrained on together: one channel here, three there) stay by position, as
before; a channel name both write at different positions is warned of, as it is more likely a
mistake than a collection.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from encoderkit.errors import DataError

from domains.timeseries.io import Series


class ChannelOrder:
    """The channel order of the first file read with each set of channel names; ``match``
    lays each later file with the same channels out in it (a collection may hold files of
    several sets: one channel here, ``a, b`` there, ``b, a`` in a third)."""

    def __init__(self, names: Sequence[str] | None = None, source: str | None = None) -> None:
        """``names``: an order to keep from the start (a store appended to, ``source``)."""
        self.orders: dict[frozenset[str], tuple[tuple[str, ...], str]] = {}
        if names:
            first = tuple(map(str, names))
            self.orders[frozenset(first)] = (first, str(source))

    def match(self, series: Sequence[Series], path: str) -> str | None:
        """Reorder ``series`` (one file's, all with the same names) in place to the order of
        the first file read with the same channels; for a new set of channels, return a
        warning when a channel it shares with an earlier set sits at another position
        (None when nothing to say)."""
        named = [s for s in series if s.channel_names]
        if not named:
            return None
        here = tuple(map(str, named[0].channel_names))
        key = frozenset(here)
        if key in self.orders and len(key) == len(here):
            first, _ = self.orders[key]
            if here != first:
                take = np.array([here.index(n) for n in first])
                for s in named:
                    s.values = s.values[take]
                    s.channel_names = list(first)
            return None
        said = None
        for first, source in self.orders.values():
            moved = [n for n in here if n in first and here.index(n) != first.index(n)]
            if moved:
                n = moved[0]
                said = (f"{path}: channel {n!r} is channel {here.index(n)} of its {len(here)} "
                        f"({list(here)[:10]}) but channel {first.index(n)} of {source}'s {len(first)} "
                        f"({list(first)[:10]}); files with other channels are stored by position, so a "
                        f"model reads it as another channel there (to have them matched by name, give "
                        f"the files the same channels: channels=[...] naming the ones every file has "
                        f"keeps only those)")
                break
        self.orders.setdefault(key, (here, path))
        return said


def refuse_channel_orders(schemas: Sequence[Mapping[str, Any]]) -> None:
    """Files ingested apart (``workers=N``) are parsed before any is matched to another: two
    that name the same channels in another order are refused in those words (their records
    are written already), where ``merge_counts`` said only that the schemas differ."""
    named = [tuple(map(str, s["channel_names"])) for s in schemas if s.get("channel_names")]
    for k, here in enumerate(named):
        for before in named[:k]:
            if here != before and sorted(here) == sorted(before):
                raise DataError(f"the files write their channels in other orders ({list(before)[:10]} "
                                f"and {list(here)[:10]}); ingest them with workers=1, which lays every "
                                f"file's channels out in the order of the first file with them")


def merged_channel_names(schemas: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The channel names of parts ingested apart (``workers=N``, ``append=true``): kept when
    every part names the same channels in the same order, as a serial ingest of the files
    records them; else none (a collection of other channels, or a store from before
    channel names were recorded), as a serial ingest records none."""
    names = [s.get("channel_names") for s in schemas]
    if names and all(names) and all(list(n) == list(names[0]) for n in names):
        return list(names[0])
    return None
