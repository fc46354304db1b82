"""A genome written with each chromosome on one line (s47d): the FASTA reader reads a line
longer than a block in pieces, so ingest, a raw file read back (embed / predict) and the
streamed infill hold a block of it, not the line, and give what the same sequence wrapped
at 80 columns gives. The wrapped file, read with the default block size, is the reference;
the one-line file is read in tiny blocks (``BLOCK_CHARS`` lowered) so every piece border is
crossed (inside runs of N, soft-masked stretches, whitespace, a header, a comment)."""

from __future__ import annotations

import gzip
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from domains.genomic import GenomicDomain, bundled_sequence, scan
from domains.genomic import io as gio
from domains.genomic.io import detect_format, iter_fasta, iter_fasta_blocks, read_seq_records, write_seq_records
from encoderkit.domain import IngestReport
from encoderkit.errors import DataError
from tests.domains.test_genomic_memory_s45 import _grouped_predict, _Keeper

GENOME = bundled_sequence(20_000)


def _chromosome(n: int, seed: int = 0) -> str:
    """Real bases with soft-masked stretches, short runs of N and one long gap."""
    rng = np.random.default_rng(seed)
    s = bytearray((GENOME * (1 + n // len(GENOME)))[:n].encode())
    for a in rng.integers(0, n - 100, size=n // 500 + 1):
        s[a:a + 40] = bytes(s[a:a + 40]).lower()
    for a in rng.integers(0, n - 100, size=n // 700 + 1):
        m = int(rng.integers(1, 6))
        s[a:a + m] = b"N" * m
    s[n // 2:n // 2 + 80] = b"N" * 80  # longer than max_n_run=50: ingest cuts the record there
    assert len(s) == n
    return s.decode()


def _fasta(records: list[tuple[str, str]], width: int | None, nl: str = "\n") -> str:
    def body(seq: str) -> str:
        w = width or max(len(seq), 1)
        return "".join(seq[i:i + w] + nl for i in range(0, len(seq), w))
    return "".join(f">{h}{nl}{body(s)}" for h, s in records)


RECORDS = [("chr1 one line" + " x" * 40, _chromosome(9_000)), ("chr2", _chromosome(3_001, 1)),
           ("empty", ""), ("tiny", "ACGTn")]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {"wrapped": tmp_path / "wrapped.fa", "oneline": tmp_path / "oneline.fa",
           "crlf": tmp_path / "crlf.fa", "gz": tmp_path / "oneline.fa.gz"}
    out["wrapped"].write_text(_fasta(RECORDS, 80))
    one = _fasta(RECORDS, None)
    out["oneline"].write_text(";" + "a comment as long as a line " * 30 + "\n" + one)
    out["crlf"].write_bytes(one.replace("\n", "\r\n").encode())
    out["gz"].write_bytes(gzip.compress(one.encode()))
    return out


@pytest.fixture
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(gio, "BLOCK_CHARS", 7)  # a line in pieces of 7 characters
    monkeypatch.setattr(scan, "SLICE", 5)


def _ingest(path: Path, **options) -> list:
    kept = _Keeper()
    GenomicDomain.ingest([str(path)], kept, IngestReport(), **options)
    return kept.records


def _largest_block(path: Path) -> int:
    """Characters of the largest block the reader gives (a line whole: the line)."""
    return max(sum(map(len, block[1])) for block in iter_fasta_blocks(str(path)))  # block[1]: its lines


def _same_records(got: list, want: list) -> None:
    assert [r[0] for r in got] == [r[0] for r in want]
    for g, w in zip(got, want):
        assert np.array_equal(g[1], w[1]) and np.array_equal(g[2], w[2]) and g[3] == w[3]


@pytest.mark.parametrize("name", ["oneline", "crlf", "gz"])
def test_ingest_of_one_line_chromosomes_in_pieces_stores_what_the_wrapped_file_stores(files, monkeypatch, name):
    want = _ingest(files["wrapped"], max_n_run=50)
    assert len(want) == 5  # chr1 and chr2 cut at their gaps, tiny (the empty record skipped)
    monkeypatch.setattr(gio, "BLOCK_CHARS", 7)
    monkeypatch.setattr(scan, "SLICE", 5)
    _same_records(_ingest(files[name], max_n_run=50), want)
    assert _largest_block(files[name]) < 2 * 7  # a block of the line at a time, not the line


def test_a_raw_file_on_one_line_reads_back_as_the_wrapped_one(files, tiny_blocks, monkeypatch):
    domain = GenomicDomain({}, max_n_run=50)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        got = domain.read_records(str(files["oneline"]))
    monkeypatch.setattr(gio, "BLOCK_CHARS", 1 << 18)
    with warnings.catch_warnings(record=True) as said_wrapped:
        warnings.simplefilter("always")
        want = domain.read_records(str(files["wrapped"]))
    assert [r["id"] for r in got] == [r["id"] for r in want]
    assert all(np.array_equal(g["ids"], w["ids"]) and np.array_equal(g["soft"], w["soft"]) for g, w in zip(got, want))
    assert [str(w.message).split(": ", 1)[1] for w in said] == [str(w.message).split(": ", 1)[1] for w in said_wrapped]


def test_whitespace_headers_and_comments_split_across_pieces_read_as_whole_lines(tmp_path, monkeypatch):
    """Each line stripped as ``str.strip`` strips it (whitespace inside a line stays, to be
    refused or read as N), blank lines skipped, a long header and comment kept or skipped
    whole, a last line with no line ending: the reference is the text split by hand."""
    rng = np.random.default_rng(3)
    pad = [" ", "\t", "  \t ", "\x0b", ""]
    records = []
    for r in range(12):
        lines = []
        for _ in range(int(rng.integers(0, 6))):
            core = GENOME[:int(rng.integers(1, 60))]
            if rng.random() < 0.3:  # whitespace inside the line
                k = int(rng.integers(0, len(core)))
                core = core[:k] + pad[int(rng.integers(0, 4))] + core[k:]
            lines.append(pad[int(rng.integers(0, 5))] + core + pad[int(rng.integers(0, 5))])
            if rng.random() < 0.2:
                lines.append(pad[int(rng.integers(0, 5))] * int(rng.integers(1, 20)))  # a blank line
        records.append((f"r{r} " + "d" * int(rng.integers(0, 40)), lines))
    text = ";" + "c" * 50 + "\n" + "".join(f">{h}\n" + "".join(x + "\n" for x in lines) for h, lines in records)
    text = text.rstrip("\n")  # the file ends without a line ending
    path = tmp_path / "odd.fa"
    path.write_text(text)
    expected = [(h.split()[0], [x.strip() for x in lines if x.strip()]) for h, lines in records]
    for block in (1, 2, 3, 7, 50, 1 << 18):
        monkeypatch.setattr(gio, "BLOCK_CHARS", block)
        got = [(r.id, r.lines) for r in iter_fasta(str(path))]
        assert got == expected, block
        assert [r.header for r in iter_fasta(str(path))] == [h for h, _ in records]
    assert detect_format(str(path)) == "fasta"


def test_a_bad_character_far_into_a_one_line_chromosome_is_named_where_it_stands(tmp_path, tiny_blocks):
    seq = GENOME[:5000] + "-" + GENOME[5000:9000]
    path = tmp_path / "bad.fa"
    path.write_text(f">ok\nACGT\n>bad\n{seq}\n")
    # line 4 of the file, column 5001 (by hand: the one sequence line of record 'bad')
    with pytest.raises(DataError, match=r"record 'bad', line 4, column 5001: character '-'"):
        _ingest(path)
    # a record whose first line ends blocks after it began: the next line's columns restart
    path.write_text(f">bad\n{GENOME[:3000]}\n{GENOME[:40]}-\n")
    with pytest.raises(DataError, match=r"record 'bad', line 3, column 41: character '-'"):
        _ingest(path)
    assert _ingest(path, invalid="n")[0][1][3040] == 4  # read as N


@pytest.mark.parametrize("options, max_tokens", [({}, 16384), ({"infill_window": 64}, 300),
                                                 ({"tokens": "kmer", "k": 3, "infill_window": 100}, 900)])
def test_streamed_infill_of_one_line_chromosomes_writes_what_the_in_memory_fill_writes(
        files, monkeypatch, tmp_path, options, max_tokens):
    domain = GenomicDomain({}, **options)
    predict = _grouped_predict(domain.vocab_size, max_tokens)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = domain.infill(read_seq_records(str(files["oneline"])), predict)
        write_seq_records(whole, str(tmp_path / "whole.fa"))
        wrapped = domain.infill(read_seq_records(str(files["wrapped"])), predict)
        monkeypatch.setattr(gio, "BLOCK_CHARS", 7)
        monkeypatch.setattr(scan, "SLICE", 5)
        for name in ("oneline", "gz"):
            domain.infill_file(str(files[name]), str(tmp_path / f"{name}.out.fa"), predict, max_tokens)
    streamed = (tmp_path / "oneline.out.fa").read_bytes()
    assert streamed == (tmp_path / "whole.fa").read_bytes() == (tmp_path / "gz.out.fa").read_bytes()
    # each chromosome still on one line, filled as the wrapped file's chromosome is
    assert [r.sequence for r in whole] == [r.sequence for r in wrapped]
    assert streamed.decode().split("\n")[1] == wrapped[0].sequence


def test_a_first_line_longer_than_a_block_sets_the_width_the_streamed_fill_writes(tmp_path, tiny_blocks):
    """The fill writes a record at the width of its first line (as ``write_seq_records``
    does), which the streamed fill learns only when that line ends, blocks later."""
    seq = _chromosome(2_000, 2)
    path = tmp_path / "uneven.fa"
    path.write_text(f">a\n{seq[:333]}\n" + "".join(seq[i:i + 60] + "\n" for i in range(333, 2000, 60))
                    + f">b\n{seq[:10]}\n{seq[10:500]}\n")
    domain = GenomicDomain({}, infill_window=50)
    predict = _grouped_predict(domain.vocab_size, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_seq_records(domain.infill(read_seq_records(str(path)), predict), str(tmp_path / "whole.fa"))
        domain.infill_file(str(path), str(tmp_path / "streamed.fa"), predict, 200)
    out = (tmp_path / "streamed.fa").read_bytes()
    assert out == (tmp_path / "whole.fa").read_bytes()
    assert [len(x) for x in out.split(b"\n")[1:8]] == [333] * 6 + [2000 - 6 * 333]


def test_reading_a_one_line_chromosome_holds_a_block_not_the_line(tmp_path, monkeypatch):
    """A 4 Mb chromosome on one line: the reader's traced peak is a block or two (64 k
    characters), and the streamed fill's stays under a byte for every two bases, as for a
    wrapped file (reading the line whole held it several times over: ~3 bytes a base)."""
    seq = (GENOME * 200)[:4_000_000]
    seq = seq[:1000] + "NNNNN" + seq[1005:3_000_000] + "n" * 300 + seq[3_000_300:]
    path = tmp_path / "chr.fa"
    path.write_text(f">chr\n{seq}\n")
    monkeypatch.setattr(gio, "BLOCK_CHARS", 1 << 16)
    tracemalloc.start()
    try:
        bases = sum(len(x) for block in iter_fasta_blocks(str(path)) for x in block[1])  # its lines
        _, read_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        domain = GenomicDomain({})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            domain.infill_file(str(path), str(tmp_path / "out.fa"), _grouped_predict(domain.vocab_size, 16384), 16384)
        _, fill_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bases == len(seq)
    assert read_peak < 1_000_000, f"reader peak {read_peak} bytes for a 4 Mb line"
    assert fill_peak < len(seq) // 2, f"fill peak {fill_peak} bytes for a 4 Mb line"
    filled = (tmp_path / "out.fa").read_text().split("\n")
    assert len(filled) == 3 and len(filled[1]) == len(seq) and "N" not in filled[1].upper()
