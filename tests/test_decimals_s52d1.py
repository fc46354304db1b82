"""Decimal columns (Parquet decimal128 / decimal256, as Spark and DuckDB write money) through
``encoderkit impute`` and the tabular reading of numbers (``numeric_values``): observed
cells written back exactly as read, fills as Decimals in the column's places, a decimal
channel of a series filled as a channel, Arrow decimal / halffloat columns read as floats."""

from __future__ import annotations

import datetime as dt
import decimal as D

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from domains.tabular.values import numeric_values
from encoderkit.impute_read import _as_decimals, _decimals_as_numbers

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def _impute(src, out, *words):
    from encoderkit.impute import impute, parse

    own, passed, ingest_options = parse([f"input={src}", f"output={out}", *TINY, *words])
    return impute(own.pop("input"), own.pop("output"), overrides=passed, **own, **ingest_options)


def _check_written(given: list, written: list, places: int) -> None:
    """Each observed cell written as read (Decimal equality and digits), each hole filled
    with a Decimal of ``places`` digits after the point."""
    assert len(given) == len(written)
    for a, b in zip(given, written):
        if a is not None:
            assert b == a and b.as_tuple() == a.as_tuple()
        else:
            assert isinstance(b, D.Decimal) and b.is_finite() and b.as_tuple().exponent == -places


def test_impute_writes_observed_decimal38_18_cells_as_read(tmp_path):
    """18 digits after the point (ETH-like amounts): through float64 1.234567890123456789
    was written 1.234567890123456690; now every observed cell is the file's own."""
    n = 60
    x = np.random.default_rng(0).normal(size=n)
    amt = [None if i % 9 == 4 else D.Decimal("1.234567890123456789") + D.Decimal(i) for i in range(n)]
    big = [None if i % 7 == 3 else D.Decimal(12345678901234567891 + i) for i in range(n)]  # > 2**63
    src = tmp_path / "money.parquet"
    pq.write_table(pa.table({"y": x, "z": x * 2, "amount": pa.array(amt, pa.decimal128(38, 18)),
                             "big": pa.array(big, pa.decimal128(22, 0))}), src)
    _impute(src, tmp_path / "out.parquet", "domain=tabular")
    got = pq.read_table(tmp_path / "out.parquet")
    assert got.schema.field("amount").type == pa.decimal128(38, 18)
    assert got.schema.field("big").type == pa.decimal128(22, 0)
    _check_written(amt, got["amount"].to_pylist(), 18)
    _check_written(big, got["big"].to_pylist(), 0)


def test_series_decimal_channel_is_filled_and_scored(tmp_path):
    """A series whose only holes are in a decimal(10, 2) channel: it was no channel ("no
    missing cell ... nothing to fill", 13 holes written back); now filled and scored."""
    n = 120
    x = np.sin(np.arange(n) / 5)
    price = [None if i % 9 == 4 else D.Decimal("1.23") + D.Decimal(i % 10) for i in range(n)]
    src = tmp_path / "ts.parquet"
    times = [dt.datetime(2022, 1, 1) + dt.timedelta(hours=i) for i in range(n)]
    pq.write_table(pa.table({"ts": pa.array(times, pa.timestamp("us", tz="UTC")),
                             "price": pa.array(price, pa.decimal128(10, 2)), "v": x}), src)
    report = _impute(src, tmp_path / "out.parquet", "domain=timeseries")
    got = pq.read_table(tmp_path / "out.parquet")
    assert got.schema.field("price").type == pa.decimal128(10, 2)
    _check_written(price, got["price"].to_pylist(), 2)
    assert got["v"].to_pylist() == x.tolist()
    assert "price" in report.choices  # held back and scored as a channel


def test_decimals_read_as_numbers_and_written_back():
    """The round trip alone: floats for the model, the cells read back as they were, a fill
    quantized to the column's places (7.3 in a 2-place column: 7.30; a fill of 38 digits
    needs more than the default 28-digit context)."""
    frame = pd.DataFrame({"a": [D.Decimal("1.50"), None, D.Decimal("2.25")],
                          "b": [D.Decimal("1.000000000000000001"), D.Decimal("2E+19"), None],
                          "t": ["x", "y", "z"]})
    numbers, read = _decimals_as_numbers(frame, set())
    assert list(read) == ["a", "b"] and numbers["t"].tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(numbers["a"].to_numpy(), [1.5, np.nan, 2.25])
    np.testing.assert_array_equal(numbers["b"].to_numpy(), [1.0, 2e19, np.nan])
    filled = numbers.assign(a=[1.5, 7.3, 2.25], b=[1.0, 2e19, 12345678901234567890.5])
    back = _as_decimals(filled, read)
    assert back["a"].tolist() == [D.Decimal("1.50"), D.Decimal("7.30"), D.Decimal("2.25")]
    assert str(back["a"][1]) == "7.30"
    assert back["b"][0].as_tuple() == D.Decimal("1.000000000000000001").as_tuple()
    assert back["b"][2] == D.Decimal("12345678901234567000.000000000000000000")
    kept, _ = _decimals_as_numbers(frame, {"a"})  # a series' time / id column stays as read
    assert kept["a"].dtype == object and kept["b"].dtype == np.float64


def test_numeric_values_of_arrow_decimal_and_halffloat_with_nulls():
    """pd.to_numeric of an Arrow decimal with nulls gave fewer values than rows (a
    ValueError in EncoderImputer), of an Arrow halffloat a TypeError."""
    dec = pd.Series(pd.array([D.Decimal("1.25"), None, D.Decimal("3.50")], dtype=pd.ArrowDtype(pa.decimal128(10, 2))))
    wide = pd.Series(pd.array([D.Decimal("1.25"), None, None], dtype=pd.ArrowDtype(pa.decimal256(40, 2))))
    half = pd.Series(pd.array([1.5, None, -2.0], dtype=pd.ArrowDtype(pa.float16())))
    np.testing.assert_array_equal(numeric_values(dec), [1.25, np.nan, 3.5])
    np.testing.assert_array_equal(numeric_values(wide), [1.25, np.nan, np.nan])
    np.testing.assert_array_equal(numeric_values(half), [1.5, np.nan, -2.0])
    # text of numbers still goes through pd.to_numeric
    np.testing.assert_array_equal(numeric_values(pd.Series(["1", "x", None])), [1.0, np.nan, np.nan])
