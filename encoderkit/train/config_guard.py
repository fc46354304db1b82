"""What a config may take from the user: literal values, plain ``${key}`` references, and
config group options by name.

OmegaConf evaluates ``${name:...}`` resolvers when a config is resolved: ``${oc.env:VAR}``
reads the environment, ``${oc.decode:...}`` / ``${oc.create:...}`` parse text into config,
``${now:...}`` reads the clock. In a command-line value (or a run folder's ``state.json``
read back by finetune) that put a secret of the host into the run's ``config.yaml`` and
``state.json``, or into an error line. Resolvers therefore run only where encoderkit's own
``configs/`` tree wrote them (``run.name``'s ``${oc.select:...}-${now:...}``); a user's
value holding one is refused, naming the key. A plain ``${other.key}`` reads the config
itself and stays allowed. An escaped ``\\${...}`` is refused too: resolving turns it into
live ``${...}`` text, which the next read of the config (the trainer's, config.yaml's
reader) would evaluate.

A config group option (``model=``, ``domain=``, ``experiment=``, ...) is a file name in the
group's folder of the config tree or of a ``hydra.searchpath`` entry: ``model=../../x`` or
``model=/etc/passwd`` loaded any yaml of the host (and showed its keys in the error), so an
option must be a plain name, without ``/``, ``\\`` or ``..``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

from encoderkit.errors import DataError
from encoderkit.train.option_sources import check_composed_options, note_words

# a group option: a file stem in one folder (Hydra adds .yaml); no separator, no parent
_PLAIN_OPTION = re.compile(r"[^/\\\x00]+")
# top-level keys that are values, not config groups (FinetuneConfig.checkpoint is a path)
SCALAR_TOP_KEYS = frozenset({"checkpoint"})

LITERAL_HINT = ("encoderkit runs resolvers (oc.env, oc.decode, now, ...) only in its own configs/ tree: "
                "write the value itself")


def interpolation_kinds(text: str) -> set[str]:
    """What OmegaConf finds in ``text``: "resolver" (``${name:...}``), "node" (``${a.b}``),
    "escape" (``\\${``, literal now, live ``${`` once resolved), "unparseable" (``${`` that
    OmegaConf refuses to read); empty for plain text."""
    if "${" not in text:
        return set()
    from antlr4.tree.Tree import TerminalNode
    from omegaconf.grammar.gen.OmegaConfGrammarLexer import OmegaConfGrammarLexer
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser as P
    from omegaconf.grammar_parser import parse

    try:
        stack = [parse(text)]
    except Exception:  # OmegaConf's GrammarParseError (or antlr's own) on such text
        return {"unparseable"}
    found: set[str] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, P.InterpolationResolverContext):
            found.add("resolver")
        elif isinstance(node, P.InterpolationNodeContext):
            found.add("node")
        elif isinstance(node, TerminalNode):
            if node.symbol.type == OmegaConfGrammarLexer.ESC_INTER:
                found.add("escape")
            continue
        stack.extend(node.getChildren())
    return found


def interpolation_problem(text: str) -> str | None:
    """Why ``text`` may not be a user's config value, or None: it calls a resolver, or
    holds an escaped ``\\${`` that resolving turns into a live interpolation. Text OmegaConf
    cannot parse is left to its own error (it is never evaluated)."""
    kinds = interpolation_kinds(text)
    if "resolver" in kinds:
        return "calls a resolver (${name:...})"
    if "escape" in kinds:
        return "holds an escaped \\${, text that resolving the config turns into a live interpolation"
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(key path, text) of every string in a parsed value: str, list, dict, sweep."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
    elif hasattr(value, "list"):  # Hydra's ChoiceSweep: choice(a, b) / a,b
        yield from _strings(list(value.list), path)


def _config_error(message: str, key: str) -> Exception:
    from encoderkit.train.config import ConfigError  # config imports this module

    return ConfigError(message, key=key)


def check_overrides(overrides: Sequence[str]) -> None:
    """A ``UsageError`` naming the key for an override value that calls a resolver (or
    holds an escaped interpolation), or a group option that is not a plain name.

    ``overrides`` are Hydra words as the command received them (after
    ``encoderkit.overrides.readable``); a word the grammar cannot read is left for
    Hydra's own error.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for word in overrides:
        try:
            override = parser.parse_overrides([word])[0]
        except Exception:  # the grammar's errors, whatever their type: Hydra reports them
            continue
        key, value = override.key_or_group, override.value()
        for where, text in _strings(value, key):
            problem = interpolation_problem(text)
            if problem:
                raise _config_error(f"{where}={text!r} {problem}; {LITERAL_HINT}", key=key)
        if "." not in key and key not in SCALAR_TOP_KEYS:
            _check_group_option(key, value)
    note_words(overrides)  # whose values they are, for check_composed's option_effects rule


def _check_group_option(group: str, value: Any) -> None:
    """``group=name``, ``group=[a,b]`` (several options) or a sweep of names; a dict value
    sets keys of a config section (``run={dir: x}``) and names no file."""
    items = list(value.list) if hasattr(value, "list") else value if isinstance(value, list) else [value]
    for text in (v for v in items if isinstance(v, str)):
        if text and (not _PLAIN_OPTION.fullmatch(text) or text in (".", "..")):  # "" : Hydra's error
            raise _config_error(f"{group}={text!r}: a config group option is a plain name (no '/', "
                                f"'\\' or '..'), that of a {group}/<name>.yaml in the config tree or "
                                f"in a hydra.searchpath folder; shipped options: {shipped_options(group)}",
                                key=group)


def shipped_options(group: str) -> list[str]:
    from encoderkit.train.config import config_dir

    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


@lru_cache(maxsize=1)
def shipped_interpolations() -> frozenset[str]:
    """Every string of the packaged config tree that holds ``${``: the only texts whose
    resolvers run (``run.name``'s default, and finetune's)."""
    import yaml

    from encoderkit.train.config import config_dir

    found: set[str] = set()
    for file in sorted(Path(config_dir()).rglob("*.yaml")):
        try:
            data = yaml.safe_load(file.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # Hydra reports a damaged shipped file itself
        found.update(text for _, text in _strings(data, "") if "${" in text)
    return frozenset(found)


def check_composed(container: Any) -> None:
    """Before the config is resolved: a ``UsageError`` naming the key of any value that
    calls a resolver or holds an escaped interpolation, unless it is a text of the packaged
    config tree. ``container`` is ``OmegaConf.to_container(cfg, resolve=False)``: values of
    the command line, of a searchpath yaml, of a checkpoint or a store all meet here."""
    allowed = shipped_interpolations()
    for where, text in _strings(container, ""):
        if text in allowed:
            continue
        problem = interpolation_problem(text)
        if problem:
            raise _config_error(f"config key {where!r}: {text!r} {problem}; {LITERAL_HINT}", key=where)
    # a value set by the user that cannot take effect in this run: said, not ignored
    check_composed_options(container)


def check_saved_values(values: Any, file: Path | str, entry: str) -> None:
    """A ``DataError`` naming ``file`` and the entry for a value read back from a run
    (``state.json``'s ``model_config`` / ``domain``) that holds an interpolation: such text
    would be evaluated when it joins the config. encoderkit never writes one."""
    for where, text in _strings(values, entry):
        if interpolation_kinds(text):
            raise DataError(f"entry {where} holds {text!r}, an OmegaConf interpolation, which "
                            "encoderkit does not evaluate from a saved run (damaged or edited)",
                            file=file)
