"""Interrupted, concurrent and starved runs (session 47, helper g; audit k's findings).

1. a store that ``ingest overwrite=true`` replaces while embed / predict read it: refused
   (``RecordStore.check_unchanged``), not an output of the old store's rows then the new one's;
2. a finetune ensemble stopped partway is refused by load, and a finetune command holds its
   ``run.dir`` lock from member 0 to the end of the ensemble;
3. a read-only run folder / output folder: the one-line error, not the clean-up's EROFS;
4. ``impute`` whose working files cannot be written (a full TMPDIR): one line, exit 1;
5. Ctrl-C pressed again (or SIGTERM twice) during the clean-up, and SIGHUP: the clean-up
   runs to its end, one line, exit 128 + the signal;
6. weights written with the mode of the run's other files (0644 under umask 022).
Each replacement of a store happens inside a hook between two reads (no sleeps)."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import testdomain as td
from encoderkit.core import EncoderConfig
from encoderkit.data.store import RecordStore, StoreError, StoreWriter
from encoderkit.errors import DataError
from encoderkit.infer.pretrained import Pretrained
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.tasks.model import TaskModel
from encoderkit.tasks.predict import FineTuned
from encoderkit.tasks.spec import TaskSpec
from encoderkit.train import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]
CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                       backend="sdpa", rope_axes=1)
REPLACED = "replaced while this command read it"


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _write(path: Path, n: int, seed: int, overwrite: bool = False) -> None:
    """A store of ``n`` testdomain records; ``overwrite``: replace the one there, as
    ``ingest overwrite=true`` does (a new store renamed into place)."""
    with StoreWriter(path, td.NAME, overwrite=overwrite) as w:
        for i, ids in enumerate(td.make_records(n, seed)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})


def _replace_after(monkeypatch, cls: type, name: str, path: Path, after: int = 1) -> dict:
    """Wrap ``cls.name`` so that its ``after``-th call is followed by a replacement of the
    store at ``path`` (other records: seed 1)."""
    calls = {"n": 0}
    real = getattr(cls, name)

    def wrapped(self, *a, **k):
        calls["n"] += 1
        out = real(self, *a, **k)
        if calls["n"] == after:
            _write(path, calls["records"], seed=1, overwrite=True)
        return out

    monkeypatch.setattr(cls, name, wrapped)
    return calls


# ---------------------------------------------------------------- 1. a store replaced while read

def test_a_store_read_after_its_replacement_is_refused(tmp_path, monkeypatch):
    """Reads by path after the rename met the new store at the old one's offsets (exit 0, the
    rows mixed). Unchanged, reads agree with the store loaded whole."""
    path = tmp_path / "s.zarr"
    _write(path, 40, seed=0)
    whole = RecordStore(str(path), in_memory=True)
    monkeypatch.chdir(tmp_path)
    store = RecordStore("s.zarr")  # a relative path: the check stats what it opened
    for got, want in zip(store.read_range(0, 20), whole.read_range(0, 20)):
        np.testing.assert_array_equal(got["ids"], want["ids"])
    _write(path, 40, seed=1, overwrite=True)
    with pytest.raises(StoreError, match=REPLACED) as e:
        store.read_range(20, 40)
    assert "s.zarr" in str(e.value)
    with pytest.raises(StoreError, match=REPLACED):
        store[3]


@pytest.mark.parametrize("records,after", [(300, "first read"), (64, "last read")])
def test_embed_of_a_store_replaced_meanwhile_writes_nothing(tmp_path, monkeypatch, records, after):
    """``embed`` reads a store 256 records at a time: the store replaced after the first
    read (300 records: a second read follows) or after the last one (64: the check before the
    output is published) is refused, and neither the output nor a temporary is left."""
    path = tmp_path / "s.zarr"
    _write(path, records, seed=0)
    calls = _replace_after(monkeypatch, RecordStore, "read_range", path)
    calls["records"] = records
    torch.manual_seed(0)
    domain = td.TrainTestDomain({"vocab": td.VOCAB})
    model = Pretrained(MaskedEncoderModel(domain, CONFIG), domain, CONFIG, max_seqlen=64, max_tokens=512)
    out = tmp_path / "e.npy"
    with pytest.raises(StoreError, match=REPLACED):
        model.embed(str(path), out=out, progress=False)
    assert calls["n"] == (2 if records > 256 else 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_ensemble_predict_of_a_store_replaced_between_members_is_refused(tmp_path, monkeypatch):
    """Each member opened the store again: replaced after member 0 had read it, member 1
    read the new one and the average mixed two stores' records (exit 0). Now one store is
    opened for every member, and its replacement is refused."""
    path = tmp_path / "s.zarr"
    _write(path, 24, seed=0)
    domain = td.TrainTestDomain({"vocab": td.VOCAB})
    spec = TaskSpec(type="classification", classes=["a", "b"])
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(FineTuned(TaskModel(domain, CONFIG, spec).eval(), domain, CONFIG, max_seqlen=64,
                                max_tokens=512))
    model = models[0]
    model.members = [models[1]]
    calls = _replace_after(monkeypatch, FineTuned, "outputs", path)  # after member 0's outputs
    calls["records"] = 24
    with pytest.raises(StoreError, match=REPLACED):
        model.predict(path, progress=False)
    assert calls["n"] == 2  # member 1 read the store: refused there


# ---------------------------------------------------------------- 2. ensembles stopped partway

def _run_folder(root: Path, ensemble: object, members: int, split: dict | None = None) -> Path:
    """A fine-tuned run folder as a finetune stopped partway leaves it: config.yaml, the
    root's checkpoint and ``members`` - 1 other members' checkpoints, no ensemble.json."""
    import yaml

    run = root / "run"
    (run / "checkpoints" / "5").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"task": {"type": "classification", "ensemble": ensemble}, "train": {"steps": 5}}))
    for i in range(1, members):
        (run / "members" / str(i) / "checkpoints" / "5").mkdir(parents=True)
    if split is not None:
        import json

        (run / "split.json").write_text(json.dumps(split))
    return run


def test_partial_ensemble_is_refused_naming_how_far_it_got(tmp_path):
    """SIGTERM during member 1 of task.ensemble=3 left no ensemble.json: load used member 0
    alone, without a word (its predictions differed from the finished ensemble's)."""
    from encoderkit.tasks.ensemble import member_dirs

    run = _run_folder(tmp_path, 3, members=2)
    with pytest.raises(DataError, match=r"ensemble incomplete: 2 of 3 members .*rerun the same finetune") as e:
        member_dirs(run)
    assert e.value.exit_code == 1 and str(run) in str(e.value)
    assert member_dirs(run / "checkpoints" / "5") == []  # a checkpoint folder is one model


@pytest.mark.ensemble
def test_partial_auto_ensemble_is_refused(tmp_path):
    """task.ensemble=auto with 10 training records resolves to 5 members, as train_members
    resolves it."""
    from encoderkit.tasks.ensemble import AUTO_MEMBERS, member_dirs

    run = _run_folder(tmp_path, "auto", members=1, split={"train": [f"r{i}" for i in range(10)], "val": []})
    with pytest.raises(DataError, match=f"ensemble incomplete: 1 of {AUTO_MEMBERS} members"):
        member_dirs(run)


def test_finetune_holds_its_run_dir_until_the_ensemble_ends(tmp_path, monkeypatch):
    """Each member's Trainer gave the lock back when it finished: a second identical finetune
    was refused only while member 0 trained, then trained member 0 again beside member 1.
    ``encoderkit.tasks.finetune`` (the command and the Python API) holds it to the end."""
    from omegaconf import OmegaConf

    from encoderkit.tasks import finetune

    run = tmp_path / "run"
    seen = {}

    class MemberZero:  # locks, trains, gives the lock back, as each member's Trainer does
        def __init__(self, cfg):
            self.cfg = cfg

        def fit(self):
            run.mkdir()
            ckpt.unlock_run_dir(ckpt.lock_run_dir(run))
            return run

    def other_members(cfg, overrides, done):
        fd = os.open(run, os.O_RDONLY)  # another process's view: its own open file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen["locked"] = False
        except BlockingIOError:
            seen["locked"] = True
        finally:
            os.close(fd)

    monkeypatch.setattr("encoderkit.train.config.compose_finetune",
                        lambda overrides: OmegaConf.create({"run": {"dir": str(run)}}))
    monkeypatch.setattr("encoderkit.train.trainer.Trainer", MemberZero)
    monkeypatch.setattr("encoderkit.tasks.ensemble.train_members", other_members)
    assert finetune([f"run.dir={run}"]) == run
    assert seen == {"locked": True}
    fd = os.open(run, os.O_RDONLY)  # the command over: free again
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- 3. read-only folders

def test_atomic_writers_on_a_read_only_file_system_say_the_write_failed(tmp_path, monkeypatch):
    """EROFS from the clean-up's unlink replaced the write's error: a traceback ("this is a
    bug") instead of "<file>: cannot write: Read-only file system"."""
    from encoderkit import outputs
    from encoderkit.tasks.predict import write_frame

    def refused(*a, **k):
        raise _oserror(errno.EROFS)

    monkeypatch.setattr(Path, "unlink", refused)
    monkeypatch.setattr(Path, "write_text", refused)
    with pytest.raises(DataError, match="cannot write: Read-only file system"):
        outputs.write_text_atomic(tmp_path / "metrics.jsonl", "{}\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", refused)
    with pytest.raises(DataError, match="Read-only file system"):
        write_frame(pd.DataFrame({"id": ["a"]}), tmp_path / "p.csv")
    monkeypatch.setattr(os, "unlink", refused)

    def full(tmp):
        raise _oserror(errno.ENOSPC)

    with pytest.raises(OSError) as e:  # the write's own error, for the caller to name its output
        outputs.atomic_write(str(tmp_path / "x.csv"), full)
    assert e.value.errno == errno.ENOSPC


def test_new_run_dir_under_a_read_only_folder_is_a_data_error(tmp_path, monkeypatch):
    """A run.dir that cannot be created there exited 2 (a usage error) like a mistyped key."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == tmp_path else real(p, mode, **k))
    with pytest.raises(DataError, match="not writable") as e:
        ckpt.check_run_dir(tmp_path / "a" / "run")
    assert e.value.exit_code == 1


# ---------------------------------------------------------------- 4. impute's working files

def _holes_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    frame[frame > 1.2] = np.nan
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("where", ["held-back copy", "work folder"])
def test_impute_with_a_full_tmpdir_is_one_line(tmp_path, monkeypatch, capsys, where):
    """A full TMPDIR (or ulimit -f) while impute wrote its held-back copy of the input:
    a traceback and "this is a bug", exit 1."""
    from encoderkit import outputs
    from encoderkit.cli import main
    from encoderkit.registry import get_domain

    if where == "held-back copy":
        cls = get_domain("tabular")
        real = cls.write_output

        def write_output(self, data, path):
            if Path(path).name.startswith("holed"):
                raise _oserror(errno.ENOSPC)
            return real(self, data, path)

        monkeypatch.setattr(cls, "write_output", write_output)
    else:
        def make_work_dir(*a, **k):
            raise _oserror(errno.ENOSPC)

        monkeypatch.setattr(outputs, "make_work_dir", make_work_dir)
    out = tmp_path / "filled.csv"
    code = main(["impute", f"input={_holes_csv(tmp_path / 'holes.csv')}", f"output={out}", "domain=tabular",
                 "train.steps=2", "progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, err
    assert "Traceback" not in "\n".join(err) and len(err) == 1
    assert "No space left on device" in err[0] and "working file" in err[0]
    assert not out.exists()


# ---------------------------------------------------------------- 5. signals during clean-up

SIGNALLED = textwrap.dedent("""
    import os, signal, sys, time, types
    from encoderkit import cli
    work, name = sys.argv[1], sys.argv[2]
    sig = getattr(signal, "SIG" + name)

    def run(command, argv):
        os.makedirs(work)
        try:
            os.kill(os.getpid(), sig)  # the first: the command stops here
            time.sleep(30)
        finally:  # its clean-up, during which the signal comes twice more
            os.kill(os.getpid(), sig)
            os.kill(os.getpid(), sig)
            time.sleep(0.05)
            os.rmdir(work)
        return 0

    sys.modules["signalled_command"] = types.SimpleNamespace(run=run)
    cli.COMMANDS["signalled"] = ("signalled_command", "a test command")
    sys.argv = ["encoderkit", "signalled"]
    sys.exit(cli.main())
""")


@pytest.mark.parametrize("name,code,said", [("INT", 130, "interrupted"), ("TERM", 143, "terminated"),
                                            ("HUP", 129, "hung up")])
def test_repeated_signal_during_clean_up_lets_it_finish(tmp_path, name, code, said):
    """Ctrl-C pressed 2-3 times: the second interrupt cut the clean-up short (a work folder
    left in $TMPDIR, a traceback); SIGHUP (ssh closed) ended the process with no clean-up."""
    work = tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", SIGNALLED, str(work), name], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert not work.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"encoderkit signalled: {said}"), proc.stderr


# ---------------------------------------------------------------- 6. weight files' mode

def test_weights_get_the_mode_of_the_runs_other_files(tmp_path):
    """safetensors wrote model / optimizer weights 0600 beside 0644 files (umask 022): a group
    sharing the run could read its config and metrics but not its weights."""
    from encoderkit.interop.hf import export_hf
    from encoderkit.registry import get_domain

    mask = os.umask(0o022)
    try:
        final = ckpt.save_checkpoint(tmp_path / "checkpoints", 1, {"w": torch.zeros(3)}, {}, [], {"step": 1},
                                     keep=0)
        domain = get_domain("genomic")({})
        config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                               local_window=8, backend="sdpa", rope_axes=domain.rope_axes)
        source = SimpleNamespace(model=MaskedEncoderModel(domain, config), domain=domain, members=[],
                                 path=None, step=0, max_seqlen=64)
        hf = export_hf(source, tmp_path / "hf")
    finally:
        os.umask(mask)
    for folder in (final, hf):  # every file as open() makes one: 0666 less the umask
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()}
        assert set(modes.values()) == {"0o644"}, modes
