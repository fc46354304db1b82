"""The timeseries domain's options: names, defaults and checks (``checked_options``), and the
rules ``auto`` resolves by (``auto_patch``, ``between_series_inputs``). Split out of
``domain.py`` so the domain class keeps its behaviour and this module its settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from encoderkit.data.textfiles import DECIMALS
from encoderkit.errors import bad_value, unknown_options

from .marks import valid_missing_value
from .masking import FLAT_SCALES

MASKERS = ("random", "span", "tail", "gap")
INGEST_OPTIONS = ("format", "time_column", "series_column", "channels", "value_column",
                  "channel_column", "missing_value", "delimiter", "decimal")
FORMATS = ("auto", "csv", "parquet", "npy", "npz", "ts", "ucr")
BASELINES = ("linear", "seasonal", "none")


AUTO = "auto"
# patch=auto without a store (e.g. a bare domain filling arrays): the former fixed default
UNKNOWN_LENGTH_PATCH = 16


def auto_patch(schema: Mapping[str, Any]) -> int:
    """``patch=auto``: 2 samples a patch for series of under 64 samples on average, 4 under
    512, else 8, i.e. at least ~16 tokens a series up to 8 x 64 samples. The rule the
    imputation benchmark fixed before it was run on any dataset (benchmarks/RESULTS.md,
    "Imputation that transfers"); a fixed 16 gave a 24-sample day 2 tokens and a 7-sample
    vowel one. The typical length is the store's mean series length (``sum_length /
    n_series``, written at ingest), its ``max_length`` for stores written before that."""
    n, total = schema.get("n_series"), schema.get("sum_length")
    length = total / n if n and total else schema.get("max_length")
    if not length:
        return UNKNOWN_LENGTH_PATCH
    return 2 if length < 64 else 4 if length < 512 else 8


# channel_embedding / window_stats = auto: on for a store of at least this many series
MIN_SERIES_FOR_SERIES_INPUTS = 4


def between_series_inputs(schema: Mapping[str, Any]) -> bool:
    """``channel_embedding`` / ``window_stats`` = auto: on for a collection of series (at
    least ``MIN_SERIES_FOR_SERIES_INPUTS``), off for one or a few. What the two inputs
    carry is how a series differs from the others (its level and scale, which channel is
    which), a prior for its shape: in the imputation benchmark they cut the error on
    collections (ItalyPowerDemand days 0.33 -> 0.13, BasicMotions 0.73 -> 0.61) and raised
    it on single series cut into windows (uschange 1.19 -> 1.43, sunspots 0.47 -> 0.55),
    where a window's level only says when it is (benchmarks/RESULTS.md). A store written
    before the count existed: on (the classification default they were added for)."""
    n = schema.get("n_series")
    return True if n is None else int(n) >= MIN_SERIES_FOR_SERIES_INPUTS


def _number(v: Any) -> bool:
    """An int or a float, never a boolean (``true`` is 1 to Python)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(cond: bool, option: str, allowed: str, got: Any) -> None:
    if not cond:
        raise ValueError(bad_value(option, allowed, got, what="option", owner="the timeseries domain"))


