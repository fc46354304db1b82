"""Masking primitives: realised rates against the binomial law, eligibility, span
lengths against the geometric law, 80/10/10 proportions."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.data.masking import choose_groups, choose_random, choose_spans, corrupt_ids


def runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of True (independent reference, plain loop)."""
    out, n = [], 0
    for m in mask:
        if m:
            n += 1
        elif n:
            out.append(n)
            n = 0
    if n:
        out.append(n)
    return np.asarray(out)


def test_choose_random_rate_matches_binomial_and_respects_eligibility():
    rng = np.random.default_rng(0)
    L, draws, rate = 1000, 200, 0.15
    eligible = rng.random(L) < 0.7
    total = 0
    for _ in range(draws):
        chosen = choose_random(eligible, rate, rng)
        assert not (chosen & ~eligible).any()
        total += int(chosen.sum())
    n = int(eligible.sum()) * draws
    sigma = np.sqrt(n * rate * (1 - rate))
    assert abs(total - n * rate) < 4 * sigma


def test_choose_random_at_least_one_and_none_when_nothing_eligible():
    rng = np.random.default_rng(1)
    eligible = np.array([False, True, False, True, False])
    for _ in range(50):
        chosen = choose_random(eligible, 1e-9, rng)
        assert chosen.sum() == 1 and eligible[chosen].all()
    assert not choose_random(np.zeros(7, bool), 0.5, rng).any()
    assert not choose_random(eligible, 0.0, rng).any()
    with pytest.raises(ValueError, match="'rate'.*\\[0, 1\\].*1.5"):
        choose_random(eligible, 1.5, rng)


@pytest.mark.parametrize("rate,mean_span", [(0.15, 3.0), (0.3, 5.0)])
def test_choose_spans_rate_and_geometric_lengths(rate, mean_span):
    rng = np.random.default_rng(2)
    L = 200_000
    chosen = choose_spans(np.ones(L, bool), rate, mean_span, rng)
    assert abs(chosen.mean() - rate) < 0.01
    lengths = runs(chosen)
    # Geometric(p = 1/mean) on {1, 2, ...}: mean 1/p, P(len == 1) = p
    se = np.sqrt(mean_span * (mean_span - 1)) / np.sqrt(len(lengths))
    assert abs(lengths.mean() - mean_span) < 5 * se
    assert abs((lengths == 1).mean() - 1 / mean_span) < 0.02


def test_choose_spans_never_covers_ineligible_tokens():
    rng = np.random.default_rng(3)
    total_el = total_ch = 0
    for _ in range(100):
        eligible = rng.random(500) < 0.8
        chosen = choose_spans(eligible, 0.2, 4.0, rng)
        assert not (chosen & ~eligible).any()
        total_el += eligible.sum()
        total_ch += chosen.sum()
    assert abs(total_ch / total_el - 0.2) < 0.02
    assert choose_spans(np.array([False, True, False]), 0.01, 3.0, rng).tolist() == [False, True, False]
    assert choose_spans(np.ones(10, bool), 1.0, 3.0, rng).all()


def test_choose_groups_picks_whole_groups_at_rate():
    rng = np.random.default_rng(4)
    n_groups, per = 400, 5
    group_ids = np.repeat(rng.permutation(n_groups) * 7, per)  # arbitrary non-contiguous labels
    eligible = rng.random(group_ids.size) < 0.9
    picked_total = 0
    for _ in range(50):
        chosen = choose_groups(group_ids, eligible, 0.25, rng)
        assert not (chosen & ~eligible).any()
        picked = np.unique(group_ids[chosen])
        # every eligible token of a picked group is chosen, nothing of the others
        assert np.array_equal(chosen, np.isin(group_ids, picked) & eligible)
        picked_total += picked.size
    n_el_groups = np.unique(group_ids[eligible]).size * 50
    sigma = np.sqrt(n_el_groups * 0.25 * 0.75)
    assert abs(picked_total - 0.25 * n_el_groups) < 4 * sigma


def test_corrupt_ids_80_10_10():
    rng = np.random.default_rng(5)
    L = 100_000
    ids = rng.integers(5, 20, size=L)
    ids_before = ids.copy()
    predict = rng.random(L) < 0.5
    out = corrupt_ids(ids, predict, mask_id=1, random_low=5, random_high=20, rng=rng)
    assert np.array_equal(ids, ids_before)  # input untouched
    assert np.array_equal(out[~predict], ids[~predict])
    p = out[predict]
    orig = ids[predict]
    masked = p == 1
    assert abs(masked.mean() - 0.8) < 0.01
    assert ((p >= 5) & (p < 20) | masked).all()
    # "random" draws uniformly in [5, 20), so 1/15 of them equal the original id;
    # unchanged fraction = keep + random/15 = 0.1 + 0.1 / 15
    unchanged = (p == orig).mean()
    assert abs(unchanged - (0.1 + 0.1 / 15)) < 0.01
    assert out.dtype == ids.dtype
