"""``TaskObjective``: fine-tuning a task head (and the encoder) in the shared training loop.

Training examples: every window of a labelled training record is one sequence that
carries its record's label (sequence tasks) or its tokens' labels (token tasks: at the
record positions ``Domain.token_positions`` gives them; a [CLS] has none). Windows are not
subsampled: a long record contributes all of its windows each epoch, each pooled on its
own. Validation and ``predict`` pool over all windows of a record (see ``tasks/outputs.py``).

Augmentation (``task.augment``): ``auto`` (default) applies ``Domain.safe_augment``, what
never changes a record's label (time series: a random phase of the patch grid); ``true``
the domain's full ``augment``, which may (a reverse complement flips a strand label);
token tasks never augment, since it would misalign their labels.

The objective's parts are modules of their own, mixed into ``TaskObjective``:
``objective_labels`` (its labels read, encoded, standardised), ``objective_best`` (best/
and early stopping), ``objective_eval`` (validation and test metrics); this module holds
the set-up (labels, splits, model, loader) and the training loop's hooks.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from encoderkit.batch import PackedBatch
from encoderkit.domain import Domain, Example
from encoderkit.errors import DataError, UsageError
from encoderkit.outputs import write_text_atomic
from encoderkit.tasks import labels as L
from encoderkit.tasks.metrics import primary_metric
from encoderkit.tasks.objective_best import (PLAIN_SELECTION, SCALED_SELECTION, START_CANDIDATE_METRICS, VAL_FILE,
                                             BestSelection)
from encoderkit.tasks.objective_eval import TaskEvaluation, eval_loss, label_rows, to_prediction
from encoderkit.tasks.objective_labels import (CONSTANT_TARGET, CONSTANT_TARGET_SAID, TaskLabels,
                                               constant_targets_said)
from encoderkit.tasks.spec import CLASS_TASKS, TaskSpec
RANKME_MIN_RECORDS = 8  # below it the figure moves in a range too narrow to choose by (N - 1 at most)
# the split checks were written here first: their names stay importable from this module
from encoderkit.tasks.split_checks import (MIN_VAL_RECORDS, SMALL_VALIDATION, UNTRAINED_CLASS, labelled_units,
                                           selection_tolerance, small_validation, untrained_classes)
from encoderkit.tasks.token_range import check_store_tokens, token_positions
from encoderkit.train.objective import Objective

if TYPE_CHECKING:
    from encoderkit.train.trainer import Trainer

# The names other modules and the tests import from here, wherever they are defined now.
__all__ = ["TaskObjective", "Prepare", "lp_fraction_for", "SPLIT_FILE", "VAL_FILE", "MIN_CONTRASTIVE_PAIRS",
           "PLAIN_SELECTION", "SCALED_SELECTION", "CONSTANT_TARGET", "CONSTANT_TARGET_SAID",
           "constant_targets_said", "label_rows", "eval_loss", "to_prediction", "MIN_VAL_RECORDS",
           "SMALL_VALIDATION", "UNTRAINED_CLASS", "selection_tolerance", "small_validation",
           "untrained_classes"]

SPLIT_FILE = "split.json"
# contrastive: windows short enough that a micro-batch holds at least this many pairs of
# views. InfoNCE needs in-batch negatives; at max_tokens // 2 a long record's pair of views
# filled a 1,024-token batch alone, the loss was log(1) = 0 and the run trained nothing
# (the E. coli stage of benchmarks/RESULTS.md "Contrastive stage: a screen of settings").
MIN_CONTRASTIVE_PAIRS = 8


class Prepare:
    """The loader's per-window step for a task (picklable for loader workers)."""

    def __init__(self, domain: Domain, spec: TaskSpec, y: Any, augment: bool | str, file: str,
                 ids: np.ndarray) -> None:
        self.domain, self.spec, self.y, self.augment = domain, spec, y, augment
        self.file, self.ids = file, ids

    def __call__(self, window: Example, rng: np.random.Generator, train: bool) -> Any:
        d, spec = self.domain, self.spec
        if spec.type == "contrastive":
            a, b = d.views(window, rng)
            # with the masked-LM loss kept, each training view is also masked as in pretraining
            # (validation compares the views as a user embeds them: unmasked)
            masked = train and spec.mlm_weight > 0
            pair = [d.mask(a, rng), d.mask(b, rng)] if masked else [d.unmasked(a), d.unmasked(b)]
            for m in pair:
                m.record, m.window, m.start = window.record, window.window, window.start
            return pair
        if train and not spec.token_level:
            if self.augment is True:
                window = d.augment(window, rng)
            elif self.augment == "auto":
                window = d.safe_augment(window, rng)
        m = d.unmasked(window)
        m.record, m.window, m.start = window.record, window.window, window.start
        r = window.record
        if spec.token_level:
            y = self.y[r]
            # each token's record position, as the domain maps it (-1: a [CLS], unlabelled);
            # tokens past the last label row are unlabelled
            pos = token_positions(d, window)
            have = (pos >= 0) & (pos < len(y))
            fill = -1 if spec.type == "token_classification" else np.nan
            seg = np.full((len(pos),) + y.shape[1:], fill, dtype=y.dtype)
            seg[have] = y[pos[have]]
            if spec.type == "token_classification":
                m.labels = {"y": seg.astype(np.int64), "mask": seg >= 0, "position": pos}
            else:
                m.labels = {"y": seg.astype(np.float32), "mask": ~np.isnan(seg).all(-1), "position": pos}
        else:
            y = self.y[r]
            if spec.type in ("classification", "supervised_contrastive"):
                m.labels = {"y": np.asarray([y], dtype=np.int64), "mask": np.asarray([y >= 0])}
            else:
                m.labels = {"y": np.asarray(y, dtype=np.float32)[None],
                            "mask": np.asarray([not np.isnan(y).all()])}
        return m


