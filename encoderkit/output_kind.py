"""The kind of file an output's name says, against the data written there (``check_output_kind``,
re-exported by ``encoderkit.outputs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def check_output_kind(output: str, data: Any, parquet: bool) -> None:
    """The output's suffix must be one ``data``'s kind is written as: a table as delimited
    text (or Parquet where ``parquet``), one array as .npy, a dict of arrays as .npz. The
    writers follow the data, not the name: a .npy name once got CSV text and an .xlsx name
    delimited text, with exit 0. A ``UsageError`` before any work (impute) or fill (infill)."""
    import pandas as pd

    from encoderkit.data.textfiles import TEXT_TABLE_SUFFIXES, plain_name
    from encoderkit.errors import UsageError

    if isinstance(data, pd.DataFrame):
        kinds = TEXT_TABLE_SUFFIXES + ((".parquet", ".pq") if parquet else ())
        what = "a table"
    elif isinstance(data, Mapping):
        kinds, what = (".npz",), "a dict of series arrays (.npz)"
    else:
        kinds, what = (".npy",), "one array (.npy)"
    fmt = Path(plain_name(output)).suffix.lower()
    if fmt not in kinds:
        raise UsageError(f"The 'output' parameter {output!r} names a {fmt or 'suffix-less'} file, but "
                         f"the input is {what}, written as {', '.join(kinds)}: name the output like "
                         f"that (or convert the input first)", key="output")
