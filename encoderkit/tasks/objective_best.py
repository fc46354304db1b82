"""``TaskObjective``'s choice of ``best/`` and its early stopping (``BestSelection``): each
validation's figure (``selection_value``: ``val_<metric>``, or for several regression
targets scored by rmse / mae their scale-free mean), whether it becomes best/ (``_update``:
better, a tie broken by the loss, or within the tolerance of the best), the checkpoint
written (``_save_best``, with the validation outputs: ``_val_arrays``) and
``task.patience``. Split out of ``encoderkit/tasks/objective.py`` (the objective), so each
module keeps one job.

After a resume (``resume_best``) the peak and patience are replayed from the metrics kept
(those up to the checkpoint's step), and best/ stays only if it is one of those evaluations:
a best/ written after the checkpoint (a kill between it and the next checkpoint, then a
resume with a shorter ``train.steps``) is of a model the resume threw away, and was loaded,
predicted with and reported as the run's best.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from encoderkit.tasks.metrics import better
from encoderkit.tasks.objective_eval import label_rows, to_prediction
from encoderkit.train import distributed as D
from encoderkit.train.objective import write_weights_checkpoint
from encoderkit.tasks.evaluate_split import checkpoint_split

if TYPE_CHECKING:
    from encoderkit.train.trainer import Trainer

VAL_FILE = "val.npz"  # in best/: validation labels and the model's predictions there
# how best/ and task.patience compare evaluations (checkpoint state "selection"):
PLAIN_SELECTION = "mean"  # val_<metric> as logged
SCALED_SELECTION = "mean_over_target_std"  # each target's val_<metric>/<target> over its training std, averaged
# metrics by which the model fine-tuning starts from is a best/ candidate (validated at step 0):
# RankMe guards against a contrastive stage that collapses what pretraining gave (GunPoint's
# rank halved at the first checkpoint and never came back), and only the start can undo that
START_CANDIDATE_METRICS = ("rankme",)


class BestSelection:
    """``TaskObjective``'s best/ and patience (needs ``metric``, ``tolerance``, ``spec``,
    ``trainer``; keeps ``best``, ``peak``, ``peak_loss``, ``bad_evals``)."""

    selection: str | None = None  # PLAIN_ / SCALED_SELECTION, decided once (``_selection``)

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
            self.best = value
            return True
        return False

    def evaluate_start(self, trainer: Trainer) -> None:
        """The model fine-tuning starts from validated at step 0 (with ``train.eval_every``)
        and made a best/ candidate like any evaluation: fine-tuning has to match it on
        validation to replace it. Logged at step 0, so a resumed run replays it
        (``resume_best``). A probe-initialised head (``task.head_init=probe``) and, with
        ``task.metric`` in ``START_CANDIDATE_METRICS``, the pretrained encoder (a
        contrastive run's untrained projection head beside it: ``embed`` does not use it)."""
        if not trainer.cfg.train.eval_every:
            return
        val = self.validate(trainer)
        if val:
            trainer._log({"step": trainer.step, "tokens": trainer.tokens, **val})
            self.after_validation(trainer, val)

    def say_best_of_start(self, trainer: Trainer) -> None:
        """At the end of a run whose start was a candidate for ``task.metric`` (not the
        probe head's, which the summary's "start" row shows): metrics.jsonl gets the step
        best/ holds (``best_step``), and stderr a line when that is the start, so a run that
        kept its pretrained encoder says so instead of reading as a stage that trained."""
        if self.metric not in START_CANDIDATE_METRICS or not trainer.info.is_main:
            return
        try:
            state = json.loads((trainer.run_dir / "best" / "state.json").read_text())
            step, value = int(state["step"]), float(state["best"]["value"])
        except (OSError, ValueError, KeyError, TypeError):  # no best/ (no validation): nothing to say
            return
        trainer._log({"step": trainer.step, "tokens": trainer.tokens, "best_step": step})
        if step == 0 and trainer.step > 0:
            print(f"best/ holds the start (step 0): no later evaluation's val_{self.metric} reached "
                  f"its {value:.4g}; best/ is the model fine-tuning started from", file=sys.stderr)

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
        scaled = self._scaled_selection()
        return selection_of(val, f"val_{self.metric}", self.spec.targets if scaled else None, self.spec.std)

    def resume_best(self, trainer: Trainer) -> None:
        """After a resume: the peak and the patience counter replayed from the evaluations kept
        (``trainer.history``: the metrics up to the checkpoint's step, step 0's evaluation of a
        probe-initialised head included), then best/ checked against them (``_drop_stale_best``)."""
        chosen = None  # the last kept evaluation that made best/
        for h in trainer.history:
            value = self.selection_value(h)
            if value is not None and self._update(value, _loss(h)):
                chosen = (h.get("step"), value)
        if trainer.info.is_main:
            self._drop_stale_best(trainer, chosen)

    def _drop_stale_best(self, trainer: Trainer, chosen: tuple[Any, float] | None) -> None:
        """Remove best/ unless it is one of the evaluations kept (``stale_best``), and say in
        one line when the run has no best/ for the best evaluation it keeps."""
        folder = trainer.run_dir / "best"
        held: tuple[int, float] | None
        try:
            state = json.loads((folder / "state.json").read_text())
            held = (int(state["step"]), float(state["best"]["value"]))
        except FileNotFoundError:  # no best/: nothing held, the kept best may still be said
            held = None
        except (OSError, ValueError, KeyError, TypeError):  # damaged: load refuses it in its own words
            return
        name = f"val_{self.metric}"
        said = ""
        if held is not None:
            why = stale_best(held, trainer.history, trainer.step, self.selection_value)
            if why is None:
                return
            remove_folder(folder)
            said = f"best/ held the model of step {held[0]} ({name} {held[1]:.4g}), {why}: removed; "
        if chosen is None:
            if said:
                warnings.warn(said + "the next validation writes best/", stacklevel=3)
            return
        warnings.warn(said + f"the best evaluation this run keeps (step {chosen[0]}, {name} {chosen[1]:.4g}) "
                      "has no saved weights, so until a validation reaches it there is no best/ "
                      "(load and predict read checkpoints/<newest>)", stacklevel=3)

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
            # what evaluate needs to tell the run's own records from best/ alone (copied out of
            # its run folder): the store's identity and the split (``evaluate_split.read_run_split``)
            files = checkpoint_split(trainer.run_dir, state, trainer._input_state())
            write_weights_checkpoint(trainer.run_dir / "best",
                                     {k: v.contiguous() for k, v in tensors.items()}, state,
                                     arrays=self._val_arrays(), files=files)
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


def selection_of(row: Mapping[str, Any], key: str, targets: list[str] | None, std: list[float]) -> float | None:
    """The figure best/ compares in one logged validation ``row``: ``row[key]``
    (``val_<metric>``), or with ``targets`` (a selection scaled per target) the mean over
    them of ``row[key/<target>]`` divided by the target's training ``std``."""
    if targets:
        per = [row.get(f"{key}/{t}") for t in targets]
        if any(v is None for v in per):
            return None
        # a constant target's std is 0 (objective_labels.standard_units): its value as it is
        scaled = [float(v) / (s if s > 0 else 1.0) for v, s in zip(per, std) if v == v]
        return float(np.mean(scaled)) if scaled else float("nan")
    return float(row[key]) if key in row else None


def best_evaluation(state: Mapping[str, Any], vals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The logged validation (of ``vals``) that ``best/`` holds: the one at its state.json's
    step whose figure is the one it was chosen by; None where none is (a best/ of another
    model: a resume before this check kept one from discarded steps, whose step the resumed
    run logged again with other numbers)."""
    best = state.get("best") if isinstance(state.get("best"), Mapping) else {}
    task = state.get("task") if isinstance(state.get("task"), Mapping) else {}
    key, value = best.get("metric"), best.get("value")
    if not isinstance(key, str) or not isinstance(value, (int, float)):
        return None
    targets = task.get("targets") if best.get("scaled") else None
    for h in reversed(vals):
        if h.get("step") == state.get("step") and same_value(selection_of(h, key, targets, task.get("std") or []),
                                                             float(value)):
            return h
    return None


def same_value(a: float | None, b: float | None) -> bool:
    """Equal figures (two NaNs too): metrics.jsonl and state.json keep every digit."""
    return a is not None and b is not None and (a == b or (a != a and b != b))


def stale_best(held: tuple[int, float], history: list[dict[str, Any]], step: int,
               value_of: Callable[[dict[str, Any]], float | None]) -> str | None:
    """Why best/ (``held``: its step and figure) is not one of the evaluations a run resumed
    at checkpoint ``step`` keeps (``history``; ``value_of``: a row's figure), or None when it
    is. A best/ at a step without a kept evaluation but not after the checkpoint (metrics of
    that step gone) is kept: nothing says it is another model."""
    at, value = held
    if at > step:
        return f"an evaluation after checkpoint {step}, which this resume discards"
    rows = [h for h in history if h.get("step") == at]
    if rows and not any(same_value(value_of(h), value) for h in rows):
        return f"not the evaluation of step {at} this run keeps"
    return None


def remove_folder(folder: Path) -> None:
    """``folder`` removed atomically: renamed out of the way (a reader finds it whole or
    absent), then deleted."""
    doomed = folder.parent / f".tmp-del-{folder.name}-{os.getpid()}"
    shutil.rmtree(doomed, ignore_errors=True)
    folder.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _loss(val: dict[str, Any]) -> float | None:
    v = val.get("val_loss")
    return None if v is None or v != v else float(v)
