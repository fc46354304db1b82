"""Command-line words as Hydra's override grammar reads them.

The grammar reads an unquoted value only when it is made of ASCII letters, digits and a
few symbols, so a path such as ``input=données.csv``, ``input=report (1).csv`` or
``run.dir=runs/#2`` failed with a ``LexerNoViableAltException`` that names no fix. Quoted
(``input="'report (1).csv'"``), any text reads. ``readable`` quotes the value of each word
the grammar refuses, when quoting makes it read back as exactly the text typed; a word
the grammar reads is left as it is (lists, sweeps, numbers and ``null`` keep their meaning),
and one that quoting cannot save is left for the grammar's own error. Inside a list or dict
the grammar refuses (``exclude=[Größe (cm)]``, ``columns={Size (cm): numeric}``), each item
and value is quoted the same way and each dict key escaped (``Size\\ \\(cm\\)``); a key
the grammar has no spelling for at all (any non-ASCII letter: ``{日付: categorical}``, or a
quote) is read by ``parse`` only, which stands an ASCII name in for it and reads the dict
back with the key as typed.

``parse_args`` reads the ``key=value`` words of the commands that compose no Hydra config
(embed, infill, probe, predict, evaluate, export-hf, import-hf) with the same grammar, so a
value means in them what it means to ``ingest`` and ``pretrain``.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Sequence

from encoderkit.errors import UsageError


def readable(words: Sequence[str]) -> list[str]:
    """``words`` with each value Hydra cannot read as typed quoted (see the module doc)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    return [_readable(parser, str(word)) for word in words]


def parse(words: Sequence[str]) -> list[Any]:
    """``words`` -> Hydra's ``Override`` objects, one each, in order: ``readable``'s quoting,
    and a dict key the grammar cannot spell (``columns={日付: categorical}``,
    ``columns={'Größe (cm)': numeric}``) read as typed. A key that is no option name
    (``columns.Größe=categorical``) is a ``UsageError`` naming the spelling that works; the
    grammar's own errors are raised as they are (each caller words them)."""
    import dataclasses

    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = []
    for word in map(str, words):
        _check_key(parser, word)
        stand_ins: dict[str, str] = {}
        override = parser.parse_overrides([_readable(parser, word, stand_ins)])[0]
        if stand_ins:
            override = dataclasses.replace(override, _value=_decode_keys(override._value, stand_ins))
        out.append(override)
    return out


def _check_key(parser, word: str) -> None:
    """A ``UsageError`` for a ``key.<name>=value`` word whose key the grammar refuses (a
    non-ASCII or spaced name): an option's entry for such a name is written in a dict."""
    key, eq, value = word.partition("=")
    bare = key.lstrip("+~")
    if not eq or "." not in bare or _parses(parser, f"{key}=0") is not None:
        return
    option, name = bare.split(".", 1)
    if _parses(parser, f"{option}=0") is None:
        return  # a broken option name itself: the grammar's own error says where
    raise UsageError(f"{key!r} is no option name (an option's name is ASCII letters, digits, '_' "
                     f"and '.'); an entry for {name!r} is written as a dict: "
                     f"{option_word(option, {name: value})}", key=option)


def _parses(parser, word: str):
    try:
        return parser.parse_overrides([word])[0]
    except Exception:  # the grammar's errors, whatever their type
        return None


def _readable(parser, word: str, stand_ins: dict[str, str] | None = None) -> str:
    """``word`` as the grammar reads it (see the module doc); ``stand_ins``: where given, a
    dict key the grammar cannot spell gets an ASCII stand-in, recorded there (``parse``)."""
    if "=" not in word or _parses(parser, word) is not None:
        return word
    key, value = word.split("=", 1)
    # a quoted value is written in the grammar on purpose; an interpolation would be resolved,
    # not kept as text. A value that opens a bracket but goes on past its end (``{a}.csv``,
    # ``[1] notes.txt``: the shell took its quotes) is no list or dict: text
    if not value or value[0] in "'\"" or "${" in value:
        return word
    if value[0] in "[{" and not _past_brackets(value):
        written = _rewrite_container(parser, value.strip(), stand_ins, avoid=word)
        return f"{key}={written}" if written is not None else word
    for quote in ("'", '"'):
        candidate = f"{key}={quote}{value.replace(quote, chr(92) + quote)}{quote}"
        parsed = _parses(parser, candidate)
        if parsed is not None and parsed.value() == value:
            return candidate
    return word


