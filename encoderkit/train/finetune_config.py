"""The fine-tuning config: ``configs/finetune.yaml`` composed with the command's words, the
architecture and the domain options taken from the checkpoint, the task's head resolved
(split out of ``encoderkit.train.config``, whose ``compose_finetune`` calls this one).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from encoderkit.train.compose_compat import composed_plain, plain_if_resumed, resumed_domain
from encoderkit.train.compose_errors import word_key
from encoderkit.train.config import (FT_EXPERIMENT, ConfigError, FinetuneConfig, _compose_words,
                                     _documented_domain, _prepared, config_dir, domain_yaml, validate)
from encoderkit.train.config_guard import check_saved_values
from encoderkit.train.searchpath import search_folders


def compose_finetune(overrides: list[str] | None = None) -> DictConfig:
    """``configs/finetune.yaml`` with overrides. With ``checkpoint=<pretrained run or
    checkpoint>`` the architecture (``model``) and the domain options come from that
    checkpoint (``domain.<option>=`` overrides still apply, and so do the options a user's
    domain file or an experiment sets: ``_set_by_files``); with ``checkpoint=none`` from
    ``model=...`` / ``domain=...``. The domain name defaults to the store's, composed as
    ``domain=<name>`` where that domain has a yaml (its documented defaults)."""
    from encoderkit.errors import DataError, InputNotFoundError

    overrides = list(overrides or [])
    plain = _prepared(overrides, "finetune", documented=False)
    words = _documented_domain(plain)
    # which files were chosen matters only where a word chooses one (Hydra's choices cost a little)
    chooses = any(word_key(w) in ("domain", "experiment") and "=" in w for w in words)
    cfg, choices = _compose_words(words, "finetune", choices=chooses)
    # a run composed from the plain words before (no yaml) resumes as it was composed
    bare = plain_if_resumed(cfg, words, plain, lambda w: _compose_words(w, "finetune", choices=chooses))
    if bare:
        words, (cfg, choices) = plain, bare
    source = OmegaConf.select(cfg, "checkpoint", default="???")
    if source in (None, "???") or OmegaConf.is_missing(cfg, "checkpoint"):
        raise ConfigError("checkpoint=<pretrained run or checkpoint dir> is required "
                          "(checkpoint=none trains the same architecture from scratch)")
    user_domain = {o.split("=", 1)[0].lstrip("+").split(".", 1)[1]
                   for o in overrides if o.lstrip("+").startswith("domain.")}
    OmegaConf.set_struct(cfg, False)
    if str(source).lower() not in ("none", "null"):
        from encoderkit.infer.load import read_state, resolve_checkpoint

        try:
            path = resolve_checkpoint(source)
            state = read_state(path)
        except FileNotFoundError as e:
            raise InputNotFoundError(f"checkpoint={source}: {e}", key="checkpoint") from None
        except ValueError as e:
            raise DataError(f"checkpoint={source}: {e}", key="checkpoint") from None
        if "task" in state:
            pass  # a fine-tuned run as the start: its encoder is used, the head is new
        from encoderkit.train.checkpoint import STATE_FILE

        for entry in ("model_config", "domain"):  # they join the config, which is resolved
            check_saved_values(state.get(entry), path / STATE_FILE, entry)
        saved_domain = state["domain"]
        asked = OmegaConf.select(cfg, "domain.name", default=None)
        if asked not in (None, "???") and asked != saved_domain["name"]:
            raise ConfigError(f"domain {asked!r} was asked for, but checkpoint {path} holds a "
                              f"{saved_domain['name']!r} encoder: finetune takes the domain from its "
                              f"checkpoint (leave domain= out; domain.<option>=... sets its options)",
                              key="domain")
        from encoderkit.registry import saved_options

        from_files, model_from_files = _set_by_files(words, cfg, choices)
        user_domain |= from_files
        domain = {k: v for k, v in saved_options(saved_domain).items()
                  if k not in user_domain and k != "drop_columns"}
        domain = {**domain, **{k: v for k, v in OmegaConf.to_container(cfg.domain).items()
                               if k in user_domain}} if "domain" in cfg and cfg.domain is not None else domain
        domain["name"] = saved_domain["name"]
        cfg.domain = domain
        ignored = sorted({o.split("=", 1)[0].lstrip("+") for o in overrides
                          if o.lstrip("+").startswith("model")}) + model_from_files
        if ignored:
            import warnings

            warnings.warn(f"{', '.join(ignored)} ignored: the architecture comes from checkpoint "
                          f"{path} (checkpoint=none trains the model=... architecture)", stacklevel=3)
        cfg.model = {"preset": "tiny", **state["model_config"]}
        cfg.checkpoint = str(path)
    else:
        cfg.checkpoint = "none"
    domain = cfg.get("domain")
    if domain is None or OmegaConf.select(cfg, "domain.name", default=None) in (None, "???"):
        store = OmegaConf.select(cfg, "data.store", default=None)
        name = None
        if store not in (None, "???"):
            try:
                from encoderkit.data.store import RecordStore

                name = RecordStore(store).domain
            except Exception:  # the trainer names an unreadable store
                name = None
        plain = {**(OmegaConf.to_container(domain) if domain is not None else {}), "name": name}
        if (name is not None and domain_yaml(name, search_folders(words))
                and not composed_plain(resumed_domain(cfg), plain)):
            # composed as `domain=<name>` composes: the documented defaults of its yaml (the
            # words' domain.<option>= still win), not the domain's Python ones; a run composed
            # without it before (compose_compat) resumes as it was
            cfg, _ = _compose_words([*words, f"domain={name}"], "finetune")
            OmegaConf.set_struct(cfg, False)
            cfg.checkpoint = "none"
        elif name is not None:  # a plug-in without a yaml: its own defaults
            cfg.domain = plain
    merged = validate(cfg, FinetuneConfig)
    _check_data_split(words, merged)
    from encoderkit.tasks.head_init import resolve_head

    resolve_head(merged.task, merged.checkpoint, merged.train.strategy, _domain_class(merged))
    from encoderkit.train.task_checks import check_task

    check_task(merged)
    return merged


def _check_data_split(words: list[str], cfg: DictConfig) -> None:
    """``data.val_fraction`` is pretraining's validation split: fine-tuning holds out
    ``task.val_fraction`` of the labelled records (or a ``task.split`` file) and reads it
    nowhere, so a value typed here (other than the default) was listed by ``--help``, accepted,
    and did nothing. Said as a warning, not refused: scripts keep one list of ``data.*`` words
    for pretrain and finetune (as ``encoderkit.option_effects`` warns of ``model.*`` words)."""
    from encoderkit.train.config import DataConfig

    given = cfg.data.val_fraction
    if "data.val_fraction" not in {word_key(w) for w in words} or given == DataConfig.val_fraction:
        return
    held = (f"the task.split file {cfg.task.split}" if cfg.task.split
            else f"task.val_fraction={cfg.task.val_fraction:g} of the labelled records")
    import warnings

    warnings.warn(f"data.val_fraction={given:g} has no effect here: it is pretraining's validation split; "
                  f"encoderkit finetune validates on {held} (set task.val_fraction={given:g} to hold out "
                  f"that share)", UserWarning, stacklevel=3)


def _set_by_files(words: list[str], cfg: DictConfig, choices: dict[str, Any]) -> tuple[set[str], list[str]]:
    """What a user's files set that finetune from a checkpoint treats as the same words typed
    (they were dropped without a word): the domain options of a ``hydra.searchpath`` domain
    file (all of them; a shipped ``configs/domain`` file holds defaults, and the checkpoint's
    own options stand for those) and those an experiment sets; and the model settings of an
    experiment, which the checkpoint's architecture replaces (as ``model.*`` words: warned)."""
    domain: set[str] = set()
    chosen = choices.get("domain")
    if chosen and not (config_dir() / "domain" / f"{chosen}.yaml").is_file() and cfg.get("domain"):
        domain |= set(cfg.domain)
    experiment = choices.get(FT_EXPERIMENT)
    if not experiment:
        return domain, []
    # the experiment with the domain and model groups left out: what is left under domain
    # and model is what it set (beside the command line's words)
    bare, _ = _compose_words([w for w in words if word_key(w) not in ("domain", "model")]
                             + ["~domain", "~model"], "finetune")
    domain |= set(bare.get("domain") or {})
    typed = {word_key(w) for w in words}
    model = [f"model.{k}" for k in (bare.get("model") or {}) if f"model.{k}" not in typed]
    defaults = OmegaConf.load(config_dir() / "config.yaml").get("defaults", [])
    default_model = next((d["model"] for d in defaults if isinstance(d, DictConfig) and "model" in d), None)
    if "model" not in typed and choices.get("model") != default_model:
        model.insert(0, f"model={choices.get('model')}")
    return domain, [f"{m} (experiment={experiment})" for m in model]


def _domain_class(cfg: DictConfig) -> Any:
    """The registered class of the run's domain, or None (an unknown name is refused later,
    where the store or the checkpoint is read)."""
    from encoderkit.registry import UnknownDomainError, get_domain

    name = OmegaConf.select(cfg, "domain.name", default=None)
    try:
        return get_domain(name) if name not in (None, "???") else None
    except (UnknownDomainError, TypeError):
        return None
