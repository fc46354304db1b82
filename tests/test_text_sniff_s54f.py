"""One reading of a text file's compression (session 54): the genomic reader went by the
file's first bytes, the table / series / set / labels readers by its name, so gzip data named
``g.csv`` was "not UTF-8 text (byte 0x8b ...)". Names stay what decides for tables (pandas,
pyarrow and the writers go by them): a file whose bytes disagree with its name is refused with
the name to give it (``textfiles.check_compression``), and the genomic reader reads by the same
sniff (``textfiles.sniff_compression``). Also: the labels reader's header-separator check is the
table readers' (``textfiles.check_header``), which reads the header as CSV, quotes and all."""

from __future__ import annotations

import bz2
import gzip

import pytest

from encoderkit.cli import main
from encoderkit.data.textfiles import sniff_compression
from encoderkit.errors import DataError
from encoderkit.tasks.label_files import read_table

TABLE = b"id,a,b\nr1,1,2\nr2,3,4\nr3,5,6\n"


@pytest.mark.parametrize("domain", ["tabular", "timeseries", "sets"])
def test_gzip_data_named_csv_is_refused_with_the_name_to_give(tmp_path, capsys, domain):
    src = tmp_path / "g.csv"
    src.write_bytes(gzip.compress(TABLE))
    code = main(["ingest", f"domain={domain}", f"input={src}", f"output={tmp_path / 'o.zarr'}"])
    err = capsys.readouterr().err
    assert code == 1 and "holds gzip data but is named .csv: name it .csv.gz" in err, err
    assert "UTF-8" not in err and not (tmp_path / "o.zarr").exists()


def test_labels_files_get_the_same_sniff(tmp_path):
    packed = tmp_path / "labels.csv"
    packed.write_bytes(bz2.compress(b"id,label\nr1,x\n"))
    with pytest.raises(DataError, match=r"labels.csv: holds bz2 data but is named .csv: name it .csv.bz2"):
        read_table(packed)
    plain = tmp_path / "labels.tsv.gz"
    plain.write_bytes(b"id\tlabel\nr1\tx\n")
    with pytest.raises(DataError, match=r"is named .tsv.gz but holds no gzip data: name it .tsv$"):
        read_table(plain)
    right = tmp_path / "labels.tsv.gz"
    right.write_bytes(gzip.compress(b"id\tlabel\nr1\tx\n"))
    assert read_table(right).to_dict("list") == {"id": ["r1"], "label": ["x"]}


def test_the_sniff_reads_magic_bytes_and_not_text_that_looks_alike():
    assert sniff_compression(gzip.compress(b"x")[:10]) == "gzip"
    assert sniff_compression(bz2.compress(b"x")[:10]) == "bz2"
    assert sniff_compression(b"BZh,a,b\n1,") is None  # a header starting "BZh" is text
    assert sniff_compression(b"PK\x03\x04rest") == "zip"


def test_genomic_reads_by_the_shared_sniff(tmp_path):
    from domains.genomic.io import file_newline, read_seq_records

    fa = tmp_path / "g.fa"  # genomic reads by content, as FASTA tools do: a misnamed gzip is read
    fa.write_bytes(gzip.compress(b">r1\r\nACGT\r\n"))
    assert [(r.id, r.sequence) for r in read_seq_records(str(fa))] == [("r1", "ACGT")]
    assert file_newline(str(fa)) == "\r\n"


def test_a_quoted_header_cell_holding_the_other_separator(tmp_path):
    # '"a,b"<TAB>label' named .csv: one column to CSV, its text tab-separated. The labels
    # reader passed it (a comma in the raw line) and trained one class per record
    f = tmp_path / "q.csv"
    f.write_text('"a,b"\tlabel\nx\t1\n')
    with pytest.raises(DataError, match="the header line is tab-separated, but the file's name says "
                                        "comma-separated: name it .tsv"):
        read_table(f)
    ok = tmp_path / "q.tsv"
    ok.write_text('"a,b"\tlabel\nx\t1\n')
    assert list(read_table(ok).columns) == ["a,b", "label"]


# ----------------------------------------------------------------------------- one wording of unknown options
@pytest.mark.parametrize("domain", ["genomic", "tabular", "timeseries", "sets"])
def test_an_unknown_option_is_refused_in_one_shape_by_every_domain(tmp_path, capsys, domain):
    # four wordings before ("unknown option(s) [...] for the genomic domain; known options",
    # "unknown tabular ingest option(s)", "The 'options' option ... must be among", "unknown
    # ingest options ... for the sets domain"): now ``errors.unknown_options``
    import re

    src = tmp_path / "blank.csv"
    src.write_text("a,b\n1,2\n")
    code = main(["ingest", f"domain={domain}", f"input={src}", f"output={tmp_path / 'x'}", "bogus_opt=1"])
    err = capsys.readouterr().err
    assert code == 2 and re.search(rf"unknown (ingest )?option\(s\) of the {domain} domain: \['bogus_opt'\]; "
                                   r"allowed: \['[a-z_]+'(, '[a-z_]+')*\]", err), err


def test_bad_values_keep_the_scikit_learn_wording():
    from domains.genomic.domain import validate_options
    from encoderkit.core.config import EncoderConfig

    with pytest.raises(ValueError, match=r"^The 'k' option of the genomic domain must be .*\. Got 0 instead\.$"):
        validate_options({"k": 0})
    with pytest.raises(ValueError, match=r"^The 'hidden_size' parameter of EncoderConfig must be .* Got -1 instead\.$"):
        EncoderConfig(hidden_size=-1)