def _past_brackets(value: str) -> bool:
    """Whether ``value`` (opening with ``[`` or ``{``) closes that bracket and goes on after it:
    a name such as ``{a}.csv``. One that never closes it (``{a: 1``) is a list or dict typed
    wrong, left for the grammar's own error. Brackets nest (``{a: {b: 1}}`` closes at its end);
    a closing bracket of the other kind (``[a}b]``) closes nothing: a typo, not a name."""
    expected: list[str] = []
    for i, c in enumerate(value):
        if c in "[{":
            expected.append("]" if c == "[" else "}")
        elif c in "]}":
            if c != expected.pop():
                return False
            if not expected:
                return i < len(value.rstrip()) - 1
    return False


# the characters a dict key escapes with a backslash (the grammar's ESC token)
_KEY_ESCAPES = frozenset(" \t()[]{}:=,\\")
_CLOSING = {"[": "]", "{": "}", "(": ")"}


class _Unwritable(Exception):
    """A list or dict the rewrite cannot put in the grammar: left for the grammar's own error."""


def _rewrite_container(parser, value: str, stand_ins: dict[str, str] | None, avoid: str) -> str | None:
    """``value`` (a list or dict the grammar refuses) with each item and dict value quoted where
    the grammar needs it and each dict key escaped, or stood in for where ``stand_ins`` is given
    (``_Scan``); None where that cannot be done (a bracket never closed, an empty item, text
    after the closing bracket, a key with no spelling)."""
    scan = _Scan(parser, value, stand_ins, avoid)
    try:
        written, end = scan.element(0, "")
    except _Unwritable:
        return None
    return written if not value[end:].strip() else None


