"""A Parquet table whose index pandas wrote (a series saved with ``df.to_parquet()``: its
dates in a DatetimeIndex) keeps that index through ``encoderkit impute``: it was dropped,
and with it the file's dates. The index is read as a column the model sees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from tests.test_impute import TINY


def assert_index_kept(tmp_path, capsys, frame: pd.DataFrame, seed: int) -> None:
    """10% of ``frame``'s cells hidden, the Parquet file imputed: the index as it was, the
    columns as they were, every hole filled and every observed cell unchanged."""
    rng = np.random.default_rng(seed)
    holed = frame.mask(rng.random(frame.shape) < 0.1)
    src, out = tmp_path / "t.parquet", tmp_path / "f.parquet"
    holed.to_parquet(src)
    assert main(["impute", f"input={src}", f"output={out}", "seed=0", *TINY]) == 0, capsys.readouterr().err
    back = pd.read_parquet(out)
    pd.testing.assert_index_equal(back.index, holed.index)
    assert list(back.columns) == list(frame.columns) and back.notna().all().all()
    kept = holed.notna()
    assert (back[kept] == holed[kept]).sum().sum() == kept.sum().sum()


@pytest.mark.parametrize("name", ["date", None])
def test_impute_keeps_a_parquet_files_index(tmp_path, capsys, name):
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame({"a": np.arange(n) + rng.normal(0, 0.2, n), "b": rng.normal(size=n)},
                         index=pd.date_range("2001-01-01", periods=n, freq="MS", name=name))
    assert_index_kept(tmp_path, capsys, frame, seed=0)


def test_impute_keeps_an_unnamed_multi_level_index(tmp_path, capsys):
    """Unnamed levels come back from reset_index as level_0, level_1: written back as the
    index all the same (an index of two levels was written as a RangeIndex)."""
    rng = np.random.default_rng(1)
    n = 60
    index = pd.MultiIndex.from_arrays([np.repeat(["a", "b", "c"], n // 3), np.tile(np.arange(n // 3), 3)])
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n)}, index=index)
    assert_index_kept(tmp_path, capsys, frame, seed=1)
