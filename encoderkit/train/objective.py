"""What the training loop trains: an ``Objective`` supplies the model, the batches, the
weight of each batch in the step's loss, and the validation.

One loop (``Trainer``) serves every objective, so checkpoints, StableAdamW, WSD, exact
resume, DDP/FSDP2, metrics.jsonl and the loss plot are shared:

* ``MaskedLMObjective``: masked-token pretraining (``encoderkit pretrain``);
* ``encoderkit.tasks.objective.TaskObjective``: fine-tuning heads (``encoderkit finetune``).

The model's ``forward(batch)`` returns a ``HeadOutput`` whose ``loss`` is the mean over
the units the objective's ``weight(batch)`` counts on the host (predicted tokens,
labelled sequences); the loop weights each micro-batch by its share of those units, so
the step loss is the mean over all units of the step on all ranks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from encoderkit.batch import PackedBatch
from encoderkit.train import distributed as D
from encoderkit.train.config import ConfigError
from encoderkit.train.optim import param_groups

if TYPE_CHECKING:
    from encoderkit.train.trainer import Trainer


class Objective(ABC):
    """Base: the hooks the loop calls. Subclasses set ``model`` and ``loader`` and define
    ``weight``; the other hooks default to doing nothing."""

    name = "train"  # progress bar label
    model: nn.Module
    loader: Any  # a PackedLoader (iterable of PackedBatch, state_dict / load_state_dict)
    val_enabled: bool = False
    #: set by ``after_validation`` to stop training early (early stopping)
    stop: bool = False

    @abstractmethod
    def weight(self, batch: PackedBatch) -> int:
        """Host-side count of the units the batch's loss is a mean over."""

    def param_groups(self, model: nn.Module, weight_decay: float, lr: float) -> list[dict[str, Any]]:
        """Optimizer groups of ``model`` (the objective's model, or its DDP/FSDP wrapper:
        names may carry a prefix); a group may carry ``lr_scale`` (lr = schedule lr x scale)
        and ``start_fraction`` (lr 0 for that fraction of the schedule, then the schedule
        compressed into the rest: ``schedule.Delayed``)."""
        return param_groups(model, weight_decay)

    def validate(self, trainer: Trainer) -> dict[str, float] | None:
        return None

    def on_start(self, trainer: Trainer) -> None:
        """Called once before the first step (after a resume: ``trainer.history`` holds the
        metrics logged up to the resumed step)."""

    def after_validation(self, trainer: Trainer, val: dict[str, float]) -> None:
        """Called after each logged validation (best checkpoint, early stopping)."""

    def on_end(self, trainer: Trainer) -> None:
        """Called after the last step and its checkpoint (e.g. a final test evaluation)."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Extra ``state.json`` entries of each checkpoint (what inference needs)."""
        return {}


