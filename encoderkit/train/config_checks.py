"""The composed config checked: merged into its typed schema (``config_schema``), then each
value's range, before any run directory or model exists; every problem one line naming the
key (``ConfigError``). Re-exported by ``encoderkit.train.config``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from encoderkit.errors import bad_value
from encoderkit.overrides import option_word
from encoderkit.train.config_guard import check_composed
from encoderkit.train.config_schema import ConfigError, PretrainConfig

PRECISIONS = ("auto", "bf16", "fp32")
STRATEGIES = ("ddp", "fsdp")


def _interpolating_key(given: Any) -> str | None:
    """The first key of the composed config ``given`` whose value holds an interpolation that
    is not a text of the packaged configs (the user's: the one that failed to resolve)."""
    from encoderkit.train.config_guard import _strings, shipped_interpolations

    shipped = shipped_interpolations()
    return next((where for where, text in _strings(given, "") if "${" in text and text not in shipped), None)


def validate(cfg: DictConfig, schema_class: type = PretrainConfig) -> DictConfig:
    """Merge into the typed schema (unknown keys, wrong types) and check value ranges."""
    from omegaconf.errors import OmegaConfBaseException

    schema = OmegaConf.structured(schema_class)
    # resolvers run only where the packaged configs wrote them (config_guard explains)
    given = OmegaConf.to_container(cfg, resolve=False)
    check_composed(given)
    _check_label_column(cfg)
    try:
        merged = OmegaConf.merge(schema, cfg)
        OmegaConf.resolve(merged)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        section = next((k for k, v in given.items() if not key and OmegaConf.is_dict(schema.get(k))
                        and not isinstance(v, dict)), None)
        if section:  # `train=x`: the merge's "config key ''" named nothing
            raise ConfigError(f"{section}={given[section]!r}: {section} is a section of keys; set them one "
                              f"by one: {section}.<key>=<value> ({section} keys: {sorted(schema[section])})",
                              key=section) from None
        if not key:  # a failed ${...} of a value: OmegaConf names no key ("config key None")
            key = _interpolating_key(given)
            if key:
                raise ConfigError(f"config key {key!r}: {str(e).splitlines()[0]} (a value holding '${{' "
                                  f"names another config key, ${{section.key}}; a path with a literal '${{' "
                                  f"cannot be given: rename or link it)", key=key) from None
        raise ConfigError(f"config key {key!r}: {str(e).splitlines()[0]}") from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if "domain.name" in missing:
        raise ConfigError("no domain given: add domain=<name> (a configs/domain yaml or a "
                          "registered domain), or an experiment=<preset>")
    if missing:
        raise ConfigError(f"config key {missing[0]!r} is required (set {missing[0]}=...)")
    _check(merged)
    return merged


def _check_label_column(cfg: DictConfig) -> None:
    """``task.label_column=[a,b]``: the schema's merge said "Cannot convert 'ListConfig' to
    string"; say that it takes one column, and how several targets of a table are trained."""
    from omegaconf import ListConfig

    column = OmegaConf.select(cfg, "task.label_column", default=None)
    if isinstance(column, ListConfig):
        names = [str(c) for c in column]
        raise ConfigError(f"task.label_column takes one column of the table; got {names}. For several "
                          f"regression targets, write them to a labels file (id + one column per "
                          f"target) for task.labels=<file>, and keep them out of the inputs with "
                          f"{option_word('domain.drop_columns', names)}", key="task.label_column")


def _bad(key: str, allowed: str, got: Any) -> ConfigError:
    return ConfigError(bad_value(key, allowed, got))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_optimizer(c: DictConfig) -> None:
    """The optimizer's and the schedule's numbers, before any run directory or model exists
    (StableAdamW and the schedule refused them later, as a traceback; a negative weight decay
    or grad_clip trained without a word)."""
    o, s = c.optim, c.schedule
    if not (_number(o.lr) and o.lr > 0):
        raise _bad("optim.lr", "a finite float > 0", o.lr)
    if not (_number(o.eps) and o.eps > 0):
        raise _bad("optim.eps", "a finite float > 0", o.eps)
    betas = list(o.betas) if OmegaConf.is_list(o.betas) else o.betas
    if not (isinstance(betas, list) and len(betas) == 2 and all(_number(b) and 0 <= b < 1 for b in betas)):
        raise _bad("optim.betas", "two floats in [0, 1), e.g. [0.9, 0.98]", betas)
    if not (_number(o.weight_decay) and o.weight_decay >= 0):
        raise _bad("optim.weight_decay", "a finite float >= 0", o.weight_decay)
    if not (_number(c.train.grad_clip) and c.train.grad_clip >= 0):
        raise _bad("train.grad_clip", "a finite float >= 0 (0 = off)", c.train.grad_clip)
    for key in ("warmup_fraction", "decay_fraction", "final_ratio"):
        v = s[key]
        if not (_number(v) and 0 <= v <= 1):
            raise _bad(f"schedule.{key}", "a float in [0, 1]", v)
    if s.warmup is None and s.decay is None and s.warmup_fraction + s.decay_fraction > 1:
        raise ConfigError(f"schedule.warmup_fraction + schedule.decay_fraction must be <= 1. Got "
                          f"{s.warmup_fraction} + {s.decay_fraction}.")
    _check_schedule_lengths(c)


def _check_schedule_lengths(c: DictConfig) -> None:
    """Warmup, decay and batch warmup against the run's length where the config fixes it
    (train.steps an int; train.steps=auto is checked once resolved, by the schedule): each
    was a traceback from encoderkit/train/schedule.py, and a negative batch warmup ran
    without a word."""
    s = c.schedule
    for key in ("warmup", "decay"):
        if s[key] is not None and not (_number(s[key]) and s[key] >= 0):
            raise _bad(f"schedule.{key}", "a float in the range [0, inf) or null (the fraction)", s[key])
    if s.total is not None and not (_number(s.total) and s.total > 0):
        raise _bad("schedule.total", "a float in the range (0, inf) or null (train.steps)", s.total)
    for key in ("batch_warmup_tokens", "batch_warmup_start"):
        if isinstance(s[key], bool) or not isinstance(s[key], int) or s[key] < 0:
            raise _bad(f"schedule.{key}", "an int in the range [0, inf) (0: off)", s[key])
    steps, tps = c.train.steps, c.train.tokens_per_step
    if s.batch_warmup_tokens > 0 and s.batch_warmup_start < 1:
        raise _bad("schedule.batch_warmup_start", "an int >= 1 with schedule.batch_warmup_tokens > 0",
                   s.batch_warmup_start)
    if s.batch_warmup_tokens > 0 and isinstance(tps, int) and tps > 0 and s.batch_warmup_start > tps:
        raise _bad("schedule.batch_warmup_start", f"<= train.tokens_per_step={tps}", s.batch_warmup_start)
    total, length = s.total, "train.steps"
    if total is None and isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        if s.unit == "steps":
            total = steps
        elif isinstance(tps, int) and tps > 0:  # else the processes' count sets it: the run checks
            total, length = steps * tps, "train.steps x train.tokens_per_step"
    if total is not None:
        warmup = s.warmup if s.warmup is not None else s.warmup_fraction * total
        decay = s.decay if s.decay is not None else s.decay_fraction * total
        if warmup + decay > total:
            raise ConfigError(f"schedule.warmup + schedule.decay must be <= the schedule's length "
                              f"({total:g} {s.unit}: schedule.total, or {length}). Got {warmup:g} + "
                              f"{decay:g}; lower them, or give schedule.warmup_fraction / "
                              f"schedule.decay_fraction.")
    from encoderkit.train.schedule import total_problem

    # a schedule shorter than the run trained its last steps at lr 0 without a word (after the
    # schedule's own lengths; train.steps=auto: checked again once resolved, schedule.plan_wsd).
    # In tokens only a total below one token a step is certain; the trainer says the rest
    problem = total_problem(s.total, steps, s.unit, float(s.final_ratio), c.train.auto_min_steps)
    if problem:
        raise ConfigError(problem, key="schedule.total")


def _check(c: DictConfig) -> None:
    from encoderkit.train.schedule import DECAY_SHAPES, UNITS

    if c.run.precision not in PRECISIONS:
        raise _bad("run.precision", f"one of {PRECISIONS}", c.run.precision)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", c.run.device):
        raise _bad("run.device", "auto, cpu, cuda or cuda:<index>", c.run.device)
    if c.train.strategy not in STRATEGIES:
        raise _bad("train.strategy", f"one of {STRATEGIES}", c.train.strategy)
    if c.optim.name != "stableadamw":
        raise _bad("optim.name", "'stableadamw'", c.optim.name)
    if c.schedule.name != "wsd":
        raise _bad("schedule.name", "'wsd'", c.schedule.name)
    if c.schedule.shape not in DECAY_SHAPES:
        raise _bad("schedule.shape", f"one of {DECAY_SHAPES}", c.schedule.shape)
    if c.schedule.unit not in UNITS:
        raise _bad("schedule.unit", f"one of {UNITS}", c.schedule.unit)
    _check_optimizer(c)
    steps = c.train.steps
    # fine-tuning may take no step: train.steps=0 keeps the pretrained encoder and fits the
    # linear probe head only (checked with the task in task_checks.check_task)
    least = 0 if "task" in c else 1
    if steps != "auto" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < least):
        raise _bad("train.steps", f"an int in the range [{least}, inf) or 'auto'"
                   + (" (0: a linear probe on the frozen encoder)" if least == 0 else ""), steps)
    if not c.train.auto_epochs > 0:
        raise _bad("train.auto_epochs", "a float in the range (0, inf)", c.train.auto_epochs)
    if not 1 <= c.train.auto_min_steps <= c.train.auto_max_steps:
        raise _bad("train.auto_min_steps", f"an int in the range [1, train.auto_max_steps="
                   f"{c.train.auto_max_steps}]", c.train.auto_min_steps)
    max_tokens = c.data.max_tokens
    if max_tokens == "auto":
        if "task" not in c:  # pretraining has no labelled split to size a batch by
            raise _bad("data.max_tokens", "an int in the range [1, inf) in encoderkit pretrain "
                       "('auto' sizes a fine-tuning batch by the labelled split)", max_tokens)
    elif isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _bad("data.max_tokens", "an int in the range [1, inf)" + (" or 'auto'" if "task" in c else ""),
                   max_tokens)
    if c.data.max_seqlen < 1:
        raise _bad("data.max_seqlen", "an int in the range [1, inf)", c.data.max_seqlen)
    for key in ("train.log_every", "train.eval_every", "train.checkpoint_every", "train.keep",
                "train.tokens_per_step", "train.eval_tokens", "data.num_workers"):
        v = OmegaConf.select(c, key)
        if v < 0:
            raise _bad(key, "an int in the range [0, inf)", v)
    for key in ("run.seed", "data.seed"):  # numpy's global generator, its SeedSequence and
        v = OmegaConf.select(c, key)       # scikit-learn take no negative seed, nor one of 2**32 or more
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** 32:
            raise _bad(key, "an int in the range [0, 2**32)", v)
    if c.train.log_every == 0:
        raise _bad("train.log_every", "an int in the range [1, inf)", 0)
    if max_tokens != "auto" and c.data.max_seqlen > max_tokens:
        raise _bad("data.max_seqlen", f"<= data.max_tokens={c.data.max_tokens}", c.data.max_seqlen)
    if c.data.read not in ("auto", "chunks", "records"):
        raise _bad("data.read", "one of ('auto', 'chunks', 'records')", c.data.read)
    if not c.data.buffer_mb > 0:
        raise _bad("data.buffer_mb", "a number in the range (0, inf)", c.data.buffer_mb)
    if not 0.0 < c.data.val_fraction < 1.0:
        raise _bad("data.val_fraction", "a float in the range (0, 1)", c.data.val_fraction)
    if len(c.optim.betas) != 2:
        raise _bad("optim.betas", "a list of two floats", list(c.optim.betas))
    if not isinstance(c.model.get("preset", None), str):
        raise _bad("model.preset", "one of tiny, small, base, large", c.model.get("preset"))
    if not isinstance(c.domain.get("name", None), str):
        raise _bad("domain.name", "the name of a registered domain", c.domain.get("name"))
    if c.run.resume not in ("auto", "never") and not Path(c.run.resume).is_dir():
        raise _bad("run.resume", "'auto', 'never' or an existing checkpoint directory",
                   c.run.resume)
