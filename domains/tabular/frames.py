"""The tabular domain's DataFrame entry points: ``ingest_frame`` (the Python API twin of
``encoderkit ingest domain=tabular``) and ``sample_frame`` (the bundled anes96 table behind
the samples); importable from ``domain`` (and the package) as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from encoderkit.domain import IngestReport

from domains.tabular.schema import as_frame


def sample_frame() -> pd.DataFrame:
    """anes96 from statsmodels, with the survey answers (integer codes) as ints."""
    from statsmodels.datasets import anes96

    frame = anes96.load_pandas().data.copy()
    for c in ("TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "educ", "income", "vote", "age"):
        frame[c] = frame[c].astype("int64")
    return frame


def ingest_frame(frame: pd.DataFrame | np.ndarray, output: str, overwrite: bool = False,
                 verbose: bool = True, **options: Any) -> IngestReport:
    """A DataFrame (or 2-D array) -> a tabular record store at ``output`` (the Python API
    twin of ``encoderkit ingest domain=tabular``); same ingest options, same report."""
    import time

    from encoderkit import __version__
    from encoderkit.data.store import StoreWriter

    from domains.tabular.domain import TabularDomain

    report = IngestReport()
    frame = as_frame(frame)
    with StoreWriter(output, TabularDomain.name, overwrite=overwrite) as writer:
        schema = TabularDomain.ingest_frame(frame, writer, report, **options)
        if report.records == 0:
            raise ValueError(f"tabular ingest of a frame of {len(frame)} rows wrote no records "
                             f"(skipped: {dict(report.skipped) or 'none'})")
        writer.finalize(schema, {"files": [], "options": options, "command": "ingest_frame",
                                 "source": f"DataFrame {frame.shape[0]}x{frame.shape[1]}",
                                 "encoderkit_version": __version__, "created_unix": time.time()})
    if verbose:
        print(f"ingest tabular: DataFrame {frame.shape[0]} x {frame.shape[1]} -> {output}")
        print(report.summary())
    return report
