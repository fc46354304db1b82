"""The files a command read, kept to judge its outputs by (``outputs.refuse_if_changed``).

``errors.reading`` records each regular file a command reads (``note_read``). At the final
rename of an output ``check_output`` checked, the output is refused when it is one of those
files under another name (``is_read``: a symbolic or hard link to the input, a path through
a linked folder: ``input=x.npy output=x.npy overwrite=true`` replaced a series with its
embeddings), and when a file read has been written to in place since (``changed_input``):
impute and infill take each kept cell's text from the file again when they write, so a file
truncated while the model trained gave an output of the new rows with the old file's fills.

``cli.main`` starts each command with none recorded (``forget_reads``, through
``outputs.forget_checks``); called from Python, the record is cleared when an output is
published, and a file read again replaces what an earlier (failed) call recorded of it.
The Python entry points that read files (``Pretrained.infill``, ``Pretrained.embed``) run as
one ``command``, which ends with none recorded: a fill returned as a frame, or a call that
failed, left its input recorded, and a later call writing that file (``infill("b.csv",
output="a.csv")`` after ``infill("a.csv")``) was refused as "the file this command read".
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import threading
from typing import Any, Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# per thread (a service's threads run commands of their own; one's reads are not another's
# inputs): absolute path -> (device, inode, size, mtime in ns) when last read
_LOCAL = threading.local()


def _reads() -> dict[str, tuple[int, int, int, int]]:
    if not hasattr(_LOCAL, "read"):
        _LOCAL.read = {}
    return _LOCAL.read


def note_read(file: Any) -> None:
    """Record that this command reads the regular file ``file`` (anything that is no local
    file, a URL or None, is passed over)."""
    try:
        path = os.path.expanduser(os.fspath(file))
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return
    if stat.S_ISREG(st.st_mode):
        # the latest read counts: called from Python, a call that failed publishes nothing, and
        # the file it read may have been corrected in place before the next call read it
        _reads()[os.path.abspath(path)] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def forget_reads() -> None:
    """A command begins, or an output is published: the files read so far are not the next one's inputs."""
    _reads().clear()


@contextlib.contextmanager
def command() -> Iterator[None]:
    """One command of this thread (``cli.main``, a Python entry point): the outermost one
    starts and ends with no reads recorded, so that one call's inputs are never judged
    another's; one inside another (the CLI's ``embed`` calls ``Pretrained.embed`` on the input
    it read) keeps what the outer one recorded."""
    depth = getattr(_LOCAL, "depth", 0)
    if depth == 0:
        forget_reads()
    _LOCAL.depth = depth + 1
    try:
        yield
    finally:
        _LOCAL.depth = depth
        if depth == 0:
            forget_reads()


def one_command(method: F) -> F:
    """``method`` run as one ``command``."""
    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with command():
            return method(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def is_read(device: int, inode: int) -> bool:
    """Whether the file (``device``, ``inode``) is one this command read."""
    return any(seen[:2] == (device, inode) for seen in list(_reads().values()))


def changed_input() -> str | None:
    """The first file this command read that has been written to since (the same file, another
    size or modification time), else None. A file replaced by a rename (an editor's save, a
    work file rewritten) or removed is passed over: what was read stays whole."""
    for path, (dev, ino, size, mtime) in list(_reads().items()):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (dev, ino) and (st.st_size, st.st_mtime_ns) != (size, mtime):
            return path
    return None


def reads_checked() -> None:
    """An output is checked (``check_output``): what a file read so far holds now is what
    counts, so that only a write during the work that follows refuses the output. Called from
    Python outside a ``command`` (``impute``), an earlier call's reads stay recorded (one that
    published nothing: a fill returned as a frame): a file the user rewrote in place between
    the calls is not taken for one written to while this command worked."""
    reads = _reads()
    for path, (dev, ino, _, _) in list(reads.items()):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (dev, ino):
            reads[path] = (dev, ino, st.st_size, st.st_mtime_ns)
