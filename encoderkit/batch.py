"""`PackedBatch`: the one structure that flows from the loader to the loss.

Sequences are concatenated along one token axis ``T`` with no padding anywhere.
Three masks are never conflated: *packing* (``cu_seqlens``), *observed* (real
missingness, a domain input field such as ``inputs["observed"]``) and
*training* (``predict``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor


@dataclass
class PackedBatch:
    inputs: dict[str, Tensor]  # per-token input fields, each [T, ...]
    positions: Tensor  # [T, D] int32 or float32 N-D coordinates (D may be 0)
    cu_seqlens: Tensor  # [B+1] int32 sequence boundaries
    max_seqlen: int  # longest sequence; a host int so attention never syncs
    targets: dict[str, Tensor]  # each [P, ...], rows aligned with predict.nonzero()
    predict: Tensor  # [T] bool, tokens that carry a loss
    weights: Tensor | None = None  # [T] float per-token loss weight
    # Provenance of each sequence, for stitching and pooling back to records.
    record: Tensor | None = None  # [B] int64 record index in the source
    window: Tensor | None = None  # [B] int64 window number within the record
    start: Tensor | None = None  # [B] int64 first token of the window in the record
    meta: dict[str, float] = field(default_factory=dict)  # loader stats (e.g. fill)
    # Fine-tuning labels (``encoderkit.tasks``): per sequence ``[B, ...]`` or per token
    # ``[T, ...]``, with a ``mask`` entry of the same leading size (False = unlabelled).
    labels: dict[str, Tensor] = field(default_factory=dict)
    # Host-side values precomputed by ``collate`` so the training step never reads the
    # device back (optional: a batch built without them falls back to the device tensors).
    # ``predict_index``: [P] int64 positions of the predicted tokens (``predict.nonzero()``);
    # it moves with the batch. ``cu_seqlens_host``: a CPU copy of ``cu_seqlens`` that stays
    # on the host in ``to()``, read by attention plans. Both must agree with ``predict`` /
    # ``cu_seqlens``: a batch whose ``predict`` is replaced must drop or refresh them.
    predict_index: Tensor | None = None
    cu_seqlens_host: Tensor | None = None

    @property
    def num_tokens(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_sequences(self) -> int:
        return int(self.cu_seqlens.shape[0]) - 1

    @property
    def num_predicted(self) -> int:
        if self.predict_index is not None:  # a shape: no device read
            return int(self.predict_index.shape[0])
        return int(self.predict.sum())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PackedBatch:
        """Move every tensor to ``device``; ``max_seqlen`` and ``cu_seqlens_host`` stay on the host."""

        def move(x):
            if isinstance(x, Tensor):
                return x.to(device, non_blocking=non_blocking)
            if isinstance(x, dict):
                return {k: move(v) for k, v in x.items()}
            return x

        return replace(self, **{f.name: getattr(self, f.name) if f.name == "cu_seqlens_host"
                                else move(getattr(self, f.name)) for f in fields(self)})

    def pin_memory(self) -> PackedBatch:
        def pin(x):
            if isinstance(x, Tensor):
                return x.pin_memory()
            if isinstance(x, dict):
                return {k: pin(v) for k, v in x.items()}
            return x

        return replace(self, **{f.name: pin(getattr(self, f.name)) for f in fields(self)})

    def seq_lengths(self) -> Tensor:
        return self.cu_seqlens[1:] - self.cu_seqlens[:-1]

    def sequence_ids(self) -> Tensor:
        """[T] index of the sequence each token belongs to."""
        lengths = self.seq_lengths().long()
        return torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)
