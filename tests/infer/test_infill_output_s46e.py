"""``Pretrained.infill(path, output=...)`` from Python (s46e): a file filled into a file by
the code ``encoderkit infill`` runs, so the bytes are the command's; a genome streams
through the domain's ``infill_file`` hook (never ``read_input``, which reads it whole), and
a table goes through ``read_input`` / ``write_output`` with its untouched cells as written.
The reference is the command's own output file."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.genomic import GenomicDomain, bundled_sequence
from encoderkit.cli import main
from encoderkit.errors import InputNotFoundError, OutputExistsError, UsageError
from encoderkit.infer import load

GENOME = bundled_sequence(20_000)


def _fasta(path: Path) -> Path:
    """Three records with runs of N (upper and lower case), soft-masked stretches and 60-column lines."""
    seqs = {"one": GENOME[:3000], "two": GENOME[5000:6500].lower(), "three": GENOME[9000:9400]}
    holed = {}
    for k, (name, s) in enumerate(seqs.items()):
        b = list(s)
        for a in (100 + 37 * k, len(s) // 2 + 11 * k):
            b[a:a + 5 + k] = ["n" if b[a].islower() else "N"] * (5 + k)
        holed[name] = "".join(b)
    path.write_text("".join(f">{n} sample\n" + "\n".join(s[i:i + 60] for i in range(0, len(s), 60)) + "\n"
                            for n, s in holed.items()))
    return path


@pytest.fixture(scope="module")
def genomic_run(tmp_path_factory):
    from tests.domains.test_genomic_files_s43e import _run as tiny_run

    root = tmp_path_factory.mktemp("g")
    fasta = _fasta(root / "holed.fa")
    return tiny_run(root, fasta)[0], fasta


def test_a_fasta_filled_from_python_streams_and_writes_the_commands_bytes(genomic_run, tmp_path, monkeypatch):
    run, fasta = genomic_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["infill", f"checkpoint={run}", f"input={fasta}", f"output={tmp_path / 'cli.fa'}"]) == 0
        assert main(["infill", f"checkpoint={run}", f"input={fasta}", f"output={tmp_path / 'cli200.fa'}",
                     "window=200"]) == 0
        model = load(str(run))

        def whole(self, path):
            raise AssertionError("infill(path, output=) read the file whole")
        monkeypatch.setattr(GenomicDomain, "read_input", whole)
        got = model.infill(str(fasta), output=tmp_path / "api.fa")
        assert got == tmp_path / "api.fa"
        assert model.infill(fasta, str(tmp_path / "api.fa.gz")) == tmp_path / "api.fa.gz"  # Path input, packed
        model.infill(fasta, output=tmp_path / "api200.fa", window=200)  # an infill option
    want = (tmp_path / "cli.fa").read_bytes()
    bases = [line for line in want.splitlines() if not line.startswith(b">")]
    assert want != fasta.read_bytes() and not any(b"N" in line.upper() for line in bases)  # filled
    assert (tmp_path / "api.fa").read_bytes() == want
    assert gzip.decompress((tmp_path / "api.fa.gz").read_bytes()) == want
    assert (tmp_path / "api200.fa").read_bytes() == (tmp_path / "cli200.fa").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_output_is_refused_as_the_command_refuses_it(genomic_run, tmp_path):
    run, fasta = genomic_run
    model = load(str(run))
    out = tmp_path / "o.fa"
    out.write_text("mine\n")
    with pytest.raises(OutputExistsError, match="overwrite"):
        model.infill(fasta, output=out)
    assert out.read_text() == "mine\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.infill(fasta, output=out, overwrite=True)
    assert out.read_text().startswith(">one sample\n")
    with pytest.raises(UsageError, match="output is the input file"):
        model.infill(fasta, output=fasta)
    with pytest.raises(InputNotFoundError, match="does not exist"):
        model.infill(tmp_path / "absent.fa", output=tmp_path / "x.fa")
    with pytest.raises(UsageError, match="must be the input file's path"):
        model.infill(["ACGTNNACGT"], output=tmp_path / "y.fa")
    with pytest.raises(UsageError, match="output=<path>"):
        model.infill(["ACGTNNACGT"], overwrite=True)
    assert not (tmp_path / "x.fa").exists() and not (tmp_path / "y.fa").exists()


def test_a_table_filled_from_python_writes_the_commands_bytes(tmp_path):
    """A domain without the streaming hook: read whole, filled, written as the command writes it."""
    from tests.reliability.conftest import make_run

    run = make_run("tabular", tmp_path / "t")
    frame = pd.read_csv(run.raw[0]).iloc[:30].copy()
    frame.iloc[:6, 1] = np.nan
    src = tmp_path / "holes.csv"
    frame.to_csv(src, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["infill", f"checkpoint={run.dir}", f"input={src}", f"output={tmp_path / 'cli.csv'}"]) == 0
        got = load(str(run.dir)).infill(src, output=tmp_path / "api.csv")
    assert got == tmp_path / "api.csv"
    assert (tmp_path / "api.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    assert not pd.read_csv(got).iloc[:, 1].isna().any()
