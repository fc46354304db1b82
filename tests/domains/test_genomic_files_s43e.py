"""DNA files as real tools write them (audit s43, findings 6-14): a raw FASTA is read as its
store was ingested (N-run pieces, invalid=n, min_length), a protein FASTA is named as such,
ingest says which records it cut into which ids, infill writes RNA as RNA, headers, line
endings, widths and the output's kind and compression as the file / name has them, and
warns of records and gaps it invents. Bases: the bundled E. coli K-12 excerpt."""

from __future__ import annotations

import bz2
import gzip
import lzma
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from domains.genomic import GenomicDomain, bundled_sequence
from domains.genomic.io import SeqRecord, read_seq_records, write_seq_records
from domains.genomic.tokens import decode_bases
from encoderkit.cli import main
from encoderkit.core import EncoderConfig
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.domain import IngestReport
from encoderkit.errors import DataError, UsageError
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.train import checkpoint as ckpt

GENOME = bundled_sequence(6_000)


def _wrap(seq: str, width: int = 70, nl: str = "\n") -> str:
    return nl.join(seq[i:i + width] for i in range(0, len(seq), width))


def _mixed(path: Path) -> Path:
    """chrMix: 1,500 bases, a 100-N assembly gap, 1,400 bases; and a short record."""
    seq = GENOME[:1500] + "N" * 100 + GENOME[1500:2900]
    path.write_text(f">chrMix some description\n{_wrap(seq)}\n>short\n{GENOME[3000:3300]}\n")
    return path


class _Writer:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.ids.append(id)
        return len(self.ids) - 1


def _prefer(domain: GenomicDomain, base: str):
    """A predict function whose logits favour ``base`` at every hidden token."""
    def predict(examples):
        out = []
        for ex in examples:
            logits = np.zeros((int(ex.predict.sum()), domain.vocab_size), np.float32)
            logits[:, 4 + "ACGT".index(base)] = 10.0
            out.append({"logits": logits})
        return out
    return predict


def _run(root: Path, fasta: Path, **ingest_options) -> tuple[Path, Path]:
    """A store of ``fasta`` and an untrained tiny run on it (the reader, not the weights, is tested)."""
    store = root / "store.zarr"
    ingest("genomic", [str(fasta)], str(store), progress=False, verbose=False, **ingest_options)
    domain = GenomicDomain(RecordStore(str(store)).schema)
    torch.manual_seed(0)
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                           local_window=8, rope_axes=1)
    model = MaskedEncoderModel(domain, config)
    run = root / "run"
    state = {"step": 1, "model_config": config.to_dict(), "domain": domain.describe()}
    ckpt.save_checkpoint(run / "checkpoints", 1, ckpt.model_state(model), {}, [], state, keep=0)
    (run / "config.yaml").write_text("data:\n  max_seqlen: 64\n")
    return run, store


def _store_records(store: Path) -> list[tuple[str, str]]:
    st = RecordStore(str(store))
    return [(r["id"], decode_bases(r["ids"], r["soft"])) for r in st.read_many(np.arange(len(st)))]


