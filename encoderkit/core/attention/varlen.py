"""``varlen``: PyTorch's own ``torch.nn.attention.varlen.varlen_attn`` (CUDA).

FlashAttention kernels shipped inside torch (2.9+); ``window_size=(left, right)``
exists in recent releases only. Where it is missing, local layers fall back to
``flex`` (compiled, same device) with a one-time warning, global layers stay on
varlen. The kernels need fp16/bf16: float32 inputs run in bf16 and come back in
float32 (training normally runs under bf16 autocast anyway).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any

import torch
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend, no_dropout


@functools.cache
def _varlen() -> tuple[Any, bool]:
    """(varlen_attn, has window_size)."""
    from torch.nn.attention.varlen import varlen_attn

    return varlen_attn, "window_size" in inspect.signature(varlen_attn).parameters


def cuda_flash_capable(device: torch.device) -> bool:
    """FlashAttention kernels need an Ampere (sm80) or newer GPU."""
    return device.type == "cuda" and torch.cuda.is_available() and \
        torch.cuda.get_device_capability(device)[0] >= 8


class VarlenBackend(AttentionBackend):
    name = "varlen"

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        try:
            _varlen()
        except ImportError:
            return False
        return cuda_flash_capable(device)

    @classmethod
    def has_window(cls) -> bool:
        return _varlen()[1]

    def plan(self, cu_seqlens: Tensor, max_seqlen: int,
             cu_seqlens_host: Tensor | None = None) -> dict[str, Any]:
        return {"cu": cu_seqlens.to(torch.int32), "max": int(max_seqlen), "flex": None,
                "raw": (cu_seqlens, max_seqlen, cu_seqlens_host)}

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: dict[str, Any], window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        no_dropout(self.name, dropout_p)
        fn, has_window = _varlen()
        if window is not None and not has_window:
            return self._flex_fallback(q, k, v, plan, window)
        kwargs = {} if window is None else {"window_size": (window // 2, window // 2)}
        dtype = q.dtype
        if dtype not in (torch.float16, torch.bfloat16):
            q, k, v = (x.to(torch.bfloat16) for x in (q, k, v))
        o = fn(q, k, v, plan["cu"], plan["cu"], plan["max"], plan["max"],
               scale=q.shape[-1] ** -0.5, **kwargs)
        return o.to(dtype)

    def _flex_fallback(self, q, k, v, plan, window):
        from encoderkit.core.attention.flex import FlexBackend

        _warn_no_window()
        flex = FlexBackend()
        if plan["flex"] is None:
            plan["flex"] = flex.plan(*plan["raw"])
        return flex.attend(q, k, v, plan["flex"], window)


@functools.cache
def _warn_no_window() -> None:
    warnings.warn(f"torch {torch.__version__} varlen_attn has no window_size; local layers use "
                  "the 'flex' backend (upgrade torch to keep them on varlen)", RuntimeWarning,
                  stacklevel=3)
