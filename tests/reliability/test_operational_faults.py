"""Operational faults around valid inputs (fifth reliability sweep): a command terminated
while it writes, a full disk, two processes on one run directory or one store, a store
changed under a run that resumes, killed writers' leftovers, and paths Hydra's grammar
cannot read. Each case: the one-line error contract of ``conftest.run_cli``, nothing
half-written at the output, and a rerun that works."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import testdomain as td
from encoderkit.data.store import RecordStore
from encoderkit.train import checkpoint as ckpt

from .conftest import make_run, run_cli

ROOT = Path(__file__).resolve().parents[2]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    """An untrained tiny tabular run and its store (see conftest.make_run)."""
    return make_run("tabular", tmp_path_factory.mktemp("faults-tab"))


def _store(path: Path, n: int = 48, seed: int = 0) -> str:
    return td.write_store(path, n=n, seed=seed)


def _pretrain(store: str, run: Path, steps: int, **extra) -> list[str]:
    return ["pretrain", *td.tiny_overrides(store, str(run), steps=steps, **{
        "train.eval_every": 0, "train.keep": 0, "train.checkpoint_every": 1, **extra})]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name)


def _dead_pid() -> int:
    """The pid of a process that has ended (a killed writer's)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ----------------------------------------------------------------------------- SIGTERM
@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_sigterm_while_writing_cleans_up_as_ctrl_c_does(tab, tmp_path):
    """`kill`, a scheduler's time limit or a container stop sends SIGTERM: the command stops
    as on Ctrl-C (its writers' clean-up runs), says so and exits 143, leaving no temporary.
    Before: the default action ended the process at once, the temporary stayed."""
    out = tmp_path / "emb.npy"
    script = textwrap.dedent(f"""
        import os, signal, sys
        from encoderkit.infer import embed
        add = embed.EmbeddingWriter.add
        def add_then_term(self, *a, **k):
            add(self, *a, **k)
            os.kill(os.getpid(), signal.SIGTERM)  # the first vector is written: mid-output
        embed.EmbeddingWriter.add = add_then_term
        from encoderkit.cli import main
        sys.exit(main(["embed", "checkpoint={tab.dir}", "input={tab.store}", "output={out}",
                       "progress=false"]))
    """)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 143, (proc.returncode, proc.stderr[-2000:])
    assert "encoderkit embed: terminated" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, no temporary


# ----------------------------------------------------------------------------- disk full
@pytest.mark.parametrize("where", ["open", "finalize"])
def test_ingest_disk_full_names_the_store_and_leaves_nothing(tab, tmp_path, monkeypatch, capsys, where):
    """ENOSPC while ingesting: one line naming the store as unwritable (before: the *input*
    was named, 'cannot read: [Errno 28]'), and nothing left beside it (before: a failure
    at the first write left ``<store>.tmp-<pid>``)."""
    from encoderkit.data import store as store_mod

    if where == "open":
        real = store_mod.zarr.open_group

        def open_then_fail(*a, **k):
            real(*a, **k)  # the folder is made, then the disk is full
            raise ENOSPC

        monkeypatch.setattr(store_mod.zarr, "open_group", open_then_fail)
    else:
        def write_rest(self, *a, **k):
            raise ENOSPC

        monkeypatch.setattr(store_mod.StoreWriter, "_write_rest", write_rest)
    out = tmp_path / "out" / "s.zarr"
    line = run_cli(capsys, ["ingest", "domain=tabular", f"input={tab.raw[0]}", f"output={out}"], 1,
                   str(out), "cannot write the store", "No space left on device")
    assert "cannot read" not in line
    assert not (tmp_path / "out").exists()  # nor the folder it made


@pytest.mark.parametrize("suffix", [".npy", ".zarr"])
def test_embed_disk_full_at_the_first_write_leaves_no_temporary(tab, tmp_path, monkeypatch, capsys, suffix):
    """Before: the temporary made before the failing first write stayed (``.e.npy.tmp-<pid>``)."""
    import zarr

    from encoderkit.infer import embed

    if suffix == ".npy":
        real = np.lib.format.open_memmap

        def fail(path, *a, **k):
            real(path, *a, **k)
            raise ENOSPC

        monkeypatch.setattr(embed.np.lib.format, "open_memmap", fail)
    else:
        real_group = zarr.open_group

        def fail(*a, **k):
            group = real_group(*a, **k)
            if k.get("mode") != "w":  # reading the store
                return group
            group.create_array("x", shape=(1,), dtype="f4")
            raise ENOSPC

        monkeypatch.setattr(zarr, "open_group", fail)
    out = tmp_path / f"e{suffix}"
    run_cli(capsys, ["embed", f"checkpoint={tab.dir}", f"input={tab.store}", f"output={out}",
                     "progress=false"], 1, str(out), "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_disk_full_is_one_line_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    """A checkpoint that cannot be written (safetensors' I/O error on a full disk): one line
    naming it and the intact one before it, no temporary left, checkpoint 1 untouched; the
    same command afterwards resumes from 1. Before: a traceback ('a bug in encoderkit')."""
    from safetensors import SafetensorError

    store = _store(tmp_path / "s.zarr")
    run = tmp_path / "run"
    real = ckpt.save_file
    calls = []

    def save_file(tensors, path, *a, **k):
        calls.append(path)
        if "/.tmp-2-" in path.replace(os.sep, "/"):
            real(tensors, path, *a, **k)  # part of the file is there, then the disk is full
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real(tensors, path, *a, **k)

    monkeypatch.setattr(ckpt, "save_file", save_file)
    run_cli(capsys, _pretrain(store, run, 3), 1, "cannot write checkpoint 2", "No space left on device",
            "checkpoint 1 is intact")
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["1"]
    ckpt.verify_checkpoint(run / "checkpoints" / "1")
    monkeypatch.setattr(ckpt, "save_file", real)
    from encoderkit.cli import main

    assert main(_pretrain(store, run, 3)) == 0
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir()) == [1, 2, 3]


# ----------------------------------------------------------------------------- one run per directory
def test_second_run_on_a_busy_run_dir_is_refused(tmp_path, capsys):
    """Two runs in one run.dir overwrote each other's checkpoints and interleaved their
    metrics, and the second's start-up deleted the first's checkpoint being written (its
    ``checkpoints/.tmp-*``). Now a run holds the directory (flock) and a second is refused
    without touching anything; once the first ends the directory is free again."""
    from encoderkit.cli import main

    store = _store(tmp_path / "s.zarr")
    run = tmp_path / "run"
    writing = run / "checkpoints" / ".tmp-7-12345"  # the other run's checkpoint being written
    writing.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(run)!r}, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        run_cli(capsys, _pretrain(store, run, 1), 1, str(run), "in use by another run")
        assert writing.is_dir() and not (run / "metrics.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(_pretrain(store, run, 1)) == 0  # free again; a dead run's temporary is removed
    assert not writing.exists() and (run / "checkpoints" / "1").is_dir()


def test_a_running_pretrain_holds_its_run_dir(tmp_path, monkeypatch):
    """The lock is held while training (checked from another process mid-run)."""
    from encoderkit.train import trainer as trainer_mod
    from encoderkit.train import pretrain

    store = _store(tmp_path / "s.zarr")
    run = tmp_path / "run"
    seen = []
    real = trainer_mod.Trainer._train_step

    def step(self, batches):
        probe = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os
            fd = os.open({str(run)!r}, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("free")
            except BlockingIOError:
                print("held")
        """)], capture_output=True, text=True)
        seen.append(probe.stdout.strip())
        return real(self, batches)

    monkeypatch.setattr(trainer_mod.Trainer, "_train_step", step)
    pretrain(_pretrain(store, run, 1)[1:])
    assert seen == ["held"]


