"""The pretraining config: Hydra composition from the packaged ``configs/`` tree,
validated against typed dataclasses (unknown keys and bad values are one-line errors).

The config tree lives at the repository root (``configs/``) and ships inside the wheel
as ``encoderkit/train/configs`` (a symlink in the source tree, copied by setuptools), so
it is found the same way in editable and non-editable installs.
"""

from __future__ import annotations

import dataclasses
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from encoderkit.errors import UsageError
from encoderkit.overrides import option_word
from encoderkit.train.compose_compat import plain_if_resumed
from encoderkit.train.compose_errors import MISSING_KEY, OPEN_GROUPS, compose_problem, null_group, word_key
from encoderkit.train.config_guard import check_composed, check_overrides
from encoderkit.train.searchpath import group_option_in, group_options_in, search_folders

PRECISIONS = ("auto", "bf16", "fp32")
STRATEGIES = ("ddp", "fsdp")


class ConfigError(UsageError):
    """A config problem, reported as one line naming the key (exit code 2)."""


@dataclass
class RunConfig:
    dir: Optional[str] = None
    name: str = "run"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    resume: str = "auto"
    init_from: Optional[str] = None


@dataclass
class TrainConfig:
    # an int, or "auto": ceil(auto_epochs x training tokens / tokens per step) clamped to
    # [auto_min_steps, auto_max_steps] (encoderkit/train/budget.py explains the rule)
    steps: Any = 1000
    auto_epochs: float = 100.0
    auto_min_steps: int = 200
    auto_max_steps: int = 20000
    tokens_per_step: int = 0
    log_every: int = 10
    eval_every: int = 200
    eval_tokens: int = 65536
    checkpoint_every: int = 200
    keep: int = 3
    grad_clip: float = 0.0
    strategy: str = "ddp"
    progress: bool = True
    plot: bool = True  # loss.png in the run folder (false: a run nobody looks at, impute's)


@dataclass
class DataConfig:
    store: str = "???"
    val_fraction: float = 0.05
    # an int, or "auto" (encoderkit finetune): a batch sized by the labelled training split
    # (encoderkit/train/budget.py explains the rule)
    max_tokens: Any = 8192
    max_seqlen: int = 1024
    num_workers: int = 0
    seed: int = 0
    read: str = "auto"
    buffer_mb: float = 128.0


@dataclass
class OptimConfig:
    name: str = "stableadamw"
    lr: float = 8e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    weight_decay: float = 1e-5
    foreach: Optional[bool] = None


@dataclass
class ScheduleConfig:
    name: str = "wsd"
    unit: str = "steps"
    total: Optional[float] = None
    warmup: Optional[float] = None
    warmup_fraction: float = 0.05
    decay: Optional[float] = None
    decay_fraction: float = 0.2
    shape: str = "1-sqrt"
    final_ratio: float = 0.0
    batch_warmup_tokens: int = 0
    batch_warmup_start: int = 0


@dataclass
class PretrainConfig:
    # model and domain are open: model = preset + any EncoderConfig field (checked when the
    # config is built), domain = name + the domain's own options (checked by the domain).
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "tiny"})
    domain: dict[str, Any] = field(default_factory=lambda: {"name": "???"})
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class TaskConfig:
    type: str = "classification"
    labels: Optional[str] = None
    label_column: Optional[str] = None
    label_names: Optional[list[str]] = None
    val_fraction: float = 0.1
    split: Optional[str] = None
    group_column: Optional[str] = None  # a labels-file column: validation keeps each group whole
    seed: int = 0
    pooling: str = "mean"  # auto | mean | mean_std | cls (auto: resolve_head)
    head: str = "mlp"
    projection: str = "mlp"
    dropout: Any = 0.1  # auto | a float in [0, 1) (auto: resolve_head)
    class_weights: Any = None
    freeze_encoder: bool = False
    lp_fraction: Any = "auto"  # auto | a float in [0, 1) (configs/task/*.yaml)
    head_init: str = "random"  # auto | random | probe (encoderkit/tasks/head_init.py)
    mlm_weight: float = 0.0  # contrastive: weight of the masked-LM loss beside InfoNCE
    head_lr: Any = 1.0  # auto | a float > 0 (auto: resolve_head in encoderkit/tasks/head_init.py)
    layer_decay: float = 1.0
    patience: int = 0
    metric: str = "auto"
    temperature: float = 0.05
    learn_temperature: bool = True
    augment: Any = "auto"  # auto | true | false (configs/task/*.yaml)
    ensemble: Any = 1  # auto | members (encoderkit/tasks/ensemble.py)
    ensemble_probe: bool = True  # an ensemble's extra member: the frozen encoder's linear probe


