"""Shared by the crash tests of pretraining and fine-tuning: start a training run in a
child process (tests/train/dist_entry.py) and wait for a moment worth killing it at."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file

ENTRY = Path(__file__).resolve().parent / "train" / "dist_entry.py"


def start_run(args: list[str], slow_save: float) -> subprocess.Popen:
    """``args``: the entry script's arguments (overrides, led by ``finetune`` to fine-tune).
    ``slow_save`` stretches each checkpoint's file sync (seconds)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EK_TEST_SLOW_SAVE": str(slow_save)}
    return subprocess.Popen([sys.executable, str(ENTRY), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(cond, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll ``cond`` until it holds (True), the process ends or the timeout passes (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def crash_and_finish(args: list[str], run: Path, ref: Path, steps: int,
                     check_state: Callable[[dict], bool]) -> None:
    """SIGKILL the run of ``args`` (run dir ``run``) at random moments, half of them while a
    checkpoint is being written, until it reaches ``steps``; after each kill every
    step-named checkpoint must load and pass ``check_state``. Then finish it in one go and
    compare its final weights with the uninterrupted run ``ref``, bitwise."""
    from encoderkit.train import checkpoint as ckpt

    ckdir = run / "checkpoints"
    rng = np.random.default_rng(0)
    kills = 0
    for attempt in range(4):
        proc = start_run(args, slow_save=0.3)
        if attempt % 2 == 0:  # while a checkpoint is written (its temporary directory exists)
            caught = wait_for(lambda: ckdir.is_dir() and any(
                p.name.startswith(".tmp-") for p in ckdir.iterdir()), proc)
        else:  # at a random moment after training has started
            caught = wait_for(lambda: (run / "metrics.jsonl").is_file(), proc)
            time.sleep(float(rng.uniform(0.0, 1.0)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += caught
        proc.wait()
        # whatever the moment, every step-named directory is a complete checkpoint
        for c in ckpt.complete_checkpoints(ckdir):
            _, _, _, state = ckpt.load_checkpoint(c)
            assert state["step"] == int(c.name) and check_state(state), c
        if (ckdir / str(steps)).is_dir():
            break
    assert kills >= 2, "the test never killed the trainer mid-run"
    proc = start_run(args, slow_save=0.0)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    a = load_file(str(ref / "checkpoints" / str(steps) / "model.safetensors"))
    b = load_file(str(ckdir / str(steps) / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
