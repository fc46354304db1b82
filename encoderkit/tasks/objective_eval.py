"""``TaskObjective``'s evaluation (``TaskEvaluation``): the validation and test splits run
through the model (``eval_loader``, ``evaluate_indices``; a contrastive run's loss and
retrieval: ``_contrastive_val``) and scored (``score``: loss and task metrics of the
labelled units, ``label_rows``, ``eval_loss``; outputs as predictions: ``to_prediction``);
the test split's metrics at the end (``on_end``). Split out of
``encoderkit/tasks/objective.py`` (the objective), so each module keeps one job.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from encoderkit.batch import PackedBatch
from encoderkit.tasks.metrics import sigmoid, softmax, task_metrics
from encoderkit.tasks.spec import TaskSpec
from encoderkit.tasks.split_checks import test_auroc_note
from encoderkit.train import distributed as D
from encoderkit.train.objective import min_over_ranks

if TYPE_CHECKING:
    from encoderkit.train.trainer import Trainer


class TaskEvaluation:
    """``TaskObjective``'s validation and test metrics (needs ``model``, ``spec``, ``y``,
    ``y_model``, ``class_weights``, ``prepare``, ``max_seqlen``, the split indices)."""

    def on_end(self, trainer: Trainer) -> None:
        """The test split (``task.split``): metrics of the best checkpoint (the last weights
        when no validation picked one, or under FSDP), logged as ``test_<metric>``."""
        if len(self.test_indices) < trainer.info.world_size:
            return
        best = trainer.run_dir / "best" / "model.safetensors"
        if not trainer._fsdp:
            D.barrier(trainer.info)
            if best.is_file():
                from safetensors.torch import load_file

                from encoderkit.train import checkpoint as ckpt

                ckpt.load_model_state(self.model, load_file(str(best)))
        metrics = self.evaluate_indices(self.test_indices, trainer)
        if metrics:
            trainer._log({"step": trainer.step, "tokens": trainer.tokens,
                          **{f"test_{k}": v for k, v in metrics.items()}})
        if metrics and trainer.info.is_main and not self.spec.contrastive:
            # small_validation said it of the validation split before training
            note = test_auroc_note(self.spec, self.y, self.test_indices)
            if note:
                warnings.warn(note, stacklevel=2)

    def eval_loader(self, indices: np.ndarray, trainer: Trainer):
        from encoderkit.data.loader import PackedLoader

        d, info = trainer.cfg.data, trainer.info
        return PackedLoader(trainer.store, trainer.domain, indices=indices, max_tokens=d.max_tokens,
                            max_seqlen=self.max_seqlen, seed=d.seed + 1, rank=info.rank,
                            world_size=info.world_size, num_workers=0, train=False, shuffle=False,
                            epochs=1, prepare=self.prepare)

    @torch.no_grad()
    def validate(self, trainer: Trainer) -> dict[str, float] | None:
        if not self.val_enabled:
            return None
        metrics = self.evaluate_indices(self.val_indices, trainer, keep=True)
        return {f"val_{k}": v for k, v in metrics.items()}

    def evaluate_indices(self, indices: np.ndarray, trainer: Trainer, keep: bool = False) -> dict[str, float]:
        """Metrics of the records ``indices``; ``keep``: also remember their outputs (validation)."""
        from encoderkit.tasks.outputs import collect

        batches = list(self.eval_loader(indices, trainer))
        fsdp = trainer._fsdp
        own = len(batches)
        if fsdp:
            # FSDP2 gathers parameters in forward: every rank runs the same number of forwards.
            # A rank with fewer batches repeats its last one and drops what it gives (cutting
            # every rank to the fewest batches left the others' last records unscored: 62 of 64)
            most = -min_over_ranks(-own, trainer)
            batches = batches + batches[-1:] * (most - own)
        if self.spec.type == "contrastive":
            return self._contrastive_val(batches, trainer, keep=own)
        records, outputs = collect(self.model, batches, trainer.device, trainer._autocast,
                                   forward=trainer.wrapped if fsdp else None, keep=own)
        gathered = trainer._gather((records, outputs))
        records = [r for g in gathered for r in g[0]]
        outputs = [o for g in gathered for o in g[1]]
        if keep:  # what best/ keeps beside its weights (_val_arrays)
            self._val_outputs = (records, outputs)
        return self.score(records, outputs)

    def _contrastive_val(self, batches: list[PackedBatch], trainer: Trainer,
                         keep: int | None = None) -> dict[str, float]:
        """Validation loss and retrieval of a contrastive run; ``keep`` as in ``collect``."""
        from encoderkit.tasks.heads import info_nce, view_groups

        model = self.model
        was = model.training
        model.eval()
        loss_sum, count, hits = 0.0, 0, 0
        try:
            for j, b in enumerate(batches):
                b = b.to(trainer.device)
                with trainer._autocast():
                    z = model.pool(model.encode(b), b).float()
                p = model.project(z)
                k = len(z) // 2
                rec = view_groups(b)
                rec = torch.arange(k, device=z.device) if rec is None else rec
                loss = float(info_nce(p[0::2], p[1::2], model.scale(), rec)) * k
                # retrieval between the two views' embeddings (what a user gets), not
                # projections; finding another copy of the same window is a hit
                a, c = z[0::2], z[1::2]
                sim = torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(c, dim=-1).T
                if keep is not None and j >= keep:  # run for the other ranks' sake (FSDP2): not counted
                    continue
                loss_sum += loss
                hits += int((rec[sim.argmax(1)] == rec).sum())
                count += k
        finally:
            model.train(was)
        acc = D.all_reduce_sum(torch.tensor([loss_sum, count, hits], dtype=torch.float64,
                                            device=trainer.device), trainer.info).cpu()
        if acc[1] == 0:
            return {}
        return {"loss": float(acc[0] / acc[1]), "retrieval_top1": float(acc[2] / acc[1])}

    def score(self, records: list[int], outputs: list[np.ndarray]) -> dict[str, float]:
        """Loss (standardised units for regression) and task metrics of per-record outputs."""
        spec = self.spec
        if not records:
            return {}
        y_true, y_out, y_model = label_rows(spec, self.y, self.y_model, records, outputs)
        if len(y_true) == 0:
            return {}
        if spec.type == "supervised_contrastive":
            from encoderkit.tasks.heads import supervised_contrastive

            with torch.no_grad():
                z = torch.as_tensor(np.asarray(y_out, dtype=np.float32))
                param = next(self.model.parameters())
                z = self.model.project(z.to(param.device)).float().cpu()
                loss = supervised_contrastive(z, torch.as_tensor(y_true), self.model.scale().cpu())
            return {"loss": float(loss)}
        out = {"loss": eval_loss(spec, y_out, y_model, self.class_weights)}
        out.update(task_metrics(spec, y_true, to_prediction(spec, y_out)))
        return out



def label_rows(spec: TaskSpec, y: Any, y_model: Any, records: list[int],
               outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labelled units: (true labels in original units, raw outputs, model-space labels)."""
    if spec.token_level:
        t, o, m = [], [], []
        for r, out in zip(records, outputs):
            lab, lm = y[r], y_model[r]
            k = min(len(lab), len(out))
            lab, lm, out = lab[:k], lm[:k], out[:k]
            ok = (lab >= 0) if spec.type == "token_classification" else ~np.isnan(lab).all(-1)
            ok &= ~np.isnan(out).any(-1)
            t.append(lab[ok]), o.append(out[ok]), m.append(lm[ok])
        if not t:
            return np.zeros(0), np.zeros((0, 1)), np.zeros(0)
        return np.concatenate(t), np.concatenate(o), np.concatenate(m)
    idx = np.asarray(records)
    outs = np.stack(outputs)
    if spec.type in ("classification", "supervised_contrastive"):
        ok = y[idx] >= 0
    else:
        ok = ~np.isnan(np.asarray(y[idx], dtype=np.float64)).reshape(len(idx), -1).all(-1)
    return y[idx][ok], outs[ok], y_model[idx][ok]


def eval_loss(spec: TaskSpec, out: np.ndarray, y_model: np.ndarray, class_weights: Any) -> float:
    from encoderkit.tasks import heads as H

    if spec.type == "supervised_contrastive":
        return float("nan")
    lg = torch.as_tensor(np.asarray(out, dtype=np.float32))
    mask = torch.ones(len(lg), dtype=torch.bool)
    if spec.type in ("classification", "token_classification"):
        w = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        return float(H.classification_loss(lg, torch.as_tensor(y_model).long(), mask, w))
    if spec.type == "multilabel":
        return float(H.multilabel_loss(lg, torch.as_tensor(y_model, dtype=torch.float32), mask))
    return float(H.regression_loss(lg, torch.as_tensor(np.asarray(y_model, dtype=np.float32)).reshape(lg.shape), mask))


def to_prediction(spec: TaskSpec, out: np.ndarray) -> np.ndarray:
    """Raw head outputs -> probabilities (classification) or original-unit values (regression)."""
    out = np.asarray(out, dtype=np.float64)
    if spec.type in ("classification", "token_classification"):
        return softmax(out)
    if spec.type == "multilabel":
        return sigmoid(out)
    return out * np.asarray(spec.std) + np.asarray(spec.mean)
