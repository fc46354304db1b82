"""Warmup-stable-decay learning-rate schedule and batch-size warmup.

Both are pure functions of progress (tokens or steps), so resuming needs no state:
the trainer stores step and tokens, and the schedule is recomputed from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# bad settings are UsageErrors (one line naming the key, exit 2), not tracebacks: a warmup
# longer than a run of train.steps=auto steps is an easy mistake
from encoderkit.errors import UsageError

DECAY_SHAPES = ("linear", "cosine", "1-sqrt")
UNITS = ("steps", "tokens")


@dataclass(frozen=True)
class WSD:
    """Multiplier on the peak learning rate at progress ``t`` (steps or tokens).

    The trainer evaluates it at the progress reached by the step being taken (step + 1,
    or tokens seen after it), so the first step of a warmup already has a non-zero rate.
    ``[0, warmup)``: linear from 0 to 1;
    ``[warmup, total - decay)``: 1; ``[total - decay, total]``: decay from 1 to
    ``final_ratio`` with the chosen shape. Beyond ``total`` it stays at ``final_ratio``.

    A decay shorter than one step (``per_step``: 1 in ``steps``, the run's tokens per step in
    ``tokens``) is no decay: the only point of it the trainer evaluates is the run's last step,
    at or near ``total``, so "decaying" there meant that step trained at ``final_ratio`` (0 by
    default) and a 1-step run (``decay_fraction`` x 1 step) took no step at all (in tokens at
    6e-4 x the peak: a full batch ends at ``total``). Past ``total`` it is ``final_ratio`` too.
    """

    total: float
    warmup: float = 0.0
    decay: float = 0.0
    shape: str = "1-sqrt"
    final_ratio: float = 0.0
    unit: str = "steps"
    per_step: float = 1.0  # progress of one optimizer step: 1 (steps), tokens per step (tokens)

    def __post_init__(self) -> None:
        if self.shape not in DECAY_SHAPES:
            raise UsageError(f"The 'schedule.decay_shape' parameter must be one of {DECAY_SHAPES}. "
                             f"Got {self.shape!r} instead.")
        if self.unit not in UNITS:
            raise UsageError(f"The 'schedule.unit' parameter must be one of {UNITS}. "
                             f"Got {self.unit!r} instead.")
        if not self.total > 0:
            raise UsageError(f"The schedule length (schedule.total, or train.steps) must be > 0. "
                             f"Got {self.total} instead.")
        if self.warmup < 0 or self.decay < 0 or self.warmup + self.decay > self.total:
            raise UsageError(f"The schedule needs 0 <= warmup + decay <= total; got schedule.warmup="
                             f"{self.warmup:g} and schedule.decay={self.decay:g} for a run of "
                             f"{self.total:g} {self.unit} (train.steps, or schedule.total): lower "
                             f"them, or give schedule.warmup_fraction / schedule.decay_fraction.")
        if not 0.0 <= self.final_ratio <= 1.0:
            raise UsageError(f"The 'schedule.final_ratio' parameter must be in [0, 1]. "
                             f"Got {self.final_ratio} instead.")

    def __call__(self, t: float) -> float:
        if t < self.warmup:
            return max(t, 0.0) / self.warmup
        if self.decay == 0 or self.decay < self.per_step:
            # beyond total, final_ratio as documented (in tokens a step can pass total: it held
            # more real tokens than planned); 1.0 there trained past the end at the peak
            return 1.0 if t <= self.total else self.final_ratio
        left = self.total - t  # what remains of the decay, so its start is x = 0 exactly
        if left >= self.decay:
            return 1.0
        x = min(1.0, 1.0 - left / self.decay)  # decay progress in [0, 1]
        if self.shape == "linear":
            f = 1.0 - x
        elif self.shape == "cosine":
            f = 0.5 * (1.0 + math.cos(math.pi * x))
        else:  # 1-sqrt (Hägele et al. 2024)
            f = 1.0 - math.sqrt(x)
        return self.final_ratio + (1.0 - self.final_ratio) * f


@dataclass(frozen=True)
class Delayed:
    """``inner`` held at 0 up to progress ``start``, then run compressed into
    ``(start, inner.total]``: a parameter group that joins late (the encoder after a
    linear-probing phase, ``task.lp_fraction``) gets its own warmup from the switch, so its
    rate never jumps from 0 to the peak, and its decay ends where everyone's does."""

    inner: WSD
    start: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.start < self.inner.total:
            raise ValueError(f"A delayed schedule needs 0 <= start < total; got start={self.start}, "
                             f"total={self.inner.total}.")

    def __call__(self, t: float) -> float:
        if t <= self.start:
            return 0.0
        total = self.inner.total
        return self.inner((t - self.start) * total / (total - self.start))


