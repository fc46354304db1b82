"""predict / embed of a raw FASTA whose records share an id (two ``>x``) warn as ingest does
(needs the two-line change to ``domains/genomic/domain.py`` ``read_records``: helper p's report)."""

from __future__ import annotations

import warnings

from domains.genomic import GenomicDomain


def test_a_raw_fasta_with_a_repeated_header_is_warned_when_read_for_predict(tmp_path):
    f = tmp_path / "dup.fa"
    f.write_text(">x\nACGT\n>y\nAAAA\n>x\nGGGG\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = GenomicDomain({}).read_records(str(f))
    assert [r["id"] for r in records] == ["x", "y", "x"]  # every record kept, in file order
    notes = [str(w.message) for w in caught if "held by more than one record" in str(w.message)]
    assert notes == [f"{f}: 1 record id(s) are held by more than one record (e.g. 'x'); their output "
                     f"rows share that id, told apart only by their order (the file's), and labels "
                     f"and split files cannot name those records by id"]
    f.write_text(">x\nACGT\n>y\nAAAA\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GenomicDomain({}).read_records(str(f))
    assert not [w for w in caught if "held by more than one record" in str(w.message)]
