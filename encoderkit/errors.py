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

How a command uses it: raise a subclass and let it propagate. ``encoderkit.cli.main``
is the one place that catches ``EncoderkitError`` (a new command needs no
``try``/``except`` of its own). Code that reads a user file wraps the read in
``with reading(path):``, which turns what parsers and decompressors raise
(``EOFError`` of a truncated ``.gz``, ``UnicodeDecodeError``, ``IsADirectoryError``,
pyarrow / pandas parse errors, ``ValueError`` ...) into a ``DataError`` naming the
file.
"""

from __future__ import annotations

import functools
import lzma
import tokenize
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator


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
        if self.file is not None and not _names(self.message, self.file):
            where.append(self.file)
        if self.record is not None and f"record {self.record}" not in self.message:
            where.append(f"record {self.record}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def _names(message: str, file: str) -> bool:
    """Whether ``message`` names ``file`` already: as a name of its own, not as part of a word
    (a file named ``in`` is not named by "input does not exist", nor ``ff`` by "sniff": the
    line said neither which file); a name that could be a word of the text (``other``, no dot
    or folder in it) only when quoted or at the end of a path ("holds other files" does not
    name a folder ``other``)."""
    import re

    path_like = any(c in file for c in "./\\")
    for m in re.finditer(rf"(?<![\w.-]){re.escape(file)}(?![\w-]|\.\w)", message):
        if path_like or message[m.start() - 1:m.start()] in ("'", '"', "/"):
            return True
    return False


def bad_value(name: str, allowed: str, got: Any, *, what: str = "parameter", owner: str = "") -> str:
    """The one wording of a value refused (scikit-learn's): "The 'n' parameter of X must be
    an int >= 1. Got 0 instead." ``what``: parameter / option; ``owner``: whose (the genomic
    domain, EncoderConfig; empty: none said). The caller picks the exception."""
    of = f" of {owner}" if owner else ""
    return f"The {name!r} {what}{of} must be {allowed}. Got {got!r} instead."


def unknown_options(unknown: Iterable[str], allowed: Iterable[str], owner: str, kind: str = "") -> str:
    """The one wording of options nobody takes, the same for every domain: "unknown ingest
    option(s) of the tabular domain: ['x']; allowed: [...]" (``kind``: ingest, infill, or
    empty for the domain's own). Both lists sorted; the CLI's "did you mean" reads them
    (``cliutil``)."""
    kind = f"{kind} " if kind else ""
    return f"unknown {kind}option(s) of {owner}: {sorted(unknown)}; allowed: {sorted(allowed)}"


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


# What parsers and decompressors raise on a damaged or unexpected file. ``OSError``
# covers gzip.BadGzipFile, zstd errors and I/O errors; ``ValueError`` covers pandas /
# pyarrow parse errors (both derive from it) and the readers' own messages; numpy parses
# a damaged .npy header with ``ast``, which raises SyntaxError / tokenize.TokenError.
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, UnicodeError,
    KeyError, OverflowError, MemoryError, SyntaxError, tokenize.TokenError)


def data_error(exc: BaseException, file: Any) -> EncoderkitError:
    """What a user should read for ``exc`` raised while reading ``file``."""
    if isinstance(exc, EncoderkitError):
        if exc.file is None and file is not None:
            exc.file = str(file)
        return exc
    if isinstance(exc, IsADirectoryError):
        return DataError("is a directory; expected a file", file=file)
    if isinstance(exc, FileNotFoundError):
        return InputNotFoundError("does not exist", file=file)
    if isinstance(exc, PermissionError):
        return DataError("permission denied (cannot read it)", file=file)
    if isinstance(exc, (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)) or type(exc).__name__ in {
            "BadGzipFile", "ZstdError"} or "compressed" in str(exc).lower() \
            or "end-of-stream" in str(exc).lower():
        return DataError(f"truncated or corrupt compressed file ({type(exc).__name__}: {exc})",
                         file=file)
    if isinstance(exc, UnicodeError):
        return DataError(f"not valid text in the expected encoding ({exc})", file=file)
    if isinstance(exc, MemoryError):
        return DataError("too large to read into memory", file=file)
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if not text:
        text = type(exc).__name__
    return DataError(f"cannot read: {text}" if not isinstance(exc, ValueError) else text, file=file)


def refuse_stream(file: Any, key: str | None = None) -> None:
    """A ``DataError`` naming ``file`` when it is a pipe, a terminal, a device or a socket
    rather than a file (``encoderkit.file_kinds``): every reader of an input by path reads it
    more than once, so a pipe gave a wrong message ("the file is empty") or a FIFO a hang."""
    from encoderkit.file_kinds import stream_input_problem  # stdlib only; kept out of the import

    problem = stream_input_problem(file)
    if problem is not None:
        raise DataError(problem, file=file, key=key)


@contextmanager
def reading(file: Any, *, once: bool = False) -> Iterator[None]:
    """Turn any error raised while reading ``file`` into a ``DataError`` naming it. A ``file``
    that is a pipe (``input=/dev/stdin``, ``<(zcat x.gz)``) or a device is refused first
    (``refuse_stream``), unless the caller reads it ``once`` from start to end."""
    if not once:
        refuse_stream(file)
    from encoderkit.input_reads import note_read

    note_read(file)  # an output that turns out to be this file, or a file changed since, is refused
    try:
        yield
    except READ_ERRORS as e:
        raise data_error(e, file) from e
    except ImportError as e:
        # pandas reads .zst only with the zstandard package: say so, naming the file (any
        # other missing module stays a bug report)
        if file is not None and str(file).lower().endswith(".zst"):
            raise DataError("reading a .zst file needs the zstandard package (pip install "
                            "zstandard); or compress it as .gz, .bz2, .xz or .zip", file=file) from e
        raise



class UnusedColumnWarning(UserWarning):
    """Columns of a user's table that the run has no input for (not among the channels or
    features it was trained on), left as they are. ``impute`` filters it for the columns it
    keeps out of the model itself (a file's row numbers)."""


class UnknownValueWarning(UserWarning):
    """A value the model has no input for (a category it never saw in training), read as its
    'unknown' input. A domain says it when predicting or embedding a user's data; the imputers
    (``encoderkit impute``, ``EncoderImputer``) fill the very table they trained on and filter
    it there: a category seen only in the rows held out for validation is no news to the user."""


def without_unknown_values(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with ``UnknownValueWarning`` ignored: for the imputers, which fill the very table
    they trained on. The filter is set under the session lock (``session_state``): two calls
    in two threads would otherwise leave it in the caller's filters for good."""
    from encoderkit.session_state import warnings_kept

    @functools.wraps(fn)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with warnings_kept():
            warnings.simplefilter("ignore", UnknownValueWarning)
            return fn(*args, **kwargs)
    return quiet
