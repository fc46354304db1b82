"""Generic ingest: globs, report, provenance, atomicity, CLI parsing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from encoderkit.cli import main
from encoderkit.data.ingest import ingest, run
from encoderkit.data.store import RecordStore
from encoderkit import registry

from .synthetic_domain import SyntheticDomain, make_record


@pytest.fixture(autouse=True)
def synthetic_registered(monkeypatch):
    # registered for these tests only: registry-driven tests elsewhere must not see it
    monkeypatch.setitem(registry._local, SyntheticDomain.name, SyntheticDomain)

FILE_A = "# comment\nr1 4 5 6 7\nr2 8 9\nbad 4 x 5\n"
FILE_B = "r3 10 11 12\nempty\nr4 " + " ".join(str(4 + i % 20) for i in range(100)) + "\n"


@pytest.fixture()
def sources(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_text(FILE_A)
    (tmp_path / "raw" / "b.txt").write_text(FILE_B)
    return tmp_path / "raw"


def test_ingest_glob_report_and_provenance(tmp_path, sources, capsys):
    out = tmp_path / "s.zarr"
    report = ingest("synthetic", [str(sources / "*.txt")], str(out), progress=False, rate=0.2)
    assert report.records == 4 and report.tokens == 4 + 2 + 3 + 100
    assert dict(report.skipped) == {"non-integer token": 1, "empty record": 1}
    printed = capsys.readouterr().out
    assert "records written: 4" in printed and "non-integer token: 1" in printed and "time:" in printed

    store = RecordStore(out, expect_domain="synthetic")
    assert [store[i]["id"] for i in range(4)] == ["r1", "r2", "r3", "r4"]
    ref = make_record(np.array([10, 11, 12]))
    np.testing.assert_array_equal(store[2]["values"], ref["values"])  # NaN positions included
    files = store.provenance["files"]
    assert [f["path"].rsplit("/", 1)[-1] for f in files] == ["a.txt", "b.txt"]
    assert files[0]["sha256"] == hashlib.sha256(FILE_A.encode()).hexdigest()
    assert files[1]["size"] == len(FILE_B.encode())
    assert store.provenance["options"] == {"rate": 0.2}


def test_crash_midway_leaves_no_store(tmp_path, sources):
    out = tmp_path / "s.zarr"
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest("synthetic", [str(sources / "a.txt"), str(sources / "b.txt")], str(out), progress=False,
               fail_after=3)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*nothing\*\.txt' matches no files"):
        ingest("synthetic", [str(tmp_path / "nothing*.txt")], str(tmp_path / "o.zarr"), progress=False)
    with pytest.raises(FileNotFoundError, match="missing.txt: input file does not exist"):
        ingest("synthetic", [str(tmp_path / "missing.txt")], str(tmp_path / "o.zarr"), progress=False)


def test_cli_parses_hydra_overrides(tmp_path, sources, capsys):
    out = tmp_path / "cli.zarr"
    a, b = sources / "a.txt", sources / "b.txt"
    argv = ["domain=synthetic", f"input=[{a},{b}]", f"output={out}", "rate=0.25"]
    assert run("ingest", argv) == 0
    store = RecordStore(out)
    assert len(store) == 4 and store.provenance["options"] == {"rate": 0.25}
    # existing output without overwrite: refused with the reason; with overwrite=true: replaced
    # errors are reported by encoderkit.cli.main (data: 1, usage: 2)
    assert main(["ingest", *argv]) == 1
    assert "already exists" in capsys.readouterr().err
    assert run("ingest", [f"input={a}", "domain=synthetic", f"output={out}", "overwrite=true"]) == 0
    assert len(RecordStore(out)) == 2
    assert main(["ingest", "domain=synthetic", f"input={a}"]) == 2
    assert "missing output=" in capsys.readouterr().err
    assert main(["ingest", "domain=nosuchdomain", f"input={a}", f"output={tmp_path / 'x.zarr'}"]) == 2
    assert "unknown domain 'nosuchdomain'" in capsys.readouterr().err
    assert run("ingest", ["--help"]) == 0