# ---------------------------------------------------------------- 6. raw files read as ingested
def test_a_raw_fasta_gives_the_pieces_and_ids_of_its_store(tmp_path):
    fa = _mixed(tmp_path / "mixed.fa")
    ingest("genomic", [str(fa)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    stored = _store_records(tmp_path / "s.zarr")
    assert stored == [("chrMix:0-1500", GENOME[:1500]), ("chrMix:1600-3000", GENOME[1500:2900]),
                      ("short", GENOME[3000:3300])]  # the bases themselves, not only the ids
    domain = GenomicDomain(RecordStore(str(tmp_path / "s.zarr")).schema)
    with pytest.warns(UserWarning, match=r"'chrMix' -> 'chrMix:0-1500', 'chrMix:1600-3000'"):
        raw = domain.read_records(str(fa))
    assert [(r["id"], decode_bases(r["ids"], r["soft"])) for r in raw] == stored
    # a store ingested with max_n_run=100 keeps the record whole, and so does its raw read
    ingest("genomic", [str(fa)], str(tmp_path / "w.zarr"), progress=False, verbose=False, max_n_run=100)
    whole = GenomicDomain(RecordStore(str(tmp_path / "w.zarr")).schema)
    assert [r["id"] for r in whole.read_records(str(fa))] == ["chrMix", "short"]


def test_a_raw_file_reads_with_the_stores_invalid_and_min_length(tmp_path):
    fa = tmp_path / "gaps.fa"
    fa.write_text(f">a\n{GENOME[:100]}---{GENOME[100:200]}\n>tiny\n{GENOME[300:310]}\n")
    ingest("genomic", [str(fa)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           invalid="n", min_length=20)
    stored = _store_records(tmp_path / "s.zarr")
    assert stored == [("a", GENOME[:100] + "NNN" + GENOME[100:200])]  # invalid=n: each '-' an N
    domain = GenomicDomain(RecordStore(str(tmp_path / "s.zarr")).schema)
    assert domain.read_options() == {"invalid": "n", "max_n_run": 50, "min_length": 20}
    with pytest.warns(UserWarning) as said:
        raw = domain.read_records(str(fa))
    assert [(r["id"], decode_bases(r["ids"], r["soft"])) for r in raw] == stored
    text = " ".join(str(w.message) for w in said)
    assert "'tiny'" in text and "min_length" in text and "3 non-IUPAC character(s) read as N" in text


def test_embed_of_a_raw_fasta_joins_its_store_and_takes_the_ingest_options(tmp_path, capsys):
    fa = tmp_path / "gaps.fa"
    seq = GENOME[:400] + "N" * 80 + GENOME[400:700]
    fa.write_text(f">g1 desc\n{_wrap(seq[:200])}-{_wrap(seq[200:])}\n>g2\n{GENOME[1000:1300]}\n")
    run, store = _run(tmp_path, fa, invalid="n")
    out_store, out_raw = tmp_path / "store.npy", tmp_path / "raw.npy"
    assert main(["embed", f"checkpoint={run}", f"input={store}", f"output={out_store}"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embed", f"checkpoint={run}", f"input={fa}", f"output={out_raw}",
                     "invalid=n", "max_n_run=50"]) == 0  # the run's own values, repeated
    ids = list(np.load(tmp_path / "raw.ids.npy", allow_pickle=True))
    assert ids == list(np.load(tmp_path / "store.ids.npy", allow_pickle=True)) == \
        ["g1:0-401", "g1:481-781", "g2"]  # the '-' read as N, as ingest did
    np.testing.assert_allclose(np.load(out_raw), np.load(out_store), atol=1e-5)
    capsys.readouterr()
    assert main(["embed", f"checkpoint={run}", f"input={fa}", f"output={tmp_path / 'x.npy'}",
                 "max_n_run=500"]) == 2
    err = capsys.readouterr().err
    assert "max_n_run=500 contradicts the run" in err and "max_n_run=50" in err


def test_infill_of_a_raw_fasta_still_writes_whole_records(tmp_path):
    fa = _mixed(tmp_path / "mixed.fa")
    run, _ = _run(tmp_path, fa)
    out = tmp_path / "filled.fa"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["infill", f"checkpoint={run}", f"input={fa}", f"output={out}"]) == 0
    before, after = read_seq_records(str(fa)), read_seq_records(str(out))
    assert [r.id for r in after] == ["chrMix", "short"]
    assert [len(r.sequence) for r in after] == [len(r.sequence) for r in before] == [3000, 300]
    assert "N" not in after[0].sequence and after[0].sequence[:1500] == GENOME[:1500]
    assert out.read_text().startswith(">chrMix some description\n" + GENOME[:70] + "\n")


# ---------------------------------------------------------------- 7. RNA stays RNA
def test_infill_writes_u_into_a_record_written_with_u():
    d = GenomicDomain({}, rc_infill=False)
    got = d.infill(["ACGUACGUNNNNacguacgunnnn", "ACGTNNacgtnn", "ACGUTNN"], _prefer(d, "T"))
    assert got == ["ACGUACGUUUUUacguacguuuuu", "ACGTTTacgttt", "ACGUTTT"]


# ---------------------------------------------------------------- 8. protein FASTA
PEPTIDE = ("MATVSMRDMLKAGVHFGHQTRYWNPKMKPFIFGARNKVHIINLEKTVPMFNEALAELNKIASRKGKILFVGTKRAASEAVKDAALSCDQ"
           "FFVNHRWLGGMLTNWKTVRQSIKRLKDLETQ")  # E. coli RpsB, N-terminal part


@pytest.mark.parametrize("peptide", [PEPTIDE, "MKVACGTRNDSWYHVB" * 8])  # the second: IUPAC letters only
@pytest.mark.parametrize("invalid", ["error", "n"])
def test_a_protein_fasta_is_named_as_such_without_the_invalid_n_advice(tmp_path, peptide, invalid):
    fa = tmp_path / "protein.fa"
    fa.write_text(f">sp|P0A7V0|RS2_ECOLI 30S ribosomal protein S2\n{_wrap(peptide, 60)}\n")
    with pytest.raises(DataError, match=r"looks like a protein FASTA") as e:
        GenomicDomain.ingest([str(fa)], _Writer(), IngestReport(), invalid=invalid)
    assert "invalid=n" not in str(e.value) and "'sp|P0A7V0|RS2_ECOLI'" in str(e.value)
    with pytest.raises(DataError, match=r"looks like a protein FASTA"):
        GenomicDomain({}).read_records(str(fa))
    with pytest.raises(ValueError, match=r"looks like a protein"):
        GenomicDomain({}).to_records([peptide])


def test_dna_with_ambiguity_codes_and_x_masks_is_still_dna(tmp_path):
    fa = tmp_path / "dna.fa"
    seq = GENOME[:200] + "RYKMSWBDHV" + GENOME[200:260].lower() + "X" * 40 + GENOME[260:400]
    fa.write_text(f">d\n{seq}\n>primer\nCCTAYGGGRBGCASCAG\n")
    w = _Writer()
    GenomicDomain.ingest([str(fa)], w, IngestReport(), invalid="n")
    assert w.ids == ["d", "primer"]
    with pytest.raises(DataError, match=r"not an IUPAC nucleotide code .* invalid=n"):
        GenomicDomain.ingest([str(fa)], _Writer(), IngestReport())  # X: the invalid=n advice stays


# ---------------------------------------------------------------- 9. ingest says what it cut
def test_ingest_warning_names_cut_records_pieces_and_the_max_n_run_that_keeps_them_whole(tmp_path):
    fa = tmp_path / "tok.fa"
    fa.write_text(f">tok0\n{GENOME[:1000]}{'N' * 100}{GENOME[1000:1900]}\n>tok1\n{GENOME[2000:2500]}\n"
                  f">lead\n{'N' * 60}{GENOME[3000:3200]}\n")
    w, report = _Writer(), IngestReport()
    GenomicDomain.ingest([str(fa)], w, report)
    assert w.ids == ["tok0:0-1000", "tok0:1100-2000", "tok1", "lead"]
    (said,) = [x for x in report.warnings if "cut at runs of N" in x]
    assert "2 record(s)" in said and "'tok0' -> 'tok0:0-1000', 'tok0:1100-2000'" in said
    assert "positions restart at 0" in said and "'lead' -> 'lead' (its bases 60-260)" in said
    assert "max_n_run=100" in said  # the longest run cut: ingest with it and nothing is cut
    w = _Writer()
    GenomicDomain.ingest([str(fa)], w, IngestReport(), max_n_run=100)
    assert w.ids == ["tok0", "tok1", "lead"]


# ---------------------------------------------------------------- 10. infill writes the file back
def test_infill_keeps_headers_line_endings_and_width_byte_for_byte(tmp_path):
    d = GenomicDomain({}, rc_infill=False)
    s = GENOME[:200]
    holed = s[:50] + "NNNN" + s[54:]
    text = (f">chr1\tlength=200\tsource=ncbi\r\n{_wrap(holed, 60, chr(13) + chr(10))}\r\n"
            f">chr2  two  spaces  \r\n{_wrap(holed, 60, chr(13) + chr(10))}\r\n"
            f">\r\n{holed[:100]}\r\n")
    src = tmp_path / "in.fa"
    src.write_bytes(text.encode())
    data = d.read_input(str(src))
    filled = d.infill(data, _prefer(d, "A"))
    d.write_output(filled, str(tmp_path / "out.fa"))
    want = text.replace("NNNN", "AAAA")
    assert (tmp_path / "out.fa").read_bytes() == want.encode()
    # a record renamed in Python gets a header made from its id and description
    filled[0].id = "renamed"
    d.write_output(filled, str(tmp_path / "renamed.fa"))
    assert (tmp_path / "renamed.fa").read_bytes().startswith(b">renamed length=200\tsource=ncbi\r\n")


# ---------------------------------------------------------------- 11. invented records and gaps
def test_infill_warns_of_a_record_without_bases_and_of_gaps_ingest_cuts_out():
    d = GenomicDomain({}, rc_infill=False)
    recs = {"allN": "N" * 300, "gap": GENOME[:100] + "N" * 80 + GENOME[100:200], "ok": "ACGTNACGT"}
    with pytest.warns(UserWarning) as said:
        filled = d.infill(recs, _prefer(d, "C"))
    text = " | ".join(str(w.message) for w in said)
    assert "without any A/C/G/T base" in text and "'allN'" in text
    assert "longer than max_n_run=50" in text and "'gap'" in text and "'ok'" not in text
    assert filled["allN"] == "C" * 300 and filled["ok"] == "ACGTCACGT"  # the fill itself unchanged


# ---------------------------------------------------------------- 12. ';' comment first
def test_a_fasta_starting_with_a_semicolon_comment_is_read(tmp_path):
    fa = tmp_path / "semicolon.fa"
    fa.write_text(f";comment line\n;another\n>s1\n{GENOME[:120]}\n")
    w = _Writer()
    GenomicDomain.ingest([str(fa)], w, IngestReport())
    assert w.ids == ["s1"] and read_seq_records(str(fa))[0].sequence == GENOME[:120]


# ---------------------------------------------------------------- 13. the output's name
@pytest.mark.parametrize("suffix, opener", [(".fa.gz", gzip.open), (".fa.bz2", bz2.open), (".fa.xz", lzma.open)])
def test_write_compresses_as_the_name_says(tmp_path, suffix, opener):
    recs = [SeqRecord("a", GENOME[:150], "desc")]
    path = tmp_path / f"x{suffix}"
    write_seq_records(recs, str(path))
    with opener(path, "rt") as fh:
        assert fh.read().startswith(">a desc\n" + GENOME[:80] + "\n")
    assert read_seq_records(str(path)) == recs


@pytest.mark.parametrize("records, name, needle", [
    ([SeqRecord("r", "ACGT", "", "IIII")], "o.fa", "name it .fq"),
    ([SeqRecord("r", "ACGT", "", "IIII")], "o.fasta.gz", "name it .fq"),
    ([SeqRecord("r", "ACGT")], "o.fq", "name it .fa"),
    ([SeqRecord("r", "ACGT")], "o.fastq.xz", "name it .fa"),
    ([SeqRecord("r", "ACGT")], "o.fa.zip", "does not read back"),
    ([SeqRecord("r", "ACGT")], "o.fa.bgz", "bgzip"),
])
def test_write_refuses_a_name_of_another_kind_or_an_unread_compression(tmp_path, records, name, needle):
    with pytest.raises(UsageError, match=needle) as e:
        write_seq_records(records, str(tmp_path / name))
    assert name in str(e.value)
    assert not list(tmp_path.iterdir())


def test_infill_cli_refuses_an_output_of_the_other_kind_before_any_fill(tmp_path, capsys):
    fa = _mixed(tmp_path / "mixed.fa")
    run, _ = _run(tmp_path, fa)
    fq = tmp_path / "reads.fq"
    fq.write_text(f"@r0\n{GENOME[:30]}N{GENOME[31:40]}\n+\n{'I' * 40}\n")
    for src, out, needle in ((fq, "fq_to.fa", "would drop the qualities"), (fa, "fa_to.fq", "no qualities"),
                             (fa, "y.fa.zip", ".zip")):
        capsys.readouterr()
        assert main(["infill", f"checkpoint={run}", f"input={src}", f"output={tmp_path / out}"]) == 2
        err = [x for x in capsys.readouterr().err.splitlines() if "error:" in x]
        assert len(err) == 1 and needle in err[0] and out in err[0], err
        assert not (tmp_path / out).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["infill", f"checkpoint={run}", f"input={fa}", f"output={tmp_path / 'y.fa.bz2'}"]) == 0
    assert (tmp_path / "y.fa.bz2").read_bytes().startswith(b"BZh")


# ---------------------------------------------------------------- 14. wrapped FASTQ
def test_wrapped_fastq_is_said_to_be_unsupported(tmp_path):
    fq = tmp_path / "wrapped.fq"
    fq.write_text(f"@r0\n{GENOME[:40]}\n{GENOME[40:80]}\n+\n{'I' * 40}\n{'I' * 40}\n")
    with pytest.raises(DataError, match=r"wrapped \(multi-line\) FASTQ is not supported"):
        GenomicDomain.ingest([str(fq)], _Writer(), IngestReport())
