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
    """The channel names of the first named file read; ``match`` lays each later file's
    series with those channels out in them."""

    def __init__(self, names: Sequence[str] | None = None, source: str | None = None) -> None:
        """``names``: the order to keep from the start (a store appended to, ``source``)."""
        self.names: tuple[str, ...] | None = tuple(map(str, names)) if names else None
        self.source = source

    def match(self, series: Sequence[Series], path: str) -> str | None:
        """Reorder ``series`` (one file's, all with the same names) in place to the first
        named file's channel order when they hold the same channels; otherwise return a
        warning when a channel of both sits at another position (None when nothing to say)."""
        named = [s for s in series if s.channel_names]
        if not named:
            return None
        here = tuple(map(str, named[0].channel_names))
        if self.names is None:
            self.names, self.source = here, path
            return None
        if here == self.names:
            return None
        if len(here) != len(self.names) or set(here) != set(self.names):
            moved = [n for n in here if n in self.names and here.index(n) != self.names.index(n)]
            if not moved:
                return None
            n = moved[0]
            return (f"{path}: channel {n!r} is channel {here.index(n)} of its {len(here)} ({list(here)[:10]}) "
                    f"but channel {self.names.index(n)} of {self.source}'s {len(self.names)} "
                    f"({list(self.names)[:10]}); files with other channels are stored by position, so "
                    f"a model reads it as another channel there (give the files the same channels, "
                    f"channels=[...] picks them by name, to have them matched)")
        take = np.array([here.index(n) for n in self.names])
        for s in named:
            s.values = s.values[take]
            s.channel_names = list(self.names)
        return None

def refuse_channel_orders(schemas: Sequence[Mapping[str, Any]]) -> None:
    """Files ingested apart (``workers=N``) are parsed before any is matched to another: two
    that name the same channels in another order are refused in those words (their records
    are written already), where ``merge_counts`` said only that the schemas differ."""
    named = [tuple(map(str, s["channel_names"])) for s in schemas if s.get("channel_names")]
    for here in named[1:]:
        if here != named[0] and sorted(here) == sorted(named[0]):
            raise DataError(f"the files write their channels in other orders ({list(named[0])[:10]} "
                            f"and {list(here)[:10]}); ingest them with workers=1, which lays every "
                            f"file's channels out in the first file's order")
