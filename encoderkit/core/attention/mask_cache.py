"""``MaskCache``: attention masks kept for later batches, bounded by count and by bytes.

The ``sdpa`` backend's masks depend only on a key of lengths, window, dtype and device. A
batch's own layers share them through its plan; this cache serves later batches with the
same key (a validation set scored each ``eval_every``, the same sequence length again).
Bounded by entry count alone it held ~330 MB of masks in a service embedding ragged sets
(each group's key names its members' lengths, so almost none repeated; RSS rose 630 -> 998
MB over 300 calls). Here the bytes held are bounded too, and a mask larger than a quarter of
that budget is not kept: one such mask pushed out most of the others for a single use.

One cache serves every thread of a process (a web service's request threads): each read or
change of the ordered dict is done under a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from torch import Tensor


def mask_bytes(mask: Tensor | None) -> int:
    """Bytes a cached mask holds (``None``: a unit that needs no mask, nothing)."""
    return 0 if mask is None else mask.numel() * mask.element_size()


class MaskCache:
    """A least-recently-used map of key -> mask (or ``None``), at most ``max_entries`` keys
    and ``max_bytes`` of masks; ``hits`` and ``misses`` count ``get`` calls."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, Tensor | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> tuple[bool, Tensor | None]:
        """(whether ``key`` is cached, its mask): a found key becomes the most recent."""
        with self._lock:
            if key not in self._items:
                self.misses += 1
                return False, None
            self.hits += 1
            self._items.move_to_end(key)
            return True, self._items[key]

    def put(self, key: Hashable, mask: Tensor | None) -> None:
        """Keep ``mask`` under ``key`` (the most recent), dropping the least recent ones past
        either bound; a mask over a quarter of ``max_bytes`` is not kept."""
        size = mask_bytes(mask)
        if size > self.max_bytes // 4:
            return
        with self._lock:
            self._bytes -= mask_bytes(self._items.pop(key, None))  # a key put again: replaced
            self._items[key] = mask
            self._bytes += size
            while self._items and (len(self._items) > self.max_entries or self._bytes > self.max_bytes):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= mask_bytes(dropped)

    @property
    def nbytes(self) -> int:
        """Bytes of the masks held now."""
        with self._lock:
            return self._bytes

    def values(self) -> list[Tensor | None]:
        """The masks held now (a copy: safe while other threads add and drop)."""
        with self._lock:
            return list(self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items
