"""Which store lies at a path, and which records it holds.

``_stamp``: the identity of what is at a local store's path, so a reader or an appending
writer notices a store replaced (renamed over) since it looked; ``recover_stranded``: puts
back what a writer killed between its two renames left aside; ``records_identity``: a digest
of the records a store holds, so a resumed run can tell it still trains on them.

Split out of ``store.py``; its names stay importable from there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from encoderkit.data.store_format import ATTR


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode of the folder, inode of its root ``zarr.json``) of a local store, None when
    absent. Every writer replaces a store by renaming a new folder over it, made while the
    old one still exists, so the folder's inode changes; the root file's inode guards against
    a filesystem that reuses the folder's number. Not the ctime: a ``chmod``, ``touch`` or a
    file a desktop drops into the folder changes it and refused reads of an unchanged store."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        root = os.stat(path / "zarr.json").st_ino
    except OSError:
        root = -1
    return st.st_ino, root


def recover_stranded(target: Path) -> None:
    """Undo what a writer killed between ``finalize``'s two renames (``target ->
    <name>.old-<pid>``, ``<name>.tmp-<pid> -> target``) left: with no store at ``target``, the
    old store goes back there; once the new one is in place, the old one is removed. A
    warning says which (see ``outputs.restore_dead_replaced``)."""
    from encoderkit.outputs import _zarr_attrs, restore_dead_replaced

    def complete(p: Path) -> bool:
        return p.is_dir() and ATTR in (_zarr_attrs(p) or {})

    restore_dead_replaced(target.absolute(), complete=complete)


def records_identity(provenance: Mapping[str, Any], info: Mapping[str, Any], offsets: np.ndarray) -> str:
    """``RecordStore.identity`` of a store with this provenance, attribute block and offsets:
    domain, schema, fields, counts, the sha256 of the source files and every record's length,
    not when or where it was written. ``ingest.run_records`` computes it for the store as it
    was before its appends."""
    import hashlib

    files = [f.get("sha256") or f.get("path") for f in provenance.get("files", []) if isinstance(f, Mapping)]
    described = {k: info.get(k) for k in ("domain", "schema", "fields", "meta", "num_records",
                                           "num_tokens", "has_ids")}
    described.update(files=files, options=provenance.get("options"))
    h = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(offsets, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]
