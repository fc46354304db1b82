"""Output safety shared by every command that writes: where it may write, and what
``overwrite=true`` may replace.

Overwrite only ever replaces something encoderkit wrote itself: a record store (its
zarr attribute block), an embedding array (``.npy`` / a ``.zarr`` group with the
embedding attributes), a Hugging Face export (the ``encoderkit`` block export-hf puts
in ``config.json``), or a single file of the format being written. A directory that
holds anything else is refused, so a mistyped ``output=`` never wipes a user's folder.
Writers still write under a temporary name and rename when complete; a writer killed
outright (SIGKILL, the out-of-memory killer, a power cut) cannot remove its temporary, so
the next writer of the same output removes those of processes no longer alive
(``remove_dead_temporaries``), and puts back an old output such a writer had moved aside
(``restore_dead_replaced``). Work folders in the temporary directory are made by
``make_work_dir``, which removes those dead processes of this host left (of every
encoderkit command, whichever makes the next one).

Two commands writing one output at once: ``check_output`` records what it found at the
output (absent, or its stat identity), and the final rename (``atomic_write``, ``publish``)
refuses when something else appeared there, or replaced it, since then; the check and the
rename run under a lock on the output's folder (``publish_lock``), so two encoderkit writers
cannot both pass the check before either renames. The rename also refuses an output that is a
file the command read, and an input written to since it was read (``input_reads``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from encoderkit.errors import DataError, EncoderkitError, OutputExistsError, UsageError
from encoderkit.file_kinds import output_kind_problem
from encoderkit.input_reads import changed_input, forget_reads, is_read, reads_checked
from encoderkit.output_kind import check_output_kind  # noqa: F401 (its home before; the writers import it here)
from encoderkit.output_names import NAME_MAX, PID_WIDTH, short_name, sibling, sibling_prefix

STORE_ATTR = "encoderkit"
HF_TOKENIZER_FILE = "encoderkit_tokenizer.json"  # export-hf: how to build input_ids (interop/hf.py)
HF_EXPORT_FILES = frozenset({"config.json", "model.safetensors", HF_TOKENIZER_FILE})
EMBEDDING_ATTRS = frozenset({"pooling", "records", "dim"})


def _zarr_attrs(path: Path) -> dict | None:
    """The attributes of a local zarr group (v3 ``zarr.json`` or v2 ``.zattrs``), else None."""
    for name, key in (("zarr.json", "attributes"), (".zattrs", None)):
        file = path / name
        if file.is_file():
            try:
                data = json.loads(file.read_text())
            except (OSError, ValueError):
                return None
            attrs = data.get(key, {}) if key else data
            return attrs if isinstance(attrs, dict) else None
    return None


def is_store(path: Path) -> bool:
    """A finished record store, or the leftover of one (its files and nothing else)."""
    attrs = _zarr_attrs(path)
    if attrs is None or STORE_ATTR not in attrs:
        return False
    return {p.name for p in path.iterdir()} <= {"zarr.json", ".zattrs", ".zgroup", "fields", "meta",
                                                "offsets", "ids"}


def is_embedding_zarr(path: Path) -> bool:
    attrs = _zarr_attrs(path)
    return attrs is not None and EMBEDDING_ATTRS <= set(attrs) and \
        {p.name for p in path.iterdir()} <= {"zarr.json", ".zattrs", ".zgroup", "embeddings", "ids", "offsets"}


def is_hf_export(path: Path) -> bool:
    """A directory export-hf wrote: its files (``HF_EXPORT_FILES``), the config carrying our block."""
    names = {p.name for p in path.iterdir()}
    if not names <= HF_EXPORT_FILES or "config.json" not in names:
        return False
    try:
        return "encoderkit" in json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False


def check_parent(path: str | os.PathLike) -> None:
    """The folder that will hold ``path`` can be written: its nearest existing ancestor is a
    writable directory (nothing is created here: a command that fails later leaves no trace;
    writers create missing folders when they write)."""
    target = Path(path).expanduser()
    parent = target.absolute().parent
    # the first existing ancestor decides: a regular file there means no folder can be made
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"cannot write here: {probe} is a file, not a directory", file=target)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DataError(f"cannot write here: directory {probe} is not writable", file=target)


Stamp = tuple[int, int, int] | None

# what check_output found at each output of this command (absolute path -> stamp): the final
# rename refuses when the output changed since (cli.main clears it per command). Per thread: a
# command that another thread of the process started (cli.main's forget_checks) cleared this
# thread's record, and its final rename then skipped both checks (changed since; its own input)
_CHECKS = threading.local()


def _checked() -> dict[str, Stamp]:
    if not hasattr(_CHECKS, "found"):
        _CHECKS.found = {}
    return _CHECKS.found


def stamp(path: str | os.PathLike) -> Stamp:
    """(device, inode, ctime) of ``path`` itself (a symlink is not followed), None when absent:
    a file or folder another process renamed there, or wrote to, has another stamp."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _key(path: str | os.PathLike) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def checked_stamp(path: str | os.PathLike) -> Stamp:
    """What this command found at ``path`` when ``check_output`` checked it; the stamp now
    where it was not checked."""
    key = _key(path)
    return _checked()[key] if key in _checked() else stamp(key)


