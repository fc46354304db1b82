"""What every attention backend implements.

All backends share one calling convention: unpadded packed tensors ``[T, H, Dh]``
with sequence boundaries ``cu_seqlens`` ``[B+1]`` int32. ``window=None`` is a
global layer; an int ``window`` is a symmetric local layer where token ``i``
sees token ``j`` of its own sequence iff ``|i - j| <= window // 2`` (the
meaning of ``EncoderConfig.local_window``; 128 = 64 each side, inclusive).

A backend splits its work in two so that per-batch set-up (reading
``cu_seqlens`` on the host, building masks) runs once per forward and is shared
by every layer: ``plan(cu_seqlens, max_seqlen[, cu_seqlens_host])`` then ``attend(q, k, v, plan, window)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor


class AttentionBackend(ABC):
    name: ClassVar[str]
    trains_on_cpu: ClassVar[bool] = False
    supports_window: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def is_available(cls, device: torch.device) -> bool:
        """Whether this backend can run on ``device`` in this environment."""

    def plan(self, cu_seqlens: Tensor, max_seqlen: int, cu_seqlens_host: Tensor | None = None) -> Any:
        """Per-batch state shared by all layers (default: just the inputs).

        ``cu_seqlens_host`` is an optional CPU copy of ``cu_seqlens``: backends that need
        the boundaries on the host read it instead of ``cu_seqlens`` (no device sync).
        """
        return (cu_seqlens, max_seqlen)

    @abstractmethod
    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: Any, window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        """``[T, H, Dh]`` -> ``[T, H, Dh]``, softmax scale ``1 / sqrt(Dh)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def no_dropout(backend: str, dropout_p: float) -> None:
    if dropout_p > 0:
        raise ValueError(f"the {backend!r} attention backend has no attention-probability dropout; "
                         f"set attention_dropout=0 or use backend 'sdpa', 'flash' or 'xformers' "
                         f"(got attention_dropout={dropout_p})")
