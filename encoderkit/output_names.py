"""Names of the temporaries and set-aside copies written beside an output (``.<name>.tmp-<pid>``,
``<name>.old-<pid>``), kept within the file system's 255 bytes a name: a 246-character output
name the file system takes was refused "File name too long" for its temporary's. Re-exported by
``encoderkit.outputs``."""

from __future__ import annotations

import os
from pathlib import Path

NAME_MAX = 255  # bytes of one file name (ext4, XFS, btrfs, APFS, NTFS in UTF-16 units)
PID_WIDTH = 10  # room kept for the pid (or mkstemp's letters) after a temporary's prefix


def short_name(name: str, room: int) -> str:
    """``name`` itself when its bytes fit ``room``, else its start, ``~``, 12 hex digits of its
    sha256 and its suffix (``.csv``, ``.csv.gz``: writers that go by the name see the same
    kind): the same name for the same output in every process, so a killed writer's temporary is
    still found by its prefix (``remove_dead_temporaries``)."""
    import hashlib

    raw = os.fsencode(name)
    if len(raw) <= room:
        return name
    suffix = _kind_suffix(name)
    mark = "~" + hashlib.sha256(raw).hexdigest()[:12]
    head = name[: len(name) - len(suffix)]  # exactly the text the suffix takes off the end
    limit = max(0, room - len(os.fsencode(mark + suffix)))
    while len(os.fsencode(head)) > limit:  # by characters: a multi-byte one is never split
        head = head[:-1]
    return head + mark + suffix


SUFFIX_MAX = 8  # characters of one suffix kept (``.parquet``); a longer one is no file kind
SUFFIXES_KEPT = 2  # ``.csv.gz``


def _kind_suffix(name: str) -> str:
    """The real trailing suffixes of ``name`` that say its kind: ``Path.suffixes`` from the end,
    at most ``SUFFIXES_KEPT``, each of at most ``SUFFIX_MAX`` characters, stopping at the first
    longer one (``.csv.backup2026x`` is no ``.csv``: none is kept)."""
    kept: list[str] = []
    for part in reversed(Path(name).suffixes[-SUFFIXES_KEPT:]):
        if len(part) > SUFFIX_MAX:
            break
        kept.insert(0, part)
    return "".join(kept)


def sibling_prefix(name: str, tag: str, dot: str = ".") -> str:
    """The prefix of a temporary (``tag`` ``tmp``) or set-aside (``old``) name beside the file
    or folder ``name``, a pid to follow: ``.<name>.tmp-``, with ``name`` shortened where the
    whole would pass the file system's 255 bytes (``short_name``): a 246-character output name
    the file system takes was refused "File name too long" for its temporary's."""
    room = NAME_MAX - len(os.fsencode(f"{dot}.{tag}-")) - PID_WIDTH
    return f"{dot}{short_name(name, room)}.{tag}-"


def sibling(path: str | os.PathLike, tag: str, dot: str = ".") -> Path:
    """``path``'s temporary or set-aside name of this process (``sibling_prefix`` + pid)."""
    path = Path(path)
    return path.with_name(f"{sibling_prefix(path.name, tag, dot)}{os.getpid()}")
