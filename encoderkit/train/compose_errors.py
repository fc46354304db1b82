"""What Hydra's composition errors mean, said as what is wrong with the command's words.

Hydra reports every failed override as "Could not override 'k'", and ``encoderkit.train.config``
read each as an unknown key: ``'domain={name: tabular, mask_rate: 0.5}'`` (a config group
given a dict) and an experiment's ``override /task`` (a group pretrain does not have) were
"unknown config key 'domain'" / "'task'" beside a list that held them; ``~run.dir`` (a key
whose value is null) "does not exist"; ``model=null`` a traceback. Here each is one line
that says what is wrong; a key is called unknown only when the schema does not have it.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

# groups whose keys are not fixed by the schema: model.<EncoderConfig field>, domain.<option>
OPEN_GROUPS = ("model.", "domain.")
MISSING_KEY = re.compile(r"Could not override '([^']+)'")


def _schema(config_name: str) -> DictConfig:
    from encoderkit.train.config import FinetuneConfig, PretrainConfig  # config imports this module

    return OmegaConf.structured(FinetuneConfig if config_name == "finetune" else PretrainConfig)


def word_key(word: str) -> str:
    """The key of a Hydra word, without ``+`` / ``~`` and a defaults entry's ``@package``."""
    return word.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


def config_groups(config_name: str) -> list[str]:
    """The config groups of ``configs/`` (``task`` is finetune's only)."""
    from encoderkit.train.config import config_dir

    return sorted(p.name for p in config_dir().iterdir()
                  if p.is_dir() and (p.name != "task" or config_name == "finetune"))


def _schema_has(key: str, config_name: str) -> bool:
    node: Any = OmegaConf.to_container(_schema(config_name), throw_on_missing=False)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


_IN_FILE = re.compile(r"In '([^']+)': Could not override '([^']+)'\. No match in the defaults list")
_DELETE = re.compile(r"Could not delete from config\. '([^']+)' does not exist")


def compose_problem(msg: str, words: list[str], config_name: str,
                    compose_now: Callable[[list[str]], DictConfig]) -> str:
    """Hydra's composition error ``msg`` as one line saying what is wrong with ``words``
    (the module doc lists what was said before); ``compose_now`` composes other words, to
    tell a null key from one that is not set."""
    command = "finetune" if config_name == "finetune" else "pretrain"
    m = _IN_FILE.search(msg)
    if m:
        hint = " (task is a group of encoderkit finetune)" if m.group(2) == "task" else ""
        return (f"{m.group(1)}.yaml: 'override /{m.group(2)}' names no config group of encoderkit "
                f"{command}{hint}; its groups: {config_groups(config_name)}")
    m = MISSING_KEY.search(msg)
    if m and not m.group(1).startswith(OPEN_GROUPS):
        key = m.group(1)
        value = next((o.split("=", 1)[1] for o in words if "=" in o and word_key(o) == key), "")
        if key in config_groups(config_name) and value.lstrip().startswith("{"):
            how = (f"set its keys one by one: {key}=<name> {key}.<key>=<value>" if key != "experiment" else
                   "its keys are set as <section>.<key>=<value> beside it")
            return (f"{key}={value}: {key} is a config group, which takes a file's name ({key}/<name>.yaml"
                    f"{', or a registered domain' if key == 'domain' else ''}), not a dict; {how}")
        if not _schema_has(key, config_name):
            return unknown_key(key, config_name)
    m = _DELETE.search(msg)
    if m:
        key = m.group(1)
        try:  # the same words without the deletion: is the key null there, or not set?
            kept = compose_now([o for o in words if not (o.startswith("~") and word_key(o) == key)])
            value = OmegaConf.select(kept, key, default=compose_problem)
        except Exception:  # the other words' own error comes once this word is fixed
            value = compose_problem
        if value is None:
            return f"~{key}: {key} is null already, there is nothing to delete (leave ~{key} out)"
        if not key.startswith(OPEN_GROUPS) and not _schema_has(key, config_name):
            return unknown_key(key, config_name)
        return f"~{key}: {key} is not set in this configuration, there is nothing to delete"
    return " ".join(msg.split())


def null_group(words: list[str], config_name: str) -> str | None:
    """``model=null``: Hydra's ValueError said "Config group override must be a string or a
    list", and the command printed a traceback."""
    for o in words:
        key, _, value = o.lstrip("+").partition("=")
        group = key.split("@", 1)[0]
        if value == "null" and group in config_groups(config_name):
            from encoderkit.train.config_guard import shipped_options

            return (f"{group}=null: a config group takes an option's name ({group}/<name>.yaml; shipped: "
                    f"{shipped_options(group)}); leave {group}= out for its default")
    return None


def unknown_key(key: str, config_name: str = "config") -> str:
    section = key.split(".", 1)[0]
    schema = _schema(config_name)
    # a key of another section (``progress=false``, which ingest / embed / impute take at the
    # top level, is ``train.progress`` here): name where it is
    leaf = key.rsplit(".", 1)[-1]
    tree = OmegaConf.to_container(schema, throw_on_missing=False)  # finetune's checkpoint is ???
    homes = [f"{name}.{leaf}" for name, sub in tree.items()
             if isinstance(sub, dict) and leaf in sub and f"{name}.{leaf}" != key]
    hint = f" (did you mean {' or '.join(homes)}?)" if homes else ""
    if section in schema and "." in key:
        allowed = sorted(OmegaConf.to_container(schema[section]))
        return f"unknown config key {key!r}{hint}; {section} keys: {allowed}"
    return f"unknown config key {key!r}{hint}; top-level keys: {sorted(schema)}"
