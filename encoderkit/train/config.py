"""The pretraining config: Hydra composition from the packaged ``configs/`` tree,
validated against typed dataclasses (unknown keys and bad values are one-line errors).

The config tree lives at the repository root (``configs/``) and ships inside the wheel
as ``encoderkit/train/configs`` (a symlink in the source tree, copied by setuptools), so
it is found the same way in editable and non-editable installs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from encoderkit.errors import UsageError

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
    steps: int = 1000
    tokens_per_step: int = 0
    log_every: int = 10
    eval_every: int = 200
    eval_tokens: int = 65536
    checkpoint_every: int = 200
    keep: int = 3
    grad_clip: float = 0.0
    strategy: str = "ddp"
    progress: bool = True


@dataclass
class DataConfig:
    store: str = "???"
    val_fraction: float = 0.05
    max_tokens: int = 8192
    max_seqlen: int = 1024
    num_workers: int = 0
    seed: int = 0


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


# groups whose keys are not fixed by the schema: model.<EncoderConfig field>, domain.<option>
OPEN_GROUPS = ("model.", "domain.")
_MISSING_KEY = re.compile(r"Could not override '([^']+)'")


def compose(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``configs/config.yaml`` with Hydra overrides; validate; return the config.

    ``domain.<key>=value`` for a key the domain yaml does not define is accepted as a
    domain option (the domain group is open), so a domain registered in-process needs
    no yaml: ``domain.name=mydomain domain.rate=0.3``. Likewise ``model.<field>=value``
    for any EncoderConfig field (checked when the model config is built).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    overrides = list(overrides or [])
    # `domain.name=x` without a domain group: select no yaml, set the name.
    overrides = [("+" + o) if o.startswith("domain.") else o for o in overrides]
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base=None):
        for _ in range(len(overrides) + 1):
            try:
                cfg = hydra_compose("config", overrides=overrides)
                break
            except HydraException as e:
                msg = str(e)
                m = _MISSING_KEY.search(msg)
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
                if m and not m.group(1).startswith(OPEN_GROUPS):
                    raise ConfigError(_unknown_key(m.group(1))) from None
                raise ConfigError(" ".join(msg.split())) from None
    return validate(cfg)


def _unknown_key(key: str) -> str:
    section = key.split(".", 1)[0]
    schema = OmegaConf.structured(PretrainConfig)
    if section in schema and "." in key:
        allowed = sorted(OmegaConf.to_container(schema[section]))
        return f"unknown config key {key!r}; {section} keys: {allowed}"
    return f"unknown config key {key!r}; top-level keys: {sorted(schema)}"


def overrides_keys(overrides: list[str]) -> set[str]:
    return {o.split("=", 1)[0].lstrip("+~") for o in overrides}


def validate(cfg: DictConfig) -> DictConfig:
    """Merge into the typed schema (unknown keys, wrong types) and check value ranges."""
    from omegaconf.errors import OmegaConfBaseException

    schema = OmegaConf.structured(PretrainConfig)
    try:
        merged = OmegaConf.merge(schema, cfg)
        OmegaConf.resolve(merged)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        raise ConfigError(f"config key {key!r}: {str(e).splitlines()[0]}") from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if "domain.name" in missing:
        raise ConfigError("no domain given: add domain=<name> (a configs/domain yaml), "
                          "domain.name=<registered domain>, or an experiment=<preset>")
    if missing:
        raise ConfigError(f"config key {missing[0]!r} is required (set {missing[0]}=...)")
    _check(merged)
    return merged


def _bad(key: str, allowed: str, got: Any) -> ConfigError:
    return ConfigError(f"The {key!r} parameter must be {allowed}. Got {got!r} instead.")


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
    for key in ("train.steps", "data.max_tokens", "data.max_seqlen"):
        v = OmegaConf.select(c, key)
        if v < 1:
            raise _bad(key, "an int in the range [1, inf)", v)
    for key in ("train.log_every", "train.eval_every", "train.checkpoint_every", "train.keep",
                "train.tokens_per_step", "train.eval_tokens", "data.num_workers"):
        v = OmegaConf.select(c, key)
        if v < 0:
            raise _bad(key, "an int in the range [0, inf)", v)
    if c.train.log_every == 0:
        raise _bad("train.log_every", "an int in the range [1, inf)", 0)
    if c.data.max_seqlen > c.data.max_tokens:
        raise _bad("data.max_seqlen", f"<= data.max_tokens={c.data.max_tokens}", c.data.max_seqlen)
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
        return EncoderConfig.preset(preset, **opts)
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"model: {e}") from None


def help_text() -> str:
    """`encoderkit pretrain --help`: the groups with their options, and the other keys."""
    root = config_dir()
    lines = ["usage: encoderkit pretrain [-m] key=value ...", "",
             "Hydra overrides; e.g. encoderkit pretrain domain=genomic data.store=dna.zarr "
             "model=small train.steps=5000", "-m / --multirun sweeps comma lists "
             "(domain.mask_rate=0.15,0.3), one run directory each.", "", "config groups:"]
    for group in ("model", "domain", "optim", "schedule", "data", "experiment"):
        options = sorted(p.stem for p in (root / group).glob("*.yaml"))
        lines.append(f"  {group}: {', '.join(options) if options else '(none)'}")
    lines += ["  (domain.name=<registered domain> selects a domain with no yaml; "
              "domain.<option>=value sets its options)", "", "keys and defaults:"]
    defaults = OmegaConf.structured(PretrainConfig)
    for section in ("run", "train", "data", "optim", "schedule"):
        for k, v in OmegaConf.to_container(defaults[section]).items():
            lines.append(f"  {section}.{k}={v}")
    lines.append("  model.<EncoderConfig field>=value (hidden_size, num_layers, backend, ...)")
    return "\n".join(lines)
