"""A compressed table is ingested whole or column by column by the size of its text, not of
the file (``domains/tabular/compressed.py``): a 310 KB ``.csv.gz`` of one repeated row held
160 MB of text and was read whole (2.4 GB at peak). Reference for every store: the
whole-file ingest of the same file (the threshold raised out of reach), array by array."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from domains.tabular import compressed, spill, streaming
from domains.tabular.reading import read_table
from domains.test_table_stream_s45 import _arrays, _attrs
from encoderkit.data.ingest import ingest

# rows that repeat: text that compresses a hundredfold, with a category column, a missing
# cell, integers and decimals, so that the store has something of each kind
PATTERN = ["1.5,7,red,", "2.25,8,green,x", ",9,blue,y", "4.0,,red,z", "5.5,11,,x"]
HEADER = "a,b,colour,tag\n"
THRESHOLD = 40_000  # STREAM_BYTES in these tests: the text is twice it, the files far under


def _text(rows: int = 8000) -> bytes:
    return (HEADER + "".join(PATTERN[i % len(PATTERN)] + "\n" for i in range(rows))).encode()


def _zstd(data: bytes, path: Path) -> None:
    import pyarrow as pa

    with pa.CompressedOutputStream(str(path), "zstd") as out:
        out.write(data)


def _zip(data: bytes, path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("t.csv", data)


WRITERS = {
    ".gz": lambda data, path: path.write_bytes(gzip.compress(data, 9)),
    ".bz2": lambda data, path: path.write_bytes(bz2.compress(data, 9)),
    ".xz": lambda data, path: path.write_bytes(lzma.compress(data)),
    ".zst": _zstd,
    ".zip": _zip,
}


def _write(tmp_path: Path, suffix: str, data: bytes) -> Path:
    path = tmp_path / f"t.csv{suffix}"
    WRITERS[suffix](data, path)
    return path


def _ingest(monkeypatch, path: Path, out: Path, threshold: int):
    """Ingest ``path`` with ``STREAM_BYTES = threshold``; the report and whether the
    column-by-column path ran."""
    monkeypatch.setattr(streaming, "STREAM_BYTES", threshold)
    ran = []
    real = streaming._survey

    def spy(*a, **k):
        ran.append(True)
        return real(*a, **k)

    monkeypatch.setattr(streaming, "_survey", spy)
    report = ingest("tabular", str(path), str(out), progress=False, verbose=False)
    monkeypatch.setattr(streaming, "_survey", real)
    return report, bool(ran)


def assert_streams_into_the_whole_store(monkeypatch, tmp_path: Path, path: Path) -> None:
    """``path`` ingested at ``THRESHOLD`` goes column by column, into the store (and report)
    the whole-file ingest writes."""
    whole, streamed = tmp_path / "whole.zarr", tmp_path / "streamed.zarr"
    rep_a, ran_a = _ingest(monkeypatch, path, whole, 1 << 62)
    monkeypatch.setattr(spill, "BLOCK_BYTES", 4096)  # many blocks and row groups
    monkeypatch.setattr(spill, "BATCH_BYTES", 8192)
    rep_b, ran_b = _ingest(monkeypatch, path, streamed, THRESHOLD)
    assert not ran_a and ran_b
    a = _arrays(zarr.open_group(str(whole), mode="r"))
    b = _arrays(zarr.open_group(str(streamed), mode="r"))
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert _attrs(whole) == _attrs(streamed)
    assert (rep_a.records, rep_a.tokens, rep_a.warnings) == (rep_b.records, rep_b.tokens, rep_b.warnings)
    assert rep_a.records == 8000


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_a_highly_compressible_file_streams_by_its_text_size(monkeypatch, tmp_path, suffix):
    """The file is a hundredth of the threshold (four times it, the old estimate, far under);
    its text twice the threshold: column by column, into the whole-file store."""
    data = _text()
    path = _write(tmp_path, suffix, data)
    assert len(data) >= 2 * THRESHOLD and path.stat().st_size * streaming.COMPRESSED_RATIO < THRESHOLD
    monkeypatch.setattr(streaming, "STREAM_BYTES", THRESHOLD)
    assert streaming.streams([str(path)])
    monkeypatch.setattr(streaming, "STREAM_BYTES", len(data) + 1)  # one byte more than the text
    assert not streaming.streams([str(path)])
    assert_streams_into_the_whole_store(monkeypatch, tmp_path, path)


@pytest.mark.parametrize("suffix", [".bz2", ".xz", ".zst"])
def test_the_measuring_pass_stops_past_the_threshold(monkeypatch, tmp_path, suffix):
    """A format that does not say its text's size is decompressed only until the threshold
    is passed (a chunk at most beyond it), not to its end."""
    data = _text(100_000)  # 1.9 MB of text
    path = _write(tmp_path, suffix, data)
    monkeypatch.setattr(compressed, "CHUNK_BYTES", 4096)
    limit = 50_000
    method = {".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}[suffix]
    assert limit <= compressed.text_size(str(path), method, limit) <= limit + 4096
    assert compressed.text_size(str(path), method, len(data) + 1) == len(data)  # under it: exact


def _short_claim(tmp_path: Path) -> tuple[Path, bytes]:
    """A gzip file of two members, the second one row: its trailer's ISIZE (the last
    member's text) claims under 20 bytes for a text of 90 KB. pyarrow and gzip read both."""
    data = _text()
    head, tail = data[:data.rindex(b"\n", 0, -1) + 1], data[data.rindex(b"\n", 0, -1) + 1:]
    path = tmp_path / "claim.csv.gz"
    path.write_bytes(gzip.compress(head, 9) + gzip.compress(tail, 9))
    assert gzip.decompress(path.read_bytes()) == data and len(tail) < 20
    return path, data


