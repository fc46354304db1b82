"""Small or repeated columns of hash ids beyond int64 stay ids: a reviewer found 15 or 19
unique 64-bit hashes, a key column of 8 hashes x 4 and 12 uuid integers read as amounts,
and `impute` filled an orders table's user hash with ids that do not exist (7.45e18)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular.bigints import magnitudes
from domains.tabular.schema import _infer_kind

OPTS = {"categorical_threshold": 10}


def _col(values) -> pd.Series:
    return pd.Series([str(v) for v in values], dtype=object)


def _u64(rng, n):
    return [int(x) for x in rng.integers(0, 2 ** 64, size=n, dtype=np.uint64)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("make", ["unique15", "unique19", "key8x4", "key12x3", "uuid12", "signed128"])
def test_hash_ids_are_no_amounts(seed, make):
    rng = np.random.default_rng(seed)
    values = {"unique15": lambda: _u64(rng, 15), "unique19": lambda: _u64(rng, 19),
              "key8x4": lambda: _u64(rng, 8) * 4, "key12x3": lambda: _u64(rng, 12) * 3,
              "uuid12": lambda: [int.from_bytes(rng.bytes(16), "big") for _ in range(12)],
              "signed128": lambda: [int.from_bytes(rng.bytes(16), "big", signed=True) for _ in range(50)]}[make]()
    col = _col(values)
    assert not magnitudes(col)
    assert _infer_kind(col, OPTS) != "numeric"


def test_amounts_in_a_small_unit_are_numbers():
    rng = np.random.default_rng(0)
    eth = np.round(rng.lognormal(0, 1.5, 400), 4)
    wei = _col(int(round(e * 10 ** 4)) * 10 ** 14 for e in eth)
    assert magnitudes(wei) and _infer_kind(wei, OPTS) == "numeric"


def test_many_distinct_amounts_over_several_orders_are_numbers():
    rng = np.random.default_rng(0)
    counts = _col(int(v) * 10 ** 12 + int(rng.integers(1, 999)) for v in rng.lognormal(18, 2.5, 300))
    assert magnitudes(counts)