@dataclass
class FinetuneConfig(PretrainConfig):
    checkpoint: str = "???"
    task: TaskConfig = field(default_factory=TaskConfig)


def config_dir() -> Path:
    """The config tree: packaged copy, or the repository's ``configs/`` in a source tree."""
    packaged = resources.files("encoderkit.train") / "configs"
    path = Path(str(packaged))
    if (path / "config.yaml").is_file():
        return path
    repo = Path(__file__).resolve().parents[2] / "configs"
    if (repo / "config.yaml").is_file():
        return repo
    raise FileNotFoundError(f"encoderkit config tree not found (looked in {path} and {repo})")


# finetune's experiment entry (configs/finetune.yaml): after its own values and the task file
FT_EXPERIMENT = "experiment@_global_"


def compose(overrides: list[str] | None = None, config_name: str = "config") -> DictConfig:
    """Compose ``configs/config.yaml`` with Hydra overrides; validate; return the config.

    ``domain.<key>=value`` for a key the domain yaml does not define is accepted as a
    domain option (the domain group is open), so a domain registered in-process needs
    no yaml: ``domain.name=mydomain domain.rate=0.3``. Likewise ``model.<field>=value``
    for any EncoderConfig field (checked when the model config is built).
    """
    cfg = _compose_raw(overrides, config_name)
    return validate(cfg)


def _compose_raw(overrides: list[str] | None, config_name: str) -> DictConfig:
    plain = _prepared(overrides, config_name, documented=False)
    words = _documented_domain(plain)
    cfg = _compose_words(words, config_name)[0]
    # a run composed from the plain words before (no yaml) resumes as it was composed
    bare = plain_if_resumed(cfg, words, plain, lambda w: _compose_words(w, config_name))
    return bare[0] if bare else cfg


def _prepared(overrides: list[str] | None, config_name: str, documented: bool = True) -> list[str]:
    """The command's words as Hydra composes them: quoted where its grammar needs it, checked
    (Hydra's own settings, resolvers, group options), one word per key, ``domain=`` read as a
    yaml or a registered domain, ``domain.name=`` as the domain's yaml where it has one (with
    ``documented``: ``_documented_domain``), and finetune's ``experiment=`` pointed at its
    last entry."""
    from encoderkit.cliutil import hydra_word_problem
    from encoderkit.overrides import readable

    overrides = readable(list(overrides or []))  # a path such as données/x.csv, quoted
    hydra = hydra_word_problem(overrides, None)  # hydra.run.dir=x: the compose API dropped it
    if hydra is not None:
        raise ConfigError(hydra[1], key=hydra[0])
    check_overrides(overrides)  # no resolver in a value, group options by plain name only
    # the last domain= wins, as for any key, before a plug-in's choice becomes domain.name=
    # (two spellings of one key would both survive the de-duplication below)
    chosen = [i for i, o in enumerate(overrides) if o.lstrip("+").split("=", 1)[0] == "domain"]
    overrides = [o for i, o in enumerate(overrides) if i not in chosen[:-1]]
    folders = search_folders(overrides)  # a user's <folder>/domain/<name>.yaml is a choice too
    overrides = [_domain_choice(o, folders) for o in overrides]
    # `domain.name=x` without a domain group: select no yaml, set the name.
    overrides = [("+" + o) if o.startswith("domain.") else o for o in overrides]
    # a key given twice: the last value wins, as Hydra does for a plain key (the retries
    # below turned `model.num_heads=2 model.num_heads=2` into an unbound config)
    last = {o.split("=", 1)[0].lstrip("+"): i for i, o in enumerate(overrides) if "=" in o}
    overrides = [o for i, o in enumerate(overrides) if "=" not in o or last[o.split("=", 1)[0].lstrip("+")] == i]
    overrides = _documented_domain(overrides) if documented else overrides
    if config_name == "finetune":  # its experiment entry comes last (configs/finetune.yaml)
        overrides = [("~" if o.startswith("~") else "") + FT_EXPERIMENT + o.lstrip("+~")[len("experiment"):]
                     if o.lstrip("+~").split("=", 1)[0] == "experiment" and "={" not in o else o
                     for o in overrides]  # a dict is no option: compose_problem says so
    return overrides