def forget_checks() -> None:
    """Start a new command: what earlier commands of this process checked or read no longer counts."""
    _checked().clear()
    forget_reads()


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file or folder (also through a symbolic or hard link,
    ``..`` or ``~``): a command checks its output against its input by this before any work
    (the final rename's ``refuse_input_as_output`` catches the same only after it)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def refuse_input_as_output(path: str | os.PathLike, found: Stamp) -> None:
    """``OutputExistsError`` naming ``path`` when the file ``check_output`` found there
    (``found``) is one this command read: its input under another name, which the final
    rename would replace with the output (``input_reads``); a ``DataError`` naming an input
    written to since it was read. Outputs ``check_output`` did not check (a work file, which
    may be read and rewritten) are passed over."""
    if _key(path) not in _checked():
        return
    if found is not None and is_read(found[0], found[1]):
        raise OutputExistsError("is the file this command read as its input (the same file under another "
                                "name or through a link); nothing was written and the input is left as it "
                                "was: write the output elsewhere", file=path)
    changed = changed_input()
    if changed is not None:  # the output would mix what was read with what is there now
        raise DataError("was written to while this command read it and worked (its size or modification "
                        "time changed); no output was written: run the command again once the file "
                        "is complete", file=changed)


def refuse_if_changed(path: str | os.PathLike, found: Stamp) -> None:
    """``OutputExistsError`` naming ``path`` when it is not what this command found there,
    or when it is a file this command read (``refuse_input_as_output``)."""
    refuse_input_as_output(path, found)
    if stamp(path) == found:
        return
    how = "created it" if found is None else "replaced it"
    raise OutputExistsError(f"another process {how} while this command ran (two commands writing one "
                            f"output at once); this one left it as the other wrote it: run it again "
                            f"once the other has finished, or choose another output", file=path)


LOCK_WAIT_S = 30.0  # the longest publish_lock waits for another writer of the folder


@contextlib.contextmanager
def publish_lock(folder: str | os.PathLike):
    """Hold an exclusive ``flock`` on ``folder`` (a few milliseconds, around a check and its
    renames), so two encoderkit writers of one folder cannot both pass ``refuse_if_changed``
    before either renames. Where the folder cannot be locked (no flock, another OS) it
    goes on unlocked: the stamp check still catches all but a near-simultaneous finish."""
    fd = None
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
        # bounded: a stopped (Ctrl-Z) holder or a lock daemon that does not answer must not
        # hang every writer of the folder; after LOCK_WAIT_S it goes on as unlocked
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    except (ImportError, OSError):
        if fd is not None:
            os.close(fd)
        fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the lock


def publish(tmp: str | os.PathLike, path: str | os.PathLike, found: Stamp = ...) -> None:  # type: ignore[assignment]
    """Rename ``tmp`` onto ``path`` unless ``path`` changed since this command checked it
    (``found``; by default what ``check_output`` recorded), under ``publish_lock``."""
    key = _key(path)
    if found is ...:
        found = checked_stamp(key)
    with publish_lock(os.path.dirname(key)):
        refuse_if_changed(key, found)
        refuse_unreplaceable(key)  # a caller that never ran check_output: the rename would replace it
        os.replace(tmp, key)
        # used: a later write of this path (this command's own, or a later call from Python
        # that did not check it) compares with what is there then
        if _checked().pop(key, ...) is not ...:
            forget_reads()  # a command's output (not a work file): its inputs are not the next call's


def refuse_unreplaceable(path: str | os.PathLike) -> None:
    """``OutputExistsError`` naming ``path`` when it is a symbolic link, a device, a FIFO or a
    socket: the final rename would replace it, whatever ``overwrite`` says
    (``encoderkit.file_kinds.output_kind_problem`` says why a link is not written through)."""
    problem = output_kind_problem(path)
    if problem is not None:
        raise OutputExistsError(problem, file=path)


def check_output(path: str | os.PathLike, overwrite: bool, *, what: str,
                 recognise: Callable[[Path], bool] | None = None, file_ok: bool = False) -> None:
    """Refuse an output that exists without ``overwrite``, or that holds something
    encoderkit did not write (``recognise`` says what a directory must be; ``file_ok``:
    a regular file may be replaced). An empty directory may always be replaced; a symbolic
    link, a device, a FIFO or a socket never is (``refuse_unreplaceable``), overwrite or not.
    What is there is recorded: the final rename refuses if another process changes it meanwhile."""
    if os.fspath(path) == "-":  # the shell's word for standard output: it made a file named '-'
        raise UsageError("output=- (standard output) is not written to: an output is written under a "
                         "temporary name and renamed into place, so it needs a file name", key="output")
    target = Path(path).expanduser()
    check_parent(target)
    _checked()[_key(target)] = stamp(target)
    reads_checked()
    refuse_unreplaceable(target)  # before the overwrite check: overwrite=true would not help
    if not (target.exists() or target.is_symlink()):
        return
    if not overwrite:
        raise OutputExistsError("already exists; pass overwrite=true to replace it", file=target)
    if target.is_dir():  # a link, to a folder or not, was refused above
        if file_ok and recognise is None:  # a file is renamed onto it at the end: that fails (EISDIR)
            raise OutputExistsError("is a directory, and the output is a single file, which cannot replace "
                                    "it: choose another output", file=target)
        if not any(target.iterdir()) or (recognise is not None and recognise(target)):
            return
        raise OutputExistsError(f"is a directory that is not {what} (it holds other files); "
                                f"overwrite=true only replaces what encoderkit wrote, so it is left "
                                f"untouched: choose another output", file=target)
    if not file_ok:
        raise OutputExistsError(f"is a file, not {what}; overwrite=true only replaces what "
                                f"encoderkit wrote: choose another output", file=target)
    if not os.access(target, os.W_OK):
        raise DataError("exists and is not writable", file=target)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """``text`` to ``path`` under a temporary name, then renamed: a reader sees the old file
    or the new one, never half of it. A failed write (a full disk, a quota) is one line
    naming ``path``, its temporary removed."""
    path = Path(path)
    tmp = sibling(path, "tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        raise DataError(f"cannot write: {e.strerror or e}", file=path) from None
    finally:
        # a read-only file system refuses the unlink too (EROFS): the DataError above, not
        # that, is what the user reads
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` with a temporary file name beside ``path``, then rename it onto
    ``path``: a reader sees the old file or the new one, never half of one, and a failed or
    interrupted write leaves nothing behind; if another process wrote ``path`` meanwhile
    (since ``check_output``), the rename is refused (``publish``). The temporary name ends as ``path`` does, so
    writers that go by the name (``np.savez`` appends ``.npz`` otherwise; pandas infers the
    compression) write the same kind of file; it gets the mode ``open`` would give it."""
    import tempfile

    path = os.fspath(path)
    found = checked_stamp(path)  # checked at the command's start, else now
    room = NAME_MAX - len(".tmp-") - PID_WIDTH  # mkstemp's 8 letters in between
    # beside the path ``publish`` renames onto (``~`` expanded): not in a folder named ``~`` here
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=short_name(os.path.basename(path), room),
                               dir=os.path.dirname(_key(path)))
    os.close(fd)
    try:
        write(tmp)
        as_created(tmp)
        publish(tmp, path, found)
    except BaseException:
        with contextlib.suppress(OSError):  # as write_text_atomic: the error being raised counts
            os.unlink(tmp)
        raise


def as_created(tmp: str | os.PathLike) -> None:
    """Give a ``tempfile.mkstemp`` file (mode 0600) the mode a file created by ``open``
    gets (0666 less the umask) before it is renamed to a user's output: otherwise a filled
    file is readable by its owner only."""
    os.chmod(tmp, 0o666 & ~current_umask())


_UMASK: list[int] = []  # the umask read the old way, once (systems without /proc)


def current_umask() -> int:
    """The process's umask, read without changing it: ``os.umask(0); os.umask(mask)`` left it
    0 for a moment, and a file another thread created then got mode 0666 whatever the user's
    umask (077 included). Linux says it in ``/proc/self/status``; elsewhere it is read the old
    way once, at the first call, and kept (a program that changes its umask later is rare)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    if not _UMASK:
        mask = os.umask(0o077)  # the briefest window, and the strictest mask within it
        os.umask(mask)
        _UMASK.append(mask)
    return _UMASK[0]


def write_error(exc: Exception, path: str | os.PathLike) -> EncoderkitError:
    """An ``OSError`` raised while writing ``path`` as a one-line ``DataError``; one that is
    already an encoderkit error (``OutputExistsError`` of the final rename) as it is, not
    nested in "cannot write the output: <absolute path>: ..."; a writer's own error around
    the system's (safetensors' "I/O error: No space left on device (os error 28)") as that."""
    import re

    if isinstance(exc, EncoderkitError):
        return exc
    reason = getattr(exc, "strerror", None) or str(exc)
    code = re.search(r"\(os error (\d+)\)", reason)
    if code:
        reason = os.strerror(int(code.group(1)))
    return DataError(f"cannot write the output: {reason}", file=path)


# An entry a writer renamed within this many seconds may be a live writer's on another host or
# in another pid namespace (a shared file system), whose pid means nothing here: its two renames
# come back to back, so an older entry is one no writer is still between.
RECENT_SECONDS = 60.0


def _recent(p: Path) -> bool:
    try:
        return time.time() - p.lstat().st_ctime < RECENT_SECONDS
    except OSError:
        return True


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (on this machine): a signal-0 probe."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def remove_dead_temporaries(folder: str | os.PathLike, prefix: str) -> None:
    """Remove ``<prefix><pid>`` entries of ``folder`` whose process is gone: what a killed
    writer of the same output left (possibly gigabytes). A live process's temporary, this
    process's included, is left alone."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return
    for p in entries:
        rest = p.name[len(prefix):] if p.name.startswith(prefix) else ""
        if not rest.isdigit() or int(rest) == os.getpid() or process_alive(int(rest)):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:  # best effort, as rmtree above: a leftover we cannot remove does not stop the write
            with contextlib.suppress(OSError):
                p.unlink()


def restore_dead_replaced(target: str | os.PathLike, old_prefix: str | None = None,
                          complete: Callable[[Path], bool] | None = None) -> None:
    """Finish what a writer killed between its two renames (``target -> <old_prefix><pid>``,
    then its temporary -> ``target``) left, when process ``pid`` is gone: with ``target``
    missing, the old copy is renamed back (a killed write leaves the old output, as a kill at
    any other moment does); with ``target`` present (the kill came after the second rename), the
    old copy is removed. ``complete`` says whether an old copy is whole (only such a copy is
    restored). A warning says what was done. ``old_prefix`` defaults to ``<name>.old-``
    (``sibling_prefix``)."""
    import warnings

    target = Path(target)
    prefix = old_prefix if old_prefix is not None else sibling_prefix(target.name, "old", "")
    try:
        entries = [p for p in target.parent.iterdir() if p.name.startswith(prefix)] \
            if target.parent.is_dir() else []
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)  # the newest is restored
    except OSError:
        return
    for p in entries:
        rest = p.name[len(prefix):] if p.name.startswith(prefix) else ""
        if not rest.isdigit() or _recent(p):
            continue
        # a process's own pid too once the entry is old: a writer renames its old output back to
        # back, and in a container every run may be pid 1
        if int(rest) != os.getpid() and process_alive(int(rest)):
            continue
        if not (target.exists() or target.is_symlink()):
            if complete is not None and not complete(p):  # unreadable now, or partial: said, kept
                warnings.warn(f"{target}: no output there, and {p.name}, the previous one a writer "
                              f"(process {rest}) moved aside, does not read as complete: left as it is",
                              stacklevel=2)
                continue
            try:
                os.rename(p, target)
            except OSError:  # another process restored one first (else: a read-only folder)
                if not target.exists():
                    continue  # the only copy: never removed
            else:
                warnings.warn(f"{target}: a writer (process {rest}) was killed while replacing it and "
                              f"left no output there; restored the previous one from {p.name}", stacklevel=2)
                continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        if not p.exists():
            warnings.warn(f"{target}: removed {p.name}, the previous output a writer (process {rest}) "
                          f"killed while replacing it left behind", stacklevel=2)


# Work folders of a command in the temporary directory (impute's, parallel ingest's spools): a
# marker file inside names the owner, so a later run removes those a killed process left.
WORK_MARKER = ".encoderkit-work.json"
# what every encoderkit work folder's name starts with: making any one removes the dead ones of
# them all, so a killed large-table read's copy of every cell waits for the next encoderkit
# command, not for the next large-table read
WORK_PREFIX = "encoderkit-"


def _host() -> str:
    import socket

    return socket.gethostname()


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux), None where unknown: a
    recycled pid then has another start time than the marker recorded."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pid_namespace() -> str | None:
    """This process's pid namespace and boot (Linux), None where unknown: containers of one pod
    share a host name and may share /tmp, but not their pids, so a pid is judged only by a
    process of the same namespace and boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot = fh.read().strip()
        return f"{os.stat('/proc/self/ns/pid').st_ino}:{boot}"
    except OSError:
        return None


def _owner_alive(marker: Mapping[str, Any]) -> bool:
    pid, started = marker.get("pid"), marker.get("started")
    if not isinstance(pid, int) or not process_alive(pid):
        return False
    now = _start_time(pid)
    return started is None or now is None or now == started


def remove_dead_work_dirs(prefix: str = WORK_PREFIX, dir: str | os.PathLike | None = None) -> None:
    """Remove the work folders ``<dir>/<prefix>*`` (default: the temporary directory; every
    encoderkit prefix by default) that ``make_work_dir`` made for a process of this host that
    is gone (a SIGKILL, the out-of-memory killer). Only folders holding its marker, made with
    a prefix that starts with ``prefix`` and names the folder, are touched: another host's, a
    live process's and anything else in the folder are left alone."""
    import tempfile

    folder = Path(dir if dir is not None else tempfile.gettempdir())
    try:
        entries = [p for p in folder.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    host, uid, pidns = _host(), os.geteuid() if hasattr(os, "geteuid") else None, _pid_namespace()
    for p in entries:
        marker = p / WORK_MARKER
        try:
            if p.is_symlink() or not p.is_dir() or marker.is_symlink() or not marker.is_file():
                continue
            if uid is not None and p.stat().st_uid != uid:
                continue
            owner = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        made = owner.get("prefix") if isinstance(owner, dict) else None  # the prefix it was made with
        if not isinstance(made, str) or not made.startswith(prefix) or not p.name.startswith(made) \
                or owner.get("host") != host or owner.get("pidns") != pidns:  # another container's pids
            continue  # mean nothing here
        if owner.get("pid") == os.getpid() and owner.get("started") == _start_time(os.getpid()):
            continue  # this process's own (another work folder of the same command)
        if not _owner_alive(owner):
            shutil.rmtree(p, ignore_errors=True)


def make_work_dir(prefix: str, dir: str | os.PathLike | None = None) -> Path:
    """A new work folder ``<dir>/<prefix><pid>-XXXXXXXX`` (``dir``: the temporary directory by
    default) with a marker naming this process and host; first removes the ones that dead
    processes of this host left there, of every encoderkit prefix (``WORK_PREFIX``; of
    ``prefix`` alone for a prefix of another name) (``remove_dead_work_dirs``). The caller
    removes its own when done."""
    import tempfile

    remove_dead_work_dirs(WORK_PREFIX if prefix.startswith(WORK_PREFIX) else prefix, dir)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=dir))
    owner = {"pid": os.getpid(), "host": _host(), "started": _start_time(os.getpid()), "prefix": prefix,
             "pidns": _pid_namespace()}
    try:
        (path / WORK_MARKER).write_text(json.dumps(owner))
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


@contextlib.contextmanager
def work_dir(prefix: str, dir: str | os.PathLike | None = None):
    """``make_work_dir`` as a context manager: the folder is removed on leaving."""
    path = make_work_dir(prefix, dir)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
