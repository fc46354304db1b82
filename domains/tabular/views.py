"""SCARF views of a table row (Bahri et al. 2022, "SCARF: Self-Supervised Contrastive
Learning using Random Feature Corruption").

As in SCARF, the first view is the row itself and the second replaces a random subset
of its observed cells, each with probability ``CORRUPTION`` = 0.6, by a draw from that
column's marginal. 0.6 is SCARF's default: its ablation over rates 0.1-0.9 found 0.5-0.7
best across the 69 OpenML classification sets, and we keep it rather than tuning it
per dataset. A missing cell stays missing (its marginal draw would invent a value);
the rate therefore applies to observed cells.

The marginal comes from the store schema, i.e. from the training split: categorical
columns draw a category with its training ``frequencies``; numeric columns draw by
inverse CDF from the ``num_bins + 1`` training ``quantiles`` (ties kept, so a point
mass such as many zeros keeps its weight), linear between quantiles, and round to
an integer in the column's units when every training value was integral. Schemas
written before those keys existed fall back to uniform categories and equal-mass bins
between the ``edges``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from encoderkit.domain import Example

if TYPE_CHECKING:
    from .domain import TabularDomain

CORRUPTION = 0.6


@dataclass(frozen=True)
class ColumnMarginal:
    """What is needed to draw one column's cells: categorical probabilities over codes
    1..K, or numeric quantiles of the normalised values."""

    numeric: bool
    probs: np.ndarray | None = None  # [K] for codes 1..K
    quantiles: np.ndarray | None = None  # [B + 1] at probabilities 0, 1/B, .., 1
    mean: float = 0.0
    std: float = 1.0
    integer: bool = False

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` values: int64 codes (categorical) or float32 normalised values (numeric)."""
        if not self.numeric:
            return 1 + rng.choice(len(self.probs), size=n, p=self.probs).astype(np.int64)
        q = self.quantiles
        u = rng.random(n) * (q.size - 1)
        k = np.minimum(u.astype(np.int64), q.size - 2)
        z = q[k] + (u - k) * (q[k + 1] - q[k])
        if self.integer:  # round in the column's units, as the data would be
            z = (np.round(z * self.std + self.mean) - self.mean) / self.std
        return z.astype(np.float32)


def column_marginals(columns: Sequence[Mapping[str, Any]]) -> list[ColumnMarginal]:
    out = []
    for col in columns:
        if col["kind"] == "numeric":
            q = col.get("quantiles")
            if q is None:  # older schema: equal mass between consecutive edges
                q = col["edges"]
            out.append(ColumnMarginal(True, quantiles=np.asarray(q, dtype=np.float64),
                                      mean=float(col["mean"]), std=float(col["std"]),
                                      integer=bool(col.get("integer") and not col.get("datetime"))))
        else:
            k = len(col["categories"])
            p = np.asarray(col.get("frequencies") or np.ones(k), dtype=np.float64)
            out.append(ColumnMarginal(False, probs=p / p.sum() if k else p))
    return out


def scarf_corrupt(example: Example, marginals: Sequence[ColumnMarginal], rng: np.random.Generator,
                  rate: float = CORRUPTION) -> tuple[Example, np.ndarray]:
    """The row with each observed cell replaced, with probability ``rate``, by a draw from
    its column's marginal; also returns the replaced-cell mask ``[L]``."""
    f = example.fields
    chosen = f["observed"] & (rng.random(len(example)) < rate)
    cat, num = f["cat"].copy(), f["num"].copy()
    for j in np.unique(f["column"][chosen]):
        rows = np.flatnonzero(chosen & (f["column"] == j))
        m = marginals[int(j)]
        if m.numeric:
            num[rows] = m.draw(rows.size, rng)
        elif m.probs.size and rows.size:
            cat[rows] = m.draw(rows.size, rng)
    view = Example(fields={**f, "cat": cat, "num": num}, positions=example.positions,
                   record=example.record, window=example.window, start=example.start,
                   context=example.context)
    return view, chosen


def tabular_views(domain: "TabularDomain", example: Example, rng: np.random.Generator,
                  rate: float = CORRUPTION) -> tuple[Example, Example]:
    """(the row, its SCARF corruption)."""
    marginals = domain.__dict__.get("_view_marginals")
    if marginals is None:  # built once per domain: the schema does not change
        marginals = domain.__dict__["_view_marginals"] = column_marginals(domain.columns)
    return example, scarf_corrupt(example, marginals, rng, rate)[0]
