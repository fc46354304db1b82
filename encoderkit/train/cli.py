"""`encoderkit pretrain [-m] [overrides]`: Hydra overrides in, a run directory out.

Errors: a bad override is a ``ConfigError`` (a ``UsageError``), a bad store or
checkpoint a ``DataError``; ``encoderkit.cli.main`` prints them as one line.

``-m`` / ``--multirun`` expands comma-list sweeps (``domain.rate=0.15,0.3``) with
Hydra's basic sweeper into one job per combination, each with its own run directory
``<run.dir or multirun/<time>>/<job number>``, run one after another; the job list
is written to ``multirun.yaml`` in the sweep directory.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from encoderkit.train.config import ConfigError, help_text


def expand_sweep(overrides: list[str]) -> list[list[str]]:
    """Hydra's basic-sweeper expansion: the cartesian product of the sweep overrides."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from encoderkit.overrides import readable

    parsed = OverridesParser.create().parse_overrides(readable(overrides))
    return BasicSweeper.split_arguments(parsed, max_batch_size=None)[0]


def _multirun(argv: list[str]) -> int:
    from omegaconf import OmegaConf

    from encoderkit.train import pretrain

    jobs = expand_sweep(argv)
    base_dir = next((o.split("=", 1)[1] for o in argv if o.split("=", 1)[0] == "run.dir"), None)
    sweep_dir = Path(base_dir) if base_dir else Path("multirun") / time.strftime("%Y-%m-%d_%H-%M-%S")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "multirun.yaml").write_text(OmegaConf.to_yaml(
        {"jobs": [{"dir": str(sweep_dir / str(i)), "overrides": job} for i, job in enumerate(jobs)]}))
    failed = 0
    for i, job in enumerate(jobs):
        job = [o for o in job if o.split("=", 1)[0] != "run.dir"] + [f"run.dir={sweep_dir / str(i)}"]
        print(f"[multirun] job {i}: {' '.join(job)}", file=sys.stderr)
        try:
            pretrain(job)
        except ConfigError:  # the same config error would stop every job: report it once
            raise
        except Exception as e:  # one failed job does not stop the sweep
            print(f"[multirun] job {i} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def run(command: str, argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(help_text())
        return 0
    from encoderkit.train.trainer import NonFiniteLossError  # torch: not for --help

    multirun = any(a in ("-m", "--multirun") for a in argv)
    argv = [a for a in argv if a not in ("-m", "--multirun")]
    bad = [a for a in argv if a.startswith("-")]
    if bad:
        raise ConfigError(f"unknown option {bad[0]!r} (options: --help, -m)")
    # user errors (ConfigError, DataError, ...) are reported by encoderkit.cli.main
    try:
        if multirun:
            return _multirun(argv)
        from encoderkit.train import pretrain

        run_dir = pretrain(argv)
    except NonFiniteLossError as e:
        print(f"encoderkit pretrain: stopped: {e}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":
        print(f"run directory: {run_dir}")
    return 0
