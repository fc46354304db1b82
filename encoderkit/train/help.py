"""`encoderkit pretrain --help`, and the config part of `encoderkit finetune --help`.

Every default shown is the one a run with no override gets: the config composed from
``configs/config.yaml`` (``configs/finetune.yaml`` for finetune) over the typed schema of
``encoderkit/train/config.py``, not the schema's own field defaults, which the yaml files
override (``run.name``, and for finetune ``train.steps``, ``optim.lr``, ``data.max_tokens``).
An interpolation is shown as what it becomes (``<domain>-<YYYYmmdd-HHMMSS>``).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from omegaconf import OmegaConf

from encoderkit.train.config import FinetuneConfig, PretrainConfig, _compose_raw, config_dir

GROUPS = ("model", "domain", "optim", "schedule", "data", "experiment")
SECTIONS = {"config": ("run", "train", "data", "optim", "schedule"),
            "finetune": ("checkpoint", "task", "run", "train", "data", "optim", "schedule")}
_NOW = re.compile(r"\$\{now:([^}]*)\}")
_SELECT = re.compile(r"\$\{oc\.select:([\w.]+),[^}]*\}")
_STRFTIME = {"%Y": "YYYY", "%m": "mm", "%d": "dd", "%H": "HH", "%M": "MM", "%S": "SS"}


def shown(value: Any) -> str:
    """A default as it is typed on the command line (``null``, ``true``, ``[0.9,0.98]``);
    ``<required>`` for a value that must be given; an interpolation as what it becomes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        if value == "???":
            return "<required>"
        value = _NOW.sub(lambda m: "<" + re.sub(r"%[YmdHMS]", lambda f: _STRFTIME[f.group()], m.group(1))
                         + ">", value)
        return _SELECT.sub(lambda m: f"<{m.group(1).removesuffix('.name')}>", value)
    return str(value)


def defaults(config_name: str = "config") -> dict[str, Any]:
    """``section.key -> default`` of the composed config, unresolved (``${now:...}`` stays)."""
    schema = FinetuneConfig if config_name == "finetune" else PretrainConfig
    cfg = OmegaConf.merge(OmegaConf.structured(schema), _compose_raw([], config_name))
    tree = OmegaConf.to_container(cfg, resolve=False)  # `???` stays a string
    out: dict[str, Any] = {}
    for section in SECTIONS[config_name]:
        if isinstance(tree[section], dict):
            out.update({f"{section}.{k}": v for k, v in tree[section].items()})
        else:
            out[section] = tree[section]
    return out


def group_defaults(config_name: str = "config") -> dict[str, Any]:
    """``group -> option`` a run gets with no ``group=`` override (the yaml defaults lists)."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(("config", config_name)):
        for entry in OmegaConf.to_container(OmegaConf.load(config_dir() / f"{name}.yaml")).get("defaults", []):
            if isinstance(entry, dict):
                out.update(entry)
    return out


def domain_options() -> dict[str, list[str]]:
    """``domain -> its option names`` from ``configs/domain/<name>.yaml`` (a yaml in the global
    package, sets', holds them under ``domain:``)."""
    out = {}
    for path in sorted((config_dir() / "domain").glob("*.yaml")):
        body = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        if isinstance(body.get("domain"), dict):
            body = body["domain"]
        out[path.stem] = [k for k in body if k != "name"]
    return out


def config_sections(config_name: str = "config") -> list[str]:
    """The groups (default marked), each domain's options, and every key with its default."""
    root = config_dir()
    chosen = group_defaults(config_name)
    lines = ["config groups (group=<option>):"]
    for group in GROUPS:
        options = sorted(p.stem for p in (root / group).glob("*.yaml"))
        marked = [f"{o} (default)" if o == chosen.get(group) else o for o in options]
        tail = "; default none" if group in chosen and chosen[group] is None else ""
        if group == "domain":
            tail = "; required" if config_name == "config" else "; default: the checkpoint's (none: the store's)"
        elif group == "model" and config_name == "finetune":
            tail = "; a checkpoint's architecture replaces it (model=... applies with checkpoint=none)"
        lines.append(f"  {group}: {', '.join(marked) if marked else '(none)'}{tail}")
    lines += ["  (domain=<name> of a registered domain with no yaml, e.g. a plug-in, is "
              "domain.name=<name>: the domain's own defaults; domain.<option>=value sets its options)",
              "", "domain options (domain.<option>=value; defaults and meanings in configs/domain/<name>.yaml):"]
    for name, keys in domain_options().items():
        lines.append(textwrap.fill(", ".join(keys), width=100, initial_indent=f"  {name}: ",
                                   subsequent_indent=" " * (len(name) + 4), break_on_hyphens=False))
    lines += ["", "keys and defaults:"]
    lines += [f"  {k}={shown(v)}" for k, v in defaults(config_name).items()]
    lines.append(f"  model.<EncoderConfig field>=value (hidden_size, num_layers, backend, ...; the preset's "
                 f"values: configs/model/<preset>.yaml)")
    return lines


def pretrain_help() -> str:
    """`encoderkit pretrain --help`."""
    return "\n".join([
        "usage: encoderkit pretrain [-m] domain=<name> data.store=<store> [key=value ...]", "",
        "Hydra overrides; e.g. encoderkit pretrain domain=genomic data.store=dna.zarr "
        "model=small train.steps=5000",
        "-m / --multirun sweeps comma lists (domain.mask_rate=0.15,0.3), one run directory each.", "",
        *config_sections("config")])
