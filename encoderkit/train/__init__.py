"""Training engine: StableAdamW, WSD schedules, the trainer, checkpoints, distributed set-up.

``pretrain(overrides)`` composes the packaged Hydra config with ``overrides`` (the
same words as on the command line), trains, and returns the run directory.

The optimizer and schedule names are imported on first use (PEP 562 ``__getattr__``):
they need torch, and ``encoderkit pretrain --help`` / ``finetune --help`` (which import
``encoderkit.train.cli`` / ``encoderkit.train.config``, so this package) must not.
``from encoderkit.train import StableAdamW, WSD`` works as before.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # imported once: later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def pretrain(overrides: list[str] | None = None) -> Path:
    """Train from Hydra overrides, e.g. ``pretrain(["domain=genomic", "data.store=dna.zarr",
    "train.steps=50", "run.dir=/tmp/run"])``; returns the run directory."""
    from encoderkit.train.config import compose
    from encoderkit.train.trainer import Trainer

    return Trainer(compose(overrides)).fit()


__all__ = ["pretrain", "StableAdamW", "param_groups", "WSD", "BatchWarmup"]
