"""stdout and stderr while a command runs: what a failure to write them means.

stdout carries a command's summary (the ``key: value`` lines of ingest, "wrote ... to ..."),
stderr its progress bar, warnings and errors. Neither carries a command's data (outputs are
files), so a failed write of either loses messages, not results. It was reported wrongly:
ingest's ``except READ_ERRORS`` turned the ``OSError`` of ``>/dev/full`` into
"<input>: cannot read: No space left on device", infill's became "a bug in encoderkit", each
after the output was written; ``2>/dev/full`` failed an ingest at its first bar and left no
store. Now (``guarded_streams``):

- a write that fails because its reader went away (EPIPE: ``| head -1``) raises
  ``BrokenPipeError`` as before, which ``encoderkit.cli.main`` ends quietly with 141, as a
  process killed by SIGPIPE;
- any other failed write (ENOSPC of a full disk, EIO of a terminal gone) is remembered, the
  stream's later writes are dropped, the command runs to its end, and ``main`` says which
  stream could not be written and exits 1 (as GNU tools do on a write error, stderr's
  included), the command's outputs complete;
- a closed stream (``2>&-``, ``>&-``: Python's ``sys.stderr`` is None) drops what is written to
  it: ``print(file=sys.stderr)`` wrote to stdout then, and a progress bar failed. In the
  console command the closed descriptor is opened on ``/dev/null`` too, so that no file the
  command opens gets descriptor 2 and receives what a library writes to "stderr".
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any, Iterator

# guards are installed and taken down under this lock: two commands run from threads of one
# process (a service calling ``encoderkit.cli.main``) must not interleave a swap of the streams
_SWAP = threading.Lock()


class GuardedStream:
    """``stream`` for the length of a command, remembering the first write that failed for a
    reason other than a reader gone away (``failure``) and dropping what follows it. Every
    other attribute (``isatty``, ``fileno``, ``encoding``, ``buffer``) is the stream's."""

    def __init__(self, stream: Any, name: str) -> None:
        self._stream = stream
        self.name = name
        self.failure: OSError | None = None

    def _guard(self, call: Any, *args: Any) -> Any:
        if self.failure is not None:
            return None
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as e:  # ENOSPC, EIO, EDQUOT ...: said once the command has run to its end
            self.failure = e
            return None
        except ValueError:
            if getattr(self._stream, "closed", False):  # closed under it (another thread's /dev/null)
                return None
            raise

    def write(self, text: str) -> int:
        self._guard(self._stream.write, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    @property
    def wrapped(self) -> Any:
        return self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _descriptor_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


def _null_out() -> Any:
    return open(os.devnull, "w", encoding="utf-8")


class Streams:
    """The two guarded streams of one command, and what ``main`` says of them at its end."""

    def __init__(self, out: GuardedStream, err: GuardedStream) -> None:
        self.out, self.err = out, err

    def flush(self) -> None:
        """Write what is still buffered (a pipe's or a file's stdout is block-buffered): a
        failure shows here, within the command, not at the interpreter's exit (exit 120).
        A reader gone away raises ``BrokenPipeError``."""
        self.out.flush()
        self.err.flush()

    def problem(self, ran: bool = True) -> str | None:
        """One line saying which stream could not be written, or None; ``ran``: a command ran
        (not ``--help`` / ``--version``), whose outputs the line says are complete."""
        failed = [s for s in (self.out, self.err) if s.failure is not None]
        if not failed:
            return None
        first = failed[0].failure
        reason = (first.strerror or str(first)) if first is not None else "write failed"
        names = " and ".join(s.name for s in failed)
        done = "; the command ran to its end and its outputs are complete" if ran else ""
        return f"cannot write to {names} ({reason}): what was printed there is lost{done}"


@contextlib.contextmanager
def guarded_streams(entry: bool) -> Iterator[Streams]:
    """``sys.stdout`` / ``sys.stderr`` as ``GuardedStream`` while the block runs, a closed one
    as a stream that drops everything; the previous ones are back on leaving. ``entry``: the
    console command (not a Python caller), whose process also gets ``/dev/null`` on a closed
    descriptor 1 or 2, and whose failed stream is pointed at ``/dev/null`` on leaving so that
    the interpreter's last flush does not fail again (exit 120, "Exception ignored"). A
    Python caller's command that starts while another runs (threads) shares that one's guards."""
    global _ACTIVE
    with _SWAP:
        active = _ACTIVE
        if not entry and active is not None and sys.stdout is active.out and sys.stderr is active.err:
            # a command already runs in this process (another thread): share its guards rather
            # than stack new ones, which were taken down in the wrong order (the first command
            # to end put back the streams as it found them, the second then put back the first's
            # guards, left installed for good); the last command to end takes them down
            active.users += 1
        else:
            saved = sys.stdout, sys.stderr
            out, err = _install(entry)
            # the /dev/null streams opened for a closed one (not a guard reused as it is)
            opened = [g.wrapped for g in (out, err) if g not in saved and g.wrapped not in saved]
            active = _Installed(saved, out, err, opened, _ACTIVE)
            _ACTIVE = active
    try:
        yield Streams(active.out, active.err)
    finally:
        with _SWAP:
            active.users -= 1
            last = active.users == 0
            if last:
                # a command that replaced them meanwhile (and did not give them back) keeps its own
                if sys.stdout is active.out:
                    sys.stdout = active.saved[0]
                if sys.stderr is active.err:
                    sys.stderr = active.saved[1]
                if _ACTIVE is active:
                    _ACTIVE = active.outer
        if last:
            for stream in active.opened:
                stream.close()
            if entry:
                for guarded, fd in ((active.out, 1), (active.err, 2)):
                    if guarded.failure is not None:
                        point_at_null(fd)


class _Installed:
    """The guards one command installed, the streams it found, and how many commands use them."""

    def __init__(self, saved: tuple[Any, Any], out: GuardedStream, err: GuardedStream, opened: list[Any],
                 outer: "_Installed | None") -> None:
        self.saved, self.out, self.err, self.opened, self.outer = saved, out, err, opened, outer
        self.users = 1


_ACTIVE: _Installed | None = None


def _install(entry: bool) -> tuple[GuardedStream, GuardedStream]:
    """Guards on ``sys.stdout`` / ``sys.stderr`` (a closed one: on a stream to ``/dev/null``),
    installed; ``entry``: a closed descriptor 1 or 2 is opened on ``/dev/null`` first."""
    if entry:
        for fd in (1, 2):
            if _descriptor_closed(fd):  # the next file opened would get it
                null = os.open(os.devnull, os.O_WRONLY)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
    guards = []
    for stream, name in ((sys.stdout, "standard output"), (sys.stderr, "standard error")):
        if isinstance(stream, GuardedStream):  # guarded by a command still running: not wrapped twice
            guards.append(stream)
        else:
            guards.append(GuardedStream(_null_out() if stream is None else stream, name))
    sys.stdout, sys.stderr = guards
    return guards[0], guards[1]


def point_at_null(fd: int) -> None:
    """Descriptor ``fd`` on ``/dev/null`` (what is still buffered for it is then discarded at
    exit rather than failing again)."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
