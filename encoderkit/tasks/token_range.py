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


def check_store_tokens(labels: Any, store: Any, domain: Any, ids: np.ndarray,
                       max_seqlen: int | None = None) -> None:
    """``check_token_range`` for every labelled record of ``store`` (store order), its
    token count from the domain's ``featurize``. Reads and featurizes each labelled record
    once, as a labels file of one row per token already lists each of its tokens; with
    ``max_seqlen``, also refuses windows whose tokens are not file positions
    (``check_token_layout``) before training starts."""
    todo = np.flatnonzero(np.asarray(labels.labelled))
    for lo in range(0, len(todo), COUNT_CHUNK):
        chunk = todo[lo:lo + COUNT_CHUNK]
        for r, record in zip(chunk, store.read_many(chunk)):
            example = domain.featurize(record)
            if max_seqlen is not None:
                for window in domain.windows(example, int(max_seqlen)):
                    check_token_layout(domain, window)
            check_token_range(labels, int(r), ids, len(example))


def _row_of(file: str, ids: np.ndarray, r: int, position: int) -> int | None:
    """The line of a labels file of ``id, position, label`` rows that labels record ``r``
    of ``ids`` at ``position`` (the file read again, its ids joined as ``align`` joins
    them: only when an error is raised), or None (labels given in memory, one row per
    record, or a file that cannot be read here)."""
    if not file or not Path(file).is_file():
        return None
    try:
        import pandas as pd

        from encoderkit.tasks.label_files import counts_header, id_texts, read_table
        from encoderkit.tasks.labels import record_index

        frame = read_table(file)
        if "id" not in frame.columns or "position" not in frame.columns:
            return None
        header = counts_header(str(file), frame)
        where = record_index(ids)
        rec = np.asarray([where.get(x, where.get(x.strip(), -1))
                          for x in id_texts(frame["id"], file, header)])
        pos = pd.to_numeric(frame["position"], errors="coerce").to_numpy()
        at = np.flatnonzero((rec == r) & (pos == position))
    except (OSError, ValueError, KeyError, DataError):  # the row is a courtesy: the error names the rest
        return None
    return int(at[0]) + (2 if header else 1) if at.size else None


def token_layout_problem(domain: Any, window: Any) -> str | None:
    """Why a featurized window's tokens are not its record's positions in file order, or
    None. Token labels are sliced, and token predictions numbered, by token position; a
    sets domain that orders points along a curve, prepends a [CLS] token, or cuts a set
    into scattered chunks put every per-point label on another point (accuracy at the base
    rate, an extra row per set, rows lost) without a word. Until labels and rows follow
    the window's element index, such token tasks are refused, naming the setting."""
    opts = getattr(domain, "options", None) or {}
    ctx = getattr(window, "context", None) or {}
    if opts.get("order") not in (None, "input"):
        return (f"token tasks need domain.order=input: with order={opts['order']} the tokens are the "
                f"elements in curve order, not file order, so per-element labels and predictions "
                f"would land on other elements")
    if ctx.get("cls") or opts.get("pooling_token"):
        return ("token tasks need domain.pooling_token=false: the [CLS] token before the elements "
                "would shift every per-element label and prediction by one")
    if ctx.get("token_index") is not None:
        return ("token tasks need every record to fit data.max_seqlen: a record with more "
                "elements is cut into chunks of scattered elements, whose labels and predictions "
                "would not line up; raise data.max_seqlen past the longest record")
    elements = ctx.get("elements")
    if elements is not None and not np.array_equal(np.asarray(elements), np.arange(len(elements))):
        return ("token tasks need tokens in the record's own order: this domain's tokens are its "
                "elements reordered, so per-element labels and predictions would land on other elements")
    return None


def check_token_layout(domain: Any, window: Any) -> None:
    """A ``UsageError`` naming the setting when ``token_layout_problem`` finds one."""
    from encoderkit.errors import UsageError

    problem = token_layout_problem(domain, window)
    if problem:
        raise UsageError(problem)
