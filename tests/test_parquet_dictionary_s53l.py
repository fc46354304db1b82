"""Parquet columns stored as dictionaries (a pandas ``category``, or a column read with
``dtype_backend="pyarrow"`` and written back: ``dictionary<values=string, indices=int32>[pyarrow]``
in pandas' metadata) are read as their values by every Parquet reader: the table reader
(ingest, impute, predict), the series reader and the label files. Before, the read failed
in pyarrow / pandas' words ("data type ... not understood": a traceback in ingest), as
``pd.read_parquet`` itself does on such a file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domains.tabular.reading import read_table
from encoderkit.data.arrow_frames import decode_dictionaries
from encoderkit.tasks.label_files import read_table as read_labels

WORDS = ["u", "v", None, "w", "u", "v"] * 5


def _pandas_dictionary_file(path, extra: dict | None = None) -> None:
    """The file a pandas user writes after reading a dictionary column with the pyarrow
    backend: pandas' metadata names the dtype ``dictionary<...>[pyarrow]``."""
    first = path.with_suffix(".raw.parquet")
    cols = {"id": pa.array([f"r{i}" for i in range(len(WORDS))]),
            "c": pa.array(WORDS).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string())),
            "x": pa.array([float(i) if i % 7 else None for i in range(len(WORDS))])}
    cols.update(extra or {})
    pq.write_table(pa.table(cols), first)
    pd.read_parquet(first, dtype_backend="pyarrow").to_parquet(path)


def test_a_text_dictionary_is_read_as_categories_with_the_files_values(tmp_path):
    path = tmp_path / "t.parquet"
    _pandas_dictionary_file(path)
    # the file is the case in point: pandas' own reader refuses it
    assert "dictionary<values=string, indices=int32" in str(pq.read_schema(path).field("c").type)
    with pytest.raises(TypeError, match="not understood"):
        pd.read_parquet(path)
    frame = read_table(str(path)).frame
    assert isinstance(frame["c"].dtype, pd.CategoricalDtype)
    # the values the file holds, cell by cell (pyarrow's own decoding as the reference)
    expected = pq.read_table(path).column("c").to_pylist()
    assert [None if pd.isna(v) else v for v in frame["c"]] == expected
    assert frame["x"].isna().sum() == sum(1 for i in range(len(WORDS)) if i % 7 == 0)


def test_a_numeric_dictionary_is_read_as_numbers():
    """A dictionary of numbers decodes to them (float64 / int64), not to categories."""
    k = pa.array([1.5, 7.0, None, 1.5]).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.float64()))
    n = pa.array([3, 3, 5, None]).dictionary_encode()
    table = decode_dictionaries(pa.table({"k": k, "n": n, "s": pa.array(["a", "b", "a", None]).dictionary_encode()}))
    assert table.schema.field("k").type == pa.float64() and table.schema.field("n").type == pa.int64()
    assert pa.types.is_dictionary(table.schema.field("s").type)  # text: categories
    assert table.column("k").to_pylist() == [1.5, 7.0, None, 1.5]
    assert table.column("n").to_pylist() == [3, 3, 5, None]


def test_ingest_reads_the_columns_kinds(tmp_path):
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    path = tmp_path / "t.parquet"
    _pandas_dictionary_file(path)
    ingest("tabular", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    kinds = {c["name"]: c["kind"] for c in RecordStore(str(tmp_path / "s.zarr")).schema["columns"]}
    assert kinds == {"c": "categorical", "x": "numeric"}


def test_a_labels_file_of_dictionary_columns_is_read(tmp_path):
    path = tmp_path / "labels.parquet"
    _pandas_dictionary_file(path)
    frame = read_labels(path)
    assert list(frame["id"]) == [f"r{i}" for i in range(len(WORDS))]
    assert [None if pd.isna(v) else v for v in frame["c"]] == WORDS


def test_a_series_file_with_a_dictionary_column_is_read(tmp_path):
    from domains.timeseries.parquet import read_frame

    path = tmp_path / "s.parquet"
    _pandas_dictionary_file(path)
    frame, schema = read_frame(str(path))
    assert [None if pd.isna(v) else v for v in frame["c"]] == WORDS
    assert np.allclose(frame["x"].to_numpy(dtype=float, na_value=np.nan)[1:7], np.arange(1.0, 7.0))


def test_a_table_streamed_a_column_at_a_time_reads_it_as_the_whole_file_is_read(tmp_path, monkeypatch):
    """The streamed ingest of a large table (one column at a time) reads the dictionary
    column as the whole-file read does: the same schema."""
    from domains.tabular import streaming
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    path = tmp_path / "t.parquet"
    _pandas_dictionary_file(path)
    schemas = []
    for stream in (False, True):
        monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
        out = str(tmp_path / f"s{int(stream)}.zarr")
        ingest("tabular", [str(path)], out, progress=False, verbose=False)
        schemas.append(RecordStore(out).schema["columns"])
    assert schemas[0] == schemas[1]
    assert [c["kind"] for c in schemas[1]] == ["categorical", "numeric"]


def test_impute_writes_the_dictionary_column_back_with_the_inputs_arrow_types(tmp_path):
    """Filled, the file keeps its Arrow schema (the column a dictionary of int32 indices);
    its pandas metadata is the filled frame's, so pandas reads the output too."""
    from encoderkit.cli import main

    path, out = tmp_path / "t.parquet", tmp_path / "o.parquet"
    _pandas_dictionary_file(path)
    assert main(["impute", f"input={path}", f"output={out}", "model.hidden_size=16", "model.num_layers=1",
                 "model.num_heads=2", "model.intermediate_size=32", "train.steps=3", "progress=false"]) == 0
    assert pq.read_schema(out).types == pq.read_schema(path).types
    filled = pd.read_parquet(out)
    assert filled["c"].notna().all() and set(filled["c"]) <= {"u", "v", "w"}
    kept = pq.read_table(path).column("c").to_pylist()
    assert all(a == b for a, b in zip(kept, filled["c"]) if a is not None)  # observed cells unchanged
