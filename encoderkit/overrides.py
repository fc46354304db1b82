"""Command-line words as Hydra's override grammar reads them.

The grammar reads an unquoted value only when it is made of ASCII letters, digits and a
few symbols, so a path such as ``input=données.csv``, ``input=report (1).csv`` or
``run.dir=runs/#2`` failed with a ``LexerNoViableAltException`` that names no fix. Quoted
(``input="'report (1).csv'"``), any text reads. ``readable`` quotes the value of each word
the grammar refuses, when quoting makes it read back as exactly the text typed; a word
the grammar reads is left as it is (lists, sweeps, numbers and ``null`` keep their meaning),
and one that quoting cannot save is left for the grammar's own error.

``parse_args`` reads the ``key=value`` words of the commands that compose no Hydra config
(embed, infill, probe, predict, evaluate, export-hf, import-hf) with the same grammar, so a
value means in them what it means to ``ingest`` and ``pretrain``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Sequence

from encoderkit.errors import UsageError


def readable(words: Sequence[str]) -> list[str]:
    """``words`` with each value Hydra cannot read as typed quoted (see the module doc)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    return [_readable(parser, str(word)) for word in words]


def _parses(parser, word: str):
    try:
        return parser.parse_overrides([word])[0]
    except Exception:  # the grammar's errors, whatever their type
        return None


def _readable(parser, word: str) -> str:
    if "=" not in word or _parses(parser, word) is not None:
        return word
    key, value = word.split("=", 1)
    # a list, a dict or a quoted value is written in the grammar on purpose; an interpolation
    # would be resolved, not kept as text. A value that opens a bracket but goes on past its
    # end (``{a}.csv``, ``[1] notes.txt``: the shell took its quotes) is no list or dict: text
    if not value or value[0] in "'\"" or "${" in value or (value[0] in "[{" and not _past_brackets(value)):
        return word
    for quote in ("'", '"'):
        candidate = f"{key}={quote}{value.replace(quote, chr(92) + quote)}{quote}"
        parsed = _parses(parser, candidate)
        if parsed is not None and parsed.value() == value:
            return candidate
    return word


def _past_brackets(value: str) -> bool:
    """Whether ``value`` (opening with ``[`` or ``{``) closes that bracket and goes on after it:
    a name such as ``{a}.csv``. One that never closes it (``{a: 1``) is a list or dict typed
    wrong, left for the grammar's own error."""
    close = value.find("]" if value[0] == "[" else "}")
    return 0 < close < len(value.rstrip()) - 1


