"""The index arrays a table's schema gives the embedder, the head and the domain: numpy
only, so that the domain class loads without torch (``encoderkit infill --help``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class TableLayout:
    """Index arrays derived from the schema, shared by embedder, head and domain."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        cols = schema["columns"]
        self.num_columns = c = len(cols)
        self.num_bins = b = max([len(col["edges"]) - 1 for col in cols if col["kind"] == "numeric"] or [1])
        self.is_numeric = np.array([col["kind"] == "numeric" for col in cols], dtype=bool)
        # categorical: flat table; column j owns rows offset[j] .. offset[j]+K_j (row offset[j] = unknown)
        sizes = np.array([len(col["categories"]) + 1 if col["kind"] == "categorical" else 0
                          for col in cols], dtype=np.int64)
        self.cat_sizes = sizes
        self.cat_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.num_cat_rows = int(sizes.sum()) + 1  # + one shared row numeric cells index (never used as value)
        self.cat_pad_row = self.num_cat_rows - 1
        self.max_categories = int(max(sizes.max(initial=0) - 1, 1))  # known categories, unknown excluded
        # bin edges padded to [C, B + 1] by repeating the last edge (padded bins are invalid)
        edges = np.zeros((c, b + 1), dtype=np.float32)
        valid = np.zeros((c, b), dtype=bool)
        for j, col in enumerate(cols):
            if col["kind"] == "numeric":
                e = np.asarray(col["edges"], dtype=np.float32)
                edges[j, : e.size] = e
                edges[j, e.size:] = e[-1]
                valid[j, : e.size - 1] = True
        self.edges, self.bin_valid = edges, valid
        # categorical target gather: [C, Kmax] flat rows of the known categories of column j
        kmax = self.max_categories
        index = np.full((c, kmax), self.cat_pad_row, dtype=np.int64)
        cvalid = np.zeros((c, kmax), dtype=bool)
        for j in range(c):
            k = int(sizes[j]) - 1
            if k > 0:
                index[j, :k] = self.cat_offset[j] + 1 + np.arange(k)
                cvalid[j, :k] = True
        self.cat_index, self.cat_valid = index, cvalid
