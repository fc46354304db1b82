"""``impute_cells.set_cells`` writes fills a column's dtype can hold: an int64 column near 2**63
(a held-back fill through float64 was 2**63, which pandas refused to cast: ``encoderkit impute``
of such a Parquet column ended in a traceback), a uint8 fill of 300, a float16 array's 7e4 (inf)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from encoderkit.impute_cells import set_cells


def test_integer_and_narrow_float_fills_held_to_the_dtype():
    frame = pd.DataFrame({"u": pd.array([1, None, 3], dtype="UInt8"),
                          "i": pd.array([2 ** 63 - 5, None, 2 ** 63 - 1], dtype="Int64")})
    hole = np.array([False, True, False])
    out = set_cells(frame, {"u": (hole, np.array([0.0, 300.0, 0.0])), "i": (hole, np.array([np.nan, 2.0 ** 63, np.nan]))},
                    ["u", "i"])
    assert out["u"].dtype == "UInt8" and out["i"].dtype == "Int64"
    assert int(out["u"][1]) == 255 and 2 ** 63 - 1024 <= int(out["i"][1]) <= 2 ** 63 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast"
        arr = set_cells(np.array([[1.0, np.nan, 3.0]], dtype=np.float16),
                        {"channel 0": (hole, np.array([0.0, 7e4, 0.0]))}, None)
    assert arr.dtype == np.float16 and arr[0, 1] == np.finfo(np.float16).max


@pytest.mark.slow
def test_impute_of_an_int64_column_near_its_maximum(tmp_path, capsys):
    from encoderkit.cli import main

    rng = np.random.default_rng(8)
    n = 60
    holes = rng.random(n) < 0.2
    vals = np.int64(2 ** 63 - 1) - rng.integers(0, 30, n).astype(np.int64)
    src, out = tmp_path / "i.parquet", tmp_path / "o.parquet"
    pq.write_table(pa.table({"i": pa.array(vals, mask=holes), "x": rng.normal(size=n)}), src)
    assert main(["impute", f"input={src}", f"output={out}", "model.hidden_size=16", "model.num_layers=1",
                 "model.num_heads=2", "model.intermediate_size=32", "train.steps=3", "progress=false"]) == 0, \
        capsys.readouterr().err
    got = pq.read_table(out).column("i").to_numpy()
    np.testing.assert_array_equal(got[~holes], vals[~holes])
    assert (got[holes] >= vals.min()).all()  # within the observed range: int64's maximum, not 2**63 - 1024
