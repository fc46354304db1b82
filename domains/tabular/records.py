"""A table's rows as records (``TabularDomain.to_records``), each made when it is read.

Why not a list of dicts: a row's record is a dict and three numpy views (about 600 bytes a
row whatever its width, besides its cells), so ``predict`` / ``embed`` on a raw table of
450,000 rows held 0.3 GB of them, a second 0.1 GB where the records were copied, beside the
encoded cells they view. Here only the encoded cells (``schema.Encoded``: 13 bytes a cell)
and the ids are kept; ``records[i]`` is the very dict the list held (the same arrays' rows,
the same id), so whoever reads the records reads the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class TableRecords(Sequence):
    """Records ``{column, cat, num, observed, id}`` of the encoded rows ``enc`` (``Encoded``),
    row ``i`` named ``ids[i]``. ``lazy_records``: tells a reader that this sequence may be kept
    as it is rather than copied into a list (every item is made anew from the cells)."""

    lazy_records = True

    def __init__(self, enc: Any, ids: Sequence[str]) -> None:
        self.enc = enc
        self.ids = list(ids)
        self.column = np.arange(enc.cat.shape[1], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        k = int(i)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(f"record {i} of {len(self)}")
        enc = self.enc
        return {"column": self.column, "cat": enc.cat[k], "num": enc.num[k], "observed": enc.observed[k],
                "id": self.ids[k]}
