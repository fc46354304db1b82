"""Predictions as a frame and as a file: ``prediction_frame`` (one row per record, or per
(record, position) for token tasks), the labels' kind in each file format (``as_written``),
and ``write_frame`` (CSV / TSV / Parquet, atomically). Split from ``predict.py``, which
re-exports these names."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.errors import OutputExistsError, UsageError
from encoderkit.tasks import labels as L
from encoderkit.tasks.spec import CLASS_TASKS, TaskSpec


def prediction_frame(spec: TaskSpec, ids: list[str], outs: list[np.ndarray]):
    """The predictions table from per-record probabilities / original-unit values (``values``).
    A class prediction is in the labels' kind (``labels.class_values``: ints for int labels);
    ``as_written`` turns it back into the class names the run's files hold."""
    import pandas as pd

    t = spec.type
    if spec.token_level:
        rid = np.concatenate([[i] * len(o) for i, o in zip(ids, outs)]) if outs else np.zeros(0)
        pos = np.concatenate([np.arange(len(o)) for o in outs]) if outs else np.zeros(0, int)
        values = np.concatenate(outs) if outs else np.zeros((0, spec.num_outputs))
        frame = pd.DataFrame({"id": rid, "position": pos})
    else:
        values = np.stack(outs) if outs else np.zeros((0, spec.num_outputs))
        frame = pd.DataFrame({"id": list(ids)})
    if t in CLASS_TASKS:
        codes = values.argmax(1) if len(values) else np.zeros(0, np.int64)
        # the labels' own kind (1, not '1', for int labels): compared with them as they are
        frame["prediction"] = L.class_values(spec.classes, spec.class_kind)[codes]
        columns = {f"proba_{c}": values[:, j] for j, c in enumerate(spec.classes)}
    elif t == "multilabel":
        # an empty predicted set as L.EMPTY_SET: an empty cell reads back as unlabelled
        frame["prediction"] = [";".join(c for c, p in zip(spec.classes, row) if p >= 0.5) or L.EMPTY_SET
                               for row in values]
        columns = {f"proba_{c}": values[:, j] for j, c in enumerate(spec.classes)}
    elif len(spec.targets) == 1:
        frame["prediction"] = values[:, 0]
        columns = {}
    else:
        columns = {f"prediction_{name}": values[:, j] for j, name in enumerate(spec.targets)}
    # one block, not a column at a time: with 100+ classes pandas warned "highly fragmented"
    return pd.concat([frame, pd.DataFrame(columns, index=frame.index)], axis=1) if columns else frame


def as_written(frame: Any, spec: TaskSpec, kind: str = "csv") -> Any:
    """``frame`` as a predictions file of ``kind`` (``output_format``) holds it. In a CSV /
    TSV the class predictions are the class names (text), as a predictions file has always
    written them (``true``, ``1`` for a float label 1.0), not the typed values
    ``prediction_frame`` returns to Python. A Parquet file has types: the predictions keep
    the labels' own (int64, bool, float, text), so ``label == prediction`` holds there as in
    Python (as text, int 0/1 labels matched no prediction); only a kind Parquet has no type
    for (ints beyond int64, held as Python ints) is written as its names."""
    if spec.type in CLASS_TASKS and "prediction" in frame.columns:
        if kind == "parquet" and frame["prediction"].dtype != object:
            return frame
        frame = frame.assign(prediction=np.asarray([L._class_name(v) for v in frame["prediction"]],
                                                   dtype=object))
    return frame


def output_format(path: str | Path) -> tuple[str, Any]:
    """``csv`` / ``tsv`` / ``parquet`` of a predictions file by its name, and the compression
    of a text one (``x.csv.gz``: pandas' ``to_csv`` argument, None: plain); a ``UsageError``
    for another name."""
    from encoderkit.data.textfiles import plain_name, write_compression

    name = Path(path).name
    plain, method = plain_name(name), write_compression(name)
    if plain.endswith((".parquet", ".pq")) and method is None:
        return "parquet", None
    if not plain.endswith((".csv", ".tsv", ".tab")):
        raise UsageError(f"output {str(path)!r} must end in .csv, .tsv or .parquet (a .csv / .tsv "
                         f"may be compressed: .gz, .bz2, .xz, .zip)", key="output")
    return ("csv" if plain.endswith(".csv") else "tsv"), method


def write_frame(frame: Any, path: str | Path, overwrite: bool = False) -> Path:
    """CSV / TSV (compressed by name too) / Parquet by suffix, atomically; an existing file
    needs ``overwrite``."""
    path = Path(path).expanduser()  # as check_output checked it: not a folder named ~ in the current one
    kind, method = output_format(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"output {str(path)!r} exists; pass overwrite=true to replace it",
                                file=path)
    from encoderkit.outputs import remove_dead_temporaries, sibling, sibling_prefix

    tmp = sibling(path, "tmp")  # a name too long for its temporary's is shortened
    remove_dead_temporaries(path.parent, sibling_prefix(path.name, "tmp"))  # a killed earlier predict's
    try:
        # as the other writers do: a missing folder is made (check_parent vetted the ancestor)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "parquet":
            import pyarrow as pa

            # opened by the name's bytes: given a name, pyarrow writes to its UTF-8 spelling, which a
            # name under a locale not UTF-8 (or whose bytes are not UTF-8) is not: a UnicodeEncodeError
            with pa.OSFile(os.fsencode(tmp), "wb") as sink:
                frame.to_parquet(sink, index=False)
        else:
            frame.to_csv(tmp, sep="\t" if kind == "tsv" else ",", index=False, compression=method)
        os.replace(tmp, path)
    except OSError as e:
        from encoderkit.outputs import write_error

        raise write_error(e, path) from None
    finally:
        with contextlib.suppress(OSError):  # a read-only folder: the error above is what counts
            tmp.unlink(missing_ok=True)
    return path
