"""Resume survives a damaged newest checkpoint: ``resume=auto`` (and ``encoderkit.load``)
skip each checkpoint that does not verify against the sizes and sha256 recorded at save
time, with a warning, and continue from the newest intact one; when none loads the
command fails with one line. Metrics always describe the run the checkpoints describe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain

from .conftest import run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=48)


def _overrides(store: str, run: Path, steps: int) -> list[str]:
    return td.tiny_overrides(store, str(run), steps=steps, **{"train.eval_every": 0, "train.keep": 0,
                                                              "train.checkpoint_every": 1})


@pytest.fixture(scope="module")
def reference(store, tmp_path_factory) -> tuple[Path, dict]:
    """An uninterrupted 3-step run (checkpoints 1, 2, 3): the weights resumes must reach."""
    run = tmp_path_factory.mktemp("ref") / "run"
    pretrain(_overrides(store, run, 3))
    return run, load_file(str(run / "checkpoints" / "3" / ckpt.MODEL_FILE))


def _damage(path: Path, how: str) -> None:
    if how == "truncated-model":
        data = (path / ckpt.MODEL_FILE).read_bytes()
        (path / ckpt.MODEL_FILE).write_bytes(data[: len(data) // 2])
    elif how == "garbage-state":
        (path / ckpt.STATE_FILE).write_text("{\"step\": 6, garbage")
    elif how == "flipped-byte":  # same size, other content: only the checksum sees it
        data = bytearray((path / ckpt.OPTIMIZER_FILE).read_bytes())
        data[-1] ^= 0xFF
        (path / ckpt.OPTIMIZER_FILE).write_bytes(bytes(data))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("damage", [
    {"3": "garbage-state", "2": "truncated-model"},  # two damaged: both skipped, resume from 1
    pytest.param({"3": "flipped-byte"}, marks=pytest.mark.slow)])
def test_resume_auto_skips_damaged_newest_checkpoints(store, reference, tmp_path, damage):
    ref, want = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    for step, how in damage.items():
        _damage(run / "checkpoints" / step, how)
    with pytest.warns(UserWarning, match=r"skipping damaged checkpoint .*checkpoints/3") as caught:
        pretrain(_overrides(store, run, 3))  # resumes from the newest intact one, recomputes the rest
    skipped = sorted(str(w.message).split("checkpoints/")[1].split(":")[0] for w in caught
                     if "skipping damaged" in str(w.message))
    assert skipped == sorted(damage)
    got = load_file(str(run / "checkpoints" / "3" / ckpt.MODEL_FILE))
    for k in want:  # bitwise the uninterrupted run
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2, 3]


def test_load_skips_a_damaged_newest_checkpoint(reference, tmp_path):
    from encoderkit.infer import load

    ref, _ = reference
    run = tmp_path / "copy"
    shutil.copytree(ref, run)
    _damage(run / "checkpoints" / "3", "truncated-model")
    with pytest.warns(UserWarning, match="skipping damaged checkpoint"):
        assert load(run).step == 2


def test_no_intact_checkpoint_is_one_clean_error(store, reference, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(reference[0], run)
    for step in ("1", "2", "3"):
        _damage(run / "checkpoints" / step, "truncated-model")
    with pytest.warns(UserWarning):
        run_cli(capsys, ["pretrain", *_overrides(store, run, 6)], 1, "none of the 3 checkpoint(s) loads",
                "model.safetensors")
    with pytest.raises(DataError, match="none of the 3 checkpoint"), pytest.warns(UserWarning):
        ckpt.newest_valid_checkpoint(run / "checkpoints")


def test_explicit_damaged_checkpoint_names_the_file(store, reference, tmp_path, capsys):
    damaged = tmp_path / "3"
    shutil.copytree(reference[0] / "checkpoints" / "3", damaged)
    _damage(damaged, "garbage-state")
    run_cli(capsys, ["pretrain", *_overrides(store, tmp_path / "other", 6), f"run.resume={damaged}"], 1,
            "state.json", "truncated or overwritten")


def test_manifest_records_size_and_sha256(reference):
    import hashlib

    ref, _ = reference
    path = ref / "checkpoints" / "3"
    files = json.loads((path / ckpt.MANIFEST_FILE).read_text())["files"]
    for name in (ckpt.MODEL_FILE, ckpt.OPTIMIZER_FILE, ckpt.STATE_FILE):
        data = (path / name).read_bytes()
        assert files[name] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_relaunch_without_checkpoint_starts_metrics_afresh_and_removes_leftovers(store, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    # a killed attempt: steps logged, no checkpoint, temporaries of atomic writes left behind
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "tokens": 0, "loss": 9.0}) + "\n"
                                               for s in (1, 2, 3)))
    leftovers = [run / ".metrics.jsonl.tmp-123", run / ".config.yaml.tmp-123", run / ".loss.png.tmp-123.png"]
    for p in leftovers:
        p.write_text("partial")
    pretrain(_overrides(store, run, 2))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert all(r.get("loss") != 9.0 for r in rows)
    assert not any(p.exists() for p in leftovers)


@pytest.mark.slow
def test_torchrun_cli_pretrain_exits_cleanly(tmp_path):
    """Two Gloo ranks through the console entry (`python -m encoderkit pretrain`): the
    finished run exits 0 (no teardown abort) and its checkpoint verifies."""
    import os
    import subprocess
    import sys

    from .conftest import make_run

    run = make_run("genomic", tmp_path / "g")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "encoderkit", "pretrain", "domain=genomic", f"data.store={run.store}",
                           f"run.dir={out}", "model=tiny", "model.hidden_size=32", "model.num_layers=2",
                           "model.num_heads=2", "model.intermediate_size=48", "model.backend=sdpa",
                           "train.steps=2", "train.checkpoint_every=2", "train.eval_every=0",
                           "train.progress=false", "data.max_tokens=256", "data.max_seqlen=128",
                           "run.device=cpu"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt.verify_checkpoint(out / "checkpoints" / "2")
