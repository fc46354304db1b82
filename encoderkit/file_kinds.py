"""What kind of file-system entry a path a user gave is, where a command cannot use every kind.

Two places need it. An input encoderkit reads by path is read more than once (ingest hashes a
file for its provenance, then parses it; the readers sniff a format or a compression from the
first bytes, then open the file again), so a pipe (``input=/dev/stdin`` behind ``|``, a
process substitution ``<(zcat x.gz)``, a FIFO), a terminal or a device gives a wrong message
("the file is empty", "not a FASTA") or waits for ever on a FIFO no one writes again. An
output is written under a temporary name and renamed into place, which replaces whatever is
at the name: a device node or a FIFO there would be replaced by a regular file, a symbolic
link by the output while the file it points to keeps its old content.

Only the standard library here: ``encoderkit.errors`` and ``encoderkit.outputs`` import it.
"""

from __future__ import annotations

import os
import stat
from typing import Any

_KINDS = ((stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_kind(path: Any, follow: bool = True) -> str | None:
    """What ``path`` is when it is neither a regular file nor a directory (``"a pipe"``, ...);
    None for those, for a path that does not exist and for anything that is no local path
    (a URL, a label such as ``"a.csv, b.csv"``). ``follow``: judge what a symbolic link
    points to (``/dev/stdin`` is a link to the pipe) rather than the link. A stat never opens
    the entry, so a FIFO with no writer does not block here."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None
    try:
        mode = (os.stat if follow else os.lstat)(os.path.expanduser(os.fspath(path))).st_mode
    except (OSError, ValueError):  # absent, unreadable folder, a NUL in the name: the reader says
        return None
    return next((name for test, name in _KINDS if test(mode)), None)


def stream_input_problem(path: Any) -> str | None:
    """The one-line reason ``path`` cannot be an input read by path, or None when it can."""
    kind = special_kind(path)
    if kind is None:
        return None
    return (f"is {kind}, not a file: encoderkit reads an input more than once (to sniff its format "
            f"or hash it, then to parse it), and what comes through a pipe can be read only once; "
            f"save it to a file first")


def output_kind_problem(path: Any) -> str | None:
    """The one-line reason the entry at ``path`` cannot be replaced by an output (not even with
    ``overwrite=true``), or None when it can (absent, a regular file, a directory: what
    ``encoderkit.outputs.check_output`` judges by its content).

    A symbolic link is refused rather than written through: following it would put the output's
    temporary beside the link's target (possibly another file system, where the rename fails)
    in every writer (stores, arrays, exports), and a link is often a ``latest`` pointer the
    user did not mean to have rewritten; replacing the link itself, as a plain rename does, left
    the target with its old content while the command said it wrote the output."""
    text = os.path.expanduser(os.fspath(path))
    if os.path.islink(text):
        dest = os.readlink(text)
        real = os.path.realpath(text)
        there = ("a directory" if os.path.isdir(real) else "a file" if os.path.isfile(real)
                 else special_kind(real) or "nothing: the link is dangling")
        # the link's own name in the message: the error's file prefix is left out when the
        # message holds it, as it does when the target's name ends with the link's
        return (f"{text} is a symbolic link to {dest} ({there}); an output is renamed into place, which would "
                f"replace the link and leave {dest} as it was, so no output (overwrite=true or append=true) replaces a link: "
                f"give the link's target as the output (output={real}), or remove the link first")
    kind = special_kind(text, follow=False)
    if kind is None:
        return None
    return (f"is {kind}, not a file: an output is renamed into place, which would replace it with a "
            f"regular file, so no output (overwrite=true or append=true) replaces one: choose a file name")
