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
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from encoderkit.batch import PackedBatch
from encoderkit.domain import Domain, Example
from encoderkit.errors import DataError, UsageError
from encoderkit.outputs import write_text_atomic
from encoderkit.tasks import labels as L
from encoderkit.tasks.metrics import better, primary_metric, sigmoid, softmax, task_metrics
from encoderkit.tasks.spec import TaskSpec
# the split checks were written here first: their names stay importable from this module
from encoderkit.tasks.split_checks import (MIN_VAL_RECORDS, SMALL_VALIDATION, UNTRAINED_CLASS,  # noqa: F401
                                           labelled_units, selection_tolerance, small_validation,
                                           test_auroc_note, untrained_classes)
from encoderkit.tasks.token_range import check_store_tokens, token_positions
from encoderkit.train import distributed as D
from encoderkit.train.objective import Objective, min_over_ranks, write_weights_checkpoint

if TYPE_CHECKING:
    from encoderkit.train.trainer import Trainer

SPLIT_FILE = "split.json"
VAL_FILE = "val.npz"  # in best/: validation labels and the model's predictions there
# contrastive: windows short enough that a micro-batch holds at least this many pairs of
# views. InfoNCE needs in-batch negatives; at max_tokens // 2 a long record's pair of views
# filled a 1,024-token batch alone, the loss was log(1) = 0 and the run trained nothing
# (the E. coli stage of benchmarks/RESULTS.md "Contrastive stage: a screen of settings").
MIN_CONTRASTIVE_PAIRS = 8
# how best/ and task.patience compare evaluations (checkpoint state "selection"):
PLAIN_SELECTION = "mean"  # val_<metric> as logged
SCALED_SELECTION = "mean_over_target_std"  # each target's val_<metric>/<target> over its training std, averaged


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


