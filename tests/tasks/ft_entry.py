"""Entry point for subprocess fine-tuning runs (torchrun, crash tests): registers the test
domain in the child process, then fine-tunes with the given overrides.
``EK_TEST_SLOW_SAVE=<seconds>`` stretches each checkpoint's file sync (see
tests/train/dist_entry.py)."""

from __future__ import annotations

import os
import sys
import time

import torch

import testdomain  # noqa: F401  (registers the `traintest` domain)
from encoderkit.tasks import finetune
from encoderkit.train import checkpoint

if __name__ == "__main__":
    torch.set_num_threads(1)
    delay = float(os.environ.get("EK_TEST_SLOW_SAVE", "0"))
    if delay:
        fsync = checkpoint._fsync_file

        def slow_fsync(path):
            time.sleep(delay)
            fsync(path)

        checkpoint._fsync_file = slow_fsync
    finetune(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip teardown (a Gloo shutdown race, see tests/train/dist_entry.py)
