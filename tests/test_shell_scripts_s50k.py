"""What a shell script meets (audit s50 a, fixes k): outputs that are links or devices, labels
matched by order behind a missing ids file, stdout / stderr that cannot be written or are
closed, inputs that are pipes, `--help` into a closed pipe, messages glued onto a progress
bar's line in a log, and `<command> help`. The subprocess tests run the console command
(`python -m encoderkit`) where the process's own streams are the point."""

from __future__ import annotations

import io
import os
import select
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from encoderkit.cli import main
from encoderkit.errors import DataError, OutputExistsError, reading
from encoderkit.outputs import atomic_write, check_output

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
       "OMP_NUM_THREADS": "1"}
ACGT = "ACGTTGCAAGCTTACG"


def _fasta(path: Path, n: int = 4, bad: bool = False) -> Path:
    # bad: a non-IUPAC character, read as N with invalid=n: a warning only the report carries
    path.write_text("".join(f">r{i}\n{ACGT * 4}{'J' if bad else ''}\n" for i in range(n)))
    return path


def _cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    if "stdout" not in kw and "stderr" not in kw:
        kw["capture_output"] = True
    return subprocess.run([sys.executable, "-m", "encoderkit", *args], env=ENV, timeout=timeout, text=True, **kw)


def _fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(path)
    return path


