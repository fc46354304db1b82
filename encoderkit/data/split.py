"""Deterministic train / validation split by record-index hash.

A record's side depends only on (its index, seed, fraction), never on how many
records the store holds or on the order they are read, so the same split can be
used during ingest (e.g. normalisation statistics from the train side only) and
at training time (``RecordStore.split``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

SPLITS = ("train", "validation")

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    # splitmix64 finaliser (Steele et al. 2014): a bijective, well-mixed 64-bit hash.
    # uint64 arithmetic wraps modulo 2**64, which is the intent.
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def record_uniform(indices: np.ndarray, seed: int = 0) -> np.ndarray:
    """A uniform [0, 1) value per record index, fixed by (index, seed)."""
    idx = np.asarray(indices, dtype=np.uint64)
    seed_mix = _splitmix64(np.asarray([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    h = _splitmix64(idx ^ seed_mix)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def validation_mask(n: int, fraction: float = 0.05, seed: int = 0) -> np.ndarray:
    """bool[n]: True for records on the validation side."""
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"The 'fraction' parameter (validation fraction) must be a float in [0, 1). "
                         f"Got {fraction!r} instead.")
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return record_uniform(np.arange(int(n)), seed) < fraction


def split_indices(n: int, name: str, fraction: float = 0.05, seed: int = 0) -> np.ndarray:
    """int64 record indices of split ``name`` ("train" or "validation"), ascending."""
    if name not in SPLITS:
        raise ValueError(f"The 'name' parameter of split must be one of {SPLITS}. Got {name!r} instead.")
    val = validation_mask(n, fraction, seed)
    return np.flatnonzero(val if name == "validation" else ~val).astype(np.int64)


def statistics_overlap(n: int, fraction: float, seed: int, stats: Mapping[str, Any]) -> tuple[int, int]:
    """(validation records of ``(fraction, seed)``, how many of them fed the statistics).

    ``stats`` is the split a domain computed its ingest statistics on (``Domain.statistics_split``:
    ``validation_fraction``, ``split_seed`` and ``rows``, the records it saw, None for all):
    its train side among the first ``rows`` records fed them. The split is by record index
    (``record_uniform``), so the two are compared without reading a record."""
    val = np.flatnonzero(validation_mask(n, fraction, seed))
    rows = n if stats.get("rows") is None else int(stats["rows"])
    seen = val[val < rows]  # a record's side depends on its index alone: only these are hashed again
    fed = record_uniform(seen, int(stats["split_seed"])) >= float(stats["validation_fraction"])
    return int(val.size), int(fed.sum())


def statistics_split_note(n: int, fraction: float, seed: int, stats: Mapping[str, Any] | None,
                          store: str) -> str | None:
    """One line when pretraining's validation records (``data.val_fraction``, ``data.seed``)
    fed the column statistics of ``store`` (its ingest ``validation_fraction``, ``split_seed``),
    else None. A warning, not an error: ``data.seed`` also seeds the shuffle and the masks, and
    the statistics (means, stds, quantile edges) hold no target; what it costs is validation
    that is not on rows unseen in every respect, which a user asking for another split expects."""
    if not stats:
        return None
    held, fed = statistics_overlap(n, fraction, seed, stats)
    if not fed:
        return None
    sf, ss = float(stats["validation_fraction"]), int(stats["split_seed"])
    return (f"data.val_fraction={fraction:g} data.seed={seed} validate on {held} records of {store}, "
            f"{fed} of which fed its column statistics at ingest (validation_fraction={sf:g} "
            f"split_seed={ss}: the rows held out of them): give data.val_fraction<={sf:g} "
            f"data.seed={ss} for validation on rows the statistics never saw, or re-ingest with "
            f"validation_fraction={fraction:g} split_seed={seed}")
