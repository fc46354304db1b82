"""Training engine: StableAdamW, WSD schedules, the trainer, checkpoints, distributed set-up.

``pretrain(overrides)`` composes the packaged Hydra config with ``overrides`` (the
same words as on the command line), trains, and returns the run directory.

The optimizer and schedule names are imported on first use (PEP 562 ``__getattr__``):
they need torch, and ``encoderkit pretrain --help`` / ``finetune --help`` (which import
``encoderkit.train.cli`` / ``encoderkit.train.config``, so this package) must not.
``from encoderkit.train import StableAdamW, WSD`` works as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from encoderkit.lazy_exports import lazy_exports

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    "StableAdamW": "encoderkit.train.optim",
    "param_groups": "encoderkit.train.optim",
    "WSD": "encoderkit.train.schedule",
    "BatchWarmup": "encoderkit.train.schedule",
}
# submodules the package imported eagerly before: `import encoderkit.train; encoderkit.train.optim.X`
_SUBMODULES = frozenset({"optim", "schedule"})

if TYPE_CHECKING:  # what type checkers and IDEs see
    from encoderkit.train.optim import StableAdamW, param_groups
    from encoderkit.train.schedule import WSD, BatchWarmup


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBMODULES)


def pretrain(overrides: list[str] | None = None) -> Path:
    """Train from Hydra overrides, e.g. ``pretrain(["domain=genomic", "data.store=dna.zarr",
    "train.steps=50", "run.dir=/tmp/run"])``; returns the run directory."""
    from encoderkit.train.config import compose
    from encoderkit.train.trainer import Trainer

    return Trainer(compose(overrides)).fit()


__all__ = ["pretrain", "StableAdamW", "param_groups", "WSD", "BatchWarmup"]
