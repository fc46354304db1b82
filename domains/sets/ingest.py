"""Sets -> record store: vocabulary, normalisation statistics, schema.

A stored record is one set: ``ids`` int32 ``[n]`` (token ids, -1 = missing id),
``features`` float64 ``[n, F]`` raw values (NaN = missing) and ``coords`` float64
``[n, D]`` raw coordinates. Both are float64 so values needing more digits than float32
holds keep them (map positions; a feature of 1234567890123.456 + k, which float32 stored
as one number for every k, so infill filled that number everywhere): ``featurize``
normalises features with the schema's mean / std and subtracts the set's origin from
coordinates in float64, and only then casts to the model's float32. Stores written
before held float32 features; they are read the same way (the schema's statistics are
stored with them). Each field exists only when the schema says so.

Normalisation (mean / std of observed values) uses the train side of the split only,
from sums of each value minus its column's first observed value (``feature_moments``):
the ingest is streamed and the split known only at the end, and plain sums of squares
cancelled for a feature far from zero (a spread of 3 at 1.2e12 came out as noise).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from encoderkit.data.split import validation_mask
from encoderkit.domain import IngestReport, RecordWriter
from encoderkit.errors import unknown_options

from .io import (Layout, RawSet, check_feature_range, check_layout, csv_layout, frame_sets, python_layout,
                 python_sets, read_csv_frame, read_npz, source_kind)

FORMAT_VERSION = 1
# Token ids below NUM_SPECIAL are special; vocabulary item i has token id NUM_SPECIAL + i.
SPECIALS = ("[UNK]", "[MASK]", "[CLS]", "[ELEM]")
UNK, MASK, CLS, ELEM = range(4)
NUM_SPECIAL = len(SPECIALS)
MISSING_ID = -1  # stored id of an element whose item is missing (infill predicts it)
IGNORE = -100  # id target of a predicted element whose item is not a target

INGEST_OPTIONS = ("set_column", "id_column", "feature_columns", "coord_columns", "min_count",
                  "arrays_are", "feature_names", "coord_names", "validation_fraction",
                  "split_seed")


def _check_ingest_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(INGEST_OPTIONS))
    if unknown:
        raise ValueError(unknown_options(unknown, INGEST_OPTIONS, "the sets domain", "ingest"))
    opts = {"set_column": "set", "id_column": "id", "feature_columns": None,
            "coord_columns": None, "min_count": 1, "arrays_are": "coords",
            "feature_names": None, "coord_names": None,
            "validation_fraction": 0.05, "split_seed": 0, **options}
    if not isinstance(opts["min_count"], int) or opts["min_count"] < 1:
        raise ValueError(f"The 'min_count' ingest option must be an int >= 1. "
                         f"Got {opts['min_count']!r} instead.")
    if opts["arrays_are"] not in ("coords", "features"):
        raise ValueError(f"The 'arrays_are' ingest option must be 'coords' or 'features'. "
                         f"Got {opts['arrays_are']!r} instead.")
    for key in ("feature_columns", "coord_columns", "feature_names", "coord_names"):
        if opts[key] is not None:
            if isinstance(opts[key], str):
                opts[key] = [c for c in opts[key].split(",") if c]
            opts[key] = [str(c) for c in opts[key]]
    return opts


def _source_sets(sources: Sequence[str], opts: Mapping[str, Any], notes: list[str] | None = None,
                 id_named: bool = False) -> tuple[Layout, Callable[[], Iterator[RawSet]]]:
    """The common layout of all sources and a factory iterating their sets (re-readable);
    ``notes`` gets what ``csv_layout`` left out of the model by default, naming the file."""
    layouts: list[tuple[str, Layout]] = []
    csv_args: dict[str, tuple] = {}
    for path in sources:
        if source_kind(path) == "csv":
            frame = read_csv_frame(path, opts["id_column"], opts["set_column"])
            found: list[str] = []
            id_col, feats, coords = csv_layout(frame, path, opts["set_column"], opts["id_column"],
                                               opts["feature_columns"], opts["coord_columns"],
                                               notes=found, id_named=id_named)
            if notes is not None:
                notes.extend(f"{path}: {n}" for n in found)
            csv_args[path] = (id_col, feats, coords)
            layouts.append((path, Layout(id_col is not None, feats, coords)))
        else:
            layouts.append((path, read_npz(path)[0]))
    if not layouts:
        raise ValueError("the sets domain got no input files")
    first_path, layout = layouts[0]
    for path, other in layouts[1:]:
        if other != layout:
            raise ValueError(f"{path}: its fields {other} differ from those of {first_path} "
                             f"({layout}); every input file must have the same element fields")

    def iterate() -> Iterator[RawSet]:
        for path in sources:
            if path in csv_args:
                id_col, feats, coords = csv_args[path]
                frame = read_csv_frame(path, id_col, opts["set_column"])
                yield from frame_sets(frame, path, opts["set_column"], id_col, feats, coords)
            else:
                yield from read_npz(path)[1]
    return layout, iterate


def build_vocab(sets: Iterable[RawSet], min_count: int) -> list[str]:
    """Items seen at least ``min_count`` times, most frequent first (ties by name)."""
    counts: Counter = Counter()
    for raw in sets:
        if raw.ids is not None:
            counts.update(i for i in raw.ids if i is not None)
    return [item for item, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if c >= min_count]


def encode_ids(ids: Sequence[str | None], index: Mapping[str, int]) -> np.ndarray:
    """Items -> token ids: unknown items -> [UNK], missing -> MISSING_ID."""
    return np.fromiter((MISSING_ID if i is None else index.get(i, UNK) for i in ids),
                       dtype=np.int32, count=len(ids))


def raw_to_record(raw: RawSet, layout: Layout, index: Mapping[str, int]) -> dict[str, np.ndarray]:
    fields: dict[str, np.ndarray] = {}
    if layout.has_ids:
        fields["ids"] = encode_ids(raw.ids, index)
    if layout.feature_names:
        fields["features"] = raw.features.astype(np.float64)
    if layout.coord_names:
        fields["coords"] = raw.coords.astype(np.float64)
    return fields


def feature_moments(shift: np.ndarray, count: np.ndarray, total: np.ndarray, total_sq: np.ndarray,
                    peak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per feature column, the mean and the scale that ``featurize`` divides by, from the
    ``count`` of observed values and the sums of their deviations from ``shift`` (the
    column's first observed value; NaN for a column never observed) and of their squares.

    Shifted sums keep the variance's digits for a feature far from zero (E[x^2] - mean^2
    cancelled: 1234567890123.456 + k got std 0 or noise). A feature is constant only when
    its spread is exactly 0 (shifted sums of a constant are exactly 0); the old test, a
    spread below 1e-8 in absolute terms, left a feature of values ~1e-30 unscaled, so fills
    came out ~0.1. A constant (or never observed) feature gets its magnitude as scale
    (``peak``, its largest observed magnitude; 1 for zeros): a fill the model moves off the
    constant moves in the feature's own units, not by whole units of 1."""
    seen = count > 0
    d = np.divide(total, count, out=np.zeros_like(total), where=seen)
    mean = np.where(seen, np.where(np.isnan(shift), 0.0, shift) + d, 0.0)
    var = np.divide(total_sq, count, out=np.zeros_like(total), where=seen) - d * d
    std = np.sqrt(np.maximum(var, 0.0))
    std = np.where(std > 0, std, np.where(peak > 0, peak, 1.0))
    return mean, std


