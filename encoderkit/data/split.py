"""Deterministic train / validation split by record-index hash.

A record's side depends only on (its index, seed, fraction), never on how many
records the store holds or on the order they are read, so the same split can be
used during ingest (e.g. normalisation statistics from the train side only) and
at training time (``RecordStore.split``).
"""

from __future__ import annotations

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