# ----------------------------------------------------------------------------- store changed under a resume
@pytest.mark.parametrize("change", ["replaced", "appended"])
def test_resume_refuses_a_store_changed_since_its_checkpoint(tmp_path, capsys, change):
    """Before: a store re-ingested from other files of the same size resumed silently on
    other records (the loader's fingerprint covers only the split's indices), and one
    appended to stopped with a traceback. Now one line names the store and the counts."""
    store = tmp_path / "s.zarr"
    _store(store)
    run = tmp_path / "run"
    from encoderkit.cli import main

    assert main(_pretrain(str(store), run, 2)) == 0
    shutil.rmtree(store)
    _store(store, n=48, seed=5) if change == "replaced" else _store(store, n=60)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    run_cli(capsys, _pretrain(str(store), run, 4), 1, str(store), "holds other records than when checkpoint",
            "48 records")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_resume_accepts_the_same_store_moved(tmp_path):
    """The identity is the records, not the path: a moved store resumes."""
    from encoderkit.cli import main

    store = tmp_path / "s.zarr"
    _store(store)
    run = tmp_path / "run"
    assert main(_pretrain(str(store), run, 2)) == 0
    moved = tmp_path / "moved" / "s.zarr"
    moved.parent.mkdir()
    shutil.move(str(store), str(moved))
    assert main(_pretrain(str(moved), run, 3)) == 0
    assert (run / "checkpoints" / "3").is_dir()


