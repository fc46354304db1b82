"""The pieces of an append that links instead of copies (``StoreWriter.start_from``): which
``os.link`` errors mean "no hard links here", whether two zarr arrays store a chunk index in the
same file, the linking itself, and the dtype of a meta array of old plus appended records
(applied a chunk at a time by ``store_columns.write_meta``)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# os.link failing with one of these means "no hard links here" (another file system, a file
# system without them, a protected link): an append then copies the records instead
NO_LINK = frozenset(getattr(errno, n) for n in ("EXDEV", "EPERM", "EMLINK", "ENOTSUP", "EOPNOTSUPP",
                                                 "ENOSYS", "EACCES") if hasattr(errno, n))


def meta_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """The dtype ``np.asarray`` gives the values of arrays of ``dtypes`` put in one list:
    numbers promote (``np.result_type``: bool with int is int, int with float is float;
    promotion is associative, so block by block gives the dtype of the whole), strings stay
    strings and numbers beside strings become strings. Anything else is object (refused)."""
    kinds = {d.kind for d in dtypes}
    if not kinds or not kinds <= set("biufUS"):
        return np.dtype(object)
    if kinds <= set("biuf"):
        return np.result_type(*dtypes)
    return np.dtype(str)


def as_meta(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` in the meta dtype ``dtype``: numbers cast; strings, and numbers beside
    strings (rendered as ``np.asarray`` renders them), as numpy str."""
    return values.astype(str) if dtype.kind == "U" else values.astype(dtype, copy=False)


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