def write_sets(layout: Layout, iterate: Callable[[], Iterator[RawSet]], writer: RecordWriter,
               report: IngestReport, opts: Mapping[str, Any], where: str = "the sets") -> dict[str, Any]:
    """Two passes: the vocabulary, then the records; returns the schema."""
    if not layout.has_ids and not layout.feature_names:
        raise ValueError("these sets have neither item ids nor features, so masked elements "
                         "would have nothing to predict; add an id column (id_column) or "
                         "feature columns (feature_columns)")
    vocab = build_vocab(iterate(), opts["min_count"]) if layout.has_ids else []
    index = {item: NUM_SPECIAL + i for i, item in enumerate(vocab)}
    width = len(layout.feature_names)
    # per-record sums for the train-side statistics (the split is known only at the end)
    sums, sumsq, counts = [], [], []
    shift = np.full(width, np.nan)  # each feature's first observed value (feature_moments)
    sizes = []
    peak = np.zeros(width)  # largest magnitude per feature column
    extent = 0.0  # widest spread of one coordinate within one set (the domain's ``unit`` check)
    unknown = 0
    for raw in iterate():
        if len(raw) == 0:
            report.skip("empty set")
            continue
        check_layout(raw, layout)
        record = raw_to_record(raw, layout, index)
        if layout.has_ids:
            unknown += int((record["ids"] == UNK).sum())
        writer.append(record, id=raw.name)
        feats = np.asarray(raw.features, dtype=np.float64)
        observed = ~np.isnan(feats)
        fresh = np.flatnonzero(np.isnan(shift) & observed.any(axis=0))
        if fresh.size:  # a column observed for the first time: its shift (earlier sums are 0)
            shift[fresh] = feats[observed[:, fresh].argmax(axis=0), fresh]
        dev = np.where(observed, feats - shift, 0.0)
        sums.append(dev.sum(axis=0))
        sumsq.append((dev * dev).sum(axis=0))
        counts.append(observed.sum(axis=0))
        if width:
            peak = np.maximum(peak, np.where(observed, np.abs(feats), 0.0).max(axis=0))
        if raw.coords.size:
            extent = max(extent, float(np.ptp(raw.coords, axis=0).max()))
        sizes.append(len(raw))
        report.records += 1
        report.tokens += len(raw)
    if not sizes:
        raise ValueError("no non-empty set in the input; nothing to write")
    check_feature_range(peak, layout.feature_names, where)
    if unknown:
        report.warnings.append(f"{unknown} elements have items seen fewer than min_count="
                               f"{opts['min_count']} times; they are stored as [UNK]")
    train = ~validation_mask(len(sizes), opts["validation_fraction"], opts["split_seed"])
    held = float(opts["validation_fraction"])
    if not train.any():
        train[:] = True
        held = 0.0  # every set fed the statistics (SetsDomain.statistics_split)
    def train_sum(parts: list) -> np.ndarray:
        return np.asarray(parts, dtype=np.float64).reshape(len(sizes), width)[train].sum(axis=0)

    count = train_sum(counts)
    mean, std = feature_moments(shift, count, train_sum(sums), train_sum(sumsq), peak)
    size = np.asarray(sizes)
    return {
        "format_version": FORMAT_VERSION,
        "has_ids": layout.has_ids,
        "specials": list(SPECIALS),
        "vocab": vocab,
        "feature_names": list(layout.feature_names),
        "feature_mean": mean.tolist(),
        "feature_std": std.tolist(),
        "feature_observed": count.astype(int).tolist(),
        "coord_names": list(layout.coord_names),
        # the positions are (coords - set minimum) / unit in float32: a unit below 1 can push
        # a spread ingest accepted past COORD_EXTENT_MAX, which the domain refuses with it
        **({"coord_extent": extent} if layout.coord_names else {}),
        "set_column": opts["set_column"],
        "id_column": opts["id_column"] if layout.has_ids else None,
        "num_sets": int(size.size),
        "max_set_size": int(size.max()),
        "mean_set_size": float(size.mean()),
        # the feature means / stds above are of this split's train side (SetsDomain.statistics_split)
        "statistics_split": {"validation_fraction": held, "split_seed": int(opts["split_seed"]),
                             "rows": int(size.size)},
    }


