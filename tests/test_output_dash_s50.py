"""``output=-`` (session 50, audit a): the shell's word for standard output made a file (or a
store folder) named ``-`` in the working directory, and infill said "wrote ... to -" on stdout.
Every output is written under a temporary name and renamed into place, so it needs a file name:
refused as a usage error (exit 2) before anything is written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from encoderkit.errors import UsageError
from encoderkit.outputs import check_output


def test_check_output_refuses_the_dash_and_takes_a_file_named_so_by_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"output=- \(standard output\)"):
        check_output("-", False, what="a record store")
    check_output("./-", False, what="a record store")  # a file named '-', asked for by its path


def test_ingest_to_dash_exits_2_and_writes_nothing(tmp_path):
    fasta = tmp_path / "r.fa"
    fasta.write_text(">r1\nACGTNACGTACGT\n")
    proc = subprocess.run([sys.executable, "-m", "encoderkit", "ingest", "domain=genomic", f"input={fasta}",
                           "output=-", "progress=false"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "output=- (standard output)" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.fa"]