class TaskObjective(Objective):
    name = "finetune"
    selection: str | None = None  # PLAIN_ / SCALED_SELECTION, decided once (``_selection``)

    def __init__(self, trainer: Trainer) -> None:
        from encoderkit.data.loader import PackedLoader
        from encoderkit.tasks.head_size import build_task_model
        from encoderkit.tasks.model import TaskModel, pretrained_fit

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
            which = L.read_split(task.split, ids)
            self.train_indices = np.flatnonzero(labelled & (which == "train"))
            self.val_indices = np.flatnonzero(labelled & (which == "val"))
            self.test_indices = np.flatnonzero(labelled & (which == "test"))
        else:
            groups = (L.read_groups(frame, ids, labelled, self.file, str(task.group_column))
                      if task.group_column else None)
            self.train_indices, self.val_indices = L.split_labelled(
                labelled, float(task.val_fraction), int(task.seed), strata, groups)
        if len(self.train_indices) < info.world_size:
            raise DataError(f"{len(self.train_indices)} labelled training record(s) for "
                            f"{info.world_size} rank(s) (of {int(labelled.sum())} labelled)",
                            file=self.file or d.store)
        self.val_enabled = len(self.val_indices) >= info.world_size
        untrained: list[int] = []
        if info.is_main and spec.type in ("classification", "token_classification"):
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
        if spec.type in ("classification", "token_classification"):
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
        self.model = build_task_model(
            lambda: TaskModel(domain, trainer.encoder_config, spec, class_weights=weights,
                              temperature=float(task.temperature),
                              learn_temperature=bool(task.learn_temperature)),
            spec, y, labelled, self.file or f"task.label_column={task.label_column}",
            info.is_main, check).to(trainer.device)
        if path is not None:
            from encoderkit.tasks.model import load_encoder_weights
            from encoderkit.train import checkpoint as ckpt

            tensors, _, _, _ = ckpt.load_checkpoint(path)
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
        self.best_loss: float | None = None  # validation loss of the best evaluation (tie-break)
        self.peak: float | None = None  # best metric so far (early stopping counts from it)
        self.peak_loss: float | None = None
        self.bad_evals = 0
        self.metric = primary_metric(spec)
        # the tie band of best/ from the units val_<metric> is over: records, or labelled tokens
        self.tolerance = selection_tolerance(self.metric, labelled_units(spec, self.y, self.val_indices))
        if info.is_main:
            trainer.run_dir.mkdir(parents=True, exist_ok=True)
            split = {k: [str(ids[i]) for i in v] for k, v in
                     (("train", self.train_indices), ("val", self.val_indices), ("test", self.test_indices))}
            write_text_atomic(trainer.run_dir / SPLIT_FILE, json.dumps(split))

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
        if self.spec.type == "contrastive":
            max_tokens, max_seqlen = DataConfig.max_tokens, min(int(d.max_seqlen), DataConfig.max_tokens)
        else:
            max_tokens, max_seqlen = resolve_max_tokens(trainer.cfg, trainer.store, domain,
                                                        self.train_indices, trainer.info.world_size)
        d.max_tokens = trainer.config_dict["data"]["max_tokens"] = max_tokens
        d.max_seqlen = trainer.config_dict["data"]["max_seqlen"] = max_seqlen

    @staticmethod
    def _check_views(domain: Domain, store: Any) -> None:
        example = domain.featurize(store[0])
        try:
            domain.views(example, np.random.default_rng(0))
        except NotImplementedError as e:
            raise UsageError(f"task.type=contrastive: {e}", key="task.type") from None

    # ------------------------------------------------------------------ labels
    def _column_labels(self, trainer: Trainer, column: str) -> L.Labels:
        from encoderkit.registry import get_domain

        domain, store = trainer.domain, trainer.store
        try:
            values = L.column_values(domain, store, column)
        except NotImplementedError as e:
            raise UsageError(str(e), key="task.label_column") from None
        except DataError as e:
            raise DataError(e.message, key="task.label_column", file=trainer.cfg.data.store) from None
        except KeyError as e:
            raise UsageError(f"task.label_column={column!r}: {e.args[0] if e.args else e}",
                             key="task.label_column", file=trainer.cfg.data.store) from None
        options = {**domain.options, "drop_columns": sorted({*domain.options.get("drop_columns", []), column})}
        trainer.domain = get_domain(domain.name)(domain.schema, **options)
        labelled = np.asarray([not L.is_missing(v) for v in values], dtype=bool)
        self.file = f"{trainer.cfg.data.store} (column {column!r})"
        return L.Labels(values=values, labelled=labelled, names=[column], file=self.file)

    def _encode(self, spec: TaskSpec, labels: L.Labels) -> tuple[Any, np.ndarray | None]:
        t = spec.type
        strata = None
        if t in ("classification", "token_classification", "supervised_contrastive") and len(labels.names) > 1:
            raise UsageError(f"{t} takes one label column; {labels.file} has {labels.names} (name a "
                             f"`label` column, or choose one with task.label_names=[<column>])",
                             key="task.label_names")
        if t in ("classification", "token_classification", "supervised_contrastive"):
            spec.classes = L.class_names(labels, spec.token_level)
            L.case_variants_said(spec.classes, labels.file)
            if len(spec.classes) < 2 and t != "supervised_contrastive":
                raise DataError(f"classification needs at least two classes; the labels hold "
                                f"{spec.classes}", file=labels.file)
            spec.class_kind = L.class_kind(labels, spec.classes, spec.token_level)
            y = L.encode_classes(labels, spec.classes, spec.token_level)
            if not spec.token_level:
                strata = y
            self.y_model = y
        elif t == "multilabel":
            y, spec.classes = L.encode_multilabel(labels)
            L.case_variants_said(spec.classes, labels.file)
            self.y_model = y
        elif t in ("regression", "token_regression"):
            y = L.encode_regression(labels, self.ids, spec.token_level)
            spec.targets = list(labels.names) if not spec.token_level else [labels.names[0]]
            self.y_model = y
        else:  # contrastive: no labels
            y = None
            self.y_model = None
        return y, strata

    def _standardise(self, spec: TaskSpec) -> None:
        """Regression targets standardised with train-split statistics (loss in standard units)."""
        if spec.token_level:
            block = np.concatenate([self.y[i] for i in self.train_indices])
        else:
            block = self.y[self.train_indices]
        from encoderkit.numerics import finite_mean_std

        mean, std = finite_mean_std(block, axis=0)  # targets beyond ~1e154 reached the loss as inf
        if self.trainer.info.is_main:  # every rank holds the same labels: said once
            constant_targets_said(spec, np.asarray(block, dtype=np.float64).reshape(len(block), -1), self.file)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        spec.mean, spec.std = [float(x) for x in np.atleast_1d(mean)], [float(x) for x in np.atleast_1d(std)]
        if spec.token_level:
            self.y_model = [(v - mean) / std for v in self.y]
        else:
            self.y_model = (self.y - mean) / std

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
        return {"task": self.spec.to_dict(), "selection": self._selection()}

    def on_start(self, trainer: Trainer) -> None:
        if trainer.resumed_from is not None:
            from encoderkit.train.checkpoint import read_state

            # compare as the run compared before: a checkpoint from before per-target
            # metrics (no "selection") chose on the plain val_<metric>, its history has no other
            self.selection = str(read_state(trainer.resumed_from).get("selection", PLAIN_SELECTION))
            # best value and patience counter from the metrics logged so far (step 0's
            # evaluation of a probe-initialised head included)
            for h in trainer.history:
                value = self.selection_value(h)
                if value is not None:
                    self._update(value, _loss(h))
            if self.patience_spent():
                self.stop = True
            return
        if trainer.info.is_main:
            import shutil  # a fresh start: a best/ of an earlier attempt describes nothing kept

            shutil.rmtree(trainer.run_dir / "best", ignore_errors=True)
        if trainer.cfg.task.head_init == "probe":
            self._init_head_from_probe(trainer)

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
        if trainer.cfg.train.eval_every:
            # the probe-initialised model is a candidate for best/ like any evaluation:
            # fine-tuning has to match it on validation to replace it, since fine-tuning
            # can spend what pretraining gave (benchmarks/RESULTS.md, "Five times the
            # pretraining"); logged at step 0, so a resumed run replays it
            val = self.validate(trainer)
            if val:
                trainer._log({"step": trainer.step, "tokens": trainer.tokens, **val})
                self.after_validation(trainer, val)

    def _update(self, value: float, loss: float | None = None) -> bool:
        """Whether this evaluation becomes best/: a better primary metric than every earlier
        one, an equal one with a lower validation loss (a small validation set ties on
        accuracy / F1 for many evaluations, and the first of them is often a half-trained
        model), or one within ``self.tolerance`` of the best so far: a difference smaller
        than the metric's sampling noise on the validation split is no evidence, and the
        later checkpoint has trained longer and through the schedule's decay (measured:
        benchmarks/RESULTS.md, "fine-tuning batch"). Patience counts evaluations that
        improve on the best so far, tolerance aside."""
        tie = (self.peak is not None and value == self.peak and loss is not None
               and self.peak_loss is not None and loss < self.peak_loss)
        improved = better(self.metric, value, self.peak) or tie
        if improved:
            self.peak, self.peak_loss, self.bad_evals = value, loss, 0
        else:
            self.bad_evals += 1
        if improved or (self.peak is not None and self.tolerance > 0
                        and value >= self.peak - self.tolerance):
            self.best, self.best_loss = value, loss
            return True
        return False

    def patience_spent(self) -> bool:
        p = int(self.trainer.cfg.task.patience)
        return p > 0 and self.bad_evals >= p

    def _selection(self) -> str:
        """How ``selection_value`` compares, decided once per run and kept in its checkpoints
        (a resume compares like with like): ``SCALED_SELECTION`` for a regression of several
        targets scored by ``rmse`` / ``mae``, else ``PLAIN_SELECTION``."""
        if self.selection is None:
            spec = self.spec
            scaled = (self.metric in ("rmse", "mae") and spec.type == "regression" and len(spec.targets) > 1
                      and len(spec.std) == len(spec.targets))
            self.selection = SCALED_SELECTION if scaled else PLAIN_SELECTION
        return self.selection

    def _scaled_selection(self) -> bool:
        return self._selection() == SCALED_SELECTION

    def selection_value(self, val: dict[str, Any]) -> float | None:
        """The figure ``best/`` and ``task.patience`` compare: ``val_<metric>``, except for a
        regression of several targets scored by ``rmse`` / ``mae``: their mean over targets
        mixes units (a count in the thousands beside a fraction: the count alone decided),
        so there each target's value is divided by its training standard deviation first
        (a scale-free mean). The default metric, ``r2``, is scale-free as it is."""
        key = f"val_{self.metric}"
        spec = self.spec
        if self._scaled_selection():
            per = [val.get(f"{key}/{t}") for t in spec.targets]
            if any(v is None for v in per):
                return None
            scaled = [float(v) / s for v, s in zip(per, spec.std) if v == v]
            return float(np.mean(scaled)) if scaled else float("nan")
        return float(val[key]) if key in val else None

    def after_validation(self, trainer: Trainer, val: dict[str, float]) -> None:
        value = self.selection_value(val)
        if value is None:
            return
        if self._update(value, _loss(val)):
            self._save_best(trainer)
        if self.patience_spent():
            self.stop = True
            if trainer.info.is_main:
                what = f"val_{self.metric}" + (" (per target / its training std, mean over targets)"
                                               if self._scaled_selection() else "")
                print(f"early stopping at step {trainer.step}: {what} did not improve "
                      f"for {self.bad_evals} evaluations (best {self.peak:.4f})", file=sys.stderr)

    def _save_best(self, trainer: Trainer) -> None:
        from encoderkit.train import checkpoint as ckpt

        fsdp = trainer._fsdp
        tensors = D.full_state_dict(trainer.wrapped, trainer.cfg.train.strategy, trainer.info) if fsdp else None
        if trainer.info.is_main:
            if tensors is None:
                tensors = ckpt.model_state(D.unwrap(trainer.wrapped))
            state = {"step": trainer.step, "tokens": trainer.tokens, "config": trainer.config_dict,
                     "model_config": trainer.encoder_config.to_dict(),
                     "domain": trainer.domain.describe(), "task": self.spec.to_dict(),
                     "best": {"metric": f"val_{self.metric}", "value": self.best,
                              **({"scaled": f"the mean over targets of val_{self.metric}/<target> "
                                            "divided by the target's training std"}
                                 if self._scaled_selection() else {})}}
            write_weights_checkpoint(trainer.run_dir / "best",
                                     {k: v.contiguous() for k, v in tensors.items()}, state,
                                     arrays=self._val_arrays())
        D.barrier(trainer.info)

    def _val_arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """``{VAL_FILE: {y_true, values}}``: the validation labels and this model's
        probabilities / original-unit values of the evaluation that made best/ (an ensemble
        averages its members' to score itself on the same split)."""
        got = self._val_outputs
        if not got or not got[0] or self.spec.contrastive:
            return {}
        y_true, y_out, _ = label_rows(self.spec, self.y, self.y_model, *got)
        if not len(y_true):
            return {}
        return {VAL_FILE: {"y_true": np.asarray(y_true), "values": to_prediction(self.spec, y_out)}}

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

    # ------------------------------------------------------------------ validation
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


