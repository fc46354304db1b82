"""Shared by the crash tests of pretraining and fine-tuning: start a training run in a
child process (tests/train/dist_entry.py) and wait for a moment worth killing it at."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
