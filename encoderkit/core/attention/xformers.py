"""``xformers``: memory-efficient attention with a block-diagonal bias (imported lazily).

xformers has block-diagonal masks that are causal-local but none that is a
symmetric local window, so this backend serves global layers only; a config
with local layers is refused when the Encoder is built (``core.model.Encoder``
raises ``window_error``).
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import torch
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend


@functools.cache
def _fmha() -> Any:
    from xformers.ops import fmha

    return fmha


def window_error() -> ValueError:
    return ValueError(
        "The 'backend' parameter 'xformers' supports global attention only (xformers has no "
        "symmetric sliding-window block-diagonal mask). Use backend='varlen', 'flash' or 'flex' "
        "for local layers, or set global_every=1 to make every layer global.")


class XformersBackend(AttentionBackend):
    name = "xformers"
    supports_window = False

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        return device.type == "cuda" and importlib.util.find_spec("xformers") is not None

    def plan(self, cu_seqlens: Tensor, max_seqlen: int, cu_seqlens_host: Tensor | None = None) -> Any:
        cu = cu_seqlens_host if cu_seqlens_host is not None else cu_seqlens
        lengths = (cu[1:] - cu[:-1]).tolist()  # host read once per batch (none with a host copy)
        return _fmha().attn_bias.BlockDiagonalMask.from_seqlens(lengths)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: Any, window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        if window is not None:
            raise window_error()
        o = _fmha().memory_efficient_attention(q[None], k[None], v[None], attn_bias=plan,
                                               p=dropout_p, scale=q.shape[-1] ** -0.5)
        return o[0]
