"""EncoderImputer on Arrow decimal128 / decimal256 / halffloat columns with nulls: a
ValueError (decimal: pd.to_numeric gave fewer values than rows) and a TypeError (halffloat:
no nullable float16) before; now every hole filled, observed cells as given, the column's
dtype kept (fills castable to it: a decimal fill with the column's places)."""

from __future__ import annotations

import decimal as D
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest


@pytest.mark.parametrize("kind", [pa.decimal128(10, 2), pa.decimal256(40, 2), pa.float16()])
def test_encoder_imputer_fills_arrow_number_columns(kind):
    from encoderkit.sklearn import EncoderImputer

    n = 60
    x = np.random.default_rng(0).normal(size=n)
    given = [D.Decimal(f"{abs(v) * 10:.2f}") for v in x] if pa.types.is_decimal(kind) else [float(v) for v in x]
    holes = np.arange(n) % 9 == 4
    frame = pd.DataFrame({"y": x, "z": x * 2,
                          "p": pd.array([None if h else v for v, h in zip(given, holes)], dtype=pd.ArrowDtype(kind))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = EncoderImputer(steps=3, model="tiny", random_state=0).fit_transform(frame)
    assert out["p"].dtype == frame["p"].dtype and not out["p"].isna().any()
    observed = frame["p"].to_numpy(dtype=np.float64, na_value=np.nan)[~holes]
    np.testing.assert_array_equal(out["p"].to_numpy(dtype=np.float64)[~holes], observed)
    if pa.types.is_decimal(kind):
        assert all(v.as_tuple().exponent == -2 for v in out["p"][holes])
