"""Concatenate masked examples into one unpadded ``PackedBatch``."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from encoderkit.batch import PackedBatch
from encoderkit.domain import MaskedExample, to_tensor


def collate(examples: Sequence[MaskedExample]) -> PackedBatch:
    """Pack ``examples`` along the token axis; no padding is added anywhere."""
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    lengths = np.fromiter((len(e) for e in examples), dtype=np.int64, count=len(examples))
    cu = np.zeros(len(examples) + 1, dtype=np.int32)
    np.cumsum(lengths, out=cu[1:])

    inputs = {k: to_tensor(np.concatenate([e.inputs[k] for e in examples]))
              for k in examples[0].inputs}
    positions = np.concatenate([e.positions for e in examples])
    if positions.dtype == np.float64:
        positions = positions.astype(np.float32)
    predict = np.concatenate([e.predict for e in examples])

    target_keys = {k for e in examples for k in e.targets}
    targets = {}
    for k in target_keys:
        parts = []
        for e in examples:
            if k in e.targets:
                parts.append(e.targets[k])
            elif e.predict.any():
                raise KeyError(f"example of record {e.record} predicts tokens but has no target {k!r}")
        targets[k] = to_tensor(np.concatenate(parts))

    weights = None
    if any(e.weights is not None for e in examples):
        weights = to_tensor(np.concatenate([
            e.weights.astype(np.float32, copy=False) if e.weights is not None
            else np.ones(len(e), dtype=np.float32) for e in examples]))

    # per sequence labels are [1, ...] per example, per token [L, ...]: both concatenate
    label_keys = sorted({k for e in examples for k in e.labels})
    labels = {}
    for k in label_keys:
        missing = [e.record for e in examples if k not in e.labels]
        if missing:
            raise KeyError(f"example of record {missing[0]} has no label {k!r}")
        labels[k] = to_tensor(np.concatenate([e.labels[k] for e in examples]))

    cu_seqlens = torch.from_numpy(cu)
    return PackedBatch(
        inputs=inputs,
        positions=to_tensor(positions),
        cu_seqlens=cu_seqlens,
        max_seqlen=int(lengths.max()),
        targets=targets,
        predict=to_tensor(predict),
        weights=weights,
        record=torch.tensor([e.record for e in examples], dtype=torch.int64),
        window=torch.tensor([e.window for e in examples], dtype=torch.int64),
        start=torch.tensor([e.start for e in examples], dtype=torch.int64),
        labels=labels,
        # host-side copies so the model never reads them back from the device
        predict_index=torch.from_numpy(np.flatnonzero(predict).astype(np.int64)),
        cu_seqlens_host=cu_seqlens.clone(),
    )
