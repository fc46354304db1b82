"""A float NaN in a floating-point Parquet column is a missing cell for every reader of
Parquet (tables: ingest, impute; series; label files), whichever way the file was written.
pandas' pyarrow backend keeps NaN as a value (``double[pyarrow]`` in the file's metadata):
ingest refused such a column as "7 of its 60 non-empty cells are not numbers (such as
[nan])", where the same values written by pyarrow alone (read to numpy float64) were read
as missing and imputed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from domains.tabular.reading import read_table
from encoderkit.tasks.label_files import read_table as read_labels

X = np.arange(60.0)
X[::9] = np.nan  # 7 NaN cells, no nulls
HOLES = int(np.isnan(X).sum())


def _files(tmp_path):
    """(the file pyarrow writes, the same file read and written back by pandas' pyarrow backend)."""
    plain, backend = tmp_path / "n.parquet", tmp_path / "n2.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(len(X))], "x": pa.array(X),
                             "y": pa.array(np.arange(60.0) % 7)}), plain)
    pd.read_parquet(plain, dtype_backend="pyarrow").to_parquet(backend)
    # the case in point: NaN kept as values (not nulls) in a column pandas reads as double[pyarrow]
    assert pq.read_table(backend).column("x").null_count == 0
    assert b"double[pyarrow]" in pq.read_schema(backend).metadata[b"pandas"]
    return plain, backend


def test_the_table_reader_reads_nan_as_missing_as_for_the_plain_file(tmp_path):
    plain, backend = _files(tmp_path)
    for path in (plain, backend):
        x = read_table(str(path)).frame["x"]
        assert list(x.isna()) == list(np.isnan(X))
        assert np.array_equal(x.dropna().to_numpy(dtype=float), X[~np.isnan(X)])


def test_ingest_stores_the_backend_file_as_it_stores_the_plain_one(tmp_path, monkeypatch):
    """Read whole, and streamed a column at a time (a large file's way)."""
    from domains.tabular import streaming
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    plain, backend = _files(tmp_path)
    schemas = []
    for path, stream in ((plain, False), (backend, False), (backend, True)):
        monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
        out = str(tmp_path / f"{path.stem}{int(stream)}.zarr")
        ingest("tabular", [str(path)], out, progress=False, verbose=False)
        # the statistics of the observed cells alike ("dtype" is the pandas dtype read: kept for the output)
        schemas.append([{k: v for k, v in c.items() if k != "dtype"} for c in RecordStore(out).schema["columns"]])
    assert schemas[0] == schemas[1] == schemas[2]
    assert {c["name"]: c["kind"] for c in schemas[1]}["x"] == "numeric"


def test_a_labels_file_reads_nan_as_unlabelled(tmp_path):
    _, backend = _files(tmp_path)
    frame = read_labels(backend)
    assert int(frame["x"].isna().sum()) == HOLES


def test_the_series_reader_reads_nan_as_missing(tmp_path):
    from domains.timeseries.parquet import read_frame

    _, backend = _files(tmp_path)
    frame, schema = read_frame(str(backend))
    assert list(frame["x"].isna()) == list(np.isnan(X))
    assert schema.field("x").type == pa.float64()


def test_impute_fills_the_nan_cells_and_keeps_the_inputs_arrow_types(tmp_path):
    from encoderkit.cli import main

    _, backend = _files(tmp_path)
    out = tmp_path / "o.parquet"
    assert main(["impute", f"input={backend}", f"output={out}", "model.hidden_size=16", "model.num_layers=1",
                 "model.num_heads=2", "model.intermediate_size=32", "train.steps=3", "select=model",
                 "progress=false"]) == 0
    assert pq.read_schema(out).types == pq.read_schema(backend).types
    filled = pq.read_table(out).column("x").to_numpy()
    assert np.isfinite(filled).all()
    assert np.array_equal(filled[~np.isnan(X)], X[~np.isnan(X)])  # observed cells unchanged
