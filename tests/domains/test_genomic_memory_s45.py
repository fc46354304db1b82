"""Genomic files of any size (s45): ``encoderkit infill`` streams a FASTA/FASTQ file through
the fill, and ingest reads a record in blocks, so neither holds a chromosome as text or
tokens (measured before: ~40 bytes a base for infill, ~12 for ingest).

The streamed fill must write byte for byte what the in-memory fill writes
(``infill(read_seq_records(f))`` then ``write_seq_records``): same windows, same groups of
windows through the model, same layout. The fake model here gives logits that depend on the
example and on the group it is packed in, so a window read from the wrong bases, or packed
beside other windows than the reference packs it with, changes the output. Records are read
in tiny blocks (``BLOCK_CHARS`` lowered) so every block, line and group border is crossed."""

from __future__ import annotations

import gzip
import re
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from domains.genomic import GenomicDomain, bundled_sequence
from domains.genomic import infill_stream, scan
from domains.genomic import io as gio
from domains.genomic.io import read_seq_records, write_seq_records
from domains.genomic.tokens import BASES, Vocabulary, reverse_complement_bases
from domains.genomic.windows import TokenMap, Windows, count_jobs, fill_jobs
from domains.genomic.scan import RecordScan
from encoderkit.cli import main
from encoderkit.domain import IngestReport, window_bounds
from encoderkit.errors import DataError
from encoderkit.infer import load
from encoderkit.infer.embed import pack_in_order

GENOME = bundled_sequence(60_000)


