"""A run's directory: whether a ``run.dir`` may be run in (``check_run_dir``: a run's own
folder or a new one, never a user's; ``check_no_links``; another command's run folder, such
as impute's ``run_dir``, is checked in its own flavour, a ``RunFolder``; ``empty_run_dir``),
the leftovers a crash leaves in it (``remove_run_leftovers``, ``discard_metrics``), the
one-line error of a ``run.dir`` that cannot be made (``run_dir_error``), and the lock that
keeps two runs out of one directory (``lock_run_dir`` / ``unlock_run_dir``, held across an ensemble's members by
``keep_run_dir_locks``).

Split out of ``checkpoint.py`` (what is saved and loaded); its names stay importable from
there. Needs no torch.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from encoderkit.errors import DataError, EncoderkitError
from encoderkit.outputs import write_error

# run-directory files written through a temporary name; a crash can leave the temporary
RUN_TEMP_PREFIXES = (".metrics.jsonl.tmp-", ".config.yaml.tmp-", ".loss.png.tmp-")


# why a run.dir cannot be made that lies in the path the user named (exit 2, as a mistyped
# parameter): a file where a folder must be, a name too long, a loop of links. Anything else
# (a full disk, EIO, a read-only file system, no permission) is the disk's: exit 1, as any
# write that fails (``outputs.write_error``).
_NAMED_WRONG = frozenset({errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP})
# the longest name (bytes) common file systems take for one folder (NAME_MAX of ext4, xfs, apfs)
_NAME_MAX = 255

# What a run directory holds (pretraining, fine-tuning, an ensemble); anything else is the
# user's, and a run there would overwrite or mix with it.
RUN_ENTRIES = frozenset({"config.yaml", "metrics.jsonl", "loss.png", "checkpoints", "best",
                         "split.json", "members", "ensemble.json"})


def check_no_links(run_dir: Path) -> None:
    """A ``DataError`` naming the link where ``checkpoints/``, ``best/`` or ``members/`` of
    ``run_dir``, or an entry of ``checkpoints/`` or ``members/``, is a symlink: a resumed run
    wrote into the linked run's folder and pruned that run's checkpoints (``train.keep``); a
    member linked to another run resumed that run."""
    def entries(folder: Path) -> list[Path]:
        return sorted(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []
    for p in [run_dir / "checkpoints", run_dir / "best", run_dir / "members",
              *entries(run_dir / "checkpoints"), *entries(run_dir / "members")]:
        if p.is_symlink():
            raise DataError("is a link: a run's checkpoints are written and pruned in place; a link "
                            "would write into and delete from the folder it points to; copy the files in",
                            file=p)


@dataclass(frozen=True)
class RunFolder:
    """Which command's folder a run directory is, for ``check_run_dir``: the parameter naming
    it, whose folder it is and what the command writes there (for the refusal), and
    ``foreign``: what an existing folder holds that the command did not write (None: nothing,
    the folder is new, empty, or the command's own)."""

    key: str
    whose: str
    writes: str
    foreign: Callable[[Path], str | None]


def _not_a_trainers(run_dir: Path) -> str | None:
    """A trainer's folder has a ``config.yaml`` a run wrote (other files beside it, such as
    predictions written there, are the user's and stay); without one, it holds nothing but
    what runs write (checkpoints copied in, the metrics of an attempt killed early)."""
    import yaml

    config = run_dir / "config.yaml"
    if config.exists():
        try:
            loaded = yaml.safe_load(config.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            loaded = None
        return None if isinstance(loaded, dict) and {"train", "model", "data"} <= set(loaded) else \
            "a config.yaml that no run wrote"
    return named_entries([p.name for p in run_dir.iterdir()
                          if p.name not in RUN_ENTRIES and not p.name.startswith(RUN_TEMP_PREFIXES)])


def named_entries(names: list[str]) -> str | None:
    """``names`` (of a folder's entries) in a refusal: the first and how many more; None: none."""
    names = sorted(names)
    return (repr(names[0]) + (f" and {len(names) - 1} more" if len(names) > 1 else "")) if names else None


TRAINER = RunFolder("run.dir", "a run's", "a run", _not_a_trainers)


def check_run_dir(run_dir: Path, kind: RunFolder = TRAINER) -> bool:
    """Refuse a run directory (``kind.key``) that exists and is not ``kind``'s: pretraining
    into a user's folder replaced its ``config.yaml`` / ``metrics.jsonl`` / ``loss.png``
    without a word, and into a record store's folder mixed a run with the store; impute
    replaced a user's ``holed.csv``. Also refused: a file in its place, a new folder where it
    cannot be made, a linked ``checkpoints/`` / ``best/`` / ``members/`` (``check_no_links``).
    The folder itself may be a link: the run writes in the folder it points to. True where
    the folder exists and holds anything (an earlier run of ``kind``)."""
    from encoderkit.train.config import ConfigError

    run_dir = Path(run_dir)
    try:  # a name longer than the file system takes fails the first stat: one line, not a traceback
        if not run_dir.is_dir():
            if run_dir.exists() or run_dir.is_symlink():  # a file, or a link to nothing
                raise run_dir_error(run_dir, OSError(errno.EEXIST, os.strerror(errno.EEXIST)), key=kind.key)
            _check_creatable(run_dir, kind.key)
            return False
        held = any(run_dir.iterdir())
    except OSError as e:
        raise run_dir_error(run_dir, e, key=kind.key) from None
    check_no_links(run_dir)
    what = kind.foreign(run_dir) if held else None
    if what is not None:
        raise ConfigError(f"The {kind.key!r} parameter {str(run_dir)!r} is a folder that is not {kind.whose} "
                          f"(it holds {what}): {kind.writes} there would overwrite or mix with those files; "
                          f"name a new or empty folder", key=kind.key)
    return held


def empty_run_dir(run_dir: Path) -> None:
    """Remove what ``run_dir`` holds, never following a link: a linked entry is unlinked, and
    a ``run_dir`` that is itself a link keeps its link and its target folder (emptied)."""
    import shutil

    for p in Path(run_dir).iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def run_dir_error(run_dir: Path, exc: OSError, key: str = "run.dir") -> EncoderkitError:
    """``exc``, raised while checking or making ``run_dir`` (the ``key`` parameter), as the
    one-line error to report: a ``ConfigError`` (exit 2) naming the part of the path at fault
    where the user named a path that cannot be a folder (``_NAMED_WRONG``), else the disk's
    ``DataError`` (exit 1) naming the folder and the system's reason."""
    from encoderkit.train.config import ConfigError

    if exc.errno not in _NAMED_WRONG:
        return write_error(exc, run_dir)
    return ConfigError(f"The {key!r} parameter {str(run_dir)!r} cannot be created: "
                       f"{_named_wrong(Path(run_dir), exc)}; choose another {key}", key=key)


def _named_wrong(run_dir: Path, exc: OSError) -> str:
    """What in ``run_dir`` keeps it from being a folder, for an ``exc`` of ``_NAMED_WRONG``."""
    if exc.errno == errno.ENAMETOOLONG:
        longest = max(run_dir.absolute().parts, key=lambda part: len(os.fsencode(part)))
        size = len(os.fsencode(longest))
        if size > _NAME_MAX:
            return (f"the name {longest[:24]!r}... is {size} bytes long, more than the file "
                    f"system takes ({exc.strerror})")
        return f"the path is longer than the file system takes ({exc.strerror})"
    for p in (run_dir, *run_dir.parents):  # as the user wrote it: the part at fault
        with contextlib.suppress(OSError):
            if p.is_symlink() and not p.exists():
                return f"{str(p)!r} is a link that leads to no folder (a missing target, or a loop)"
            if p.exists() and not p.is_dir():
                return f"{str(p)!r} is a file, not a folder"
    return exc.strerror or str(exc)


def _check_creatable(run_dir: Path, key: str = "run.dir") -> None:
    """A new ``run.dir`` whose nearest existing folder cannot be written to (a read-only
    file system, a shared model mount, no permission) is a ``DataError`` (exit 1), as a
    file that cannot be written is, not a mistyped parameter (exit 2)."""
    folder = run_dir.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"the run folder cannot be created: {folder} is not writable (a read-only file "
                        f"system, or no permission); choose a {key} where this user can write",
                        file=run_dir, key=key)


def remove_run_leftovers(run_dir: Path) -> None:
    """Remove temporaries of metrics.jsonl / config.yaml / loss.png left by a crash."""
    if Path(run_dir).is_dir():
        for p in Path(run_dir).iterdir():
            if p.name.startswith(RUN_TEMP_PREFIXES) and p.is_file():
                p.unlink(missing_ok=True)


def discard_metrics(run_dir: Path) -> None:
    """A run starting without a checkpoint: metrics logged by an earlier attempt that
    never checkpointed describe nothing the run keeps, so they are dropped."""
    for name in ("metrics.jsonl", "loss.png"):
        (Path(run_dir) / name).unlink(missing_ok=True)


_HELD: dict[str, list[int]] = {}  # run directories this process has locked: [fd, holders, thread]
# flock is per process: another thread of it (a service's thread pool) was let into a run
# directory a thread held, as a further holder. A finetune entered the run.dir of another
# thread's ensemble between its members, resumed its root run to other steps and left an
# ensemble.json over a mix of the two runs; another process is refused. So a directory is the
# thread's that locked it (``thread``), and only that thread changes its entry: no lock needed
# (the session lock would make a finetune that ends wait for another thread's whole training).
# the open keep_run_dir_locks scopes of each thread: the run directories each holds (per
# thread: another thread's run between an ensemble's members is not kept to that ensemble's end)
_SCOPES = threading.local()


def _kept() -> list[set[str]]:
    if not hasattr(_SCOPES, "kept"):
        _SCOPES.kept = []
    return _SCOPES.kept


def lock_run_dir(run_dir: Path) -> str | None:
    """Hold an exclusive lock on ``run_dir`` (``flock`` on the directory itself: no file is
    added, and the kernel releases it when the process ends, however it ends). Two runs in
    one directory would overwrite each other's checkpoints and interleave their metrics, and
    the second's start-up removes the first's checkpoint being written. A ``DataError`` when
    another process, or another thread of this one, holds it; the thread that holds it may
    take it again (an ensemble's members; ``unlock_run_dir`` as often).
    Returns the key to unlock with; None (no lock) where the file system has no ``flock``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    key = os.path.realpath(run_dir)
    hold = _HELD.get(key)  # one read: the holding thread may drop it meanwhile
    if hold is not None:
        if hold[2] != threading.get_ident():
            raise _in_use(run_dir)
        hold[1] += 1
    else:
        try:
            fd = os.open(key, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _in_use(run_dir) from None
        except OSError:  # a file system without flock (some network file systems): no lock
            os.close(fd)
            return None
        _HELD[key] = [fd, 1, threading.get_ident()]
    scopes = _kept()
    if scopes and not any(key in kept for kept in scopes):  # one more hold, given back at the scope's end
        _HELD[key][1] += 1
        scopes[-1].add(key)
    return key


def _in_use(run_dir: Path) -> DataError:
    return DataError("is in use by another run (a pretrain or finetune of this directory is still "
                     "running); wait for it to finish, or choose another run.dir", file=run_dir)


@contextlib.contextmanager
def keep_run_dir_locks() -> Iterator[None]:
    """Run-directory locks taken inside are held to its end, not given back when each run
    finishes: a finetune of several members (``task.ensemble``, its probe member) holds its
    ``run.dir`` from the first member to ``ensemble.json``, so a second identical command is
    refused at once, not after member 0 (it then trained member 0 again while the first
    command trained member 1, and both wrote the run's files)."""
    kept: set[str] = set()
    _kept().append(kept)
    try:
        yield
    finally:
        _kept().remove(kept)
        for key in kept:
            unlock_run_dir(key)


def unlock_run_dir(key: str | None) -> None:
    hold = _HELD.get(key) if key is not None else None
    if hold is None or hold[2] != threading.get_ident():  # (another thread's: not this one's to give back)
        return
    hold[1] -= 1
    if hold[1] <= 0:
        del _HELD[key]
        os.close(hold[0])  # closing the descriptor releases the flock
