"""Fine-tuning a pretrained table encoder on a store: whether the store's schema gives each
pretrained weight the meaning it had (``Domain.pretrained_schema_differences``).

What the embedder indexes by schema position (``layout.py``, ``modules.py``): a column's
identity, missing and numeric (PLE) rows by its place among the columns; a category's row
by its column's offset plus its code (``categories[i]`` has code ``i + 1``); numeric or
categorical by the column's kind; the PLE features by the ``num_bins`` quantile bins. So
these must match: the column names in order, each column's kind, each categorical column's
categories in order, and ``num_bins``. A numeric column's mean, std and quantile edges are
its own data's (the PLE reads a value's place among its column's quantiles, which means the
same on another sample of the table), and the record count, dtypes, frequencies and dropped
columns are not read by any weight: none of them is a difference.
"""

from __future__ import annotations

from typing import Any, Mapping

from encoderkit.domain import order_differences


def pretrained_schema_differences(domain: Any, pretrained: Mapping[str, Any]) -> list[str]:
    """``TabularDomain.pretrained_schema_differences``: columns (missing, new, moved), then
    kinds, then categories, by name."""
    old = (pretrained.get("schema") or {}).get("columns")
    new = domain.schema.get("columns")
    if not isinstance(old, list) or not isinstance(new, list):
        return []
    before = {str(c["name"]): c for c in old}
    now = {str(c["name"]): c for c in new}
    found = order_differences("column", list(before), list(now))
    for name, was in before.items():
        col = now.get(name)
        if col is None:
            continue
        if col.get("kind") != was.get("kind"):
            found.append(f"column {name!r} is {col.get('kind')} in the store, {was.get('kind')} in "
                         f"pretraining")
        elif col.get("kind") == "categorical":
            found += order_differences("category", list(was.get("categories") or []),
                                       list(col.get("categories") or []), of=f" of {name!r}")
    bins, bins_then = domain.schema.get("num_bins"), pretrained["schema"].get("num_bins")
    if None not in (bins, bins_then) and bins != bins_then and any(
            c.get("kind") == "numeric" for c in new):
        found.append(f"numeric columns are cut into num_bins={bins} quantile bins in the store, "
                     f"{bins_then} in pretraining")
    return found
