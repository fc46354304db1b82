"""Reading a run while it trains (session 49, helper l).

A pretraining run with ``train.keep`` removes the checkpoint a reader chose before the reader
got to its files: ``embed checkpoint=<run>`` said "checkpoints/87/model.safetensors: checkpoint
weights are missing", verifying it raised a bare ``FileNotFoundError`` (a traceback, "a bug in
encoderkit"), and with one checkpoint listed ``load`` called the healthy run damaged ("none of
the 1 checkpoint(s) loads"). A reader now chooses again: the newest checkpoint that exists and
loads, a bounded number of times, then one line saying the run is being written. best/ caught
between the two renames of its replacement is waited for, not passed over for
checkpoints/<newest>.

Deterministic: the trainer's moves (write checkpoint N+1, then prune N as ``train.keep`` does;
set best/ aside, then rename the new one in) are made by a hook placed between the reader's
choice and its read. References: the weights loaded are compared with the safetensors file of
the checkpoint expected, read with the safetensors library.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.infer.load import load, resolve_checkpoint
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain
from tests.reliability.conftest import run_cli

# the module (``encoderkit.infer.load`` the attribute is the function)
load_module = importlib.import_module("encoderkit.infer.load")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=48)


@pytest.fixture(scope="module")
def reference(store, tmp_path_factory) -> Path:
    """A 3-step pretraining run with checkpoints 1, 2 and 3."""
    run = tmp_path_factory.mktemp("ref") / "run"
    pretrain(td.tiny_overrides(store, str(run), steps=3, **{"train.eval_every": 0, "train.keep": 0,
                                                             "train.checkpoint_every": 1}))
    return run


@pytest.fixture
def run(reference, tmp_path) -> Path:
    """The reference run with only its newest checkpoint kept (as ``train.keep=1`` leaves it)."""
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    for step in ("1", "2"):
        shutil.rmtree(out / "checkpoints" / step)
    return out


def _copy_as(source: Path, target: Path, step: int) -> None:
    """``source`` written as checkpoint ``step`` at ``target`` the way the trainer writes one
    (a temporary folder renamed into place), with its state's step and manifest to match and
    its weights changed, so that which of the two a reader loaded can be told."""
    tmp = target.parent / f".tmp-{target.name}-0"
    shutil.copytree(source, tmp)
    tensors = load_file(str(tmp / ckpt.MODEL_FILE))
    from safetensors.torch import save_file

    save_file({k: v + step for k, v in tensors.items()}, str(tmp / ckpt.MODEL_FILE), metadata={"format": "pt"})
    state = json.loads((tmp / ckpt.STATE_FILE).read_text())
    state["step"] = step
    (tmp / ckpt.STATE_FILE).write_text(json.dumps(state))
    names = (ckpt.MODEL_FILE, ckpt.OPTIMIZER_FILE, ckpt.STATE_FILE)
    (tmp / ckpt.MANIFEST_FILE).write_text(json.dumps({"files": {n: {
        "size": (tmp / n).stat().st_size, "sha256": hashlib.sha256((tmp / n).read_bytes()).hexdigest()}
        for n in names}}))
    tmp.rename(target)


def _advance(run: Path) -> Path:
    """What the trainer does between two reads with ``train.keep=1``: checkpoint N+1 written,
    then N pruned (renamed aside, then deleted). Returns the new checkpoint."""
    newest = ckpt.latest_checkpoint(run / "checkpoints")
    step = int(newest.name) + 1
    _copy_as(newest, run / "checkpoints" / str(step), step)
    doomed = newest.parent / f".tmp-del-{newest.name}-0"
    newest.rename(doomed)
    shutil.rmtree(doomed)
    return run / "checkpoints" / str(step)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in ckpt.untied_state(model.model).items()}


def _same_weights(model, checkpoint: Path) -> bool:
    expected = load_file(str(checkpoint / ckpt.MODEL_FILE))
    got = _weights(model)
    return set(expected) <= set(got) and all(torch.equal(got[k], expected[k]) for k in expected)


# ---------------------------------------------------------------- choosing: verify meets retention
def test_a_checkpoint_pruned_while_verified_is_chosen_again_not_called_damaged(run, monkeypatch):
    real = ckpt.file_digest
    moved: list[Path] = []

    def digest(path: Path):
        if not moved:  # the trainer writes N+1 and prunes N while N's files are hashed
            moved.append(_advance(run))
        return real(path)

    monkeypatch.setattr(ckpt, "file_digest", digest)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipping damaged checkpoint" for one retention removed
        chosen = ckpt.newest_valid_checkpoint(run / "checkpoints")
    assert moved and chosen == moved[0] == run / "checkpoints" / "4"


def test_file_digest_of_a_file_removed_after_it_was_opened(run, monkeypatch):
    """The size comes from the handle hashed: a path gone by then raised FileNotFoundError."""
    file = run / "checkpoints" / "3" / ckpt.MODEL_FILE
    expected = {"size": file.stat().st_size, "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}
    real_open = open

    def opening(path, *args, **kwargs):
        f = real_open(path, *args, **kwargs)
        Path(path).unlink()  # removed once open, as retention removes a checkpoint being read
        return f

    monkeypatch.setattr("builtins.open", opening)
    got = ckpt.file_digest(file)
    monkeypatch.undo()
    assert got == expected


# ---------------------------------------------------------------- reading: load meets retention
def test_load_reads_the_newest_checkpoint_when_the_chosen_one_is_pruned_before_its_read(run, monkeypatch):
    real = load_module.build_checked
    moved: list[Path] = []

    def between(*args, **kwargs):  # after the choice, before the weights are read
        if not moved:
            moved.append(_advance(run))
        return real(*args, **kwargs)

    monkeypatch.setattr(load_module, "build_checked", between)
    model = load(run)
    assert moved and model.step == 4 and model.path == run / "checkpoints" / "4"
    assert _same_weights(model, run / "checkpoints" / "4")


def test_a_checkpoint_replaced_after_its_weights_were_read_is_read_again(run, monkeypatch):
    """State and weights of one checkpoint: a replacement after the read is no half-read mix."""
    real = load_module.build_checked
    moved: list[Path] = []

    def after(*args, **kwargs):
        out = real(*args, **kwargs)  # the header of checkpoint 3 checked
        if not moved:
            moved.append(_advance(run))  # then 3 pruned before the tensors are read
        return out

    monkeypatch.setattr(load_module, "build_checked", after)
    model = load(run)
    assert model.step == 4 and _same_weights(model, run / "checkpoints" / "4")


def test_a_run_replacing_every_choice_is_one_line_saying_it_is_being_written(run, store, tmp_path,
                                                                             monkeypatch, capsys):
    real = load_module.build_checked
    count = []

    def always(*args, **kwargs):
        count.append(_advance(run))
        return real(*args, **kwargs)

    monkeypatch.setattr(load_module, "build_checked", always)
    with pytest.raises(DataError, match=r"the run is being written and its checkpoints replaced .*"
                                        r"\(3 tries\); retry, or read its best/ or a finished run"):
        load(run)
    assert len(count) == load_module.READ_TRIES
    out = tmp_path / "e.npy"
    line = run_cli(capsys, ["embed", f"checkpoint={run}", f"input={store}", f"output={out}"], 1,
                   "being written", "retry")
    assert "missing" not in line and "damaged" not in line and not out.exists()


# ---------------------------------------------------------------- best/ in the instant of its replacement
def _mid_swap(run: Path) -> Path:
    """best/ (a copy of checkpoint 3 as step 7) set aside under this process's id, as
    ``write_weights_checkpoint`` does (``.tmp-old-best-<pid>``) before the new copy (step 8)
    takes the name. Returns the staged new copy."""
    best = run / "best"
    _copy_as(run / "checkpoints" / "3", best, 7)
    staged = run / ".tmp-best-0"
    staged.mkdir()
    _copy_as(run / "checkpoints" / "3", staged / "8", 8)
    best.rename(run / f".tmp-old-best-{os.getpid()}")
    return staged / "8"


def test_best_between_its_two_renames_is_waited_for_not_passed_over(run, monkeypatch):
    staged = _mid_swap(run)
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the writer's second rename happens while the reader waits
        slept.append(seconds)
        if staged.exists():
            staged.rename(run / "best")
            shutil.rmtree(run / f".tmp-old-best-{os.getpid()}")

    monkeypatch.setattr("time.sleep", sleep)
    assert resolve_checkpoint(run) == run / "best"
    assert slept
    model = load(run)
    assert model.step == 8 and _same_weights(model, run / "best")


def test_an_aside_counts_while_its_writer_runs_and_not_after_it_died(run, monkeypatch):
    """A writer killed between the renames left its aside: nothing is coming, so the reader goes
    on at once (to checkpoints/<newest>, as for a run without best/); a running writer's aside
    is waited for."""
    best = run / "best"
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    dead = run / f".tmp-old-best-{int(child.stdout)}"
    dead.mkdir()
    assert not ckpt.being_replaced(best)
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail("waited for a dead writer"))
    assert resolve_checkpoint(run) == run / "checkpoints" / "3"
    dead.rename(run / f".tmp-old-best-{os.getpid()}")  # this process: running
    assert ckpt.being_replaced(best)
    assert not ckpt.being_replaced(run / "bes") and not ckpt.being_replaced(run / "checkpoints" / "3")


def test_write_weights_checkpoint_leaves_a_sign_between_its_renames(run, monkeypatch):
    """The writer's side of the wait: in the instant best/ is absent, ``being_replaced`` sees it."""
    from encoderkit.train.objective import write_weights_checkpoint

    best = run / "best"
    tensors = load_file(str(run / "checkpoints" / "3" / ckpt.MODEL_FILE))
    write_weights_checkpoint(best, tensors, {"step": 3, "model_config": {}, "domain": {}})
    seen = []
    real = Path.rename

    def rename(self, target):
        out = real(self, target)
        if self == best:  # moved aside, the new copy not yet in
            seen.append((best.exists(), ckpt.being_replaced(best)))
        return out

    monkeypatch.setattr(Path, "rename", rename)
    write_weights_checkpoint(best, tensors, {"step": 4, "model_config": {}, "domain": {}})
    monkeypatch.undo()
    assert seen == [(False, True)]
    assert json.loads((best / ckpt.STATE_FILE).read_text())["step"] == 4 and not ckpt.being_replaced(best)


def test_best_that_stays_mid_replacement_is_the_being_written_line(run, monkeypatch):
    _mid_swap(run)
    clock = iter(range(0, 1000))
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)))
    monkeypatch.setattr("time.sleep", lambda s: None)
    with pytest.raises(DataError, match="the run is being written"):
        resolve_checkpoint(run)
