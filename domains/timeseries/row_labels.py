"""The row index pandas or R wrote into a series table: no channel.

``df.to_csv()`` writes the frame's index before the data, under a blank header cell (read
back as ``Unnamed: 0``): 0..n-1, or a filtered frame's 0, 2, 5 or a shuffled one's 7, 3, 1.
Read as every number column is, it became a channel, and the model was trained on (and
filled, embedded, predicted from) a ramp that only said where a row stood in some table.
The rule is the table and labels readers' (``textfiles.written_index``: a nameless header
cell over integers, each row its own, none missing), asked of the first column that is no
role column (the time and series columns: a Parquet file's time index is read as the first
column). The column is kept out of the channels and written back as it came.

A store ingested before this rule holds the column as a channel and names it in its
``channel_names``: a file read for its run (or appended to it) gives it that channel, where
the run expects it (``index_column``'s ``channels``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from encoderkit.data.textfiles import index_labels, written_index
from encoderkit.overrides import option_word


def index_column(frame: pd.DataFrame, roles: Collection[Any] = (),
                 channels: Collection[str] = ()) -> Any | None:
    """The column of ``frame`` that is the row index pandas or R wrote (module docstring),
    None where there is none: the first column outside ``roles`` when ``written_index``
    holds of it and ``channels`` (a run's or a store's channel names) does not name it."""
    first = next((c for c in frame.columns if c not in roles), None)
    if first is None or str(first) in set(map(str, channels)):
        return None
    return first if written_index(frame[first], first) else None


def index_message(path: str, name: Any, cells: pd.Series, channels: list[str]) -> str:
    """What ingest says of the index column ``name`` it left out of the channels."""
    keep = option_word("channels", [str(name), *map(str, channels)])
    return (f"{path}: column {str(name)!r} holds row numbers ({index_labels(cells)}, the index pandas' "
            f"to_csv writes): no channel (infill writes it back as it came; {keep} reads it as one)")
