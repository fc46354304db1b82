"""Where the tabular domain's options take effect (``encoderkit.option_effects`` states the
rule: a value the user set that cannot take effect is refused, naming the option).

A masker's rate is read by that masker only. A table's cells have no positions unless
``column_positions=true``: the encoder's position options then do nothing (declared with the
encoder's, in ``option_effects``). The text-reading ingest options (field separator,
decimal mark, words kept as text) do nothing to a Parquet file, whose columns are typed.
"""

from __future__ import annotations

from typing import Any, Mapping

from encoderkit.option_effects import Masker, OptionScope, Scope

from domains.tabular.options import INGEST_DEFAULTS

PARQUET = (".parquet", ".pq")


def input_kind(path: str, options: Mapping[str, Any]) -> str:
    """``parquet`` or ``text``, as ``reading.read_table`` picks its reader (by the name)."""
    return "parquet" if path.lower().endswith(PARQUET) else "text"


OPTION_SCOPE = OptionScope(
    run=(Scope("domain.mask_rate", (Masker(("random",)),)),
         Scope("domain.column_max_fraction", (Masker(("column",)),))),
    ingest={key: ("text",) for key in ("delimiter", "decimal", "keep_words")},
    ingest_defaults={key: INGEST_DEFAULTS[key] for key in ("delimiter", "decimal", "keep_words")},
    input_kind=input_kind,
    no_positions="a table's cells have none unless domain.column_positions=true",
)
