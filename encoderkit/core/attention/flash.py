"""``flash``: the flash-attn package's ``flash_attn_varlen_func`` (CUDA, imported lazily).

``window_size=(left, right)`` is inclusive on both sides, so a local window of
128 is ``(64, 64)``. fp16/bf16 only: float32 inputs run in bf16.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import torch
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend
from encoderkit.core.attention.varlen import cuda_flash_capable


@functools.cache
def _flash_varlen() -> Any:
    from flash_attn import flash_attn_varlen_func

    return flash_attn_varlen_func


class FlashBackend(AttentionBackend):
    name = "flash"

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        return importlib.util.find_spec("flash_attn") is not None and cuda_flash_capable(device)

    def plan(self, cu_seqlens: Tensor, max_seqlen: int,
             cu_seqlens_host: Tensor | None = None) -> tuple[Tensor, int]:
        return cu_seqlens.to(torch.int32), int(max_seqlen)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: tuple[Tensor, int],
               window: int | None, dropout_p: float = 0.0) -> Tensor:
        cu, max_seqlen = plan
        dtype = q.dtype
        if dtype not in (torch.float16, torch.bfloat16):
            q, k, v = (x.to(torch.bfloat16) for x in (q, k, v))
        ws = (-1, -1) if window is None else (window // 2, window // 2)
        o = _flash_varlen()(q, k, v, cu, cu, max_seqlen, max_seqlen, dropout_p=dropout_p,
                            softmax_scale=q.shape[-1] ** -0.5, causal=False, window_size=ws)
        return o.to(dtype)