class _Scan:
    """A list / dict value read as a user means it: items and values split at the commas and
    colons outside brackets, quotes and backslash escapes; each written as the grammar reads
    it back as that text. An item the grammar reads alone (``1.5``, ``null``, ``a b``,
    ``choice(a,b)``) keeps the grammar's meaning."""

    def __init__(self, parser, text: str, stand_ins: dict[str, str] | None, avoid: str):
        self.parser, self.text, self.stand_ins, self.avoid = parser, text, stand_ins, avoid

    def _skip(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in " \t":
            i += 1
        return i

    def element(self, i: int, stops: str) -> tuple[str, int]:
        i = self._skip(i)
        if i < len(self.text) and self.text[i] in "[{":
            return self._container(i)
        if i < len(self.text) and self.text[i] in "'\"":
            end = self._quoted_end(i)
            return self.text[i:end], end
        raw, end = self._raw(i, stops)
        return self._scalar(raw), end

    def _container(self, i: int) -> tuple[str, int]:
        opening = self.text[i]
        close = _CLOSING[opening]
        items: list[str] = []
        i = self._skip(i + 1)
        if i < len(self.text) and self.text[i] == close:
            return opening + close, i + 1
        while True:
            if close == "}":
                key, i = self._key(i)
                i = self._skip(i)
                if i >= len(self.text) or self.text[i] != ":":
                    raise _Unwritable
                item, i = self.element(i + 1, ",}")
                items.append(f"{key}: {item}")
            else:
                item, i = self.element(i, ",]")
                items.append(item)
            i = self._skip(i)
            if i < len(self.text) and self.text[i] == ",":
                i += 1
            elif i < len(self.text) and self.text[i] == close:
                return opening + ", ".join(items) + close, i + 1
            else:
                raise _Unwritable

    def _quoted_end(self, i: int) -> int:
        """The end of the quoted text opening at ``i``: its first like quote after an even
        number of backslashes (the grammar's ``QUOTED_VALUE``)."""
        quote, j = self.text[i], i + 1
        while j < len(self.text):
            if self.text[j] == quote:
                slashes = len(self.text[i + 1:j]) - len(self.text[i + 1:j].rstrip("\\"))
                if slashes % 2 == 0:
                    return j + 1
            j += 1
        raise _Unwritable

    def _raw(self, i: int, stops: str) -> tuple[str, int]:
        """Unquoted text from ``i`` to the first of ``stops`` outside brackets, stripped."""
        depth, j = [], i
        while j < len(self.text):
            c = self.text[j]
            if c == "\\":
                j += 2
                continue
            if not depth and c in stops:
                break
            if c in _CLOSING:
                depth.append(_CLOSING[c])
            elif depth and c == depth[-1]:
                depth.pop()
            j += 1
        raw = self.text[i:j].strip()
        if not raw or depth or j > len(self.text):
            raise _Unwritable
        return raw, j

    def _reads(self, text: str) -> Any:
        parsed = _parses(self.parser, f"k=[{text}]")
        value = parsed.value() if parsed is not None else None
        return value[0] if isinstance(value, list) and len(value) == 1 else _Unwritable

    def _scalar(self, raw: str) -> str:
        read = self._reads(raw)
        if read is not _Unwritable and not isinstance(read, (list, dict)):
            return raw
        for quote in ("'", '"'):
            candidate = quote + raw.replace(quote, "\\" + quote) + quote
            if self._reads(candidate) == raw:
                return candidate
        raise _Unwritable

    def _key(self, i: int) -> tuple[str, int]:
        i = self._skip(i)
        if i < len(self.text) and self.text[i] in "'\"":
            end = self._quoted_end(i)
            name = self._reads(self.text[i:end])
            if not isinstance(name, str):
                raise _Unwritable
            return self._key_form(name), end
        raw, end = self._raw(i, ":,}")
        parsed = _parses(self.parser, f"k={{{raw}: 0}}")
        if parsed is not None and isinstance(parsed.value(), dict) and len(parsed.value()) == 1:
            return raw, end  # a key the grammar reads as typed keeps its meaning (``1``: an int)
        return self._key_form(raw), end

    def _key_form(self, name: str) -> str:
        """``name`` as a dict key the grammar reads back as that text: escaped, else (with
        ``stand_ins``) an ASCII stand-in that ``parse`` turns back into ``name``."""
        escaped = "".join("\\" + c if c in _KEY_ESCAPES else c for c in name)
        parsed = _parses(self.parser, f"k={{{escaped}: 0}}")
        if parsed is not None and list(parsed.value()) == [name]:
            return escaped
        if self.stand_ins is None:
            raise _Unwritable
        stand_in = f"encoderkit_key_{len(self.stand_ins)}"
        while stand_in in self.avoid or stand_in in self.stand_ins:  # never a name the user typed
            stand_in += "_"
        self.stand_ins[stand_in] = name
        return stand_in


def _decode_keys(value: Any, stand_ins: dict[str, str]) -> Any:
    """``value`` (a parsed list / dict) with each stand-in dict key turned back into its name."""
    if isinstance(value, dict):
        return {stand_ins.get(k, k) if isinstance(k, str) else k: _decode_keys(v, stand_ins)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_keys(v, stand_ins) for v in value]
    return value


def option_word(key: str, value: Any) -> str:
    """``key=value`` as a user types it at a shell prompt, in a spelling every command reads
    back as ``value`` (a name, or a list or dict of names): messages that advise an option
    print this, so the advice works when pasted (``'columns={日付: categorical}'``,
    ``'exclude=["Größe (cm)"]'``: the single quotes are the shell's)."""
    import shlex

    if isinstance(value, str):  # a name alone: as typed where the grammar reads it back (readable)
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create()
        parsed = _parses(parser, _readable(parser, f"{key}={value}"))
        if parsed is not None and parsed.value() == value:
            return shlex.quote(f"{key}={value}")
    return shlex.quote(f"{key}={_spelled(value)}")


def _spelled(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_spelled(k)}: {_spelled(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_spelled, value)) + "]"
    return _name_word(str(value))


def _name_word(name: str) -> str:
    """``name`` bare where ``parse`` reads it back as that text (letters of any script,
    digits, ``_ . - /``), else in double quotes (a space, bracket, comma, colon, or a word the
    grammar reads as a number, boolean or null: ``1``, ``true``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if re.fullmatch(r"[^\W\d][\w.\-/]*", name):
        parsed = _parses(OverridesParser.create(), f"k={name}")
        if parsed is None or parsed.value() == name:
            return name
    quote = '"' if '"' not in name else "'"
    # a backslash before the closing quote would escape it (C:\tmp\): doubled there
    body = name.replace(quote, "\\" + quote)
    trail = len(body) - len(body.rstrip("\\"))
    return quote + body + "\\" * trail + quote


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
    for word, o in zip(words, _overrides(words)):
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


def _overrides(words: list[str]) -> list[Any]:
    """``words`` parsed by Hydra's ``OverridesParser`` (``parse``), one override each, in order."""
    try:
        return parse(words)
    except UsageError:
        raise
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