# The mixins come before Objective: their methods (validate, after_validation, on_end) are
# this class's own, as when they were written here.
class TaskObjective(TaskLabels, BestSelection, TaskEvaluation, Objective):
    name = "finetune"

    def __init__(self, trainer: Trainer) -> None:
        from encoderkit.data.loader import PackedLoader
        from encoderkit.tasks.head_size import build_task_model
        from encoderkit.tasks.model import (TaskModel, check_pretrained_schema, check_position_axes,
                                            head_seed, pretrained_fit)

        cfg, info, store = trainer.cfg, trainer.info, trainer.store
        task, d = cfg.task, cfg.data
        self.trainer = trainer
        ids = L.record_ids(store)
        self.ids = ids
        spec = TaskSpec(type=task.type, pooling=task.pooling, head=task.head, projection=task.projection,
                        mlm_weight=float(task.mlm_weight),
                        dropout=float(task.dropout),
                        label_column=task.label_column, group_column=task.group_column,
                        metric=task.metric)
        domain = trainer.domain
        if spec.pooling == "cls" and domain.cls_position is None:
            raise UsageError(f"task.pooling=cls but domain {domain.name!r} has no [CLS] element "
                             "(use task.pooling=mean)", key="task.pooling")

        # ---- labels, aligned with the store's records ----
        self.file = str(task.labels or "")
        if spec.type == "contrastive":
            labels = L.Labels(values=[None] * len(ids), labelled=np.ones(len(ids), bool))
        elif task.label_column:
            labels = self._column_labels(trainer, task.label_column)
            domain = trainer.domain  # now without the label column
        elif task.labels:
            frame = L.read_table(task.labels, trainer.domain)
            group = [str(task.group_column)] if task.group_column else []
            # a column of record ids not named `id` joins by id here and in read_groups below
            frame = L.use_id_column(frame, ids, self.file, spec.token_level,
                                    list(task.label_names) if task.label_names else None, group)
            labels = L.align(frame, ids, self.file, spec.token_level,
                             list(task.label_names) if task.label_names else None, exclude=group)
            if spec.token_level:  # a label past a record's last token: refused, as evaluate does
                check_store_tokens(labels, store, trainer.domain, ids, max_seqlen=int(d.max_seqlen))
        else:
            raise UsageError(f"task.type={spec.type} needs labels: task.labels=<file> or "
                             "task.label_column=<column>", key="task.labels")
        y, strata = self._encode(spec, labels)
        self.y, self.spec = y, spec

        # ---- splits ----
        labelled = labels.labelled.copy()
        self.test_indices = np.zeros(0, np.int64)
        if task.split:
            which = L.read_split(task.split, ids, labelled)
            self.train_indices = np.flatnonzero(labelled & (which == "train"))
            self.val_indices = np.flatnonzero(labelled & (which == "val"))
            self.test_indices = np.flatnonzero(labelled & (which == "test"))
        else:
            groups = (L.read_groups(frame, ids, labelled, self.file, str(task.group_column))
                      if task.group_column else None)
            self.train_indices, self.val_indices = L.split_labelled(
                labelled, float(task.val_fraction), int(task.seed), strata, groups)
        if len(self.train_indices) < info.world_size:
            which_records = "" if spec.contrastive else "labelled "  # no labels there
            raise DataError(f"{len(self.train_indices)} {which_records}training record(s) for "
                            f"{info.world_size} rank(s) (of {int(labelled.sum())} {which_records or 'records'})",
                            file=self.file or d.store)
        self.val_enabled = len(self.val_indices) >= info.world_size
        if primary_metric(spec) == "rankme" and self.val_enabled and len(self.val_indices) < RANKME_MIN_RECORDS:
            # z-scored over N records the matrix has rank N - 1 at most: 1 for 2 records, at
            # every step, and best/ would be left to the loss's tie-break
            raise UsageError(f"task.metric=rankme needs at least {RANKME_MIN_RECORDS} validation records "
                             f"(RankMe of N records is at most N - 1, the same at every step); the "
                             f"validation split holds {len(self.val_indices)}: raise task.val_fraction or "
                             f"keep task.metric=auto", key="task.metric")
        untrained: list[int] = []
        if info.is_main and spec.type in CLASS_TASKS:
            # a class without a training record: an output that never learns, said first
            parts = {"training": self.train_indices, "validation": self.val_indices,
                     "test": self.test_indices}
            untrained, note = untrained_classes(spec, y, parts, labelled, task.split)
            if note:
                warnings.warn(note, stacklevel=2)
        if info.is_main and self.val_enabled and cfg.train.eval_every:
            # said before training: at that size the summary's metrics and best/ rest on a few records
            note = small_validation(spec, y, self.val_indices, int(labelled.sum()),
                                    float(task.val_fraction), task.split, untrained)
            if note:
                warnings.warn(note, stacklevel=2)

        # ---- what depends on the training split: class weights, target statistics ----
        weights = None
        if spec.type in CLASS_TASKS:
            ytr = (y[self.train_indices] if not spec.token_level
                   else np.concatenate([y[i] for i in self.train_indices]))
            weights = L.class_weights(task.class_weights, ytr[ytr >= 0], len(spec.classes))
        if spec.type in ("regression", "token_regression"):
            self._standardise(spec)
        self.class_weights = weights

        self._resolve_lp_fraction(trainer, domain, spec)
        # the pretrained weights' header against the model its state.json describes, before
        # any build; then its size known: a head over far more classes than records is said, one
        # that cannot fit in memory refused before anything is allocated (head_size.py)
        path, check = pretrained_fit(cfg.checkpoint, trainer.encoder_config.num_layers)
        if path is not None:
            # a domain option that moves the positions (column_positions), named before any build;
            # a store ingested otherwise: the same shapes, weights on other columns
            check_position_axes(domain, trainer.encoder_config, path, trainer.config_dict["domain"])
            check_pretrained_schema(domain, path, d.store)
        self.model = build_task_model(
            lambda: TaskModel(domain, trainer.encoder_config, spec, class_weights=weights,
                              temperature=float(task.temperature),
                              learn_temperature=bool(task.learn_temperature),
                              seed=head_seed(int(cfg.run.seed)), pretrained=path is not None),
            spec, y, labelled, self.file or f"task.label_column={task.label_column}",
            info.is_main, check).to(trainer.device)
        if path is not None:
            from encoderkit.tasks.model import load_encoder_weights
            from encoderkit.train import checkpoint as ckpt

            try:
                tensors, _, _, _ = ckpt.load_checkpoint(path)
            except DataError:
                if ckpt.checkpoint_identity(path) is None:  # a pretraining run being written pruned it
                    raise ckpt.CheckpointRemoved(path) from None
                raise
            load_encoder_weights(self.model, tensors, str(path))
        if task.freeze_encoder:
            for name, p in self.model.named_parameters():
                if name.startswith(("embedder.", "encoder.")):
                    p.requires_grad_(False)

        if spec.type == "contrastive":
            self._check_views(domain, store)
        self._resolve_batch(trainer, domain)
        prepare = Prepare(domain, spec, self.y_model, task.augment, self.file, ids)
        self.prepare = prepare
        max_seqlen = d.max_seqlen
        if spec.type == "contrastive":  # both views of a window share a micro-batch, with negatives
            max_seqlen = max(1, min(d.max_seqlen, d.max_tokens // (2 * MIN_CONTRASTIVE_PAIRS)))
            # the window trained on goes into config.yaml (embed / predict of the run read it there)
            d.max_seqlen = trainer.config_dict["data"]["max_seqlen"] = max_seqlen
        self.max_seqlen = max_seqlen
        try:
            self.loader = PackedLoader(store, domain, indices=self.train_indices, max_tokens=d.max_tokens,
                                       max_seqlen=max_seqlen, seed=d.seed, rank=info.rank,
                                       world_size=info.world_size, num_workers=d.num_workers,
                                       train=True, prepare=prepare, read=d.read,
                                       buffer_mb=float(d.buffer_mb))
        except ValueError as e:
            raise UsageError(f"data: {' '.join(str(e).split())}") from None
        self.best: float | None = None
        self._val_outputs: tuple[list[int], list[np.ndarray]] | None = None  # of the last validation
        self.peak: float | None = None  # best metric so far (early stopping counts from it)
        self.peak_loss: float | None = None  # validation loss at the peak (a tie's tie-break)
        self.bad_evals = 0
        self.metric = primary_metric(spec)
        # the tie band of best/ from the units val_<metric> is over: records, or labelled tokens
        self.tolerance = selection_tolerance(self.metric, labelled_units(spec, self.y, self.val_indices))
        if info.is_main:
            trainer.run_dir.mkdir(parents=True, exist_ok=True)
            split = {k: [str(ids[i]) for i in v] for k, v in
                     (("train", self.train_indices), ("val", self.val_indices), ("test", self.test_indices))}
            text, where = json.dumps(split), trainer.run_dir / SPLIT_FILE
            # written only when it changes: a finished run rerun leaves its folder as it is
            if not (where.is_file() and where.read_text() == text):
                write_text_atomic(where, text)

    @staticmethod
    def _resolve_lp_fraction(trainer: Trainer, domain: Domain, spec: TaskSpec) -> None:
        """``task.lp_fraction=auto`` -> a number, written into the run's config (a resumed
        run is checked against it): ``lp_fraction_for``."""
        task = trainer.cfg.task
        if task.lp_fraction != "auto":
            return
        lp = lp_fraction_for(domain, spec.type, trainer.cfg.checkpoint, bool(task.freeze_encoder))
        task.lp_fraction = trainer.config_dict["task"]["lp_fraction"] = lp

    def _resolve_batch(self, trainer: Trainer, domain: Domain) -> None:
        """``data.max_tokens=auto`` -> an int sized by the training split (``budget.py``),
        written into the run's config (and ``data.max_seqlen`` when lowered to it), so the
        checkpoint records it and a resumed run is checked against it. A contrastive task
        has no labelled split: in-batch negatives want the pretraining batch."""
        from encoderkit.train.budget import AUTO, resolve_max_tokens
        from encoderkit.train.config import DataConfig

        d = trainer.cfg.data
        if d.max_tokens != AUTO:
            return
        announce = trainer.info.is_main and bool(trainer.cfg.train.progress)  # as train.steps=auto is
        if self.spec.type == "contrastive":
            max_tokens, max_seqlen = DataConfig.max_tokens, min(int(d.max_seqlen), DataConfig.max_tokens)
            if announce:
                print(f"data.max_tokens=auto resolved to {max_tokens} tokens a micro-batch: a contrastive "
                      f"task takes the pretraining batch (its in-batch negatives); set data.max_tokens=N "
                      f"to change it", file=sys.stderr, flush=True)
        else:
            max_tokens, max_seqlen = resolve_max_tokens(trainer.cfg, trainer.store, domain, self.train_indices,
                                                        trainer.info.world_size, announce=announce)
        d.max_tokens = trainer.config_dict["data"]["max_tokens"] = max_tokens
        d.max_seqlen = trainer.config_dict["data"]["max_seqlen"] = max_seqlen

    @staticmethod
    def _check_views(domain: Domain, store: Any) -> None:
        example = domain.featurize(store[0])
        try:
            domain.views(example, np.random.default_rng(0))
        except NotImplementedError as e:
            raise UsageError(f"task.type=contrastive: {e}", key="task.type") from None

    # ------------------------------------------------------------------ loop hooks
    def weight(self, batch: PackedBatch) -> int:
        if self.spec.type == "contrastive":
            return batch.num_sequences // 2
        return int(batch.labels["mask"].sum())

    def param_groups(self, model: nn.Module, weight_decay: float, lr: float) -> list[dict[str, Any]]:
        """Layer-wise lr decay (``task.layer_decay``: layer i of n gets decay^(n - i), the
        embedder decay^(n + 1)), ``task.head_lr`` (a multiplier for the head) and
        ``task.lp_fraction``: the encoder's groups start after that fraction of the steps
        (LP-FT, Kumar et al. 2022: the head is fitted to the pretrained features before
        its random start can distort them), the head's from the first step."""
        task = self.trainer.cfg.task
        n = self.trainer.encoder_config.num_layers
        decay, head_lr = float(task.layer_decay), float(task.head_lr)
        lp = float(task.lp_fraction)
        groups: dict[tuple[float, float, float], list] = {}
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            base = name
            for prefix in ("module.", "_orig_mod."):
                base = base.replace(prefix, "")
            start = lp
            if base.startswith("embedder.") or base.startswith("encoder.embedding_norm"):
                scale = decay ** (n + 1)
            elif base.startswith("encoder.layers."):
                scale = decay ** (n - int(base.split(".")[2]))
            elif base.startswith("encoder."):
                scale = 1.0
            else:
                scale, start = head_lr, 0.0
            wd = 0.0 if (p.ndim <= 1 or base.endswith(".bias") or base == "logit_scale") else weight_decay
            groups.setdefault((scale, wd, start), []).append(p)
        # lp_fraction=0 gives the groups (and their order) of a run before the option existed
        return [{"params": ps, "weight_decay": wd, "lr_scale": scale,
                 **({"start_fraction": start} if start else {})}
                for (scale, wd, start), ps in sorted(groups.items(),
                                                     key=lambda kv: (-kv[0][0], -kv[0][1], kv[0][2]))]

    def checkpoint_state(self) -> dict[str, Any]:
        # a run stopped by patience is finished: a rerun is told so (trainer_resume._check_steps)
        return {"task": self.spec.to_dict(), "selection": self._selection(),
                **({"stopped": "patience"} if self.stop else {})}

    def on_start(self, trainer: Trainer) -> None:
        if trainer.resumed_from is not None:
            from encoderkit.train.checkpoint import read_state

            # compare as the run compared before: a checkpoint from before per-target
            # metrics (no "selection") chose on the plain val_<metric>, its history has no other
            self.selection = str(read_state(trainer.resumed_from).get("selection", PLAIN_SELECTION))
            # best value and patience counter from the metrics kept; best/ only if it is one
            # of those evaluations (objective_best.resume_best)
            self.resume_best(trainer)
            if self.patience_spent():
                self.stop = True
            return
        if trainer.info.is_main:
            import shutil  # a fresh start: a best/ of an earlier attempt describes nothing kept

            shutil.rmtree(trainer.run_dir / "best", ignore_errors=True)
        if trainer.cfg.task.head_init == "probe":
            self._init_head_from_probe(trainer)
        elif self.metric in START_CANDIDATE_METRICS and trainer.cfg.checkpoint not in (None, "none"):
            # the start is a candidate when it is a pretrained encoder: from scratch it is a random one
            self.evaluate_start(trainer)

    def on_end(self, trainer: Trainer) -> None:
        self.say_best_of_start(trainer)
        TaskEvaluation.on_end(self, trainer)

    def _init_head_from_probe(self, trainer: Trainer) -> None:
        from encoderkit.tasks.head_init import init_head_from_probe

        if trainer._fsdp:
            raise UsageError("task.head_init=probe is not available under FSDP (the head is "
                             "sharded); use train.strategy=ddp", key="task.head_init")
        # every rank fits the same probe on the same records (deterministic), so the
        # replicas stay equal without a broadcast
        logged = init_head_from_probe(self, trainer)
        if not logged:
            if trainer.cfg.train.steps == 0:  # the head would be saved as it was drawn
                raise DataError("train.steps=0 fits a linear probe as the head, which needs at "
                                "least 2 labelled training records with a label; "
                                f"{len(self.train_indices)} in the training split",
                                file=self.file or trainer.cfg.data.store)
            return
        if trainer.info.is_main:
            trainer._log({"step": trainer.step, "tokens": trainer.tokens, **logged})
        # the probe-initialised model is a candidate for best/ like any evaluation, since
        # fine-tuning can spend what pretraining gave (benchmarks/RESULTS.md, "Five times the
        # pretraining")
        self.evaluate_start(trainer)


def lp_fraction_for(domain: Domain, task_type: str, checkpoint: Any, frozen: bool) -> float:
    """What ``task.lp_fraction=auto`` means: the domain's ``finetune_lp_fraction`` when a
    pretrained checkpoint is fine-tuned on one label per record; 0 for a model from scratch
    (its features are random: nothing to protect), a frozen encoder (nothing to start),
    and token-level or contrastive tasks (not measured)."""
    if frozen or checkpoint in (None, "none") or task_type not in ("classification", "regression", "multilabel"):
        return 0.0
    return float(domain.finetune_lp_fraction)