def checked_options(schema: Mapping[str, Any] | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """The timeseries domain's options: the defaults completed with ``options``, each checked
    (``ValueError`` naming the option), ``auto`` values resolved from ``schema``, and the read
    options ingest recorded in ``schema`` taken where none is given."""
    defaults: dict[str, Any] = {
        "patch": 16, "masker": "random", "mask_rate": 0.3, "mean_span": 3.0,
        "partial_mask": 0.25, "baseline": "linear", "loss_delta": None, "short_fallback": 0,
        "data_fallback": 0, "channel_embedding": True, "window_stats": True,
        "flat_scale": "record",
        "channel_independent": False, "window_overlap": 0, "grid_shift": False,
        "max_gap": 3.0, "infill_max_seqlen": None, "infill_overlap": 8, "infill_shifts": 1,
        "missing_value": None,
        "time_column": None, "series_column": None,
        # ingest-only options, accepted so one config group describes the data
        "format": "auto", "channels": None, "value_column": None, "channel_column": None,
        # a CSV's field separator (None: by the name) and decimal mark, recorded in the
        # store's schema: files read back and written back use them too
        "delimiter": None, "decimal": "auto"}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(unknown_options(unknown, defaults, "the timeseries domain"))
    opts = {**defaults, **options}
    p = opts["patch"]
    if p == AUTO:  # resolved once, here: the int is what describe() saves with a run
        p = opts["patch"] = auto_patch(schema or {})
    _check(isinstance(p, int) and not isinstance(p, bool) and p >= 1, "patch",
           "an int >= 1 or auto", p)
    m = opts["masker"]
    if isinstance(m, Mapping):
        _check(bool(m) and all(k in MASKERS and _number(v) and float(v) >= 0 for k, v in m.items())
               and sum(float(v) for v in m.values()) > 0, "masker",
               f"one of {MASKERS} or a {{name: weight}} mixture of them with weights >= 0", m)
        opts["masker"] = {str(k): float(v) for k, v in m.items()}
    else:
        _check(m in MASKERS, "masker", f"one of {MASKERS} or a {{name: weight}} mixture", m)
    for key in ("mask_rate",):
        v = opts[key]
        _check(_number(v) and 0 < float(v) <= 1, key, "a float in (0, 1]", v)
    v = opts["partial_mask"]
    _check(_number(v) and 0 <= float(v) <= 1, "partial_mask",
           "a float in [0, 1]", v)
    v = opts["max_gap"]
    _check(_number(v) and float(v) > 0, "max_gap", "a float > 0 (patches)", v)
    v = opts["mean_span"]
    _check(_number(v) and float(v) >= 1, "mean_span", "a float >= 1", v)
    _check(opts["baseline"] in BASELINES, "baseline", f"one of {BASELINES}", opts["baseline"])
    v = opts["loss_delta"]
    _check(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and float(v) > 0),
           "loss_delta", "a float > 0 (normalised units) or null", v)
    for key in ("short_fallback", "data_fallback"):
        v = opts[key]
        _check(isinstance(v, int) and not isinstance(v, bool) and v >= 0, key,
               "an int >= 0 (patches)", v)
    for key in ("channel_embedding", "window_stats"):
        if opts[key] == AUTO:  # resolved once, like patch
            opts[key] = between_series_inputs(schema or {})
        _check(isinstance(opts[key], bool), key, "true, false or auto", opts[key])
    _check(opts["flat_scale"] in FLAT_SCALES, "flat_scale", f"one of {FLAT_SCALES}",
           opts["flat_scale"])
    for key in ("channel_independent", "grid_shift"):
        _check(isinstance(opts[key], bool), key, "true or false", opts[key])
    for key in ("window_overlap", "infill_overlap"):
        v = opts[key]
        _check(isinstance(v, int) and not isinstance(v, bool) and v >= 0, key,
               "an int >= 0 (patches)", v)
    v = opts["infill_shifts"]
    _check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, "infill_shifts",
           "an int >= 1 (passes)", v)
    v = opts["infill_max_seqlen"]
    _check(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1),
           "infill_max_seqlen", "null (the run's training window) or an int >= 1 (tokens)", v)
    v = opts["missing_value"]
    _check(valid_missing_value(v), "missing_value",
           "null, a number (-999), a word ('?') or a list of them", v)
    if isinstance(v, tuple):  # the schema (JSON) keeps a list
        opts["missing_value"] = list(v)
    for key in ("time_column", "series_column", "value_column", "channel_column"):
        _check(opts[key] is None or isinstance(opts[key], str), key, "null or a column name",
               opts[key])
    _check(opts["format"] in FORMATS, "format", f"one of {FORMATS}", opts["format"])
    # as ingest read the store's files: a ';' file with 2,25 is read back that way
    if opts["delimiter"] is None and (schema or {}).get("delimiter"):
        opts["delimiter"] = str(schema["delimiter"])
    if opts["decimal"] == "auto" and (schema or {}).get("decimal") in DECIMALS:
        opts["decimal"] = schema["decimal"]
    d = opts["delimiter"]
    if isinstance(d, str):  # a tab as typed: '\t' reaches us as two characters, or as tab
        d = opts["delimiter"] = {"\\t": "\t", "tab": "\t"}.get(d, d)
    _check(d is None or (isinstance(d, str) and len(d) == 1), "delimiter",
           "null (by the file's name: a tab for .tsv / .tab, else a comma) or one character "
           "(';', '|', '\\t' or tab for a tab)", d)
    _check(opts["decimal"] in DECIMALS, "decimal", f"one of {DECIMALS}", opts["decimal"])
    _check(opts["decimal"] != d, "decimal", f"another mark than the delimiter {d!r}", opts["decimal"])
    ch = opts["channels"]
    _check(ch is None or (isinstance(ch, (list, tuple)) and all(isinstance(x, str) for x in ch)),
           "channels", "null or a list of column names", ch)
    if ch is not None:
        opts["channels"] = list(ch)
    # CSV column roles given at ingest also hold when a CSV comes back for infill, and
    # so does format=ucr when the archive's files come back for predict or as labels.
    for key in ("time_column", "series_column", "value_column", "channel_column"):
        if opts[key] is None and (schema or {}).get(key):
            opts[key] = str(schema[key])
    # so does the missing-value marker: a raw file's -999 read back for embed / infill is
    # missing, as ingest read it (it was read as a value)
    if opts["missing_value"] is None and (schema or {}).get("missing_value") is not None:
        opts["missing_value"] = schema["missing_value"]
    if opts["format"] == "auto" and (schema or {}).get("format") == "ucr":
        opts["format"] = "ucr"
    return opts
