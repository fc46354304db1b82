"""Fine-tuning tasks, domain-free: heads on the core's output, labels, metrics, and the
``finetune`` entry point (``encoderkit finetune`` / ``encoderkit predict``)."""

from __future__ import annotations

from pathlib import Path

from encoderkit.tasks.spec import TASK_TYPES, TaskSpec


def finetune(overrides: list[str] | None = None) -> Path:
    """Fine-tune from Hydra overrides, e.g. ``finetune(["checkpoint=runs/pre",
    "data.store=dna.zarr", "task.type=classification", "task.labels=labels.csv",
    "run.dir=runs/ft", "train.steps=200"])``; returns the run directory."""
    from encoderkit.train.config import compose_finetune
    from encoderkit.train.trainer import Trainer

    return Trainer(compose_finetune(overrides)).fit()


__all__ = ["finetune", "TaskSpec", "TASK_TYPES"]
