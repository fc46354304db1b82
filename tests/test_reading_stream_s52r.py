"""The column-by-column table reader (``streaming.py``, ``spill.py``) and the decompressing
stream (``compressed.open_stream``) as the whole-file reader (``test_reading_s52r.py``):
a file whose name pyarrow would open as another one (its bytes are not UTF-8) is read, and a
table whose every row is ragged is refused in the same words by both readers."""

from __future__ import annotations

import bz2
import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from domains.tabular import spill, streaming
from domains.tabular.compressed import open_stream
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError

TEXT = "a,b\n" + "\n".join(f"{i / 2},{'xy'[i % 2]}" for i in range(12)) + "\n"


def _byte_name(folder: Path, stem: bytes) -> str:
    return os.fsdecode(os.fsencode(str(folder)) + b"/" + stem)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_a_table_whose_name_is_not_utf8_is_ingested_column_by_column(monkeypatch, tmp_path: Path,
                                                                     suffix: str) -> None:
    monkeypatch.setattr(streaming, "STREAM_BYTES", 0)
    monkeypatch.setattr(spill, "BLOCK_BYTES", 64)
    odd = _byte_name(tmp_path, b"tabelle_\xfc" + suffix.encode())
    if suffix == ".parquet":
        pd.read_csv(__import__("io").StringIO(TEXT)).to_parquet(tmp_path / "p.parquet")
        with open(tmp_path / "p.parquet", "rb") as src, open(odd, "wb") as dst:
            dst.write(src.read())
    else:
        with (gzip.open(odd, "wt") if suffix.endswith(".gz") else open(odd, "w")) as fh:
            fh.write(TEXT)
    ingest("tabular", [odd], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert len(RecordStore(str(tmp_path / "s.zarr"))) == 12


def test_open_stream_reads_a_compressed_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    odd = _byte_name(tmp_path, b"t_\xfc.csv.bz2")
    with bz2.open(odd, "wt") as fh:
        fh.write(TEXT)
    with open_stream(odd, "bz2") as src:
        assert src.read().decode() == TEXT


@pytest.mark.parametrize("text", ["a,b,c,\n1,2,x\n3,4,y\n", "a,b,c\n1,2\n3,4\n,,\n"])
def test_every_row_ragged_is_refused_alike_by_both_readers(monkeypatch, tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    said = []
    for stream in (False, True):
        monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
        with pytest.raises(DataError) as err:
            ingest("tabular", str(path), str(tmp_path / f"s{stream}.zarr"), progress=False, verbose=False)
        said.append(str(err.value))
    assert said[0] == said[1] and "row(s) were skipped as ragged (line 2 has " in said[0]
