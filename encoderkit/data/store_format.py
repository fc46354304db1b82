"""What the writer and the reader of a record store share: the format version and attribute
key of the ``encoderkit`` block, the kinds of location a store may be at (``StorePath``), how a
location is named in messages and whether it is a local path, and ``StoreError``.

Split out of ``store.py``; its names stay importable from there.
"""

from __future__ import annotations

import os

import zarr

from encoderkit.errors import DataError

FORMAT_VERSION = 1
ATTR = "encoderkit"

StorePath = str | os.PathLike | zarr.abc.store.Store


class StoreError(DataError):
    """A store that cannot be read or written: names the location and the problem."""


def _describe(path: StorePath) -> str:
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    return f"<{type(path).__name__}>"


def _is_local(path: StorePath) -> bool:
    return isinstance(path, os.PathLike) or (isinstance(path, str) and "://" not in path)
