"""Who set a run's ``domain.*`` / ``model.*`` values: the command's words, the user's own
config files, or encoderkit's defaults; ``encoderkit.option_effects`` holds each to its rule
(a typed value that cannot take effect is an error, a file's a warning, a default nothing).

``config_guard.check_overrides`` sees the command's words and ``config_guard.check_composed``
the config they composed; both run in one composition (``config._prepared`` then
``config.validate``), so the words are kept between the two in a context variable, per
thread, and taken (cleared) by the check: a config validated without words of its own (a
direct ``validate`` call) is checked against none.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

_WORDS: ContextVar[tuple[str, ...] | None] = ContextVar("encoderkit_option_words", default=None)
# the jobs of a `-m` sweep being composed: a word typed once for all of them is said of the
# jobs it does not fit, as a config file shared between stores is (warned), not refused for all
_SWEEP: ContextVar[bool] = ContextVar("encoderkit_option_sweep", default=False)
GROUPS = ("domain", "model")  # the open groups whose keys a domain or the encoder reads


@contextlib.contextmanager
def sweep_jobs() -> Iterator[None]:
    """Compose the jobs of one ``-m`` sweep within this block (``train.cli._compose_all``)."""
    token = _SWEEP.set(True)
    try:
        yield
    finally:
        _SWEEP.reset(token)


def _resuming(container: Mapping[str, Any]) -> bool:
    """``run.dir`` already holds checkpoints: a run made before a rule existed is resumed
    with its own words (refusing them left it neither resumable as typed nor without them)."""
    folder = (container.get("run") or {}).get("dir") if isinstance(container.get("run"), Mapping) else None
    if not isinstance(folder, str) or "${" in folder:
        return False
    checkpoints = Path(folder) / "checkpoints"
    try:
        return checkpoints.is_dir() and any(checkpoints.iterdir())
    except OSError:
        return False


def note_words(words: Sequence[str]) -> None:
    """The command's words of the composition now under way (``check_overrides``)."""
    _WORDS.set(tuple(words))


def check_composed_options(container: Mapping[str, Any]) -> None:
    """``option_effects.check_run`` for the composed ``container`` (plain, unresolved) with
    the words ``note_words`` kept; nothing without them."""
    words = _WORDS.get()
    _WORDS.set(None)
    if words is None or not isinstance(container.get("domain"), Mapping):
        return
    from encoderkit.registry import UnknownDomainError, get_domain

    name = container["domain"].get("name")
    try:
        cls = get_domain(str(name))
    except (UnknownDomainError, TypeError):
        return  # an unknown domain is refused where the store is read
    typed = [k for k in _typed(words) if _differs(k, container, words)]
    files = {k: f for k, f in _file_keys(words).items() if k not in typed and _differs(k, container, words)}
    if not typed and not files:
        return
    if typed and (_SWEEP.get() or _resuming(container)):  # said, not refused (see both above)
        why = "a word of the whole -m sweep" if _SWEEP.get() else "the words of the run resumed"
        files.update({k: why for k in typed})
        typed = []
    from encoderkit.errors import UsageError
    from encoderkit.option_effects import check_run
    from encoderkit.train.config import ConfigError

    try:
        check_run(container, cls, typed, files)
    except UsageError as e:  # a config error as every other of composing (exit 2, its key)
        raise ConfigError(e.message, key=e.key) from None


def _parsed(words: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """(key, value) of each word Hydra's grammar reads (others: Hydra's own error)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for word in words:
        if word.startswith("~"):
            continue
        try:
            override = parser.parse_overrides([word])[0]
        except Exception:  # the grammar's errors, whatever their type: Hydra reports them
            continue
        yield override.key_or_group.lstrip("+"), override.value()


def _typed(words: Sequence[str]) -> list[str]:
    """The ``domain.<option>`` / ``model.<field>`` keys the words set."""
    return list(dict.fromkeys(k for k, _ in _parsed(words) if k.split(".", 1)[0] in GROUPS and "." in k))


def _select(container: Mapping[str, Any], key: str) -> Any:
    section, _, leaf = key.partition(".")
    node = container.get(section)
    return node.get(leaf) if isinstance(node, Mapping) else None


def _differs(key: str, container: Mapping[str, Any], words: Sequence[str]) -> bool:
    """Whether ``key``'s composed value is another than its default (the shipped domain
    yaml's, or the model preset's / the shipped model yaml's / EncoderConfig's)."""
    value = _select(container, key)
    return all(value != d for d in _defaults(key, container, words))


def _defaults(key: str, container: Mapping[str, Any], words: Sequence[str]) -> list[Any]:
    from encoderkit.train.config import config_dir

    section, _, leaf = key.partition(".")
    if section == "domain":
        body = _yaml(config_dir() / "domain" / f"{container['domain'].get('name')}.yaml")
        body = body.get("domain", body) if isinstance(body.get("domain"), Mapping) else body
        return [body[leaf]] if leaf in body else []
    chosen = dict(_parsed(words)).get("model", "tiny")
    shipped = _yaml(config_dir() / "model" / f"{chosen}.yaml") if isinstance(chosen, str) else {}
    out = [shipped[leaf]] if leaf in shipped else []
    import dataclasses

    from encoderkit.core.config import PRESETS, EncoderConfig

    preset = (container.get("model") or {}).get("preset", "tiny")
    if leaf in PRESETS.get(str(preset), {}):
        return out + [PRESETS[str(preset)][leaf]]
    fields = {f.name: f.default for f in dataclasses.fields(EncoderConfig)}
    return out + ([fields[leaf]] if leaf in fields else [])


def _yaml(path: Any) -> dict[str, Any]:
    """A yaml file's mapping (a ``Path`` or a package resource); {} where it is none."""
    import yaml

    try:
        body = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return body if isinstance(body, dict) else {}


def _file_keys(words: Sequence[str]) -> dict[str, str]:
    """``domain.x`` / ``model.x`` -> the user's file (a ``hydra.searchpath`` folder's domain,
    model or experiment yaml chosen by the words, not a shipped one) that sets it."""
    from encoderkit.train.config import config_dir
    from encoderkit.train.searchpath import search_folders

    folders = search_folders(words)
    if not folders:
        return {}
    out: dict[str, str] = {}
    for group, value in _parsed(words):
        if group not in ("domain", "model", "experiment"):
            continue
        for name in (value if isinstance(value, list) else [value]):
            if not isinstance(name, str) or (config_dir() / group / f"{name}.yaml").is_file():
                continue
            for folder in folders:
                file = folder.joinpath(group, f"{name}.yaml")
                if not file.is_file():
                    continue
                for key in _keys_set(group, _yaml(file)):
                    out.setdefault(key, str(file))
                break
    return out


def _keys_set(group: str, body: Mapping[str, Any]) -> list[str]:
    """The ``domain.x`` / ``model.x`` keys a group file sets: an experiment's (and a global-package
    file's, as shipped sets.yaml is) ``domain:`` and ``model:`` sections, else the file's own keys."""
    sections = {s: body.get(s) for s in GROUPS if isinstance(body.get(s), Mapping)}
    if group != "experiment" and not sections:
        sections = {group: body}
    return [f"{s}.{leaf}" for s, part in sections.items() for leaf in part if leaf != "name"]
