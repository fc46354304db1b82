"""Python API ingest: in-memory sets (lists of arrays or dicts) -> record store."""

from __future__ import annotations

import time
from typing import Any

from encoderkit.data.store import StorePath, StoreWriter
from encoderkit.domain import IngestReport

from .ingest import ingest_objects


def ingest_sets(sets: Any, output: StorePath, overwrite: bool = False, verbose: bool = False,
                **options: Any) -> IngestReport:
    """Write ``sets`` to a new store at ``output``.

    ``sets``: a list (or a name -> set dict) of dicts with any of ``ids`` (items, None =
    missing), ``features`` ``[n, F]`` (NaN = missing), ``coords`` ``[n, 2|3]``; or of
    plain arrays ``[n, k]`` read as coordinates (``arrays_are="coords"``) or features
    (``arrays_are="features"``). Options as for file ingest (``min_count``,
    ``validation_fraction``, ``split_seed``).
    """
    from encoderkit import __version__

    report = IngestReport()
    provenance = {"files": [], "options": options, "command": "domains.sets.ingest_sets",
                  "encoderkit_version": __version__, "created_unix": time.time()}
    with StoreWriter(output, "sets", overwrite=overwrite) as writer:
        schema = ingest_objects(sets, writer, report, **options)
        writer.finalize(schema, provenance)
    if verbose:
        print(report.summary())
    return report