def _compose_words(overrides: list[str], config_name: str, choices: bool = False
                   ) -> tuple[DictConfig, dict[str, Any]]:
    """Hydra's composition of prepared words (retrying an open group's new key with ``+``),
    and with ``choices`` the option chosen in each group (``hydra.runtime.choices``)."""
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException

    def compose_now(words: list[str]) -> DictConfig:
        return hydra_compose(config_name, overrides=words, return_hydra_config=choices)

    with _hydra_of_our_own():
        for _ in range(len(overrides) + 1):
            try:
                cfg = compose_now(overrides)
                break
            except HydraException as e:
                msg = str(e).replace(FT_EXPERIMENT, "experiment")
                m = MISSING_KEY.search(msg)
                if m and m.group(1).startswith(OPEN_GROUPS) and m.group(1) in overrides_keys(overrides):
                    overrides = [("+" + o) if o.split("=", 1)[0] == m.group(1) else o
                                 for o in overrides]
                    continue
                # `+domain.k=v` on a key the domain yaml already has: plain override instead
                m2 = re.search(r"Could not append to config. An item is already at '([^']+)'", msg)
                if m2 and m2.group(1).startswith(OPEN_GROUPS):
                    overrides = [o[1:] if o.startswith("+") and o[1:].split("=", 1)[0] == m2.group(1)
                                 else o for o in overrides]
                    continue
                raise ConfigError(compose_problem(msg, overrides, config_name, compose_now)) from None
            except ValueError as e:  # Hydra's defaults list: `model=null` (a group's option is a name)
                raise ConfigError(null_group(overrides, config_name) or " ".join(str(e).split())) from None
        else:  # every retry spent: say what Hydra said last rather than fail unbound
            raise ConfigError(f"cannot compose the configuration: {' '.join(msg.split())}")
    if not choices:
        return cfg, {}
    picked = OmegaConf.to_container(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, picked


@contextmanager
def _hydra_of_our_own() -> Iterator[None]:
    """Hydra initialised on the packaged configs for one composition, and the user's own
    Hydra session (``initialize_config_dir`` in a notebook) given back afterwards, also when
    composing fails: ``GlobalHydra`` is one per process. Under the session lock, so two
    threads' compositions do not clear each other's."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    from encoderkit.session_state import held

    with held():
        users = get_gh_backup()  # a copy of the user's GlobalHydra, or None
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(str(config_dir()), version_base=None):
                yield
        finally:
            restore_gh_from_backup(users)  # None: no GlobalHydra, as before the first use


def domain_yaml(name: Any, folders: Sequence[Any] = ()) -> bool:
    """Whether ``domain=<name>`` selects a yaml: ``configs/domain/<name>.yaml`` or a
    ``hydra.searchpath`` folder's ``domain/<name>.yaml`` (a plain name only: no sweep, no path)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        return False
    return (config_dir() / "domain" / f"{name}.yaml").is_file() or group_option_in(folders, "domain", name)


def _documented_domain(overrides: list[str]) -> list[str]:
    """Prepared words whose ``domain.name=<name>`` (no ``domain=`` word) names a domain with a
    yaml (``domain_yaml``): that word as ``domain=<name>``, so the run gets the documented
    defaults of the file, as ``domain=<name>`` does. It selected no yaml: the domain's Python
    defaults (tabular's masker random, numeric_decode clip, infill_blend none where the yaml
    says {random: 0.7, column: 0.3}, regression, iterative+forest; sets' model.global_every 3
    where it says 1). ``domain.<option>=`` words still win over the file; a plug-in without a
    yaml keeps its own defaults; a run composed before is resumed as it was
    (``compose_compat.plain_if_resumed``)."""
    if any(word_key(o) == "domain" for o in overrides):  # a domain= / ~domain word chose already
        return overrides
    folders = search_folders(overrides)
    out = []
    for o in overrides:
        name = o.split("=", 1)[1] if word_key(o) == "domain.name" and "=" in o else None
        # the name stays as typed (a user's file may name another): a plain override of the file's
        out += [f"domain={name}", f"domain.name={name}"] if domain_yaml(name, folders) else [o]
    return out


def _domain_choice(override: str, folders: Sequence[Any] = ()) -> str:
    """``domain=<name>``: the yaml ``configs/domain/<name>.yaml`` (or ``<folder>/domain/<name>.yaml``
    of a ``hydra.searchpath`` folder) where one exists, else a registered domain with its own
    defaults (``domain.name=<name>``), so a plug-in needs no file in encoderkit's tree; a name
    that is none of these is one line listing the choices."""
    key, sep, value = override.partition("=")
    if key.lstrip("+") != "domain" or not sep or value in ("", "null") or "," in value or value.startswith("{"):
        return override
    if (config_dir() / "domain" / f"{value}.yaml").is_file() or group_option_in(folders, "domain", value):
        return override
    from encoderkit.registry import GROUP, available_domains

    if value in available_domains():
        return f"domain.name={value}"
    yamls = {p.stem for p in (config_dir() / "domain").glob("*.yaml")} | set(group_options_in(folders, "domain"))
    raise ConfigError(f"unknown domain {value!r}; available: {sorted(yamls | set(available_domains()))} "
                      f"(a configs/domain/<name>.yaml or <hydra.searchpath folder>/domain/<name>.yaml, "
                      f"or a domain registered under the entry-point group {GROUP!r})", key="domain")


def overrides_keys(overrides: list[str]) -> set[str]:
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides}


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
    return ConfigError(f"The {key!r} parameter must be {allowed}. Got {got!r} instead.")


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


