"""``task.ensemble_probe``: the frozen encoder's linear probe as one more ensemble member,
weighted by the validation split.

An ensemble fine-tuned from a pretrained checkpoint (``task.head_init=probe``) gets one more
member under ``members/probe``: the pretrained encoder left as it is and a cross-validated
L2 probe on its standardised pooled states (a ``train.steps=0`` run). Fine-tuned members on a
few hundred records can all move away from features the probe still reads (ACSF1: the
fine-tuned ensemble 0.66, the probe alone 0.81).

Its weight in the average is chosen on the validation split, among ``PROBE_WEIGHTS`` (never
more than the fine-tuned members together): the fine-tuned members' ``best/val.npz``
predictions are averaged, a probe fitted on the training split only (``members/probe_val``,
removed once read) predicts the same records, and the weight with the lowest validation
log-loss (classification) or standardised squared error (regression) wins; that mix's
metrics there are ``ensemble.json``'s ``val_with_probe`` (the finetune summary's score of the
model ``predict`` uses, without the kept probe's sight of the validation records). The
member that is kept is then fitted on every labelled record (``task.val_fraction=0``): the probe picks
its penalty by cross-validation on its own records and does not need the validation split,
and a fifth more records matters on small sets (GunPoint's probe: 0.71 on 40 records, 0.96
on 50). With a ``task.split`` file, the member keeps that split and is its own validation
probe. Without validation predictions (no validation split, ``train.eval_every=0``) the
weight is ``DEFAULT_WEIGHT``, one member among equals for 5 fine-tuned.

Measured with this code on the kept runs of 13 small sets (benchmarks/RESULTS.md, "The probe
member built"): equal weight 1/6 was up on 8, down on 4, mean +0.005; the weight chosen on
validation among these four values: up on 6, down on 2 (at most -0.008), mean +0.015 (ACSF1
0.660 -> 0.810, anes96 0.866 -> 0.880).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.numerics import mean_without_overflow

PROBE_MEMBER = "probe"  # members/probe: the member that is kept
PROBE_VAL = "probe_val"  # members/probe_val: fitted on the training split, for the weight only
PROBE_WEIGHTS = (0.0, 1 / 6, 1 / 3, 1 / 2)
DEFAULT_WEIGHT = 1 / 6


def probe_overrides(overrides: list[str], run_dir: Path, seed: int, name: str = PROBE_MEMBER,
                    all_labelled: bool = True) -> list[str]:
    """The root run's overrides for a probe run in ``members/<name>``: no training step, a
    linear head fitted as the probe; ``all_labelled``: on every labelled record (without a
    ``task.split`` file)."""
    from encoderkit.tasks.ensemble import MEMBERS_DIR, override_key

    own = {"run.dir", "run.seed", "task.ensemble", "train.steps", "task.head", "task.head_init"}
    kept = [o for o in overrides if override_key(o) not in own]
    if all_labelled and not any(override_key(o) == "task.split" for o in overrides):
        kept = [o for o in kept if override_key(o) != "task.val_fraction"] + ["task.val_fraction=0"]
    return kept + [f"run.dir={run_dir / MEMBERS_DIR / name}", f"run.seed={seed}",
                   "task.ensemble=1", "train.steps=0", "task.head=linear", "task.head_init=probe"]


def wants_probe(cfg: Any, members: int, run_dir: Path) -> bool:
    """Whether an ensemble of ``members`` fine-tuned members, whose first is the finished run
    ``run_dir``, gets the probe member: from a pretrained checkpoint (the probe head), with at
    least two labelled records to fit it on (those of ``probe_overrides``)."""
    from encoderkit.tasks.ensemble import train_records

    task = cfg.task
    if members <= 1 or not task.ensemble_probe or task.head_init != "probe":
        return False
    return train_records(run_dir, ("train",) if task.split else ("train", "val")) >= 2


def validation_loss(spec: Any, y_true: np.ndarray, values: np.ndarray) -> float:
    """Classification: mean negative log-likelihood of the true classes under
    ``values`` (probabilities); regression: mean squared error in units of each target's
    training-split standard deviation, over the targets given."""
    if spec.type == "classification":
        p = values[np.arange(len(y_true)), np.asarray(y_true, dtype=np.int64)]
        return float(-np.mean(np.log(np.clip(p, 1e-12, None))))
    err = (values.reshape(len(y_true), -1) - np.asarray(y_true, np.float64).reshape(len(y_true), -1))
    std = np.asarray(spec.std, dtype=np.float64) if spec.std else np.ones(err.shape[1])
    std = np.where(std > 0, std, 1.0)  # a constant target's std is 0 (standard_units): its error as it is
    return float(np.nanmean((err / std) ** 2))


def choose_weight(spec: Any, y_true: np.ndarray, tuned: np.ndarray, probe: np.ndarray
                  ) -> tuple[float, dict[str, float]]:
    """The weight in ``PROBE_WEIGHTS`` whose mix ``(1 - w) tuned + w probe`` has the lowest
    ``validation_loss`` (the smaller weight on a tie), and every weight's loss."""
    losses = {w: validation_loss(spec, y_true, (1 - w) * tuned + w * probe) for w in PROBE_WEIGHTS}
    best = min(PROBE_WEIGHTS, key=lambda w: (losses[w], w))
    return best, {f"{w:.4f}": v for w, v in losses.items()}


