"""Binary, time-of-day, duration and nested Arrow columns, and repeated Parquet column names.

A category fill of a bytes / time / duration column came back as the schema's text of it
(``str(value)``): a binary column got the repr ``b"b'\\x01'"`` as its bytes (and a
fixed_size_binary column was written as binary), a time64 column mixed text with times (a
traceback at the Parquet write). A nested column (list / struct / map) crashed ingest
(unhashable ndarray), and could not be written back; a file naming two columns ``y`` met
pyarrow's "Multiple matches for FieldRef" or an AttributeError in the domain guess."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domains.tabular.cells import like_observed
from domains.tabular.columnfill import fill_column
from domains.tabular.kinds import nested_type
from domains.tabular.parquet_out import write_parquet
from domains.tabular.reading import read_table
from domains.timeseries.parquet import head
from encoderkit.cli import main
from encoderkit.errors import DataError

N = 60
HOLE = 4  # every 9th cell from the 5th is missing


def _holed(values: list) -> list:
    return [None if i % 9 == HOLE else v for i, v in enumerate(values)]


def test_category_fills_come_back_as_the_observed_values_they_name() -> None:
    # the schema keeps these categories as str(value); the fill must be the value itself
    for observed in ([b"\x01\x01", b"\x00\x00"], [dt.time(9, 30), dt.time(10, 0)],
                     [pd.Timedelta(seconds=54), pd.Timedelta(minutes=2)]):
        fill = like_observed([str(observed[1]), str(observed[0])], observed)
        assert fill == [observed[1], observed[0]]
        assert [type(v) for v in fill] == [type(observed[1]), type(observed[0])]


def test_a_category_no_observed_cell_holds_is_read_back_as_their_type() -> None:
    # a model filling another table: its category is not among the observed cells
    assert like_observed([str(b"\x07\xff")], [b"\x01"]) == [b"\x07\xff"]
    assert like_observed(["11:15:00"], [dt.time(9, 30)]) == [dt.time(11, 15)]
    assert like_observed([str(pd.Timedelta(hours=3))], [pd.Timedelta(seconds=1)]) == [pd.Timedelta(hours=3)]
    assert like_observed(["__import__('os')"], [b"\x01"]) == ["__import__('os')"]  # no bytes literal: as it is


@pytest.mark.parametrize("arrow_type, values", [
    (pa.binary(), [bytes([i % 3]) * 2 for i in range(N)]),
    (pa.time64("us"), [dt.time(8 + i % 3, 30) for i in range(N)]),
    (pa.duration("ms"), [pd.Timedelta(seconds=10 * (i % 4)) for i in range(N)]),
])
def test_an_arrow_backed_column_keeps_its_type_and_values(arrow_type: pa.DataType, values: list) -> None:
    # EncoderImputer's path: an ArrowDtype column filled with the schema's categories
    s = pd.Series(pd.array(_holed(values), dtype=pd.ArrowDtype(arrow_type)))
    rows = s.isna().to_numpy()
    wanted = [values[i] for i in np.flatnonzero(rows)]
    out = fill_column(s, np.array([str(pd.Series([v], dtype=s.dtype)[0]) for v in wanted], dtype=object), rows)
    assert out.dtype == s.dtype
    assert out[rows].tolist() == pd.Series(wanted, dtype=s.dtype).tolist()


def test_a_map_column_kept_as_read_is_written_back(tmp_path) -> None:
    table = pa.table({"y": [0.5, None, 2.0],
                      "mp": pa.array([[("k", 1.0)], [("a", 2.0), ("b", 3.0)], None],
                                     pa.map_(pa.string(), pa.float64()))})
    path = str(tmp_path / "o.parquet")
    write_parquet(table.to_pandas(), path, False, table.schema)
    back = pq.read_table(path)
    assert back.column_names == ["y", "mp"]
    assert back["mp"].equals(table["mp"]) and back["y"].equals(table["y"])


@pytest.mark.parametrize("arrow_type, cell", [
    (pa.list_(pa.float32()), [1.5]),
    (pa.struct([("a", pa.int64())]), {"a": 1}),
    (pa.map_(pa.string(), pa.float64()), [("k", 0.5)]),
])
def test_nested_columns_are_told_apart_from_values(arrow_type: pa.DataType, cell) -> None:
    s = pa.table({"c": pa.array([cell, None], arrow_type)}).to_pandas()["c"]
    assert nested_type(s) is not None
    assert nested_type(pd.Series(pd.array([cell, None], dtype=pd.ArrowDtype(arrow_type)))) == str(arrow_type)
    assert nested_type(pd.Series(["a", None, "b"], dtype=object)) is None
    assert nested_type(pd.Series([1.5, 2.0])) is None


def _repeated(tmp_path) -> str:
    path = str(tmp_path / "dup.parquet")
    x = np.arange(12, dtype=float)
    pq.write_table(pa.Table.from_arrays([pa.array(x), pa.array(x + 1), pa.array(x * 2)], names=["y", "y", "z"]), path)
    return path


def test_repeated_parquet_names_are_one_line_naming_them(tmp_path) -> None:
    path = _repeated(tmp_path)
    with pytest.raises(DataError, match=r"names column 'y' 2 times \(columns 1, 2\)"):
        read_table(path)
    assert head(path, 10) is None  # the domain guess leaves the refusal to the reader


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_fills_binary_and_time_columns_with_their_own_values(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    code = [bytes([i % 3]) * 4 for i in range(N)]
    t = [dt.time(8 + i % 3, 30) for i in range(N)]
    src = pa.table({"y": x, "z": x * 2, "b": pa.array(_holed(code), pa.binary()),
                    "fb": pa.array(_holed(code), pa.binary(4)), "t": pa.array(_holed(t), pa.time64("us"))})
    inp, out = str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet")
    pq.write_table(src, inp)
    assert main(["impute", f"input={inp}", f"output={out}", "domain=tabular", "train.steps=5",
                 "model=tiny", "progress=false"]) in (0, None)
    got = pq.read_table(out)
    assert got.schema.types == src.schema.types  # fixed_size_binary(4) stays so
    for name, observed in (("b", code), ("fb", code), ("t", t)):
        cells = got[name].to_pylist()
        assert None not in cells
        assert all(c == src[name][i].as_py() for i, c in enumerate(cells) if src[name][i].is_valid)
        assert set(cells) <= set(observed)  # each fill one of the column's own values


def test_a_nested_column_is_left_out_with_a_warning_and_kept_by_impute_s52(tmp_path):
    """A list column (Spark / DuckDB arrays) is neither numbers nor categories: ingest left it
    at "unhashable type: 'numpy.ndarray'" (a traceback); now it is left out of the model, said,
    and kept as it was in impute's output (audit x)."""
    import warnings

    import pyarrow as pa
    import pyarrow.parquet as pq

    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    table = pa.table({"x": pa.array([None if i % 7 == 0 else v for i, v in enumerate(x)]),
                      "lf": pa.array([[float(i), 1.0] for i in range(40)], pa.list_(pa.float64()))})
    pq.write_table(table, tmp_path / "t.parquet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ingest("tabular", [str(tmp_path / "t.parquet")], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert [c["name"] for c in RecordStore(str(tmp_path / "s.zarr")).schema["columns"]] == ["x"]
    assert any("'lf' holds nested values (list" in str(w.message) for w in caught)
