"""The tabular ingest options: their defaults and the one check every reader applies
(``ingest``, ``impute``, a run's recorded ``ingest_options``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from encoderkit.data.textfiles import DECIMALS
from encoderkit.errors import unknown_options

from domains.tabular.words import check_keep_words

KINDS = ("numeric", "categorical", "exclude")

# Ingest options: name -> (default, description). Validated in `check_ingest_options`.
INGEST_DEFAULTS: dict[str, Any] = {
    "columns": {},  # per-column kind override: {name: numeric | categorical | exclude}
    "exclude": [],  # columns to leave out (ids, labels)
    "categorical_threshold": 10,  # integral columns with <= this many distinct values are categorical
    "max_categories": 256,  # vocabulary cap per categorical column (most frequent kept)
    "numeric_fraction": 0.9,  # a text column is numeric if this share of its cells parse as numbers
    "num_bins": 16,  # quantile bins per numeric column (PLE inputs and bin targets)
    "strict": False,  # a non-numeric string in a numeric column is an error instead of missing
    "delimiter": None,  # CSV delimiter; None: tab for .tsv/.tab, comma otherwise
    "missing_value": None,  # a number (-999) or word a file writes for a missing cell
    "keep_words": [],  # words read as missing (NA, N/A, null) that text columns keep as values (words.py)
    "decimal": "auto",  # decimal mark of a text table's numbers: auto ("," in a file of them not
                        # separated by commas, see reading.py), "." or ","
    # rows held out of the statistics: RecordStore.split's rule, the same rows as pretraining's
    # validation when data.val_fraction / data.seed are these (a pretraining run says otherwise)
    "validation_fraction": 0.05,
    "split_seed": 0,
}


def check_ingest_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(INGEST_DEFAULTS))
    if unknown:
        raise ValueError(unknown_options(unknown, INGEST_DEFAULTS, "the tabular domain", "ingest"))
    opts = {**INGEST_DEFAULTS, **options}
    cols = opts["columns"] or {}
    if not isinstance(cols, Mapping):
        raise ValueError(f"The 'columns' option must be a mapping {{column: kind}}. Got {cols!r} instead.")
    for name, kind in cols.items():
        if kind not in KINDS:
            raise ValueError(f"The 'columns' option gives column {name!r} kind {kind!r}; "
                             f"allowed kinds: {list(KINDS)}")
    opts["columns"] = dict(cols)
    excl = opts["exclude"] or []
    if isinstance(excl, str):
        excl = [excl]
    opts["exclude"] = [str(x) for x in excl]
    for key, low in (("categorical_threshold", 0), ("max_categories", 1), ("num_bins", 1)):
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"The {key!r} option must be an int >= {low}. Got {v!r} instead.")
        opts[key] = int(v)
    for key in ("numeric_fraction", "validation_fraction"):
        v = opts[key]
        if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"The {key!r} option must be a float in [0, 1]. Got {v!r} instead.")
        opts[key] = float(v)
    if not isinstance(opts["strict"], bool):
        raise ValueError(f"The 'strict' option must be true or false. Got {opts['strict']!r} instead.")
    # a tab as typed: ``delimiter='\t'`` (what the reader's hint says) reaches us as the two
    # characters backslash, t; ``tab`` as impute's parameter takes it
    if isinstance(opts["delimiter"], str):
        d = opts["delimiter"]
        d = d[1:-1] if len(d) >= 2 and d[0] == d[-1] and d[0] in "'\"" else d
        opts["delimiter"] = {"\\t": "\t", "tab": "\t"}.get(d, d)
    mv = opts["missing_value"]
    for v in (list(mv) if isinstance(mv, (list, tuple)) else [mv]) if mv is not None else []:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"The 'missing_value' option must be a number or a word (such as -999), "
                             f"or a list of them ([-999, 9999]). Got {mv!r} instead.")
    if isinstance(mv, tuple) or type(mv).__name__ == "ListConfig":
        opts["missing_value"] = list(mv)
    opts["keep_words"] = check_keep_words(opts["keep_words"], opts["missing_value"])
    if opts["decimal"] not in DECIMALS:
        raise ValueError(f"The 'decimal' option must be one of {list(DECIMALS)}. "
                         f"Got {opts['decimal']!r} instead.")
    if opts["delimiter"] is not None and (not isinstance(opts["delimiter"], str) or len(opts["delimiter"]) != 1):
        raise ValueError(f"The 'delimiter' option must be one character (such as ';' or '|'; a "
                         f"tab as '\\t' or tab) or null. Got {opts['delimiter']!r} instead.")
    return opts