# ---------------------------------------------------------------- windows without the record
@pytest.mark.parametrize("seed", range(4))
def test_each_token_is_owned_by_the_window_where_it_sits_most_centrally(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n, size = int(rng.integers(1, 400)), int(rng.integers(2, 50))
        bounds = window_bounds(n, size, size // 4)
        w = Windows(n, size)
        assert [w.bounds(i) for i in range(w.count)] == [(int(s), int(e)) for s, e in bounds]
        tok = np.arange(n)
        margin = np.stack([np.minimum(tok - s, e - 1 - tok) for s, e in bounds])  # the reference's rule
        assert np.array_equal(w.owner(tok), margin.argmax(0)), (n, size)
        # the windows that own tokens of some runs, each with exactly its tokens, in order
        cuts = np.unique(rng.integers(0, n + 1, size=2 * int(rng.integers(1, 6))))
        runs = [(a, b) for a, b in zip(cuts[0::2], cuts[1::2]) if b > a]
        if not runs:
            continue
        a, b = np.array([r[0] for r in runs]), np.array([r[1] for r in runs])
        hidden = np.concatenate([np.arange(x, y) for x, y in runs])
        owners = margin.argmax(0)[hidden]
        want = [(int(o), hidden[owners == o]) for o in np.unique(owners)]
        for descending in (False, True):
            got = list(fill_jobs(a, b, w, descending))
            assert [g for g, _ in got] == [o for o, _ in (want[::-1] if descending else want)]
            assert all(np.array_equal(t, dict((o, h) for o, h in want)[g]) for g, t in got)
        assert count_jobs(a, b, w) == len(want)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_token_map_finds_every_token_start_on_both_strands(k):
    rng = np.random.default_rng(k)
    p = np.array([0.22] * 4 + [0.06] + [0.012] * 10)
    vocab = Vocabulary("kmer", k)
    for _ in range(100):
        length = int(rng.integers(0, 500))
        codes = rng.choice(np.arange(15, dtype=np.uint8), length, p=p / p.sum())
        soft = rng.random(length) < 0.3
        text = "".join(BASES[c] for c in codes)
        scanned = RecordScan(breaks=True)
        i = 0
        while i < length:  # in blocks of random size
            j = i + int(rng.integers(1, 40))
            scanned.add([text[i:j]])
            i = j
        tmap = TokenMap.from_breaks(*scanned.breaks.close(length), length, k)
        for m, (c, s) in ((tmap, (codes, soft)), (tmap.reversed(), reverse_complement_bases(codes, soft))):
            ids, _, starts = vocab.tokenize(c, s)
            assert m.tokens == ids.shape[0]
            assert np.array_equal(m.base_of(np.arange(ids.shape[0] + 1)), np.append(starts, length))
        odd = np.flatnonzero(codes >= 4)  # N and other ambiguity codes: a token of their own
        assert np.array_equal(tmap.token_of(odd), np.searchsorted(vocab.tokenize(codes, soft)[2], odd))


# ---------------------------------------------------------------- the streamed fill
def _grouped_predict(vocab_size: int, max_tokens: int):
    """Logits from the example's inputs and positions and from the group ``pack_in_order``
    packs it in (as ``predict_examples`` does)."""
    def predict(examples):
        out = []
        budget = max(max_tokens, max(len(e) for e in examples))
        for group in pack_in_order(list(examples), len, budget):
            key = zlib.crc32(np.array([[len(e), e.predict.sum()] for e in group]).tobytes())
            for e in group:
                seed = [key, zlib.crc32(np.asarray(e.inputs["ids"]).tobytes()),
                        zlib.crc32(np.asarray(e.inputs["soft"]).tobytes()), zlib.crc32(e.positions.tobytes()),
                        zlib.crc32(e.predict.tobytes())]
                out.append({"logits": np.random.default_rng(seed).standard_normal(
                    (int(e.predict.sum()), vocab_size)).astype(np.float32)})
        return out
    return predict


def _holed(rng: np.random.Generator, n: int, soft: bool = False) -> str:
    start = int(rng.integers(0, len(GENOME) - n)) if n < len(GENOME) else 0
    s = bytearray((GENOME * (1 + n // len(GENOME)))[start:start + n].encode())
    if soft:  # soft-masked stretches
        for a in rng.integers(0, max(n, 1), size=n // 300 + 1):
            m = int(rng.integers(5, 80))
            s[a:a + m] = bytes(s[a:a + m]).lower()
    for _ in range(int(rng.integers(0, 4))):
        a, m = int(rng.integers(0, max(n, 1))), int(rng.choice([1, 3, 60, 200]))
        s[a:a + m] = (b"n" if a < n and s[a] >= 97 else b"N") * len(s[a:a + m])
    return s.decode()


def _files(tmp: Path) -> dict[str, Path]:
    """Inputs of every layout the reader keeps: widths 60 / 80 / uneven / one line, CRLF,
    gzip, lowercase, N at record starts, ends and window borders, only-N and empty records,
    FASTQ, RNA, other ambiguity codes."""
    rng = np.random.default_rng(0)
    out = {}
    long = bytearray(_holed(rng, 40_000, soft=True).encode())
    for p in (0, 1, 767, 768, 895, 896, 1023, 1024, 20_000, 40_000 - 1025, 40_000 - 769, 40_000 - 1):
        long[p] = ord("N")
    long = long.decode()
    out["long"] = tmp / "long.fa"
    out["long"].write_text(">chr1 a long one\n" + "\n".join(long[i:i + 60] for i in range(0, len(long), 60)) + "\n")
    recs = []
    for r in range(60):
        n = int(rng.integers(0, 2500))
        s = _holed(rng, n, soft=r % 2 == 0)
        if r % 9 == 0:
            s = ("N" if r % 2 else "n") * n
        if r % 7 == 0 and n > 4:
            s = "NN" + s[2:-2] + "nn"
        recs.append((f"r{r}" + (" desc\twith  tabs" if r % 3 == 0 else ""), s))
    many = "".join(f">{h}\n" + "".join(s[i:i + 80] + "\n" for i in range(0, len(s), 80)) for h, s in recs)
    out["many"] = tmp / "many.fa"
    out["many"].write_text(many)
    out["crlf"] = tmp / "crlf.fa"
    out["crlf"].write_bytes(many.replace("\n", "\r\n").encode())
    uneven = []
    for h, s in recs[:30]:
        lines, i = [], 0
        while i < len(s):
            w = int(rng.integers(1, 120))
            lines.append(s[i:i + w])
            i += w
        uneven.append(f">{h}\n" + "".join(x + "\n" for x in lines))
    out["uneven"] = tmp / "uneven.fa"
    out["uneven"].write_text(";a comment\n" + "".join(uneven) + f">oneline\n{long[:5000]}\n")
    out["gz"] = tmp / "in.fa.gz"
    out["gz"].write_bytes(gzip.compress(many.encode()))
    reads = [s[:150] for _, s in recs if s][:40]
    out["fastq"] = tmp / "reads.fq"
    out["fastq"].write_text("".join(f"@q{i} x\n{s}\n+{'q' + str(i) if i % 2 else ''}\n{'I' * len(s)}\n"
                                    for i, s in enumerate(reads)))
    rna = [s.replace("T", "U").replace("t", "u") for _, s in recs[:10]]
    out["rna"] = tmp / "rna.fa"
    out["rna"].write_text("".join(f">u{i}\n{s}\n" for i, s in enumerate(rna)) + f">dna\n{recs[1][1]}\n")
    iupac = bytearray(long[:20_000].encode())
    for p in rng.integers(0, 20_000, size=60):
        iupac[p] = ord("RYKMSW"[p % 6])
    out["iupac"] = tmp / "iupac.fa"
    out["iupac"].write_text(f">iupac\n{iupac.decode()}\n" + many[:20_000].rsplit(">", 1)[0])
    return out


CASES = [  # file, domain options, max_tokens, output suffix
    ("long", {}, 16384, ".fa"),
    ("long", {"tokens": "kmer", "k": 3, "positions": "base"}, 3000, ".fa"),
    ("long", {"infill_window": 64}, 300, ".fa.gz"),
    ("many", {}, 16384, ".fa"),
    ("many", {"infill_window": 7}, 40, ".fa"),
    ("many", {"infill_window": 100, "rc_infill": False}, 250, ".fa.bz2"),
    ("many", {"tokens": "kmer", "k": 4, "infill_window": 30}, 100, ".fa.xz"),
    ("crlf", {"infill_window": 50}, 120, ".fa"),
    ("uneven", {"infill_window": 128}, 512, ".fa"),
    ("gz", {}, 2048, ".fa.gz"),
    ("fastq", {"infill_window": 16}, 64, ".fq"),
    ("rna", {"tokens": "kmer", "k": 2}, 16384, ".fa"),
    ("iupac", {"tokens": "kmer", "k": 3, "iupac": "keep", "infill_window": 200}, 900, ".fa"),
    ("iupac", {"infill_window": 2}, 16, ".fa"),
]


@pytest.mark.parametrize("name, options, max_tokens, suffix", CASES)
def test_streamed_infill_writes_what_the_in_memory_infill_writes(tmp_path, monkeypatch, name, options,
                                                                  max_tokens, suffix):
    path = _files(tmp_path)[name]
    domain = GenomicDomain({}, **options)
    predict = _grouped_predict(domain.vocab_size, max_tokens)
    with warnings.catch_warnings(record=True) as said_whole:
        warnings.simplefilter("always")
        write_seq_records(domain.infill(read_seq_records(str(path)), predict), str(tmp_path / f"whole{suffix}"))
    monkeypatch.setattr(gio, "BLOCK_CHARS", 97)  # records read in many blocks, lines cut across them
    monkeypatch.setattr(scan, "SLICE", 31)  # and a block in slices
    monkeypatch.setattr(infill_stream, "PATCH_GAP", 10)
    with warnings.catch_warnings(record=True) as said_streamed:
        warnings.simplefilter("always")
        domain.infill_file(str(path), str(tmp_path / f"streamed{suffix}"), predict, max_tokens)
    whole, streamed = (tmp_path / f"whole{suffix}").read_bytes(), (tmp_path / f"streamed{suffix}").read_bytes()
    assert streamed == whole
    assert [str(w.message) for w in said_streamed] == [str(w.message) for w in said_whole]
    # and the fill is one: every byte but the Ns as the input had it (where its layout is regular)
    if suffix == ".fa" and name in ("long", "many", "crlf"):
        src = path.read_bytes()
        assert len(src) == len(streamed)
        differ = np.frombuffer(src, np.uint8) != np.frombuffer(streamed, np.uint8)
        assert set(src[i] for i in np.flatnonzero(differ)) <= {ord("N"), ord("n")}
        assert b"N" not in re.sub(rb">[^\n]*\n", b"", streamed).upper().replace(b"\r", b"")


def test_streamed_infill_holds_neither_the_record_nor_its_tokens(tmp_path, monkeypatch):
    """A 3 Mb record: the traced peak is a block of text and a group of windows, under a
    byte for every two bases (the whole-record fill held ~40 bytes a base: 120 MB)."""
    seq = (GENOME * 50)[:3_000_000]
    seq = seq[:1000] + "NNNNN" + seq[1005:2_000_000] + "n" * 300 + seq[2_000_300:]
    path = tmp_path / "chr.fa"
    path.write_text(">chr\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    domain = GenomicDomain({})
    predict = _grouped_predict(domain.vocab_size, 16384)
    monkeypatch.setattr(gio, "BLOCK_CHARS", 1 << 16)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            domain.infill_file(str(path), str(tmp_path / "out.fa"), predict, 16384)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3_000_000 // 2, f"peak {peak} bytes for 3 Mb"
    filled = read_seq_records(str(tmp_path / "out.fa"))[0].sequence
    assert len(filled) == len(seq) and "N" not in filled.upper()
    assert filled[:1000] == seq[:1000] and filled[2_000_300:] == seq[2_000_300:]
    assert filled[2_000_000:2_000_300].islower()


# ---------------------------------------------------------------- the CLI streams
def _run(root: Path, fasta: Path) -> Path:
    """An untrained tiny run (the file's way through the fill, not the weights, is tested)."""
    from tests.domains.test_genomic_files_s43e import _run as tiny_run

    return tiny_run(root, fasta)[0]


def test_infill_cli_streams_the_file_and_writes_what_the_python_fill_writes(tmp_path, monkeypatch):
    path = _files(tmp_path)["many"]
    run = _run(tmp_path, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load(str(run))
        write_seq_records(model.infill(read_seq_records(str(path))), str(tmp_path / "whole.fa"))

        def whole(self, path):
            raise AssertionError("the CLI read the file whole")
        monkeypatch.setattr(GenomicDomain, "read_input", whole)
        assert main(["infill", f"checkpoint={run}", f"input={path}", f"output={tmp_path / 'cli.fa'}",
                     "window=200"]) == 0
        model.infill_domain({"window": 200}).infill_file(str(path), str(tmp_path / "api.fa"), model.predict,
                                                         model.max_tokens)
        assert main(["infill", f"checkpoint={run}", f"input={path}", f"output={tmp_path / 'default.fa'}"]) == 0
    assert (tmp_path / "default.fa").read_bytes() == (tmp_path / "whole.fa").read_bytes()
    assert (tmp_path / "cli.fa").read_bytes() == (tmp_path / "api.fa").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


# ---------------------------------------------------------------- ingest in blocks
class _Keeper:
    def __init__(self) -> None:
        self.records: list[tuple[str, np.ndarray, np.ndarray, dict]] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.records.append((id, fields["ids"], fields["soft"], dict(meta)))
        return len(self.records) - 1


def _expected_pieces(rid: str, seq: str, max_run: int) -> list[tuple[str, np.ndarray, np.ndarray, dict]]:
    """Ingest's pieces by hand: codes by table, cut at runs of N longer than ``max_run``."""
    code = {b: i for i, b in enumerate(BASES)} | {"U": 3}
    codes = np.array([code[c.upper()] for c in seq], dtype=np.uint8)
    soft = np.array([c.islower() for c in seq], dtype=bool)
    gaps = [m.span() for m in re.finditer(r"[Nn]+", seq) if m.end() - m.start() > max_run]
    bounds = [0] + [x for g in gaps for x in g] + [len(seq)]
    spans = [(s, e) for s, e in zip(bounds[0::2], bounds[1::2]) if e > s]
    return [(rid if len(spans) == 1 else f"{rid}:{s}-{e}", codes[s:e], soft[s:e], {"offset": s, "piece": j})
            for j, (s, e) in enumerate(spans)]


def test_ingest_reads_a_long_record_in_blocks_into_the_same_pieces(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    seq = _holed(rng, 30_000, soft=True)
    seq = seq[:10_000] + "N" * 120 + seq[10_000:20_000] + "n" * 51 + seq[20_000:] + "N" * 60
    path = tmp_path / "one.fa"
    path.write_text(">one\n" + "\n".join(seq[i:i + 61] for i in range(0, len(seq), 61)) + "\n>u\nACGUNNacgu\n")
    monkeypatch.setattr(gio, "BLOCK_CHARS", 50)
    monkeypatch.setattr(scan, "SLICE", 17)
    kept = _Keeper()
    GenomicDomain.ingest([str(path)], kept, IngestReport())
    want = _expected_pieces("one", seq, 50) + _expected_pieces("u", "ACGUNNacgu", 50)
    assert [r[0] for r in kept.records] == [w[0] for w in want]
    for got, exp in zip(kept.records, want):
        assert np.array_equal(got[1], exp[1]) and np.array_equal(got[2], exp[2]) and got[3] == exp[3]


def test_ingest_of_a_long_record_holds_its_codes_not_its_text(tmp_path, monkeypatch):
    """A 3 Mb record: codes and soft flags (two bytes a base, plus the growth of their
    buffers) and a block at a time; the whole-record read held ~12 bytes a base."""
    monkeypatch.setattr(gio, "BLOCK_CHARS", 1 << 16)
    seq = (GENOME * 50)[:3_000_000]
    path = tmp_path / "chr.fa"
    path.write_text(">chr\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    kept = _Keeper()
    tracemalloc.start()
    try:
        GenomicDomain.ingest([str(path)], kept, IngestReport())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(seq), f"peak {peak} bytes for 3 Mb"
    assert kept.records[0][1].shape == (len(seq),) and not kept.records[0][2].any()


def test_a_character_that_is_no_base_is_named_where_it_stands_when_read_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(gio, "BLOCK_CHARS", 50)
    monkeypatch.setattr(scan, "SLICE", 17)
    seq = GENOME[:1000] + "-" + GENOME[1000:2000]
    path = tmp_path / "bad.fa"
    path.write_text(">ok\nACGTN\n>bad x\n" + "\n".join(seq[i:i + 70] for i in range(0, len(seq), 70)) + "\n")
    # position 1000: line 4 + 1000 // 70 = 18 of the file, column 1000 % 70 + 1 = 21
    with pytest.raises(DataError, match=r"record 'bad', line 18, column 21: character '-'"):
        GenomicDomain.ingest([str(path)], _Keeper(), IngestReport())
    kept = _Keeper()
    GenomicDomain.ingest([str(path)], kept, IngestReport(), invalid="n")
    assert kept.records[1][1][1000] == 4 and len(kept.records[1][1]) == 2001
    with pytest.raises(ValueError, match=r"sequence bad: character '-' at position 1000 "):
        GenomicDomain({}).infill_file(str(path), str(tmp_path / "out.fa"), _grouped_predict(64, 100), 100)
    assert not (tmp_path / "out.fa").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
