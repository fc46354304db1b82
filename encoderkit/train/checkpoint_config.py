"""Comparing the config a checkpoint was trained with and the one it is resumed (or
fine-tuned) with: the keys that define what is trained, their hash, and the differences as
lines a user reads. ``encoderkit.train.checkpoint`` re-exports these."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterable, Mapping

# Config keys that may change between a checkpoint and its resume (how long, how often,
# where, with how many workers) without changing what is trained.
RESUMABLE_KEYS = ("run.resume", "run.dir", "run.name", "run.device", "run.compile", "train.steps",
                  "train.log_every", "train.eval_every", "train.eval_tokens",
                  "train.checkpoint_every", "train.keep", "train.progress", "train.plot", "data.num_workers",
                  "data.store", "run.init_from",
                  # how many members a fine-tuned run has beside this one: rerunning a finished
                  # run with more members adds them
                  "task.ensemble")


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_hash(cfg: Mapping[str, Any]) -> str:
    """sha256 of the config keys that define what is trained (not how long or where)."""
    flat = {k: v for k, v in flatten(cfg).items() if k not in RESUMABLE_KEYS}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()


# what a ``config_diff`` line says of a key the checkpoint's encoderkit did not have yet
OLDER_RUN = "written before the key existed"


def config_diff(saved: Mapping[str, Any], current: Mapping[str, Any],
                read_options: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[str]:
    """Human-readable differences of the training-defining keys. The checkpoint's config is
    read as loading its run reads it: a domain option its encoderkit did not have yet is the
    value that reproduces that version (``Domain.saved_run_defaults``: a difference says to
    pass it), and one that only steers how raw files are read (``read_options``, the names
    of ``Domain.read_options``: not training) is no difference when the checkpoint lacks it
    (otherwise every key added since read ``<absent>`` and no older run could resume).
    ``ignore``: keys the caller compares by content instead (a labels file moved, its sha256
    the same: ``trainer_resume``)."""
    return [line for _, line in _differences(saved, current, read_options, ignore)]


def repeat_words(saved: Mapping[str, Any], current: Mapping[str, Any],
                 read_options: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[str]:
    """``key=value`` words that give the keys of ``config_diff`` the checkpoint's values (to
    resume it: ``run.precision=bf16`` left out of the resuming command); a key the checkpoint
    lacks has none."""
    flat = flatten(saved)
    return [_word(k, flat[k]) for k, _ in _differences(saved, current, read_options, ignore)
            if k in flat]


def _differences(saved: Mapping[str, Any], current: Mapping[str, Any], read_options: Iterable[str],
                 ignore: Iterable[str]) -> list[tuple[str, str]]:
    """(key, line) of each training-defining key whose values differ (``config_diff``)."""
    skip = set(RESUMABLE_KEYS) | set(ignore)
    a = {k: v for k, v in flatten(saved).items() if k not in skip}
    b = {k: v for k, v in flatten(current).items() if k not in skip}
    filled: set[str] = set()
    try:
        from encoderkit.registry import get_domain

        older = get_domain(str(a.get("domain.name"))).saved_run_defaults if "domain.name" in a else {}
    except (LookupError, ImportError, TypeError):  # a domain no longer installed: as saved
        older = {}
    for key, value in older.items():
        if f"domain.{key}" in b and f"domain.{key}" not in a:
            a[f"domain.{key}"] = value
            filled.add(f"domain.{key}")
    for key in read_options:
        if f"domain.{key}" not in a:
            b.pop(f"domain.{key}", None)
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            was = (f"{a[k]!r} ({OLDER_RUN}: {_word(k, a[k])} resumes it)" if k in filled
                   else repr(a.get(k, "<absent>")))
            lines.append((k, f"{k}: checkpoint {was}, now {b.get(k, '<absent>')!r}"))
    return lines


def _word(key: str, value: Any) -> str:
    """``key=value`` as one shell word that Hydra reads back as ``value``: quoted for the shell
    only where needed (``'task.labels=/x/my labels.csv'``)."""
    import shlex

    return shlex.quote(f"{key}={_typed(value)}")


# text Hydra reads as this very string unquoted (inner spaces kept; anything else is quoted)
_PLAIN = re.compile(r"[A-Za-z0-9_./:+\-@~%]+( +[A-Za-z0-9_./:+\-@~%]+)*")
_NOT_STRING = re.compile(r"(?i)(true|false|null|[+-]?(\d[\d_]*\.?\d*|\.\d+)(e[+-]?\d+)?|[+-]?(inf|nan))")


def _typed(value: Any) -> str:
    """A config value as Hydra reads it on the command line (``false``, ``null``, ``[1,2]``,
    ``'my labels.csv'``); bool is checked before int (a bool is an int)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_typed(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_typed(str(k))}:{_typed(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.fullmatch(text) and not _NOT_STRING.fullmatch(text):
        return text
    # Hydra's quoted string ("..." unless the text holds one): a backslash escapes only the
    # quote or the backslashes before one (or before the closing quote)
    quote = "'" if '"' in text else '"'
    text = re.sub(rf"(\\*){quote}", lambda m: m.group(1) * 2 + "\\" + quote, text)
    text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text)
    return f"{quote}{text}{quote}"
