"""Fine-tuning a pretrained set encoder on a store: whether the store's schema gives each
pretrained weight the meaning it had (``Domain.pretrained_schema_differences``).

What the embedder and head index by schema position (``modules.py``): an item's embedding row
by its token id (the special tokens, then ``vocab`` in its order: most frequent first, so
the same items counted otherwise are numbered otherwise); the feature projections' columns by
the order of ``feature_names``; with coordinates used (``use_coordinates``), the rotary axes
and the offset projection by the order of ``coord_names``. So these must match: the specials,
whether elements carry items, the vocabulary in order, the feature names in order and, where
used, the coordinate names in order. The feature means and stds normalise each sample by its
own statistics, and the set counts and sizes only describe the data: no difference.
"""

from __future__ import annotations

from typing import Any, Mapping

from encoderkit.domain import order_differences


def pretrained_schema_differences(domain: Any, pretrained: Mapping[str, Any]) -> list[str]:
    """``SetsDomain.pretrained_schema_differences``: items, features, coordinates, by name."""
    before, now = pretrained.get("schema") or {}, domain.schema
    if "vocab" not in before or "feature_names" not in before:
        return []
    found: list[str] = []
    if list(before.get("specials") or []) != list(now.get("specials") or []):
        found.append(f"the special tokens are {now.get('specials')} in the store, "
                     f"{before.get('specials')} in pretraining")
    if bool(before.get("has_ids")) != bool(now.get("has_ids")):
        found.append("the store's elements carry " + (
            f"items (column {now.get('id_column')!r}), the pretraining data's none" if now.get("has_ids")
            else f"no items, the pretraining data's did (column {before.get('id_column')!r})"))
    elif now.get("has_ids"):
        found += order_differences("item", list(before["vocab"]), list(now.get("vocab") or []),
                                   where="the store's vocabulary")
    found += order_differences("feature", list(before["feature_names"]),
                               list(now.get("feature_names") or []))
    if domain.options.get("use_coordinates"):  # unused coordinates index no weight
        found += order_differences("coordinate", list(before.get("coord_names") or []),
                                   list(now.get("coord_names") or []))
    return found
