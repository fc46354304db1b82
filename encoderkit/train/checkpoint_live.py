"""Reading a run while it trains: its checkpoints are removed (``train.keep``) and replaced
(best/, a step re-saved after a resume) under the reader's feet. A folder that disappears or
changes while it is read was removed or replaced, not damaged (``checkpoint_identity`` before
and after tells), and the reader chooses again (``newest_valid_checkpoint``,
``encoderkit.infer.load``); ``CheckpointRemoved`` says so when it keeps happening. A folder
replaced in place is set ``aside`` for the instant its replacement takes its name, so a
reader that finds it missing can tell that instant (``being_replaced``) from its absence.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from encoderkit.errors import DataError
from encoderkit.outputs import process_alive

# a checkpoint's state file: the one definition (``checkpoint`` and ``compose_compat``, which
# must not load torch, take it from here)
STATE_FILE = "state.json"


class CheckpointRemoved(DataError):
    """A checkpoint folder removed or replaced while it was read (``train.keep`` pruning it, a
    re-save of its step, best/ replaced): nothing is damaged, and a reader chooses again."""

    def __init__(self, where: Path | str, tries: int = 1) -> None:
        super().__init__("the run is being written and its checkpoints replaced while they are read"
                         + (f" ({tries} tries)" if tries > 1 else "")
                         + "; retry, or read its best/ or a finished run", file=where)


def checkpoint_identity(path: Path) -> tuple[int, int, str] | None:
    """What tells a checkpoint folder from another that took its name later (the folder's
    inode and its state.json's sha256); None when it is gone. A reader compares it before and
    after reading: a change means removed or replaced, not damaged."""
    try:
        st = os.stat(path)
        state = hashlib.sha256((Path(path) / STATE_FILE).read_bytes()).hexdigest()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:  # there but unreadable (no permission): the reader's own error says so
        return (-1, -1, f"errno {e.errno}")
    return st.st_dev, st.st_ino, state


def aside(directory: Path) -> Path:
    """Where a checkpoint folder replaced in place (best/, a re-saved step) waits, for the
    instant its replacement takes its name; ``being_replaced`` looks for it."""
    return directory.parent / f".tmp-old-{directory.name}-{os.getpid()}"


def being_replaced(directory: Path) -> bool:
    """Whether ``directory`` is in the instant of its replacement: set ``aside`` by a process
    still running (one that died there left its aside behind: nothing is coming)."""
    prefix = f".tmp-old-{directory.name}-"
    try:
        names = [p.name for p in directory.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:  # no folder to hold it
        return False
    return any(name[len(prefix):].isdigit() and process_alive(int(name[len(prefix):])) for name in names)
