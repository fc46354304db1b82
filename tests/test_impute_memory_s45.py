"""`encoderkit impute` holding less at once (s45): the cells written back as the file wrote
them are compared and read without a Python string per cell (``same_cells``,
``as_written``), the held-back copy and its candidate fills are freed before the file is
filled, and a series table already in time order is not copied to be ordered. Each test
checks the result against an independent computation (a Python loop, the file's own text,
pandas' writer) and bounds the memory traced, or checks what is still alive."""

from __future__ import annotations

import gc
import os
import tracemalloc
import weakref

import numpy as np
import pytest
import pandas as pd

import encoderkit.impute as imp
from encoderkit import impute_cells
from encoderkit.cli import main
from encoderkit.impute_cells import as_written, same_cells

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def loop_same(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """``same_cells`` by hand: per cell, both missing, or both present and equal."""
    out = np.zeros(a.shape, dtype=bool)
    for j in range(a.shape[1]):
        for i in range(a.shape[0]):
            u, v = a.iat[i, j], b.iat[i, j]
            gone_u, gone_v = pd.isna(u), pd.isna(v)
            out[i, j] = (gone_u and gone_v) or (not gone_u and not gone_v and u == v)
    return out


def test_same_cells_of_text_columns_without_a_string_per_cell():
    rng = np.random.default_rng(0)
    n = 200_000
    ids = pd.Series([f"series-{k}" for k in rng.integers(0, 5000, n)], dtype="str")
    other = ids.copy()
    changed = rng.random(n) < 0.01
    other[changed] = "changed"
    other[rng.random(n) < 0.01] = np.nan
    a = pd.DataFrame({"id": ids, "x": rng.normal(size=n)})
    b = pd.DataFrame({"id": other, "x": a["x"]})
    b.index = np.arange(n)[::-1]  # another index: compared by position
    small = slice(0, 3000)
    np.testing.assert_array_equal(same_cells(a.iloc[small], b.iloc[small]), loop_same(a.iloc[small], b.iloc[small]))
    tracemalloc.start()
    try:
        got = same_cells(a, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got[:, 1].all() and (got[:, 0] == (a["id"].to_numpy() == b["id"].to_numpy())).all()
    # a Python string per cell of both columns was ~25 MB; the arrays compared are ~1 MB
    assert peak < 8e6, peak


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_as_written_reads_the_texts_in_blocks(tmp_path, monkeypatch):
    """The cells a fill left are the file's own text (1.50 stays 1.50, TRUE stays TRUE and a
    filled yes / no is spelled as the file spells it), the fills pandas' text; the file's
    text and pandas' are read a block of rows at a time and pandas' text is bytes, so the
    memory traced stays under 3x the file (pandas' text as a str and a StringIO of 4 bytes a
    character, 5x, before)."""
    monkeypatch.setattr(impute_cells, "TEXT_BLOCK", 2048, raising=False)
    rng = np.random.default_rng(1)
    n = 300_000
    x = rng.normal(size=n)
    text_x = [f"{v:.2f}0" for v in x]  # written with a trailing zero pandas would drop
    flag = rng.random(n) < 0.5
    hole = rng.random(n) < 0.05
    src = tmp_path / "t.csv"
    with open(src, "w") as f:
        f.write("when,x,ok\n")
        for i in range(n):
            f.write(f"2020-01-01 {i % 24:02d}:00,{'' if hole[i] else text_x[i]},"
                    f"{'' if hole[i] else ('TRUE' if flag[i] else 'FALSE')}\n")
    data = pd.read_csv(src, dtype={"when": "str"})
    filled = data.copy()
    filled["x"] = filled["x"].fillna(7.25)
    filled["ok"] = filled["ok"].astype(object).where(~hole, True)
    tracemalloc.start()
    try:
        out = as_written(str(src), str(tmp_path / "o.csv"), data, filled, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    want_x = np.where(hole, "7.25", np.array(text_x))
    want_ok = np.where(hole, "TRUE", np.where(flag, "TRUE", "FALSE"))
    assert list(out["x"]) == list(want_x) and list(out["ok"]) == list(want_ok)
    assert list(out["when"]) == [f"2020-01-01 {i % 24:02d}:00" for i in range(n)]
    # pandas' writer formats 33,000 rows at a time (a fixed cost): 1.5x a file of this size
    assert peak < 3 * os.path.getsize(src), peak / os.path.getsize(src)


def co2_csv(path, n: int = 240) -> None:
    from statsmodels.datasets import co2

    x = co2.load_pandas().data["co2"].to_numpy(np.float64)
    x = x[~np.isnan(x)][:n].copy()
    x[40:46] = np.nan
    x[150] = np.nan
    dates = pd.date_range("1990-01-07", periods=n, freq="W").strftime("%Y-%m-%d")
    pd.DataFrame({"date": dates, "co2": x, "co2b": x * 2}).to_csv(path, index=False)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_held_back_copy_freed_before_the_file_is_filled(tmp_path, monkeypatch, capsys):
    """The fill of the file runs with the held-back copy (and the candidate fills made from
    it) gone; a series file already in time order is filled as read, not copied to be
    ordered (the filled file is the same either way: impute's own tests)."""
    seen: list[weakref.ref] = []
    alive_at_fill: list[bool] = []
    filled_as_read: list[bool] = []
    real = imp.ensemble_infill

    def watched(models, data, *a, **k):
        if seen:  # the fill of the file: is the held-back copy still held?
            gc.collect()
            alive_at_fill.append(seen[0]() is not None)
            # the table as read (its 0..n-1 rows), not a copy taken in time order
            filled_as_read.append(isinstance(data.index, pd.RangeIndex))
        seen.append(weakref.ref(data))
        return real(models, data, *a, **k)
    monkeypatch.setattr(imp, "ensemble_infill", watched)
    src, out = tmp_path / "co2.csv", tmp_path / "filled.csv"
    co2_csv(src)
    code = main(["impute", f"input={src}", f"output={out}", "domain.patch=8", "seed=3", *TINY])
    assert code == 0, capsys.readouterr().err
    assert alive_at_fill == [False] and filled_as_read == [True]
    back, given = pd.read_csv(out), pd.read_csv(src)
    obs = given.notna().to_numpy()
    assert back.notna().all().all() and (back.to_numpy()[obs] == given.to_numpy()[obs]).all()