def train_probe_member(cfg: Any, overrides: list[str], run_dir: Path, tuned: list[Path],
                       position: str) -> dict[str, Any]:
    """Train the probe member of ``run_dir`` beside its fine-tuned members ``tuned`` (run
    directories) and choose its weight; returns the manifest's ``probe`` entry."""
    from encoderkit.tasks import finetune
    from encoderkit.tasks.ensemble import MEMBERS_DIR, best_spec, val_arrays

    main = os.environ.get("RANK", "0") == "0"
    seed = int(cfg.run.seed)
    member = run_dir / MEMBERS_DIR / PROBE_MEMBER
    if main:
        print(f"ensemble member {position} (the linear probe on the pretrained encoder, "
              f"task.ensemble_probe): {member}", file=sys.stderr, flush=True)
    tuned_val = [val_arrays(r) for r in tuned]
    weight, losses, source = DEFAULT_WEIGHT, None, "default (no validation predictions)"
    mixed = None
    if all(v is not None for v in tuned_val):
        split_file = bool(cfg.task.split)
        probe_val = member if split_file else run_dir / MEMBERS_DIR / PROBE_VAL
        if not split_file:
            finetune(probe_overrides(overrides, run_dir, seed, PROBE_VAL, all_labelled=False))
        finetune(probe_overrides(overrides, run_dir, seed))
        got = val_arrays(probe_val)
        y_true = tuned_val[0][0]
        # the same validation records in the same order (task.seed, one split for all members)
        if got is not None and got[0].shape == y_true.shape and np.array_equal(
                np.asarray(got[0], np.float64), np.asarray(y_true, np.float64), equal_nan=True):
            mean = mean_without_overflow([v[1] for v in tuned_val], axis=0)  # near 1.8e308: no inf
            spec = best_spec(tuned[0])
            weight, losses = choose_weight(spec, y_true, mean, got[1])
            source = "validation"
            mixed = mix_metrics(spec, y_true, mean, got[1], weight)
        if main and not split_file:
            shutil.rmtree(probe_val, ignore_errors=True)
    else:
        finetune(probe_overrides(overrides, run_dir, seed))
    return {"dir": f"{MEMBERS_DIR}/{PROBE_MEMBER}", "weight": weight, "chosen_by": source,
            "val_loss": losses, "val_with_probe": mixed}


def mix_metrics(spec: Any, y_true: np.ndarray, tuned: np.ndarray, probe: np.ndarray,
                weight: float) -> dict[str, float]:
    """Validation metrics of the mix ``(1 - weight) tuned + weight probe``: the model
    ``predict`` averages, with the probe fitted on the training split (with ``task.val_fraction``
    the kept member, fitted on every labelled record, saw these records; with a ``task.split``
    file it is this probe). The weight was chosen on the same
    records, among ``PROBE_WEIGHTS``: a little optimistic, as a best/ checkpoint's score is."""
    from encoderkit.tasks.metrics import task_metrics

    values = (1 - weight) * tuned + weight * probe
    return {k: float(v) for k, v in task_metrics(spec, y_true, values).items()}
