"""RankMe of a contrastive run's validation records (``task.metric=rankme``): the effective
rank of their embeddings as ``embed`` gives them, each feature standardised first.

``rankme(x)``: every column of ``x`` ([N, d], one row per record) z-scored over the rows (a
column with one value in every row has no spread: it is set to 0, a direction of no
variance, rather than divided by 0), then ``exp`` of the entropy of the singular values
divided by their sum (Garrido et al. 2023, "RankMe", without their epsilon: an identity
spectrum gives exactly its size). A matrix with no spread at all (one record, or a
collapsed encoder: every record the same vector) has rank 0; a non-finite one NaN, which
never becomes best/.

Why standardised: on these small mean-pooled encoders the first singular value of the raw
matrix is the vector every record shares, and RankMe as published followed training into the
collapsed checkpoints of GunPoint (-0.093 / -0.040 probe accuracy against the MLM start);
z-scored as the probe's StandardScaler z-scores them it picked the start there and matched
best/ elsewhere, on 12 runs of 6 tasks (benchmarks/RESULTS.md, "Issue 13: can a label-free
criterion pick the contrastive checkpoint?"). Why the records embedded without views, as
``embed`` does: RankMe of the view embeddings picked steps 300 and 600-800 on GunPoint.

``record_rankme``: the records of one split embedded on each rank (windows of the run's
``max_seqlen``, the task's pooling, windows weighted by their token count, the domain's
``embedding_twin`` averaged in, as ``Pretrained.embed``), gathered in record order, ranked
on rank 0 and broadcast, so every rank compares the same figure when it decides best/.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from encoderkit.batch import PackedBatch
from encoderkit.train import distributed as D

if TYPE_CHECKING:
    from encoderkit.tasks.model import TaskModel
    from encoderkit.train.trainer import Trainer


def standardised(x: np.ndarray) -> np.ndarray:
    """``x`` ([N, d]) in float64 with each column centred and divided by its population
    standard deviation (scikit-learn's StandardScaler); a column with one value in every
    row is 0 (its float64 mean can differ from that value in the last bit, and that noise
    divided by a zero spread was a direction of its own)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        return x.reshape(len(x), -1)
    constant = np.ptp(x, axis=0) == 0
    z = x - x.mean(axis=0)
    sd = z.std(axis=0)
    sd[constant] = 1.0
    z /= sd
    z[:, constant] = 0.0
    return z


def effective_rank(x: np.ndarray) -> float:
    """``exp(-sum p_k log p_k)``, ``p`` the singular values of ``x`` divided by their sum
    (a zero singular value adds nothing: 0 log 0 = 0); 0 for a matrix of zeros, NaN for one
    holding a NaN or an infinity."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return 0.0
    if not np.isfinite(x).all():
        return float("nan")
    s = np.linalg.svd(x, compute_uv=False)
    total = float(s.sum())
    if total == 0.0:
        return 0.0
    p = s[s > 0] / total
    return float(math.exp(-float(np.sum(p * np.log(p)))))


def rankme(x: np.ndarray) -> float:
    """The effective rank of ``x`` ([N, d] embeddings, one row per record) standardised."""
    x = np.asarray(x, dtype=np.float64)
    if x.size and not np.isfinite(x).all():
        return float("nan")
    return effective_rank(standardised(x))


# --------------------------------------------------------------- the records as embed gives them
TWIN_BASE = -1  # a twin's windows carry record -1 - r: kept apart from record r until averaged


def plain_batches(trainer: Trainer, indices: np.ndarray, max_seqlen: int, copies: int) -> list[PackedBatch]:
    """This rank's share of the records ``indices`` (``indices[rank::world]``), each record
    and its ``embedding_twin`` (if the domain has one) cut into windows of ``max_seqlen`` and
    packed in order under ``data.max_tokens``, unmasked as ``embed`` runs them. ``copies``: 2
    puts each window twice, adjacent (the wrapped contrastive forward of FSDP2 pairs rows);
    record-level means are the same."""
    from encoderkit.data.collate import collate
    from encoderkit.data.store import AUTO_IN_MEMORY_BYTES
    from encoderkit.infer.embed import pack_in_order

    domain, info, store = trainer.domain, trainer.info, trainer.store
    if store.nbytes < AUTO_IN_MEMORY_BYTES:  # as the loaders read it: the store's cached numpy copy
        store = store.to_memory()  # (record by record from zarr: 0.3 s of 0.33 for GunPoint's 20)
    hook = getattr(domain, "embedding_twin", None)
    twin = hook() if callable(hook) else None
    mine = np.asarray(indices, dtype=np.int64)[info.rank::info.world_size]
    windows: list[Any] = []
    for r, record in zip(mine.tolist(), store.read_many(mine)):
        for rec, at in ((record, r), *(((twin(record), TWIN_BASE - r),) if twin is not None else ())):
            example = domain.featurize(rec)
            example.record, example.window, example.start = at, 0, 0
            for w in domain.windows(example, max_seqlen):
                if not len(w):  # as the loader: an empty window is no sequence
                    continue
                m = domain.unmasked(w)
                m.record, m.window, m.start = at, w.window, w.start
                windows += [m] * copies
    budget = max(int(trainer.cfg.data.max_tokens), copies * int(max_seqlen))
    # copies stay in one batch: a window's pair is never split (len(m) each, adjacent)
    groups = pack_in_order((windows[i:i + copies] for i in range(0, len(windows), copies)),
                           lambda ws: sum(len(m) for m in ws), budget)
    return [collate([m for ws in g for m in ws]) for g in groups]


@torch.no_grad()
def record_rankme(model: TaskModel, trainer: Trainer, indices: np.ndarray, max_seqlen: int) -> float:
    """RankMe (``rankme``) of the records ``indices`` embedded as ``embed`` embeds them,
    over every rank's share; the same figure on every rank (rank 0's, broadcast). Costs one
    forward pass over the records (their windows once, twice under FSDP2)."""
    from encoderkit.tasks.outputs import collect
    from encoderkit.train.objective import min_over_ranks

    fsdp, info = trainer._fsdp, trainer.info
    batches = plain_batches(trainer, indices, max_seqlen, copies=2 if fsdp else 1)
    own = len(batches)
    if fsdp:  # every rank runs as many wrapped forwards (FSDP2 gathers parameters in forward)
        most = -min_over_ranks(-own, trainer)
        batches = batches + batches[-1:] * (most - own)
    records, vectors = collect(model, batches, trainer.device, trainer._autocast,
                               forward=trainer.wrapped if fsdp else None, keep=own)
    width = len(vectors[0]) if vectors else model.spec.pooled_size(model.config.hidden_size)
    rows = torch.as_tensor(np.asarray(vectors, dtype=np.float64).reshape(len(records), width),
                           device=trainer.device)
    ids = torch.as_tensor(np.asarray(records, dtype=np.int64), device=trainer.device)
    rows, ids = D.all_gather_rows(rows, info), D.all_gather_rows(ids, info)
    value = None
    if info.is_main:
        value = rankme(record_matrix(ids.cpu().numpy(), rows.cpu().numpy()))
    return float(D.broadcast_object(value, info))


def record_matrix(ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One row per record, in record order: a record's row averaged with its twin's (record
    id ``TWIN_BASE - r``) where it has one, as ``Pretrained.embed`` averages them."""
    own = {int(r): k for k, r in enumerate(ids) if r >= 0}
    twins = {TWIN_BASE - int(r): k for k, r in enumerate(ids) if r < 0}
    order = sorted(own)
    out = np.asarray([rows[own[r]] for r in order], dtype=np.float64).reshape(len(order), rows.shape[1])
    for i, r in enumerate(order):
        if r in twins:
            out[i] = (out[i] + rows[twins[r]]) / 2
    return out