class MaskedLMObjective(Objective):
    """Masked-token pretraining of ``MaskedEncoderModel`` on the domain's maskers."""

    name = "pretrain"

    def __init__(self, trainer: Trainer) -> None:
        from encoderkit.data.loader import PackedLoader
        from encoderkit.data.split import statistics_split_note
        from encoderkit.modeling import MaskedEncoderModel
        from encoderkit.train.model_size import allocation, encoder_parameters

        cfg, info = trainer.cfg, trainer.info
        # a model past this machine's memory was refused with the config (validate); one whose
        # allocation fails anyway (the device's memory, other processes) is one line, no traceback
        with allocation(encoder_parameters(trainer.encoder_config), ConfigError):
            self.model = MaskedEncoderModel(trainer.domain, trainer.encoder_config).to(trainer.device)
        d = cfg.data
        store = trainer.store
        self.train_indices = store.split("train", fraction=d.val_fraction, seed=d.seed)
        self.val_indices = store.split("validation", fraction=d.val_fraction, seed=d.seed)
        stats = getattr(trainer.domain, "statistics_split", None)  # the ingest statistics' split
        note = statistics_split_note(len(store), d.val_fraction, d.seed, stats and stats(), d.store)
        if note and info.is_main:
            warnings.warn(note, stacklevel=3)
        # every rank needs at least one validation record (the loader shards by rank)
        self.val_enabled = len(self.val_indices) >= info.world_size
        if not self.val_enabled and cfg.train.eval_every and info.is_main:
            warnings.warn(f"the validation split of {d.store} has {len(self.val_indices)} "
                          f"record(s), fewer than the {info.world_size} rank(s): validation "
                          "is skipped (raise data.val_fraction or add records)", stacklevel=3)
        if len(self.train_indices) == 0:
            raise ConfigError(f"store {d.store} has no training records "
                              f"(data.val_fraction={d.val_fraction})")
        try:
            self.loader = PackedLoader(store, trainer.domain, indices=self.train_indices,
                                       max_tokens=d.max_tokens, max_seqlen=d.max_seqlen,
                                       seed=d.seed, rank=info.rank, world_size=info.world_size,
                                       num_workers=d.num_workers, train=True,
                                       read=d.read, buffer_mb=float(d.buffer_mb))
        except ValueError as e:  # e.g. fewer training records than ranks
            raise ConfigError(f"data: {' '.join(str(e).split())}") from None

    def weight(self, batch: PackedBatch) -> int:
        return batch.num_predicted  # from the host-side predict_index: no device read

    @torch.no_grad()
    def validate(self, trainer: Trainer) -> dict[str, float] | None:
        from encoderkit.data.loader import PackedLoader

        if not self.val_enabled:
            return None
        d, info = trainer.cfg.data, trainer.info
        # Masked (train=True) so there is a loss; a fixed seed makes every evaluation
        # see the same masks, so validation curves compare across steps.
        loader = PackedLoader(trainer.store, trainer.domain, indices=self.val_indices,
                              max_tokens=d.max_tokens, max_seqlen=d.max_seqlen, seed=d.seed + 1,
                              rank=info.rank, world_size=info.world_size, num_workers=0,
                              train=True, epochs=1)
        budget = trainer.cfg.train.eval_tokens
        local: list = []
        seen = 0
        for b in loader:
            local.append(b)
            seen += b.num_tokens
            if budget and seen * info.world_size >= budget:
                break
        local = local[:min_over_ranks(len(local), trainer)]
        model = self.model
        model.eval()
        acc = torch.zeros(2, dtype=torch.float64)
        try:
            for b in local:
                b = b.to(trainer.device)
                with trainer._autocast():
                    out = trainer.wrapped(b) if trainer.cfg.train.strategy == "fsdp" else model(b)
                acc += torch.tensor([float(out.loss) * b.num_predicted, b.num_predicted],
                                    dtype=torch.float64)
        finally:
            model.train()
        acc = D.all_reduce_sum(acc.to(trainer.device), info).cpu()
        if acc[1] == 0:
            return None
        return {"val_loss": float(acc[0] / acc[1])}


def min_over_ranks(n: int, trainer: Trainer) -> int:
    """The smallest ``n`` of all ranks: every rank must run the same number of forwards
    (FSDP2 gathers parameters in forward)."""
    t = torch.tensor([n], device=trainer.device)
    if trainer.info.enabled:
        import torch.distributed as dist

        dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t)


def make_objective(trainer: Trainer) -> Objective:
    """The objective a config asks for: a ``task`` section means fine-tuning."""
    if "task" in trainer.cfg:
        from encoderkit.tasks.objective import TaskObjective

        return TaskObjective(trainer)
    return MaskedLMObjective(trainer)


def write_weights_checkpoint(directory: Path, tensors: dict[str, torch.Tensor],
                             state: dict[str, Any], arrays: dict[str, dict[str, Any]] | None = None,
                             files: dict[str, bytes] | None = None) -> Path:
    """A weights-only checkpoint (``load`` reads it) written atomically to ``directory``
    (replacing it): used for the ``best/`` copy of a fine-tuning run. ``arrays``: ``.npz``
    files (name -> numeric arrays), ``files``: other files (name -> bytes; the run's split),
    written into it before it takes its name."""
    import os
    import shutil

    import numpy as np

    from encoderkit.train import checkpoint as ckpt

    parent = directory.parent
    staging = parent / f".tmp-{directory.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    path = ckpt.save_checkpoint(staging, int(state.get("step", 0)), tensors, {}, [], state, keep=0)
    for name, values in (arrays or {}).items():
        np.savez(path / name, **values)
    for name, body in (files or {}).items():
        (path / name).write_bytes(body)
    # the old copy waits aside for the instant between the two renames: a reader that finds
    # best/ missing then sees it and waits (``checkpoint.being_replaced``) instead of reading
    # checkpoints/<newest> in its place
    old = ckpt.aside(directory)
    if directory.exists():
        directory.rename(old)
    path.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return directory
