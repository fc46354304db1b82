"""``TabularDomain.to_records`` gives a sequence whose records are made when read
(``domains/tabular/records.py``), so a raw table's rows are not held as a list of dicts
beside their cells. Reference: the records built by hand from ``encode_frame``, the list
``to_records`` returned before."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular.domain import TabularDomain
from domains.tabular.schema import encode_frame


def test_records_are_made_on_access_with_the_listed_values():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "k": rng.integers(0, 3, 40),
                          "w": rng.choice(["a", "b", "c"], 40)}).mask(rng.random((40, 3)) < 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.0})
    part = frame.iloc[[5, 3, 17]]
    records = domain.to_records(part)
    assert getattr(records, "lazy_records", False) and not isinstance(records, list)
    enc = encode_frame(part, domain.schema)
    expected = [{"column": np.arange(3), "cat": enc.cat[i], "num": enc.num[i], "observed": enc.observed[i],
                 "id": f"row{k}"} for i, k in enumerate([5, 3, 17])]
    assert len(records) == 3
    for got, want in zip([records[0], records[1], records[-1]], expected):
        assert got.keys() == want.keys() and got["id"] == want["id"]
        for key in ("column", "cat", "num", "observed"):
            np.testing.assert_array_equal(got[key], want[key])
    assert [r["id"] for r in records] == ["row5", "row3", "row17"]
    assert [r["id"] for r in records[1:]] == ["row3", "row17"]
    with pytest.raises(IndexError):
        records[3]
