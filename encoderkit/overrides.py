"""Command-line words as Hydra's override grammar reads them.

The grammar reads an unquoted value only when it is made of ASCII letters, digits and a
few symbols, so a path such as ``input=données.csv``, ``input=report (1).csv`` or
``run.dir=runs/#2`` failed with a ``LexerNoViableAltException`` that names no fix. Quoted
(``input="'report (1).csv'"``), any text reads. ``readable`` quotes the value of each word
the grammar refuses, when quoting makes it read back as exactly the text typed; a word
the grammar reads is left as it is (lists, sweeps, numbers and ``null`` keep their meaning),
and one that quoting cannot save is left for the grammar's own error.
"""

from __future__ import annotations

import os
import re
from typing import Sequence


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
    # would be resolved, not kept as text
    if not value or value[0] in "[{'\"" or "${" in value:
        return word
    for quote in ("'", '"'):
        candidate = f"{key}={quote}{value.replace(quote, chr(92) + quote)}{quote}"
        parsed = _parses(parser, candidate)
        if parsed is not None and parsed.value() == value:
            return candidate
    return word


def refuse_sweeps(parsed: Sequence, command: str, lists: Sequence[str] = ()) -> None:
    """A ``UsageError`` for a sweep value (``feature_columns=g,h``, ``choice(...)``,
    ``range(...)``) in a command that runs once: Hydra reads ``a,b`` as two runs, not a list,
    and the option then met a sweep object (a traceback). Only ``pretrain`` sweeps. Keys in
    ``lists`` may take the plain ``a,b`` form (``sweep_as_list`` reads it as a list)."""
    from encoderkit.errors import UsageError

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