def parse_args(argv: list[str], allowed: dict[str, Any], required: tuple[str, ...], command: str,
               positional: tuple[str, ...] = (), extra: tuple[str, ...] = (),
               text: tuple[str, ...] = (), flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """``key=value`` words -> dict, each value read by Hydra's override grammar as ``ingest``,
    ``pretrain`` and ``impute`` read theirs (``readable`` first: a path such as
    ``report (1).csv`` reads as typed). Quoted values are unquoted (``input='a b.csv'``),
    ``{sex: numeric}`` / ``{sex:numeric}`` are dicts, ``yes`` / ``no`` are words, not booleans.

    Keys whose default is a string, and those in ``text`` (paths, ids, names), keep the text
    typed where the grammar reads a number, boolean or sweep: a file ``1e3``, ``true`` or
    ``a,b.csv`` is that file (``null`` is None for a key whose default is None). A sweep
    (``a,b``) for any other key is refused, as ``ingest`` refuses it. Bare words are taken as
    typed (the shell has unquoted them) and fill the ``positional`` names not given as
    ``key=value``, in order (``export-hf output=<dir> <run>``); keys in ``extra`` are accepted
    without a default (returned only when given).

    A key whose default is a bool, and those in ``flags`` (booleans whose default None means
    "decide for me", ``progress``), take only ``true`` / ``false`` (and ``null`` for a flag):
    ``progress=no`` read as the text ``'no'``, and a bar shown where it was asked hidden."""
    words = [word for word in argv if "=" in word]
    bare = [word for word in argv if "=" not in word]
    args: dict[str, Any] = {}
    keep = {k for k, v in allowed.items() if isinstance(v, str)} | set(text)
    for word, o in zip(words, _overrides(words, command)):
        key = o.key_or_group
        if o.is_delete() or o.package is not None or (key not in allowed and key not in extra):
            typed = word.split("=", 1)[0]
            raise UsageError(f"unknown parameter {typed!r}; allowed: {sorted(allowed) + sorted(extra)}",
                             key=typed)
        if key in args:
            raise UsageError(f"parameter {key!r} given twice", key=key)
        args[key] = _value(o, word.split("=", 1)[1], key in keep, allowed.get(key, ""), command)
    free = [name for name in positional if name not in args]
    for word in bare:
        if not free:
            raise UsageError(f"unexpected argument {word!r}; arguments are key=value "
                             f"with keys {sorted(allowed) + sorted(extra)}")
        args[free.pop(0)] = word
    for key in required:
        if key not in args or args[key] in ("", None):
            raise UsageError(f"missing required parameter {key}=... (see encoderkit {command} --help)",
                             key=key)
    for key, default in allowed.items():
        value = args.get(key, default)
        boolean = isinstance(value, bool) or (key in flags and value is None)
        if (isinstance(default, bool) or key in flags) and not boolean:
            raise UsageError(f"The {key!r} parameter of {command} must be true or false. "
                             f"Got {args[key]!r} instead.", key=key)
    return {**allowed, **args}


def _overrides(words: list[str], command: str) -> list[Any]:
    """``words`` parsed by Hydra's ``OverridesParser``, one override each, in order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides(readable(words))
    except Exception as e:  # the grammar's errors name the offending word
        raise UsageError(f"cannot parse arguments: {' '.join(str(e).split())}") from None


def _value(override: Any, typed: str, keep_text: bool, default: Any, command: str) -> Any:
    """One override's value: Hydra's, or for a text key (``keep_text``) the text typed where
    Hydra read something other than a string (``1e3``, ``true``, ``a,b``)."""
    value = override.value()
    if not keep_text:
        refuse_sweeps([override], command)
        return value
    if isinstance(value, str) or (value is None and default is None):
        return value
    return typed.strip()


def refuse_sweeps(parsed: Sequence, command: str, lists: Sequence[str] = ()) -> None:
    """A ``UsageError`` for a sweep value (``feature_columns=g,h``, ``choice(...)``,
    ``range(...)``) in a command that runs once: Hydra reads ``a,b`` as two runs, not a list,
    and the option then met a sweep object (a traceback). Only ``pretrain`` sweeps. Keys in
    ``lists`` may take the plain ``a,b`` form (``sweep_as_list`` reads it as a list)."""
    for o in parsed:
        if o.is_sweep_override() and not (o.key_or_group in lists and sweep_as_list(o) is not None):
            key = o.key_or_group
            text = o.input_line.split("=", 1)[1] if o.input_line and "=" in o.input_line else "a,b"
            raise UsageError(f"{command}: {key}={text} is a sweep (one run per value), which "
                             f"{command} does not run; write a list in brackets: {key}=[{text}]", key=key)


def sweep_as_list(override) -> list | None:
    """The values of a plain ``a,b`` sweep (Hydra's simple choice form), else None."""
    from hydra.core.override_parser.types import ChoiceSweep

    value = override.value()
    return list(value.list) if isinstance(value, ChoiceSweep) and value.simple_form else None


# a ``~/`` or ``~user/`` path at the start of a value or of a list item (``input=[~/a.csv,~/b.csv]``);
# a bare ``~`` is a value, not a home (``delimiter=~``, ``missing_value=~``)
_HOME = re.compile(r"(^|[\[,]\s*)(~[^,\[\]\s/'\"]*(?=/))")


def expand_home(words: Sequence[str]) -> list[str]:
    """``words`` with a leading ``~`` of each path value expanded as a shell would
    (``output=~/x.zarr`` -> ``output=/home/me/x.zarr``). /bin/sh, cron and subprocess argument
    lists pass ``~`` on literally, and a path parameter then made a ``./~`` folder or was
    refused as missing; every command reads its words through ``encoderkit.cli.main``, so
    this one place covers every path parameter. A quoted value, a key (Hydra's ``~key``
    deletes it) and a ``~`` elsewhere in a value are left as typed."""
    out = []
    for word in map(str, words):
        key, eq, value = word.partition("=")
        if eq and "~" in value and not any(q in value for q in "'\""):
            value = _HOME.sub(lambda m: m.group(1) + os.path.expanduser(m.group(2)), value)
            word = f"{key}={value}"
        out.append(word)
    return out