# ----------------------------------------------------------------------------- two writers of one store
def test_concurrent_appends_do_not_lose_records(tmp_path, monkeypatch, capsys):
    """Two ``ingest append=true`` of one store at once: each copies the store, adds its
    file and renames over it, so the later rename silently dropped the other's records.
    Now the later one sees the store was replaced meanwhile and writes nothing."""
    from encoderkit.data import ingest_scale
    from encoderkit.data.ingest import ingest

    def fasta(name: str, n: int) -> str:
        path = tmp_path / name
        rng = np.random.default_rng(len(name) + n)
        path.write_text("".join(f">{name}{i}\n{''.join(rng.choice(list('ACGT'), 40))}\n" for i in range(n)))
        return str(path)

    store = tmp_path / "s.zarr"
    first = fasta("a.fa", 3)
    ingest("genomic", [first], str(store), progress=False, verbose=False)
    other = fasta("b.fa", 2)
    real = ingest_scale.copy_records

    def copy_records(old, append):
        tokens = real(old, append)
        # meanwhile the other process's append commits: its store (the records there + its
        # file's) renamed over the path, as StoreWriter does
        theirs = tmp_path / "theirs.zarr"
        ingest("genomic", [first, other], str(theirs), progress=False, verbose=False)
        shutil.rmtree(store)
        os.replace(theirs, store)
        return tokens

    monkeypatch.setattr(ingest_scale, "copy_records", copy_records)
    # the copying path (the linking one: tests/data/test_append_inplace_s45.py)
    monkeypatch.setattr("encoderkit.data.store.StoreWriter.start_from", lambda self, base: False)
    run_cli(capsys, ["ingest", "domain=genomic", f"input={fasta('c.fa', 4)}", f"output={store}",
                     "append=true"], 1, str(store), "written by another process")
    assert len(RecordStore(str(store))) == 3 + 2  # the other append's records are kept
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- a killed writer's leftovers
def test_next_writer_removes_temporaries_of_killed_writers(tab, tmp_path, capsys):
    """A writer killed outright (SIGKILL, the out-of-memory killer) cannot remove its
    temporary, which may be gigabytes; the next writer of the same output removes those
    of processes that are gone, and leaves a live process's alone."""
    from encoderkit.cli import main

    dead, live = _dead_pid(), os.getppid()
    emb = tmp_path / "e.npy"
    planted = [tmp_path / f".e.npy.tmp-{dead}", tmp_path / f".e.ids.npy.tmp-{dead}",
               tmp_path / f".e.npy.tmp-{live}"]
    for p in planted:
        p.write_bytes(b"\0" * 64)
    store_tmp = tmp_path / f"s.zarr.tmp-{dead}"
    (store_tmp / "fields").mkdir(parents=True)
    assert main(["embed", f"checkpoint={tab.dir}", f"input={tab.store}", f"output={emb}", "progress=false"]) == 0
    assert main(["ingest", "domain=tabular", f"input={tab.raw[0]}", f"output={tmp_path / 's.zarr'}"]) == 0
    assert [p.exists() for p in planted] == [False, False, True]
    assert not store_tmp.exists()


