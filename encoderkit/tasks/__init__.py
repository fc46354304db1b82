"""Fine-tuning tasks, domain-free: heads on the core's output, labels, metrics, and the
``finetune`` entry point (``encoderkit finetune`` / ``encoderkit predict``)."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from encoderkit.tasks.spec import TASK_TYPES, TaskSpec

# set while an ensemble's other members train (``finetune`` calls itself for each): what the
# command says of its config once, such as label_column_seen, is not said again per member
_MEMBERS: ContextVar[bool] = ContextVar("encoderkit_finetune_members", default=False)


def finetune(overrides: list[str] | None = None) -> Path:
    """Fine-tune from Hydra overrides, e.g. ``finetune(["checkpoint=runs/pre",
    "data.store=dna.zarr", "task.type=classification", "task.labels=labels.csv",
    "run.dir=runs/ft", "train.steps=200"])``; returns the run directory. With
    ``task.ensemble`` above one member, the other members are trained after this run
    (``encoderkit/tasks/ensemble.py``)."""
    import shutil

    from encoderkit.tasks.ensemble import train_members
    from encoderkit.tasks.finetune_label_seen import warn_label_column_seen
    from encoderkit.train import distributed as D
    from encoderkit.train.checkpoint import keep_run_dir_locks
    from encoderkit.train.config import compose_finetune
    from encoderkit.train.trainer import Trainer

    cfg = compose_finetune(overrides)
    run_dir = Path(str(cfg.run.dir)).expanduser() if cfg.run.get("dir") else None
    try:  # a name the file system cannot take fails this first stat: the trainer's one line
        fresh = run_dir is not None and not run_dir.exists()
    except OSError as e:
        from encoderkit.train.run_dir import run_dir_error

        raise run_dir_error(run_dir, e) from None
    if not _MEMBERS.get():  # a label column the checkpoint's pretraining saw (and could memorise)
        warn_label_column_seen(cfg)
    # an ensemble's members train in this process group too (under torchrun), and run.dir
    # stays locked from member 0 to the ensemble's end (the Python API as the command)
    with D.held(), keep_run_dir_locks():
        try:
            done = Trainer(cfg).fit()
        except Exception:
            # refused or failed before the first checkpoint (bad labels, task options, a library
            # error): remove the run directory this call created, so a failed command leaves
            # nothing behind
            if fresh and run_dir.is_dir() and not any((run_dir / "checkpoints").glob("*")):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        members = _MEMBERS.set(True)
        try:
            train_members(cfg, list(overrides or []), done)
        finally:
            _MEMBERS.reset(members)
    return done


__all__ = ["finetune", "TaskSpec", "TASK_TYPES"]
