"""Token positions: how per-token labels and prediction rows line up with a record.

A token label's ``position`` counts the model's tokens of a record (what the domain's
``featurize`` makes of it, the rows ``predict`` writes) without a [CLS] element, not the
values the record stores: a series cut into patches has one token per patch, so a label
per sample runs past the end. Which record position each token of a window stands for is
the domain's to say (``Domain.token_positions``: by default ``start`` onwards, the token at
``cls_position`` standing for none); the core slices labels and numbers rows through it
(``token_positions``), checks that a record's windows cover each of its positions and none
past its end (``window_positions``), and refuses labels past a record's last position
(``check_token_range``) in ``finetune`` and ``evaluate`` alike, naming the file, the
record, the first position past the end (and its row, where the file has one row per
token) and the record's token count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from encoderkit.domain import ContractError
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
    token positions from the domain's ``featurize`` (``record_size``: no [CLS]). Reads and
    featurizes each labelled record once, as a labels file of one row per token already
    lists each of its tokens; with ``max_seqlen``, also refuses, before training starts,
    windows whose tokens the domain cannot map to record positions or that leave a position
    out or run past the end (``window_positions``)."""
    todo = np.flatnonzero(np.asarray(labels.labelled))
    for lo in range(0, len(todo), COUNT_CHUNK):
        chunk = todo[lo:lo + COUNT_CHUNK]
        for r, record in zip(chunk, store.read_many(chunk)):
            example = domain.featurize(record)
            size = record_size(domain, example)
            if max_seqlen is not None:
                window_positions(domain, domain.windows(example, int(max_seqlen)), size, str(ids[r]))
            check_token_range(labels, int(r), ids, size)


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


def token_positions(domain: Any, window: Any) -> np.ndarray:
    """The record position of each token of ``window`` (``[L]`` int64, -1: a token with no
    position, a [CLS]), as the domain says (``Domain.token_positions``: its ``cls_position``
    and ``start`` by default; a domain refuses a layout it cannot map). Checked: one integer
    per token, none below -1."""
    hook = getattr(domain, "token_positions", None)
    if not callable(hook):  # an object that is no Domain subclass: the default rule
        from types import SimpleNamespace

        from encoderkit.domain import Domain

        shim = SimpleNamespace(cls_position=getattr(domain, "cls_position", None))
        hook = lambda w: Domain.token_positions(shim, w)  # noqa: E731
    pos = np.asarray(hook(window))
    if pos.shape != (len(window),) or not (pos.dtype.kind in "iu" and (pos.size == 0 or pos.min() >= -1)):
        raise ContractError(f"domain {getattr(domain, 'name', '?')!r}: token_positions(window) returned "
                            f"{pos.dtype} {tuple(pos.shape)}; it must be [L] = [{len(window)}] integers, "
                            f"the record position of each token or -1 for a token with none ([CLS])")
    return pos.astype(np.int64, copy=False)


def record_size(domain: Any, example: Any) -> int:
    """How many token positions a record has (what labels and prediction rows count): the
    tokens of its whole featurized ``example`` that stand for a position (no [CLS])."""
    return int((token_positions(domain, example) >= 0).sum())


def window_positions(domain: Any, windows: Sequence[Any], size: int | None = None,
                     record: Any = None) -> list[np.ndarray]:
    """``token_positions`` of each window of one record (Examples from ``Domain.windows``),
    checked together (``check_window_positions``)."""
    per = [token_positions(domain, w) for w in windows]
    check_window_positions(domain, per, size, record)
    return per


def check_window_positions(domain: Any, per: Sequence[np.ndarray], size: int | None = None,
                           record: Any = None) -> None:
    """The record positions ``per`` of each window of one record (``token_positions``): no
    position at or past ``size`` (the record's positions, ``record_size``; None: one past the
    highest) and every position below it in some window, so each gets exactly one prediction
    row (overlaps averaged) and no row is empty. A ``ContractError`` naming the domain, the
    record and the positions otherwise."""
    seen = np.concatenate(per) if len(per) else np.zeros(0, np.int64)
    seen = seen[seen >= 0]
    top = int(seen.max()) + 1 if seen.size else 0
    who = f"domain {getattr(domain, 'name', '?')!r}" + (f", record {record!r}" if record is not None else "")
    if size is not None and top > size:
        raise ContractError(f"{who}: a window has a token at record position {top - 1}, but the record "
                            f"has {size} position{'' if size == 1 else 's'} (its featurized tokens "
                            f"without the [CLS]); with a [CLS], a window's start is the position of its "
                            f"first token after the [CLS] (Domain.token_positions)")
    n = size if size is not None else top
    covered = np.zeros(n, dtype=bool)
    covered[seen] = True
    if not covered.all():
        gaps = np.flatnonzero(~covered)
        raise ContractError(f"{who}: record position{'s' if len(gaps) > 1 else ''} "
                            f"{', '.join(map(str, gaps[:3]))}{' ...' if len(gaps) > 3 else ''} of {n} "
                            f"{'are' if len(gaps) > 1 else 'is'} in no window, so it would get no "
                            f"prediction; the windows must cover every position (Domain.token_positions; "
                            f"with a [CLS], a window's start is the position of its first token after it)")


def positioned(domain: Any) -> tuple[Callable[[Any, Any, Any], None], dict[int, int]]:
    """For ``predict`` of a token task: (an ``annotate`` for ``infer.embed.record_jobs``, a dict
    it fills with each record's position count, ``record_size``, by record index). Each window
    given to the model carries its tokens' record positions in ``labels["position"]``, taken as
    training takes them: ``Domain.token_positions`` of the raw window (an ``Example``, whose
    ``fields`` a plug-in may read), not of the model input ``unmasked`` made of it."""
    sizes: dict[int, int] = {}

    def annotate(example: Any, window: Any, masked: Any) -> None:
        if example.record not in sizes:
            sizes[example.record] = record_size(domain, example)
        masked.labels = {**masked.labels, "position": token_positions(domain, window)}
    return annotate, sizes
