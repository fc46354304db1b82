"""``TaskObjective``'s evaluation (``TaskEvaluation``): the validation and test splits run
through the model (``eval_loader``, ``evaluate_indices``; a contrastive run's loss,
retrieval and RankMe: ``_contrastive_val``) and scored (``score``: loss and task metrics of the
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
from encoderkit.tasks.spec import CLASS_TASKS, TaskSpec
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
                from encoderkit.train import checkpoint as ckpt
                from encoderkit.train.checkpoint_safetensors import load_tensors  # any file name

                ckpt.load_model_state(self.model, load_tensors(best))
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
            return self._contrastive_val(batches, trainer, keep=own, indices=indices)
        records, outputs = collect(self.model, batches, trainer.device, trainer._autocast,
                                   forward=trainer.wrapped if fsdp else None, keep=own)
        gathered = trainer._gather((records, outputs))
        records = [r for g in gathered for r in g[0]]
        outputs = [o for g in gathered for o in g[1]]
        if keep:  # what best/ keeps beside its weights (_val_arrays)
            self._val_outputs = (records, outputs)
        return self.score(records, outputs)

    @torch.no_grad()  # also for the test split (on_end), which runs outside validate's no_grad
    def _contrastive_val(self, batches: list[PackedBatch], trainer: Trainer,
                         keep: int | None = None, indices: np.ndarray | None = None) -> dict[str, float]:
        """Validation loss and retrieval of a contrastive run; ``keep`` as in ``collect``;
        with ``indices`` (the split's records) also their ``rankme``: the records embedded
        again without views, as ``embed`` gives them (one more pass over the split,
        ``tasks/rankme.py``), what ``task.metric=rankme`` picks best/ by.

        The figures are those of the whole split: every rank's view embeddings are gathered
        and each pair's negatives are all the split's other records. Counted per micro-batch
        (and so per rank) they depended on how many processes and batches shared the split
        (57 records: val_loss 3.97 on one process, 3.34 on two)."""
        from encoderkit.tasks.heads import view_groups

        model, info = self.model, trainer.info
        was = model.training
        model.eval()
        parts: list[tuple[torch.Tensor, ...]] = []
        seen = 0
        try:
            for j, b in enumerate(batches):
                b = b.to(trainer.device)
                with trainer._autocast():
                    if trainer._fsdp:  # FSDP2 gathers the sharded weights in the wrapped forward only
                        preds = trainer.wrapped(b, with_targets=False).predictions
                        z, p = preds["pooled"].float(), preds["projected"].float()
                    else:
                        z = model.pool(model.encode(b), b).float()
                if not trainer._fsdp:
                    p = model.project(z).float()
                if keep is not None and j >= keep:  # run for the other ranks' sake (FSDP2): not counted
                    continue
                k = len(z) // 2
                rec = view_groups(b)
                if rec is None:  # no provenance: each pair its own group, unique across ranks
                    rec = -1 - (info.rank + info.world_size * (seen + torch.arange(k, device=z.device)))
                seen += k
                parts.append((p[0::2], p[1::2], z[0::2], z[1::2], rec))
            scale = model.scale().detach().float()
        finally:
            model.train(was)
        if not parts:  # a rank without records still takes part in the gathers
            wz = model.spec.pooled_size(model.config.hidden_size)
            wp = wz if model.spec.projection == "none" else model.config.hidden_size
            parts.append(tuple(torch.zeros(0, w, device=trainer.device) for w in (wp, wp, wz, wz))
                         + (torch.zeros(0, dtype=torch.int64, device=trainer.device),))
        pa, pb, za, zb, groups = (D.all_gather_rows(torch.cat([q[i] for q in parts]), info)
                                  for i in range(5))
        if len(pa) == 0:
            return {}
        loss, top1 = contrastive_figures(pa, pb, za, zb, scale, groups)
        out = {"loss": loss, "retrieval_top1": top1}
        if indices is not None:
            from encoderkit.tasks.rankme import record_rankme

            out["rankme"] = record_rankme(model, trainer, indices, self.max_seqlen)
        return out

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
            from encoderkit.tasks.rankme import rankme

            # the records' pooled embeddings, as embed gives them (validation runs them unviewed)
            return {"loss": float(loss), "rankme": rankme(np.asarray(y_out, dtype=np.float64))}
        out = {"loss": eval_loss(spec, y_out, y_model, self.class_weights)}
        out.update(task_metrics(spec, y_true, to_prediction(spec, y_out)))
        return out


# rows of the query side per similarity block: [CHUNK, N] floats at a time, whatever the split's size
CHUNK = 2048


def _nce_sum(q: torch.Tensor, keys: torch.Tensor, scale: torch.Tensor, groups: torch.Tensor) -> float:
    """Sum over rows i of -log softmax_j(scale * q_i . keys_j) at j = i, another copy of row
    i's window (same group) left out of the softmax: one direction of ``heads.info_nce``."""
    total = 0.0
    for s in range(0, len(q), CHUNK):
        e = min(s + CHUNK, len(q))
        rows = torch.arange(s, e, device=q.device)
        logits = (scale * q[s:e]) @ keys.T  # [c, N], as info_nce computes it
        same = groups[s:e, None] == groups[None, :]
        same[torch.arange(e - s, device=q.device), rows] = False
        logits = logits.masked_fill(same, float("-inf"))
        total += float(torch.nn.functional.cross_entropy(logits, rows, reduction="sum").double())
    return total


def contrastive_figures(pa: torch.Tensor, pb: torch.Tensor, za: torch.Tensor, zb: torch.Tensor,
                        scale: torch.Tensor, groups: torch.Tensor) -> tuple[float, float]:
    """(loss, top-1 retrieval) of N view pairs, every other pair a negative: the loss is
    ``heads.info_nce(pa, pb, scale, groups)`` (symmetric InfoNCE of the projections), the
    retrieval how often the nearest (cosine) second-view embedding ``zb`` of ``za[i]`` is
    its own pair's or another copy of its window (the pooled states a user embeds, not the
    projections; finding another copy of the window is a hit). Computed in blocks of ``CHUNK`` rows, so a
    large validation split never holds an [N, N] matrix."""
    F = torch.nn.functional
    a, b = F.normalize(pa.float(), dim=-1), F.normalize(pb.float(), dim=-1)
    n = len(a)
    loss = 0.5 * (_nce_sum(a, b, scale, groups) + _nce_sum(b, a, scale, groups)) / n
    za, zb = F.normalize(za.float(), dim=-1), F.normalize(zb.float(), dim=-1)
    hits = 0
    for s in range(0, n, CHUNK):
        nearest = (za[s:s + CHUNK] @ zb.T).argmax(1)
        hits += int((groups[nearest] == groups[s:s + CHUNK]).sum())
    return loss, hits / n


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
    if spec.type in CLASS_TASKS:
        w = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        return float(H.classification_loss(lg, torch.as_tensor(y_model).long(), mask, w))
    if spec.type == "multilabel":
        return float(H.multilabel_loss(lg, torch.as_tensor(y_model, dtype=torch.float32), mask))
    return float(H.regression_loss(lg, torch.as_tensor(np.asarray(y_model, dtype=np.float32)).reshape(lg.shape), mask))


def to_prediction(spec: TaskSpec, out: np.ndarray) -> np.ndarray:
    """Raw head outputs -> probabilities (classification) or original-unit values (regression)."""
    out = np.asarray(out, dtype=np.float64)
    if spec.type in CLASS_TASKS:
        return softmax(out)
    if spec.type == "multilabel":
        return sigmoid(out)
    return out * np.asarray(spec.std) + np.asarray(spec.mean)
