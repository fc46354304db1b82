"""Token labels past a record's last token: the one check of ``finetune`` and ``evaluate``.

A token label's ``position`` counts the model's tokens of a record (what the domain's
``featurize`` makes of it, the rows ``predict`` writes), not the values the record stores:
a series cut into patches has one token per patch, so a label per sample runs past the end.
Training used to drop such labels without a word (a window's slice of the labels simply
ended) while ``evaluate`` refused the same file; both now refuse it here, with one message
naming the file, the record, the first position past the end (and its row, where the file
has one row per token) and the record's token count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.errors import DataError
from encoderkit.tasks.label_files import is_missing

# records featurized at a time to count their tokens (bounds the memory of long records)
COUNT_CHUNK = 256


def past_end(value: Any, tokens: int) -> tuple[int, int] | None:
    """(first labelled position at or past ``tokens``, how many labelled positions are)
    of one record's token labels ``value`` (position -> label, missing: unlabelled); None
    when every label is on a token."""
    if value is None or len(value) <= tokens:
        return None
    hits = [tokens + k for k, x in enumerate(value[tokens:]) if not is_missing(x)]
    return (hits[0], len(hits)) if hits else None


def check_token_range(labels: Any, r: int, ids: Any, tokens: int) -> None:
    """A ``DataError`` when record ``r`` (of the records ``ids``; ``tokens`` tokens) of the
    aligned token labels ``labels`` (``tasks.labels.Labels``) has a label at a position past
    its last token; nothing otherwise."""
    got = past_end(labels.values[r], tokens)
    if got is None:
        return
    position, count = got
    rid = str(ids[r])
    row = _row_of(labels.file, np.asarray(ids, dtype=object), r, position)
    where = f" (row {row})" if row is not None else ""
    more = f" and {count - 1} more past it" if count > 1 else ""
    raise DataError(f"record {rid!r} has a token label at position {position}{where}{more}, but the "
                    f"record has {tokens} token{'' if tokens == 1 else 's'} (positions 0 to "
                    f"{tokens - 1}): a position counts the model's tokens, which can be fewer than "
                    f"the values the record stores (a time series has one token per patch of "
                    f"samples); give at most one label per token", file=labels.file)


def check_store_tokens(labels: Any, store: Any, domain: Any, ids: np.ndarray) -> None:
    """``check_token_range`` for every labelled record of ``store`` (store order), its
    token count from the domain's ``featurize``. Reads and featurizes each labelled record
    once, as a labels file of one row per token already lists each of its tokens."""
    todo = np.flatnonzero(np.asarray(labels.labelled))
    for lo in range(0, len(todo), COUNT_CHUNK):
        chunk = todo[lo:lo + COUNT_CHUNK]
        for r, record in zip(chunk, store.read_many(chunk)):
            check_token_range(labels, int(r), ids, len(domain.featurize(record)))


def _row_of(file: str, ids: np.ndarray, r: int, position: int) -> int | None:
    """The line of a labels file of ``id, position, label`` rows that labels record ``r``
    of ``ids`` at ``position`` (the file read again, its ids joined as ``align`` joins
    them: only when an error is raised), or None (labels given in memory, one row per
    record, or a file that cannot be read here)."""
    if not file or not Path(file).is_file():
        return None
    try:
        import pandas as pd

        from encoderkit.tasks.label_files import id_texts, read_table
        from encoderkit.tasks.labels import record_index

        frame = read_table(file)
        if "id" not in frame.columns or "position" not in frame.columns:
            return None
        header = not str(file).lower().endswith(".npy")
        where = record_index(ids)
        rec = np.asarray([where.get(x, where.get(x.strip(), -1))
                          for x in id_texts(frame["id"], file, header)])
        pos = pd.to_numeric(frame["position"], errors="coerce").to_numpy()
        at = np.flatnonzero((rec == r) & (pos == position))
    except (OSError, ValueError, KeyError, DataError):  # the row is a courtesy: the error names the rest
        return None
    return int(at[0]) + (2 if header else 1) if at.size else None