@dataclass(frozen=True)
class BatchWarmup:
    """Tokens per optimizer step: linear ramp from ``start`` to ``target`` over the first
    ``tokens`` training tokens, rounded down to a multiple of ``multiple`` (e.g. the
    micro-batch budget); ``tokens=0`` disables it."""

    target: int
    start: int = 0
    tokens: int = 0
    multiple: int = 1

    def __post_init__(self) -> None:
        if self.tokens < 0:
            raise UsageError(f"The 'schedule.batch_warmup_tokens' parameter must be an int in the "
                             f"range [0, inf) (0: off). Got {self.tokens} instead.")
        if self.tokens > 0 and not 0 < self.start <= self.target:
            raise UsageError(f"The 'schedule.batch_warmup_start' parameter must be in "
                             f"(0, {self.target}] (the tokens per step: train.tokens_per_step, or "
                             f"data.max_tokens x processes). Got {self.start} instead.")

    def __call__(self, tokens_seen: int) -> int:
        if self.tokens <= 0 or tokens_seen >= self.tokens:
            return self.target
        size = self.start + (self.target - self.start) * tokens_seen / self.tokens
        return max(self.multiple, int(size // self.multiple) * self.multiple)


def total_problem(total: float | None, steps: Any, unit: str, final_ratio: float,
                  auto_min_steps: int | None = None, resolved: bool = False) -> str | None:
    """Why ``schedule.total`` cannot serve a run of ``steps`` optimizer steps, or None.

    Past ``total`` every step trains at ``final_ratio`` x the peak (0 by default: the steps
    after it did nothing, exit 0). In ``tokens`` the schedule counts the real tokens trained
    (``Trainer._train_step``), which no config fixes: a step holds at most its batches'
    ``data.max_tokens``, fewer where they are not full. Only what is certain is refused, a total
    below one token a step (a total meant in steps); the trainer says when the real count
    reaches ``total`` with steps left (``overrun_line``). ``steps="auto"`` is known once
    resolved (``resolved``: ``steps`` is that, said so); before that, ``auto_min_steps`` is
    its least."""
    if total is None or final_ratio > 0:
        # final_ratio > 0: the steps past total train at that share of the peak, the documented
        # low-learning-rate tail (and what resuming a run of a fixed total for more steps gives)
        return None
    if steps == "auto" and auto_min_steps is not None:
        steps, asked = auto_min_steps, f"train.steps=auto (at least train.auto_min_steps={auto_min_steps})"
    elif isinstance(steps, int) and not isinstance(steps, bool):
        asked = f"the run's {steps} steps (train.steps, auto resolved)" if resolved else f"train.steps={steps}"
    else:  # auto not yet resolved, or not a number (the config names that)
        return None
    if total >= steps:
        return None
    tail = f"schedule.final_ratio={final_ratio:g} x optim.lr{' (nothing)' if final_ratio == 0 else ''}"
    if unit == "tokens":
        return (f"schedule.total={total:g} tokens is fewer than the {steps} tokens {asked} trains "
                f"at the least (one real token a step): the steps past token {total:g} would train at {tail}; "
                f"schedule.unit=tokens counts real tokens (a total in steps: schedule.unit=steps), "
                f"or leave schedule.total null (the run's tokens)")
    return (f"schedule.total={total:g} is shorter than {asked}: the steps after step "
            f"{math.floor(total)} would train at {tail}; leave schedule.total null (the run's "
            f"length) or set it >= {steps}")


def overrun_line(schedule: WSD, tokens: int, step: int, steps: int) -> str | None:
    """The warning of a run whose schedule in ``tokens`` reached its end at ``step`` (``tokens``
    real tokens trained) with steps of its ``steps`` left: they train at ``final_ratio`` x
    the peak, 0 by default, which a config cannot foresee (``total_problem``). None otherwise,
    and for a ``final_ratio`` > 0 (the documented low-rate tail)."""
    if schedule.unit != "tokens" or schedule.final_ratio > 0 or tokens < schedule.total or step >= steps:
        return None
    per_step = tokens / max(step, 1)
    return (f"the learning-rate schedule's {schedule.total:g} tokens (schedule.total, or train.steps x "
            f"the tokens per step where null) were reached at step {step} of train.steps={steps} "
            f"({tokens} real tokens, {per_step:.0f} a step): the {steps - step} steps left train at "
            f"schedule.final_ratio=0 x optim.lr (nothing). A step holds at most data.max_tokens per "
            f"micro-batch and rank; for a schedule that ends with the run, set schedule.total to its "
            f"real tokens (about {math.ceil(per_step * steps)}), or use schedule.unit=steps")


def plan_wsd(schedule: Any, steps: int, tokens_per_step: int, check: bool = True) -> WSD:
    """The learning-rate schedule of a run of ``steps`` steps from the ``schedule.*`` config
    (``Trainer._plan_schedule``), with ``steps`` as resolved (``train.steps=auto`` included):
    with ``check``, a ``schedule.total`` shorter than the run is a ``UsageError``
    (``total_problem``); without, the plan of a run saved before (what a resume compares)."""
    s = schedule
    problem = total_problem(s.total, int(steps), s.unit, float(s.final_ratio), resolved=True) if check else None
    if problem:
        raise UsageError(problem, key="schedule.total")
    total = s.total or (steps if s.unit == "steps" else steps * tokens_per_step)
    total = total or 1  # train.steps=0 (a fine-tuning run that only fits its probe head)
    warmup = s.warmup if s.warmup is not None else s.warmup_fraction * total
    decay = s.decay if s.decay is not None else s.decay_fraction * total
    return WSD(total=total, warmup=warmup, decay=decay, shape=s.shape, final_ratio=s.final_ratio,
               unit=s.unit, per_step=1 if s.unit == "steps" else tokens_per_step)