# ----------------------------------------------------------------------------- paths the grammar cannot read
def test_paths_hydras_grammar_cannot_read(tab, tmp_path, capsys):
    """``ingest`` / ``pretrain`` / ``finetune`` / ``impute`` parse key=value words with Hydra's
    grammar, which refused a path with a non-ASCII letter, parentheses, '#', '&' or an
    apostrophe (LexerNoViableAltException); such a value is now quoted for it."""
    from encoderkit.cli import main

    folder = tmp_path / "données (copie) #1"
    folder.mkdir()
    raw = folder / "tablé d'été.csv"
    shutil.copy(tab.raw[0], raw)
    store = folder / "magasin & co.zarr"
    assert main(["ingest", "domain=tabular", f"input={raw}", f"output={store}"]) == 0
    assert len(RecordStore(str(store))) > 0
    ts = _store(folder / "séquences.zarr")
    run = folder / "exécution (2)"
    assert main(_pretrain(ts, run, 1)) == 0
    assert (run / "checkpoints" / "1").is_dir()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_finetune_resume_refuses_an_edited_labels_file(tmp_path, capsys):
    """Before: labels edited between a fine-tuning run and its resume (same ids, other
    values) trained on silently. Now the resume names the file; restored, it resumes."""
    from encoderkit.cli import main

    store = _store(tmp_path / "s.zarr")
    labels = tmp_path / "labels.csv"
    rows = "".join(f"r{i},{i * 0.5}\n" for i in range(48))
    labels.write_text("id,label\n" + rows)
    run = tmp_path / "ft"
    words = [o for o in td.tiny_overrides(store, str(run), steps=2) if not o.startswith(
        ("data.val_fraction", "train.checkpoint_every", "train.eval_every"))]

    def finetune(steps: int) -> list[str]:
        return ["finetune", *[o if not o.startswith("train.steps") else f"train.steps={steps}" for o in words],
                "checkpoint=none", "task.type=regression", f"task.labels={labels}", "train.checkpoint_every=1",
                "train.eval_every=0"]

    assert main(finetune(2)) == 0
    labels.write_text("id,label\n" + rows.replace("r3,1.5", "r3,9.5"))
    run_cli(capsys, finetune(3), 1, str(labels), "task.labels", "differs from the one checkpoint")
    labels.write_text("id,label\n" + rows)
    assert main(finetune(3)) == 0 and (run / "checkpoints" / "3").is_dir()


def _parse_slowly_or_fail(domain, source, spool, options):
    """A worker's parse (``ingest_scale._parse_to_spool``): the first file is refused at
    once, the others take long."""
    import time

    from encoderkit.errors import DataError

    if source.endswith("0.csv"):
        raise DataError("refused", file=source)
    time.sleep(60)


def test_parallel_ingest_stops_its_workers_on_an_error(tab, tmp_path, monkeypatch, capsys):
    """``workers=N``: an error (or Ctrl-C / SIGTERM) in the main process stops the workers at
    once. Before: leaving the pool waited until every file already handed out (2 x N) was
    parsed, as long as the largest files take, before the error or interrupt could end it."""
    import time

    from encoderkit.data import ingest_scale

    monkeypatch.setattr(ingest_scale, "_parse_to_spool", _parse_slowly_or_fail)
    files = []
    for i in range(4):
        files.append(tmp_path / f"{i}.csv")
        shutil.copy(tab.raw[0], files[-1])
    out = tmp_path / "s.zarr"
    start = time.monotonic()
    run_cli(capsys, ["ingest", "domain=tabular", f"input=[{','.join(map(str, files))}]", f"output={out}",
                     "workers=2"], 1, "0.csv", "refused")
    assert time.monotonic() - start < 20
    assert not out.exists() and _leftovers(tmp_path) == []
