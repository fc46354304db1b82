"""What every `encoderkit <command>` module shares: dispatch with `--help`.

Errors are not handled here: a command raises an ``EncoderkitError`` subclass
(``UsageError`` for a bad parameter, ``DataError`` for a bad file / record,
``InputNotFoundError``, ``OutputExistsError``) naming the file / record / key, and
``encoderkit.cli.main`` prints it as one line with the right exit code. New commands
need nothing more than to raise.
"""

from __future__ import annotations

from typing import Callable, Mapping

from encoderkit.errors import UsageError


def dispatch(commands: Mapping[str, Callable[[list[str]], int]], usage: str | Mapping[str, str],
             command: str, argv: list[str]) -> int:
    """Run ``commands[command](argv)``; ``--help`` prints the command's own usage
    (``usage`` is one text, or a command -> text mapping)."""
    if command not in commands:
        raise UsageError(f"unknown command {command!r}; expected one of {sorted(commands)}")
    if any(a in ("-h", "--help") for a in argv):
        print(usage[command] if isinstance(usage, Mapping) else usage)
        return 0
    return commands[command](argv)
