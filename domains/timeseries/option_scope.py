"""Where the timeseries domain's options take effect (``encoderkit.option_effects`` states
the rule: a value the user set that cannot take effect is refused, naming the option).

A masker's own setting is read by that masker only (``mask_rate`` by all four). At ingest,
the column roles are read from tables only (CSV and Parquet) and the field separator and
decimal mark from text only: an ``.npy`` / ``.npz`` array or a ``.ts`` / UCR archive
has neither, and a value given for one was recorded in the store's schema as if it had.
"""

from __future__ import annotations

from typing import Any, Mapping

from encoderkit.option_effects import Masker, OptionScope, Scope

from .files import file_kind

TABLE_KINDS = ("csv", "parquet")
ROLES = ("time_column", "series_column", "channels", "value_column", "channel_column")


def input_kind(path: str, options: Mapping[str, Any]) -> str:
    """The reader ingest picks for ``path`` (``files.file_kind``; a column role makes a table)."""
    return file_kind(path, str(options.get("format") or "auto"), any(options.get(k) for k in ROLES))


OPTION_SCOPE = OptionScope(
    run=(Scope("domain.mean_span", (Masker(("span",)),)),
         Scope("domain.max_gap", (Masker(("gap",)),)),
         Scope("domain.partial_mask", (Masker(("random",)),))),
    ingest={**{key: TABLE_KINDS for key in ROLES}, "delimiter": ("csv",), "decimal": ("csv",)},
    ingest_defaults={**{key: None for key in ROLES}, "delimiter": None, "decimal": "auto"},
    input_kind=input_kind,
)
