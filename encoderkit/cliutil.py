"""What every `encoderkit <command>` module shares: dispatch with `--help` and one-line errors."""

from __future__ import annotations

import sys
from typing import Callable, Mapping

# Errors that come from user input: printed as one line, exit code 1, no traceback.
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, KeyError)


def dispatch(commands: Mapping[str, Callable[[list[str]], int]], usage: str, command: str,
             argv: list[str]) -> int:
    if command not in commands:
        print(f"encoderkit: unknown command {command!r}; expected one of {sorted(commands)}",
              file=sys.stderr)
        return 2
    if any(a in ("-h", "--help") for a in argv):
        print(usage)
        return 0
    try:
        return commands[command](argv)
    except USER_ERRORS as e:
        print(f"encoderkit {command}: error: {e}", file=sys.stderr)
        return 1
