"""Per-record outputs of a ``TaskModel`` over packed batches (validation and ``predict``).

Sequence tasks: the pooled state of a record is the mean of its windows' pooled states,
each window weighted by its token count (one window: exactly its pooled state); the head
runs on that record-level vector, so a long record gets one prediction from all of its
windows. Token tasks: one row per record position (``Domain.token_positions``; a [CLS]
gets none), its tokens' logits averaged where windows overlap.
Contrastive tasks: the record's pooled embedding.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from encoderkit import session_state
from encoderkit.batch import PackedBatch
from encoderkit.tasks.model import TaskModel


@torch.no_grad()
def collect(model: TaskModel, batches: Iterable[PackedBatch], device: torch.device,
            autocast: Any = None, forward: Any = None,
            keep: int | None = None) -> tuple[list[int], list[np.ndarray]]:
    """(record indices ascending, per record output): ``[K]`` head outputs (``[d]`` pooled
    for contrastive tasks) or ``[L, K]`` token outputs, one row per record position (NaN
    rows: positions no window covered, which ``predict`` refuses beforehand in
    ``token_range.window_positions``).

    ``forward``: a wrapped model (FSDP2) to run instead of ``model``; the head then runs
    per window and window outputs are averaged (the head cannot run outside the wrapper).
    ``keep``: the batches from that index on are run but their outputs dropped (FSDP2: a
    rank with fewer batches runs as many forwards as the others, on a repeated batch).
    """
    spec = model.spec
    was_training = model.training
    model.eval()
    # no autocast given: fp32, whatever autocast the caller runs under
    ctx = autocast if autocast is not None else (lambda: session_state.forward_precision(device.type))
    sums: dict[int, np.ndarray] = {}
    weights: dict[int, float] = {}
    tokens: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    try:
        for k, b in enumerate(batches):
            b = b.to(device)
            with ctx():
                if forward is not None:
                    preds = forward(b, with_targets=False).predictions
                    per = (preds["logits"] if "logits" in preds else preds["pooled"]).float()
                    hidden = None
                else:
                    hidden = model.encode(b)
                    per = model.output(hidden).float() if spec.token_level else model.pool(hidden, b).float()
            if keep is not None and k >= keep:  # a forward for the other ranks' sake: not counted
                continue
            per_np = per.cpu().numpy()
            cu = b.cu_seqlens.tolist()
            records = b.record.tolist()
            starts = b.start.tolist()
            # token tasks: each token's record position (-1: a [CLS], no row), as Prepare / predict
            # set it from Domain.token_positions; without it, a window's tokens from its start
            where = b.labels.get("position") if spec.token_level else None
            where = where.cpu().numpy() if where is not None else None
            for i, r in enumerate(records):
                n = cu[i + 1] - cu[i]
                if spec.token_level:
                    s, e = tokens.setdefault(r, ([], []))
                    p = where[cu[i]:cu[i + 1]] if where is not None else starts[i] + np.arange(n)
                    placed = p >= 0
                    s.append(p[placed])
                    e.append(per_np[cu[i]:cu[i + 1]][placed])
                else:
                    sums[r] = sums.get(r, 0.0) + per_np[i].astype(np.float64) * n
                    weights[r] = weights.get(r, 0.0) + n
    finally:
        model.train(was_training)
    if spec.token_level:
        order = sorted(tokens)
        out = []
        for r in order:
            where_r, blocks = tokens[r]
            length = max((int(p.max()) + 1 for p in where_r if p.size), default=0)
            acc = np.zeros((length, blocks[0].shape[1]))
            cnt = np.zeros(length)
            for p, x in zip(where_r, blocks):
                np.add.at(acc, p, x)
                np.add.at(cnt, p, 1)
            with np.errstate(invalid="ignore"):
                out.append(acc / cnt[:, None])
        return order, out
    order = sorted(sums)
    if not order:
        return [], []
    pooled = np.stack([sums[r] / weights[r] for r in order])
    if forward is not None or spec.contrastive:
        return order, list(pooled)
    # the head on record-level pooled states
    with torch.no_grad(), ctx():
        x = torch.as_tensor(pooled, dtype=torch.float32, device=device)
        was = model.training
        model.eval()
        try:
            logits = model.output(x).float().cpu().numpy()
        finally:
            model.train(was)
    return order, list(logits)