# ---- 1. overwrite=true never replaces a link, a device or a FIFO ----------------------------
def test_overwrite_refuses_a_fifo_at_the_output_and_leaves_it(tmp_path):
    """A FIFO at a single-file output passed check_output with overwrite=true and the rename
    replaced it with a regular file (exit 0). Now refused, overwrite or not, and left a FIFO."""
    fifo = _fifo(tmp_path / "out.csv")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError) as caught:
            check_output(fifo, overwrite, what="a single file", file_ok=True)
        text = str(caught.value)
        assert "is a pipe" in text and "pass overwrite=true" not in text, text
    with pytest.raises(OutputExistsError, match="is a pipe"):  # a writer that never checked
        atomic_write(fifo, lambda tmp: Path(tmp).write_text("x\n"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary left


def test_overwrite_refuses_a_device_node(tmp_path):
    """The audit's private `mknod c 1 3` (what output=/dev/null is, as root): replaced by a
    regular file with exit 0. Needs CAP_MKNOD; skipped where a node cannot be made."""
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError, AttributeError):
        pytest.skip("cannot make a device node here")
    with pytest.raises(OutputExistsError, match="character device"):
        check_output(node, True, what="a single file", file_ok=True)
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_overwrite_refuses_a_link_naming_it_and_its_target(tmp_path):
    """output=latest.fa, a link to shared/latest.fa: the rename replaced the link, the target
    kept its old content, exit 0. Now refused with both names; both left as they were."""
    (tmp_path / "shared").mkdir()
    target = tmp_path / "shared" / "latest.fa"
    target.write_text("OLD\n")
    link = tmp_path / "latest.fa"
    link.symlink_to(Path("shared") / "latest.fa")
    with pytest.raises(OutputExistsError) as caught:
        check_output(link, True, what="a single file", file_ok=True)
    text = str(caught.value)
    assert str(link) in text and "shared/latest.fa" in text and f"output={target}" in text, text
    with pytest.raises(OutputExistsError, match="symbolic link"):
        atomic_write(link, lambda tmp: Path(tmp).write_text("NEW\n"))
    assert link.is_symlink() and target.read_text() == "OLD\n"


def test_a_link_to_a_store_folder_is_named_as_a_link_to_a_directory(tmp_path):
    """ingest output=<link to a store>: "is a file, not a record store" before; now what it is."""
    fa = _fasta(tmp_path / "g.fa")
    assert main(["ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 'real.zarr'}",
                 "progress=false"]) == 0
    (tmp_path / "link.zarr").symlink_to(tmp_path / "real.zarr")
    err = io.StringIO()
    sys_err, sys.stderr = sys.stderr, err
    try:
        rc = main(["ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 'link.zarr'}",
                   "overwrite=true", "progress=false"])
    finally:
        sys.stderr = sys_err
    assert rc == 1 and "symbolic link" in err.getvalue() and "(a directory)" in err.getvalue(), err.getvalue()
    assert "is a file" not in err.getvalue()
    assert (tmp_path / "link.zarr").is_symlink()


# ---- 2. probe: labels with ids, embeddings without -------------------------------------------
def test_probe_refuses_labels_with_ids_for_embeddings_without_ids(tmp_path, capsys):
    """A .npy copied without its .ids.npy and a labels file sorted otherwise: paired by row
    order (r2 0.97 -> -0.03, exit 0). Now refused; with the ids beside it, matched by id, the
    fit is as good as the same labels in the embeddings' order (the reference)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5])
    ids = np.array([f"row{i}" for i in range(60)])
    np.save(tmp_path / "e.npy", X)
    order = np.argsort(ids)  # row0, row1, row10, ...: not the embeddings' order
    with open(tmp_path / "labels.csv", "w") as fh:
        fh.write("id,label\n" + "".join(f"{ids[i]},{float(y[i])!r}\n" for i in order))
    args = [f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'labels.csv'}", "task=regression"]
    assert main(["probe", *args]) == 1
    err = capsys.readouterr().err
    assert "labels.csv" in err and "carry no ids" in err and ".ids.npy" in err, err
    np.save(tmp_path / "e.ids.npy", ids)
    assert main(["probe", *args]) == 0
    by_id = capsys.readouterr().out
    with open(tmp_path / "inorder.csv", "w") as fh:  # no id column: by order, the right order
        fh.write("label\n" + "".join(f"{float(v)!r}\n" for v in y))
    assert main(["probe", f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'inorder.csv'}",
                 "task=regression"]) == 0
    assert capsys.readouterr().out == by_id


# ---- 3. / 4. stdout or stderr that cannot be written, or is closed ----------------------------
def _dev_full() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")


def test_ingest_into_a_full_stdout_says_so_not_that_the_input_is_unreadable(tmp_path):
    """`ingest >/dev/full`: "g.fa: cannot read: No space left on device", the store written.
    Now the stream is named, the store is complete, exit 1."""
    _dev_full()
    fa = _fasta(tmp_path / "g.fa")
    with open("/dev/full", "w") as full:
        proc = _cli("ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 'a.zarr'}", stdout=full,
                    stderr=subprocess.PIPE)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write to standard output" in proc.stderr and "cannot read" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    from encoderkit.data.store import RecordStore

    assert len(RecordStore(str(tmp_path / "a.zarr"))) == 4


def test_ingest_with_a_full_stderr_writes_its_store(tmp_path):
    """`ingest 2>/dev/full`: its first progress bar failed, no store, exit 1 with the one
    line lost. Now the store is written (exit 1: a diagnostic was lost, as GNU tools say)."""
    _dev_full()
    fa = _fasta(tmp_path / "g.fa")
    with open("/dev/full", "w") as full:
        proc = _cli("ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 'b.zarr'}",
                    stdout=subprocess.PIPE, stderr=full)
    assert proc.returncode == 1 and "records written: 4" in proc.stdout, proc.stdout
    assert (tmp_path / "b.zarr" / "zarr.json").is_file()


def test_a_full_stdout_at_the_final_print_is_not_a_bug(tmp_path, monkeypatch, capsys):
    """probe's result table into a stdout that fails (ENOSPC): a traceback and "a bug in
    encoderkit" before; the one place (cli.main) now says which stream failed."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    np.save(tmp_path / "e.npy", X)
    (tmp_path / "l.csv").write_text("label\n" + "".join(f"{float(v)!r}\n" for v in X[:, 0] * 3))

    class Full(io.StringIO):
        def write(self, s):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    rc = main(["probe", f"embeddings={tmp_path / 'e.npy'}", f"labels={tmp_path / 'l.csv'}", "task=regression"])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot write to standard output (No space left on device)" in err, err
    assert "bug" not in err and "Traceback" not in err


def test_ingest_with_stderr_closed_writes_its_store(tmp_path):
    """`ingest 2>&-`: tqdm wrote to None (AttributeError traceback), exit 1, no store."""
    fa = _fasta(tmp_path / "g.fa")
    proc = _cli("ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 'd.zarr'}",
                stdout=subprocess.PIPE, preexec_fn=lambda: os.close(2))
    assert proc.returncode == 0 and "records written: 4" in proc.stdout and "Traceback" not in proc.stdout
    assert (tmp_path / "d.zarr" / "zarr.json").is_file()


def test_progress_bar_without_a_stream_is_none_drawn(monkeypatch):
    """Python's sys.stderr is None with fd 2 closed (or under pythonw): no bar, no error."""
    from encoderkit.cliutil import progress_bar

    monkeypatch.setattr(sys, "stderr", None)
    bar = progress_bar(total=3, desc="x")  # tqdm wrote to None before: AttributeError
    bar.update(3)
    bar.close()
    assert bar.disable


# ---- 5. inputs that are pipes ------------------------------------------------------------------
def test_a_pipe_as_ingest_input_is_refused_in_one_line(tmp_path):
    """`cat g.fa | ingest input=/dev/stdin`: hashed for the provenance, the parser then found
    "the file is empty". Now the input is named as a pipe, before any work."""
    proc = _cli("ingest", "domain=genomic", "input=/dev/stdin", f"output={tmp_path / 's.zarr'}",
                input=_fasta(tmp_path / "g.fa").read_text())
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is a pipe" in proc.stderr and "save it to a file first" in proc.stderr
    assert not (tmp_path / "s.zarr").exists()


def test_a_fifo_input_no_one_writes_again_is_refused_not_waited_for(tmp_path):
    """A FIFO named in.csv: read once to sniff, then opened again and waited for for ever."""
    fifo = _fifo(tmp_path / "in.csv")
    proc = _cli("ingest", "domain=tabular", f"input={fifo}", f"output={tmp_path / 'f.zarr'}", timeout=60)
    assert proc.returncode == 1 and "in.csv: is a pipe" in proc.stderr, proc.stderr


def test_infill_embed_and_readers_refuse_a_fifo_before_any_work(tmp_path):
    """infill input=<(...): refused before the checkpoint loads (was "not a FASTA"); every
    reader under `reading(path)` (predict's, impute's) refuses one too."""
    from encoderkit.infer.cli import _input_path
    from encoderkit.infer.infill_files import check_infill_paths

    fifo = _fifo(tmp_path / "reads.fa")
    for check in (lambda: check_infill_paths(fifo, tmp_path / "o.fa", False), lambda: _input_path(str(fifo))):
        with pytest.raises(DataError, match="is a pipe"):
            check()
    with pytest.raises(DataError, match="is a pipe"), reading(str(fifo)):
        raise AssertionError("the body must not run: opening the FIFO would wait for a writer")
    entered = []
    with reading(str(fifo), once=True):  # a caller that reads once from start to end: not refused
        entered.append(True)
    assert entered


# ---- 6. --help into a closed pipe --------------------------------------------------------------
@pytest.mark.parametrize("word", ["--help", "-h", "help", "--version"])
def test_top_level_help_into_a_closed_pipe_ends_quietly(word):
    """`encoderkit --help | true`: a BrokenPipeError traceback, exit 1 (a command's own
    --help gave 141 quietly). Now the same 141 with nothing on stderr."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first word
    try:
        proc = _cli(word, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


# ---- 7. one line per message in a log ----------------------------------------------------------
def test_ingest_log_has_a_line_per_bar_redraw_and_per_warning(tmp_path):
    """A log (stderr a file): the bar's redraws were '\\r'-joined into one line, and the
    warnings glued onto it; they were also printed among stdout's `key: value` lines. Now each
    redraw and each warning is a line of its own, each warning once, and stdout holds none.
    The warnings: one the tabular domain warns of as it reads (and puts in the report), one
    only the genomic report carries."""
    rows = "".join(f"id{i},{i % 7}.5,{'ab'[i % 2]}\n" for i in range(40))
    (tmp_path / "t.csv").write_text("id,x,c\n" + rows)
    tab = _cli("ingest", "domain=tabular", f"input={tmp_path / 't.csv'}", f"output={tmp_path / 't.zarr'}")
    gen = _cli("ingest", "domain=genomic", f"input={_fasta(tmp_path / 'g.fa', bad=True)}", "invalid=n",
               f"output={tmp_path / 'g.zarr'}")
    for proc, needle in ((tab, "column 'id' is an identifier"), (gen, "non-IUPAC character(s) read as N")):
        assert proc.returncode == 0, proc.stderr
        assert "\r" not in proc.stderr and "warning" not in proc.stdout, (proc.stdout, proc.stderr)
        lines = proc.stderr.splitlines()
        said = [line for line in lines if needle in line]
        assert len(said) == 1 and said[0].startswith("encoderkit ingest: warning: "), lines
        bars = [line for line in lines if line.startswith("ingest ")]
        assert len(bars) >= 2 and all("encoderkit" not in b for b in bars), lines  # first and final draw


def test_log_bar_redraws_are_lines_and_a_terminal_bar_is_cleared_before_a_message():
    """In a log every redraw is a line (no '\\r'); on a terminal (a pty) the bar's line is
    cleared before a message, which then starts at the line's start, as tqdm.write does."""
    from encoderkit.cliutil import progress_bar, say

    log = io.StringIO()
    bar = progress_bar(total=4, desc="job", file=log, mininterval=0, maxinterval=0)
    for _ in range(4):
        bar.update(1)
    say("encoderkit job: warning: something", log)
    bar.close()
    lines = log.getvalue().split("\n")
    assert "\r" not in log.getvalue() and lines[-1] == "", lines
    assert all(line.startswith("job:") for line in lines[:-1] if "warning" not in line), lines
    assert sum(line == "encoderkit job: warning: something" for line in lines) == 1

    import pty

    leader, follower = pty.openpty()
    try:
        term = os.fdopen(follower, "w", buffering=1, closefd=False)
        bar = progress_bar(total=4, desc="job", file=term, mininterval=0)
        bar.update(2)
        say("MESSAGE", term)
        term.flush()
        seen = ""
        while "MESSAGE" not in seen and select.select([leader], [], [], 10)[0]:  # a pty delivers in pieces
            seen += os.read(leader, 65536).decode(errors="replace")
        bar.close()
    finally:
        os.close(leader)
        os.close(follower)
    before = seen[:seen.index("MESSAGE")]
    assert "job:" in before and before.endswith("\r"), repr(seen)  # cleared, back at the start


# ---- 8. `<command> help` -----------------------------------------------------------------------
@pytest.mark.parametrize("argv,same_as", [(["pretrain", "help"], ["pretrain", "--help"]),
                                          (["embed", "help"], ["embed", "--help"]),
                                          (["export-hf", "help"], ["export-hf", "--help"]),
                                          (["help", "ingest"], ["ingest", "--help"])])
def test_help_as_a_word_is_the_commands_help(argv, same_as, capsys):
    """pretrain help: Hydra's parse error (exit 2); embed help: "unexpected argument";
    export-hf help: a run named 'help'; `encoderkit help ingest`: the top-level usage."""
    assert main(same_as) == 0
    expected = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == expected and expected.startswith("usage: encoderkit " + same_as[0])
