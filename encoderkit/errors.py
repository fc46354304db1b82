"""The one error type for user mistakes, and how every command reports it.

Every error caused by user input (a bad file, record, key or parameter) is an
``EncoderkitError``. It carries what is at fault (``file``, ``record``, ``key``) and
renders as one line naming it. The CLI prints that line to stderr and exits with
``exit_code``: 2 for usage (bad or missing parameters), 1 for data (bad files,
records, checkpoints). Anything else that escapes a command is a bug: the CLI then
prints the traceback and a line asking to report it.

The subclasses also derive from the builtin exception a Python caller would
expect (``ValueError``, ``FileNotFoundError``, ...), so ``except ValueError``
written against earlier versions keeps working.
"""

from __future__ import annotations

from typing import Any


class EncoderkitError(Exception):
    """A user error: one line, naming the file / record / key at fault."""

    exit_code: int = 1

    def __init__(self, message: str, *, file: Any = None, record: Any = None,
                 key: str | None = None) -> None:
        self.message = " ".join(str(message).split())  # one line, always
        self.file = None if file is None else str(file)
        self.record = record
        self.key = key
        super().__init__(self.message)

    def __str__(self) -> str:
        where = []
        if self.file is not None and self.file not in self.message:
            where.append(self.file)
        if self.record is not None and f"record {self.record}" not in self.message:
            where.append(f"record {self.record}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(EncoderkitError, ValueError):
    """A bad, missing or unknown parameter (exit code 2)."""

    exit_code = 2


class DataError(EncoderkitError, ValueError):
    """A file, record or checkpoint that cannot be used as given (exit code 1)."""


class InputNotFoundError(EncoderkitError, FileNotFoundError):
    """A path the user gave does not exist (exit code 1)."""

    def __init__(self, message: str, **kw: Any) -> None:
        EncoderkitError.__init__(self, message, **kw)


class OutputExistsError(EncoderkitError, FileExistsError):
    """An output exists and ``overwrite=true`` was not given, or it holds something
    encoderkit did not write (so overwriting it is refused)."""

    def __init__(self, message: str, **kw: Any) -> None:
        EncoderkitError.__init__(self, message, **kw)
