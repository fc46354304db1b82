"""Entry point for subprocess runs in the train and task tests (torchrun, crash tests):
registers the test domain in the child process, then pretrains with the given overrides,
or fine-tunes when the first argument is ``finetune``.

``EK_TEST_SLOW_SAVE=<seconds>`` stretches each checkpoint's file sync, so a crash test
can kill the process while a checkpoint is being written.
"""

from __future__ import annotations

import os
import sys
import time

import torch

import testdomain  # noqa: F401  (registers the `traintest` domain)
from encoderkit.tasks import finetune
from encoderkit.train import checkpoint, pretrain

if __name__ == "__main__":
    torch.set_num_threads(1)
    delay = float(os.environ.get("EK_TEST_SLOW_SAVE", "0"))
    if delay:
        fsync = checkpoint._fsync_file

        def slow_fsync(path):
            time.sleep(delay)
            fsync(path)

        checkpoint._fsync_file = slow_fsync
    args = sys.argv[1:]
    if args[:1] == ["finetune"]:
        finetune(args[1:])
    else:
        pretrain(args)
    # Skip interpreter teardown (see fsdp_rms_entry.py): a Gloo shutdown race can abort
    # a process whose run has already finished and written its checkpoint.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
