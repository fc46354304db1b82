"""The pretraining config: Hydra composition from the packaged ``configs/`` tree,
validated against typed dataclasses (unknown keys and bad values are one-line errors).

The config tree lives at the repository root (``configs/``) and ships inside the wheel
as ``encoderkit/train/configs`` (a symlink in the source tree, copied by setuptools), so
it is found the same way in editable and non-editable installs.

This module composes; the typed schema and ``ConfigError`` are ``config_schema``'s, the
checks of the composed values ``config_checks``'s, both imported from here as before.
"""

from __future__ import annotations

import dataclasses
import re
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from encoderkit.train.compose_compat import plain_if_resumed
from encoderkit.train.compose_errors import MISSING_KEY, OPEN_GROUPS, compose_problem, null_group, word_key
# the checks, the schema and ConfigError, imported from here by their callers
from encoderkit.train.config_checks import PRECISIONS, STRATEGIES, _bad, validate  # noqa: F401
from encoderkit.train.config_guard import check_overrides
from encoderkit.train.config_schema import (ConfigError, DataConfig, FinetuneConfig, OptimConfig,  # noqa: F401
                                            PretrainConfig, RunConfig, ScheduleConfig, TaskConfig,
                                            TrainConfig)
from encoderkit.train.searchpath import group_option_in, group_options_in, search_folders


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
