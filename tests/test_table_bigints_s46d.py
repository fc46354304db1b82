"""Integers beyond int64 in a table (``domains/tabular/bigints.py``): read as their text, so
that no cell becomes ``1.8446744073709552e+19``; modelled as identifiers or categories
whose values are the cells as written. References: the file's own text (read with the csv
module), hand-computed bounds, and the whole-file ingest for the streamed one."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from domains.tabular.domain import TabularDomain
from domains.tabular.reading import read_table
from domains.tabular.schema import fill_column
from domains.test_table_stream_s45 import assert_same_store
from encoderkit.data.store import RecordStore

CODES = ["18446744073709551611", "18446744073709551612", "18446744073709551613",
         "18446744073709551614", "18446744073709551615"]


def _table(path: Path, n: int = 60) -> Path:
    """ids of 23 digits (each once), five codes near 2**64 (repeated), floats written 1e20,
    a number column; holes in all but the ids."""
    rng = np.random.default_rng(0)
    lines = ["id,code,sci,x"]
    for i in range(n):
        code = "" if i % 7 == 3 else CODES[int(rng.integers(0, 5))]
        sci = "" if i % 5 == 1 else f"{rng.uniform(1, 9):.3f}e20"
        x = "" if i % 6 == 2 else f"{rng.normal():.3f}"
        lines.append(f"{12345678901234567890123 + 7919 * i},{code},{sci},{x}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _cells(path: Path, column: str) -> list[str]:
    with open(path, newline="") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def test_cells_beyond_int64_are_read_as_written(tmp_path):
    path = _table(tmp_path / "t.csv")
    frame = read_table(str(path)).frame
    for column in ("id", "code"):
        written = _cells(path, column)
        got = [None if pd.isna(v) else v for v in frame[column]]
        assert got == [w or None for w in written], column
    # floats written 1e20 stay numbers (their column is no column of integers)
    assert frame["sci"].dtype == np.float64
    assert frame["sci"].dropna().iloc[0] == float(next(c for c in _cells(path, "sci") if c))
    # and so does a column mixing a big integer with fractions
    mixed = tmp_path / "m.csv"
    mixed.write_text("a,b\n18446744073709551615,1\n2.5,2\n")
    frame = read_table(str(mixed)).frame
    assert frame["a"].dtype == np.float64 and frame["a"].iloc[1] == 2.5


def test_ingest_keeps_ids_out_and_codes_as_their_text(tmp_path):
    path = _table(tmp_path / "t.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = tmp_path / "s.zarr"
        from encoderkit.data.ingest import ingest

        ingest("tabular", str(path), str(store), progress=False, verbose=False)
    schema = RecordStore(str(store)).schema
    by_name = {c["name"]: c for c in schema["columns"]}
    assert "id" not in by_name and "identifier" in schema["dropped"]["id"]
    # the codes as the file writes them: five categories (float64 made them one, 2**64)
    assert by_name["code"]["kind"] == "categorical"
    assert by_name["code"]["categories"] == sorted({c for c in _cells(path, "code") if c})
    assert by_name["sci"]["kind"] == "numeric"
    assert any("beyond int64's range" in str(w.message) for w in caught)


def test_fills_are_codes_seen_and_observed_cells_unchanged(tmp_path):
    path = _table(tmp_path / "t.csv")
    frame = read_table(str(path)).frame
    domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.0})

    def predict(examples):  # any logits: decode takes the argmax among the known categories
        lay = domain.layout
        rng = np.random.default_rng(1)
        out = []
        for e in examples:
            k = int(e.predict.sum())
            out.append({"cat_logits": rng.normal(size=(k, lay.num_cat_rows)),
                        "bin_logits": rng.normal(size=(k, lay.num_bins)), "value": rng.normal(size=(k, 1))})
        return out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = domain.infill(frame, predict)
    written = _cells(path, "code")
    hole = np.array([w == "" for w in written])
    assert hole.any()
    assert list(filled["code"][~hole]) == [w for w in written if w]
    assert set(filled["code"][hole]) <= set(CODES)


def test_streamed_ingest_is_the_whole_file_ingest(monkeypatch, tmp_path):
    path = _table(tmp_path / "t.csv", n=200)
    streamed = assert_same_store(monkeypatch, tmp_path, path)
    code = next(c for c in RecordStore(str(streamed)).schema["columns"] if c["name"] == "code")
    assert code["categories"] == CODES


def test_integer_fills_near_the_int64_bounds_do_not_wrap_round():
    top = np.iinfo(np.int64).max
    s = pd.Series([top - 5, None, top], dtype="Int64")
    out = fill_column(s, np.array([float(top)]), np.array([False, True, False]))
    # the int64 maximum itself, not -2**63 from a wrapped cast, nor the largest float64 below
    # 2**63 (2**63 - 1024, under both observed values: session 56)
    assert int(out.iloc[1]) == 2 ** 63 - 1
    u = pd.Series([2 ** 64 - 3, None], dtype="UInt64")
    out = fill_column(u, np.array([2.0 ** 64]), np.array([False, True]))
    assert int(out.iloc[1]) == 2 ** 64 - 1


def test_python_ints_beyond_int64_are_categories():
    values = [12345678901234567890123, 12345678901234567890124] * 10
    frame = pd.DataFrame({"a": pd.Series(values, dtype=object), "x": np.arange(20.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.0})
    col = next(c for c in domain.columns if c["name"] == "a")
    assert col["kind"] == "categorical" and sorted(col["categories"]) == sorted(set(values))