def test_a_gzip_claiming_less_text_than_it_holds_streams_after_all(monkeypatch, tmp_path):
    """Its claim puts it under the threshold, so it is read whole; that read stops once the
    text passes the threshold, and the table is taken column by column: the same store."""
    path, data = _short_claim(tmp_path)
    monkeypatch.setattr(streaming, "STREAM_BYTES", THRESHOLD)
    assert not streaming.streams([str(path)])  # the claim: 20 bytes
    assert_streams_into_the_whole_store(monkeypatch, tmp_path, path)


def test_the_whole_file_reader_is_held_to_its_limit(tmp_path):
    """``read_table(limit=)`` raises ``TextBeyond`` (no user error: the caller reads another
    way) past the limit, and under it reads what it reads without one."""
    path, data = _short_claim(tmp_path)
    with pytest.raises(compressed.TextBeyond):
        read_table(str(path), limit=THRESHOLD)
    held = read_table(str(path), limit=len(data)).frame
    pd.testing.assert_frame_equal(held, read_table(str(path)).frame)
    pd.testing.assert_frame_equal(held, pd.read_csv(path, keep_default_na=False, na_values=[""]),
                                  check_dtype=False)


def test_a_zip_member_is_never_read_whole_when_streamed(monkeypatch, tmp_path):
    """The column-by-column path read a .zip's member into memory whole (``ZipFile.read``):
    the very table it exists for. Now it reads it as it is decompressed."""
    path = _write(tmp_path, ".zip", _text())

    def whole(*a, **k):
        raise AssertionError("a .zip member read whole")

    monkeypatch.setattr(zipfile.ZipFile, "read", whole)
    monkeypatch.setattr(streaming, "STREAM_BYTES", THRESHOLD)
    monkeypatch.setattr(spill, "BLOCK_BYTES", 4096)
    _, ran = _ingest(monkeypatch, path, tmp_path / "z.zarr", THRESHOLD)
    assert ran


def test_a_parquet_file_of_repeated_cells_streams(monkeypatch, tmp_path):
    """A Parquet file of repeated cells (run-length and dictionary encoded: a few KB) counts
    its cells, not four times its size: column by column, into the whole-file store."""
    frame = pd.read_csv(pd.io.common.BytesIO(_text()))
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    cells = frame.size * 4  # "1.5," a cell
    assert path.stat().st_size * streaming.COMPRESSED_RATIO < THRESHOLD <= cells
    assert_streams_into_the_whole_store(monkeypatch, tmp_path, path)