def encoder_config(model_cfg: dict[str, Any], rope_axes: int):
    """``EncoderConfig.preset(preset, **overrides)``; rope_axes defaults to the domain's."""
    from encoderkit.core import EncoderConfig

    opts = dict(model_cfg)
    preset = opts.pop("preset")
    known = {f.name for f in dataclasses.fields(EncoderConfig)}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ConfigError(f"config key 'model.{unknown[0]}' is not an EncoderConfig field; "
                          f"fields: {sorted(known)}")
    opts.setdefault("rope_axes", rope_axes)
    try:
        config = EncoderConfig.preset(preset, **opts)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"model: {e}") from None
    from encoderkit.train.model_size import encoder_parameters, size_problem

    try:
        problem = size_problem(encoder_parameters(config))  # before any allocation
    except ValueError as e:  # what the layers refuse (xformers with local layers)
        raise ConfigError(f"model: {e}") from None
    if problem:
        raise ConfigError(f"model={preset} hidden_size={config.hidden_size} num_layers="
                          f"{config.num_layers} intermediate_size={config.intermediate_size}: {problem}; "
                          f"choose a smaller model (model=tiny|small|base|large, or lower "
                          f"model.hidden_size / model.num_layers)", key="model")
    return config


def help_text() -> str:
    """`encoderkit pretrain --help` (``encoderkit.train.help``: the defaults a run gets)."""
    from encoderkit.train.help import pretrain_help

    return pretrain_help()


def compose_finetune(overrides: list[str] | None = None) -> DictConfig:
    """``configs/finetune.yaml`` with overrides: ``encoderkit.train.finetune_config`` (its own
    module, which imports this one), under the name callers know."""
    from encoderkit.train.finetune_config import compose_finetune as compose_ft

    return compose_ft(overrides)
