"""Masking runtime: the reusable pieces a domain's maskers compose.

All functions are pure numpy and take an explicit ``np.random.Generator`` so a
masked example is a deterministic function of its seed (the loader derives one
generator per example; see ``loader.py``). Every chooser returns a new boolean
array ``[L]`` that is a subset of ``eligible``: missing / unobserved tokens are
never eligible, so they are never training targets.
"""

from __future__ import annotations

import numpy as np


def _check_rate(rate: float, name: str = "rate") -> float:
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"The {name!r} parameter must be a float in [0, 1]. Got {rate!r} instead.")
    return rate


def _at_least_one(chosen: np.ndarray, eligible: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # An example with nothing to predict wastes its tokens; pick one eligible token instead.
    if not chosen.any():
        idx = np.flatnonzero(eligible)
        if idx.size:
            chosen[idx[rng.integers(idx.size)]] = True
    return chosen


def choose_random(eligible: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each eligible token independently with probability ``rate``; at least one
    token if any is eligible and ``rate > 0``."""
    rate = _check_rate(rate)
    eligible = np.asarray(eligible, dtype=bool)
    chosen = (rng.random(eligible.shape[0]) < rate) & eligible
    if rate > 0:
        _at_least_one(chosen, eligible, rng)
    return chosen


def choose_spans(eligible: np.ndarray, rate: float, mean_span: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Contiguous spans of eligible tokens covering about ``rate`` of them.

    Works in the compressed axis of eligible tokens as an alternating renewal
    process: span lengths ~ Geometric(1 / mean_span) (support >= 1, mean
    ``mean_span``), gaps geometric with mean ``mean_span * (1 - rate) / rate`` so
    the expected covered fraction is ``rate``. Because it runs over eligible
    tokens only, a span never covers an ineligible token (a span that straddles
    one in the original order is split by it).
    """
    rate = _check_rate(rate)
    mean_span = float(mean_span)
    if not mean_span >= 1.0:
        raise ValueError(f"The 'mean_span' parameter must be a float >= 1. Got {mean_span!r} instead.")
    eligible = np.asarray(eligible, dtype=bool)
    chosen = np.zeros(eligible.shape[0], dtype=bool)
    idx = np.flatnonzero(eligible)
    n = idx.size
    if n == 0 or rate == 0.0:
        return chosen
    if rate == 1.0:
        chosen[idx] = True
        return chosen
    mean_gap = mean_span * (1.0 - rate) / rate
    # gaps of length >= 1 keep spans apart (so measured runs are the drawn spans);
    # only when the mean gap is below one must zero-length gaps (merged spans) be allowed.
    gap_min = 1 if mean_gap >= 1.0 else 0
    p_gap = 1.0 / (mean_gap - gap_min + 1.0)
    p_span = 1.0 / mean_span
    # enough (gap, span) pairs to cover n with overwhelming probability; top up if not.
    k = int(np.ceil(n / (mean_span + mean_gap) * 1.5)) + 8
    mask_c = np.zeros(n, dtype=bool)
    pos = 0
    # the first gap is drawn from the same law, a cheap approximation to a stationary start
    while pos < n:
        gaps = rng.geometric(p_gap, size=k) - 1 + gap_min
        spans = rng.geometric(p_span, size=k)
        starts = pos + gaps + np.concatenate(([0], np.cumsum(gaps + spans)[:-1]))
        ends = starts + spans
        pos = int(ends[-1])
        starts = np.minimum(starts, n)
        ends = np.minimum(ends, n)
        # paint the disjoint [start, end) intervals with a difference array
        diff = np.bincount(starts, minlength=n + 1) - np.bincount(ends, minlength=n + 1)
        mask_c |= np.cumsum(diff[:n]) > 0
    chosen[idx[mask_c]] = True
    return _at_least_one(chosen, eligible, rng)


def choose_groups(group_ids: np.ndarray, eligible: np.ndarray, rate: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Whole groups (e.g. all cells of a column, all pieces of a k-mer): each group
    with at least one eligible token is picked with probability ``rate``; a picked
    group contributes all its eligible tokens. At least one group if any."""
    rate = _check_rate(rate)
    group_ids = np.asarray(group_ids)
    eligible = np.asarray(eligible, dtype=bool)
    if group_ids.shape != eligible.shape:
        raise ValueError(f"group_ids shape {group_ids.shape} does not match eligible shape {eligible.shape}")
    chosen = np.zeros(eligible.shape[0], dtype=bool)
    if rate == 0.0 or not eligible.any():
        return chosen
    groups, inverse = np.unique(group_ids, return_inverse=True)
    has_eligible = np.zeros(groups.size, dtype=bool)
    has_eligible[inverse[eligible]] = True
    picked = (rng.random(groups.size) < rate) & has_eligible
    if not picked.any():
        candidates = np.flatnonzero(has_eligible)
        picked[candidates[rng.integers(candidates.size)]] = True
    return picked[inverse] & eligible


def corrupt_ids(ids: np.ndarray, predict: np.ndarray, mask_id: int, random_low: int,
                random_high: int, rng: np.random.Generator, mask_prob: float = 0.8,
                random_prob: float = 0.1) -> np.ndarray:
    """BERT's 80/10/10: each predicted token becomes ``mask_id`` with probability
    ``mask_prob``, a uniform id in ``[random_low, random_high)`` with probability
    ``random_prob``, else stays. Returns a new array; ``ids`` is not modified."""
    mask_prob = _check_rate(mask_prob, "mask_prob")
    random_prob = _check_rate(random_prob, "random_prob")
    if mask_prob + random_prob > 1.0 + 1e-12:
        raise ValueError(f"mask_prob + random_prob must be <= 1. Got {mask_prob} + {random_prob}.")
    if random_high <= random_low and random_prob > 0:
        raise ValueError(f"random id range [{random_low}, {random_high}) is empty")
    out = np.array(ids, copy=True)
    predict = np.asarray(predict, dtype=bool)
    where = np.flatnonzero(predict)
    if where.size == 0:
        return out
    u = rng.random(where.size)
    to_mask = where[u < mask_prob]
    to_random = where[(u >= mask_prob) & (u < mask_prob + random_prob)]
    out[to_mask] = mask_id
    if to_random.size:
        out[to_random] = rng.integers(random_low, random_high, size=to_random.size).astype(out.dtype)
    return out


__all__ = ["choose_random", "choose_spans", "choose_groups", "corrupt_ids"]
