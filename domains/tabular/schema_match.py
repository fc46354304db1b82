"""Fine-tuning a pretrained table encoder on a store: whether the store's schema gives each
pretrained weight the meaning it had (``Domain.pretrained_schema_differences``); and how the
schemas of two files ingested apart differ (``schema_differences``, for ``ingest workers=N``).

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

import unicodedata
from typing import Any, Mapping, Sequence

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


def unicode_twins_said(absent: Sequence[str], given: Sequence[str]) -> str:
    """What to add to the warning that names the model's columns ``absent`` from a table whose
    columns are ``given``: those given under the same name in another Unicode form (a header
    written decomposed, ``o`` + a combining diaeresis, as macOS and some editors write it, or
    in full-width letters; equal in NFKC). They are not matched for the user: a name is
    matched as written, and two forms may be two columns; the message says which and how to
    rename them. "" where there is none."""
    forms = {unicodedata.normalize("NFKC", str(g)): str(g) for g in given}
    twins = [(a, forms[key]) for a in absent if (key := unicodedata.normalize("NFKC", str(a))) in forms]
    if not twins:
        return ""
    shown = ", ".join(f"{a!r} as {ascii(g)} (the model's: {ascii(a)})" for a, g in twins[:5]) + (
        f" and {len(twins) - 5} more" if len(twins) > 5 else "")
    return (f"; {len(twins)} of them {'is' if len(twins) == 1 else 'are'} in the table under the same name "
            f"in another Unicode form "
            f"(composed / decomposed accents or full-width letters), not matched since names are "
            f"matched as written: {shown}; rename those columns to the model's spelling (for "
            f"decomposed accents: df.columns = [unicodedata.normalize('NFC', c) for c in df.columns], "
            f"or save the file's header in NFC)")


# a numeric column's statistics, each file's own: they differ between any two files
_STATISTICS = ("mean", "std", "edges", "quantiles", "integer", "low", "high")
# the keys of a column's entry that ``schema_differences`` words of its own
_TOLD = {"name", "kind", "dtype", "categories", "frequencies"}


def _short(value: Any) -> str:
    """A schema value as a message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def schema_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """``TabularDomain.schema_differences``: how the schema ``b`` of the second file differs
    from ``a``, the first's, column by column in words (missing or moved columns, kind, dtype,
    categories and their frequencies, a numeric column's statistics, any other key of a
    column's entry), then the ingest options; [] when equal."""
    cols_a = {str(c["name"]): c for c in a.get("columns") or []}
    cols_b = {str(c["name"]): c for c in b.get("columns") or []}
    at_b = {n: i for i, n in enumerate(cols_b)}
    found = [f"column {n!r} is only in the first" for n in cols_a if n not in cols_b]
    found += [f"column {n!r} is only in the second" for n in cols_b if n not in cols_a]
    found += [f"column {n!r} is column {i + 1} in the first, {at_b[n] + 1} in the second"
              for i, n in enumerate(cols_a) if n in at_b and at_b[n] != i]
    stats: list[str] = []
    for name, ca in cols_a.items():
        cb = cols_b.get(name)
        if cb is None:
            continue
        if ca.get("kind") != cb.get("kind"):
            found.append(f"column {name!r} is {ca.get('kind')} ({ca.get('dtype')}) in the first, "
                         f"{cb.get('kind')} ({cb.get('dtype')}) in the second")
            continue
        if ca.get("dtype") != cb.get("dtype"):
            found.append(f"column {name!r} is {ca.get('dtype')} in the first, {cb.get('dtype')} in the second")
        if ca.get("kind") == "categorical" and ca.get("categories") != cb.get("categories"):
            only_a = [c for c in ca.get("categories") or [] if c not in (cb.get("categories") or [])]
            only_b = [c for c in cb.get("categories") or [] if c not in (ca.get("categories") or [])]
            said = [f"{len(x)} only in the {w} (such as {x[0]!r})" for x, w in ((only_a, "first"),
                                                                            (only_b, "second")) if x]
            found.append(f"column {name!r} has other categories ({', '.join(said)})" if said else
                         f"column {name!r} has the same categories in another order")
        elif ca.get("kind") == "categorical" and ca.get("frequencies") != cb.get("frequencies"):
            found.append(f"column {name!r} has other category frequencies")
        elif ca.get("kind") == "numeric" and any(ca.get(k) != cb.get(k) for k in _STATISTICS):
            stats.append(name)
        # every other key of a column's entry (a numeric column's datetime / zoned, keys to
        # come): a difference the words above do not name still gets a line, never none
        told = _TOLD | (set(_STATISTICS) if ca.get("kind") == "numeric" else set())
        found += [f"column {name!r} has {key} {_short(ca.get(key))} in the first, {_short(cb.get(key))} "
                  f"in the second" for key in sorted(set(ca) | set(cb), key=str)
                  if key not in told and ca.get(key) != cb.get(key)]
    if stats:
        shown = ", ".join(map(repr, stats[:5])) + (f" and {len(stats) - 5} more" if len(stats) > 5 else "")
        found.append(f"numeric column{'s' if len(stats) > 1 else ''} {shown} ha{'ve' if len(stats) > 1 else 's'} "
                     f"other statistics (mean, std, quantile edges: each file's own)")
    for key in sorted(set(a) | set(b)):
        if key != "columns" and a.get(key) != b.get(key):
            found.append(f"{key}: {_short(a.get(key))} in the first, {_short(b.get(key))} in the second")
    return found