def ingest_files(sources: Sequence[str], writer: RecordWriter, report: IngestReport,
                 **options: Any) -> dict[str, Any]:
    opts = _check_ingest_options(options)
    notes: list[str] = []
    # an id column the user named is read as items even when it looks like row numbers
    layout, iterate = _source_sets(list(sources), opts, notes, id_named="id_column" in options)
    report.warnings.extend(notes)
    schema = write_sets(layout, iterate, writer, report, opts, ", ".join(sources))
    describe_columns(schema, report, "column" if all(source_kind(p) == "csv" for p in sources) else "field")
    return schema


def describe_columns(schema: Mapping[str, Any], report: IngestReport, kind: str = "column") -> None:
    """What the model reads, in the report (its notes: descriptions, not totals that the parts
    of a parallel ingest add up): a user must see which columns became coordinates, features
    and items (a label read as a feature is target leakage; a row number read as items is a
    vocabulary of items each seen once)."""
    coords, feats = list(schema["coord_names"]), list(schema["feature_names"])
    item = schema.get("id_column") if kind == "column" else "ids"
    where = f"{kind} {item!r}" if schema["has_ids"] else f"no item {kind}"
    report.notes += [f"coordinate {kind}s [{', '.join(coords)}]: {len(coords)}",
                     f"feature {kind}s [{', '.join(feats)}]: {len(feats)}",
                     f"items ({where}): {len(schema['vocab'])}"]


def ingest_objects(data: Any, writer: RecordWriter, report: IngestReport,
                   **options: Any) -> dict[str, Any]:
    opts = _check_ingest_options(options)
    sets = python_sets(data, opts["arrays_are"])
    layout = python_layout(sets)
    # names for the fields (used when a long-format frame is given at inference)
    for key, current in (("feature_names", layout.feature_names),
                         ("coord_names", layout.coord_names)):
        if opts[key] is not None:
            if len(opts[key]) != len(current):
                raise ValueError(f"The {key!r} ingest option must name {len(current)} fields "
                                 f"(the sets' width). Got {opts[key]} instead.")
            current[:] = opts[key]
    schema = write_sets(layout, lambda: iter(sets), writer, report, opts)
    describe_columns(schema, report, "field")
    return schema