CONSTANT_TARGET = "regression target"  # how that warning begins
# the warning itself, as a warnings filter matches it (ensemble members skip it; another
# warning beginning "regression target" is still shown)
CONSTANT_TARGET_SAID = r"(?s)regression target .* has one value \(.*\) among all its training labels"


def constant_targets_said(spec: TaskSpec, block: np.ndarray, file: str) -> None:
    """Warn, naming it, of a target with one distinct value among its training labels: it has
    nothing to learn, its R^2 is undefined (scikit-learn reports 0 or 1) and the best a model
    can predict is that value (its standard deviation 0 is stored as 1)."""
    names = spec.targets if len(spec.targets) == block.shape[1] else [str(j) for j in range(block.shape[1])]
    for j, name in enumerate(names):
        values = np.unique(block[~np.isnan(block[:, j]), j])
        if len(values) == 1:
            warnings.warn(f"{CONSTANT_TARGET} {name!r} has one value ({values[0]:g}) among all its "
                          f"training labels ({file}): there is nothing to learn, its R^2 is undefined "
                          f"(reported as 0 or 1) and predictions are that value at best; check the "
                          f"labels column", stacklevel=3)


def lp_fraction_for(domain: Domain, task_type: str, checkpoint: Any, frozen: bool) -> float:
    """What ``task.lp_fraction=auto`` means: the domain's ``finetune_lp_fraction`` when a
    pretrained checkpoint is fine-tuned on one label per record; 0 for a model from scratch
    (its features are random: nothing to protect), a frozen encoder (nothing to start),
    and token-level or contrastive tasks (not measured)."""
    if frozen or checkpoint in (None, "none") or task_type not in ("classification", "regression", "multilabel"):
        return 0.0
    return float(domain.finetune_lp_fraction)


def _loss(val: dict[str, Any]) -> float | None:
    v = val.get("val_loss")
    return None if v is None or v != v else float(v)


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
