"""The pieces of an append that links instead of copies (``StoreWriter.start_from``): which
``os.link`` errors mean "no hard links here", whether two zarr arrays store a chunk index in the
same file, the linking itself, and the meta arrays of old plus appended records."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

# os.link failing with one of these means "no hard links here" (another file system, a file
# system without them, a protected link): an append then copies the records instead
NO_LINK = frozenset(getattr(errno, n) for n in ("EXDEV", "EPERM", "EMLINK", "ENOTSUP", "EOPNOTSUPP",
                                                 "ENOSYS", "EACCES") if hasattr(errno, n))


def meta_array(base: np.ndarray | None, values: list[Any]) -> np.ndarray:
    """One meta array from the started-from store's values and the appended ones: what
    ``np.asarray`` of all of them gives (the copying append's array), without a Python
    object per old record where the kinds agree (then concatenation promotes alike)."""
    if base is None:
        return np.asarray(values)
    if not values:
        return base
    new = np.asarray(values)
    if (base.dtype.kind in "biuf" and new.dtype.kind in "biuf") or base.dtype.kind == new.dtype.kind == "U":
        return np.concatenate([base, new])
    return np.asarray(list(base) + list(values))


def layout(arr: Any) -> str:
    """An array's zarr metadata without its length: two arrays with the same layout store a
    chunk index in the same file, encoded the same way (codecs, fill value, key encoding)."""
    meta = arr.metadata.to_dict()
    meta.pop("shape", None)
    return json.dumps(meta, sort_keys=True, default=str)


def link_chunks(src: Path, dst: Path, meta: Any, count: int) -> None:
    """Hard-link chunk files 0..count-1 (along the token axis) of an array folder into another.
    An absent chunk file is a chunk of fill values (zarr does not write those): none is linked."""
    trailing = (0,) * (len(meta.shape) - 1)
    made: set[Path] = set()
    for k in range(count):
        key = meta.encode_chunk_key((k, *trailing))
        target = dst / key
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        try:
            os.link(src / key, target)
        except FileNotFoundError:
            if not src.is_dir():  # the folder itself is gone: not a chunk of fill values
                raise
            continue
