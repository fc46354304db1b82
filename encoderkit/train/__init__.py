"""Training engine: StableAdamW, WSD schedules, the trainer, checkpoints, distributed set-up.

``pretrain(overrides)`` composes the packaged Hydra config with ``overrides`` (the
same words as on the command line), trains, and returns the run directory.
"""

from __future__ import annotations

from pathlib import Path

from encoderkit.train.optim import StableAdamW, param_groups
from encoderkit.train.schedule import WSD, BatchWarmup


def pretrain(overrides: list[str] | None = None) -> Path:
    """Train from Hydra overrides, e.g. ``pretrain(["domain=genomic", "data.store=dna.zarr",
    "train.steps=50", "run.dir=/tmp/run"])``; returns the run directory."""
    from encoderkit.train.config import compose
    from encoderkit.train.trainer import Trainer

    return Trainer(compose(overrides)).fit()


__all__ = ["pretrain", "StableAdamW", "param_groups", "WSD", "BatchWarmup"]
