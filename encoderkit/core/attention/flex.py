"""``flex``: FlexAttention with a document + sliding-window block mask.

The block mask is built once per batch and per window (global layers share one,
local layers another). On CUDA ``flex_attention`` is compiled (fused kernel that
trains); on CPU it runs eagerly, which materialises the ``T x T`` scores, so it
is meant for checking, forward only.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from encoderkit.session_state import warnings_kept
from encoderkit.core.attention.base import AttentionBackend, no_dropout


@functools.cache
def _flex() -> tuple[Any, Any]:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    return create_block_mask, flex_attention


@functools.cache
def _compiled_flex() -> Any:
    # Default dynamic handling: packed batches change T a little every step, so after
    # the first recompile T is treated as dynamic instead of compiling per length.
    return torch.compile(_flex()[1])


@dataclass
class FlexPlan:
    doc: Tensor  # [T] sequence index of every token
    pos: Tensor  # [T] token index within its sequence
    masks: dict[int | None, Any] = field(default_factory=dict)

    def prepare(self, windows: set[int | None]) -> None:
        """Build the block masks of ``windows`` now (eagerly, before any compiled layer)."""
        for w in windows:
            self.block_mask(w)

    def block_mask(self, window: int | None) -> Any:
        if window not in self.masks:
            create_block_mask = _flex()[0]
            doc, pos, T = self.doc, self.pos, self.doc.shape[0]
            if window is None:
                def mask_mod(b, h, qi, ki):
                    return doc[qi] == doc[ki]
            else:
                half = window // 2

                def mask_mod(b, h, qi, ki):
                    return (doc[qi] == doc[ki]) & ((pos[qi] - pos[ki]).abs() <= half)
            # Compiled mask construction on CUDA avoids materialising T x T booleans.
            self.masks[window] = create_block_mask(mask_mod, None, None, T, T, device=doc.device,
                                                   _compile=doc.is_cuda)
        return self.masks[window]


class FlexBackend(AttentionBackend):
    name = "flex"

    @classmethod
    def is_available(cls, device: torch.device) -> bool:
        try:
            _flex()
        except ImportError:
            return False
        return True

    def plan(self, cu_seqlens: Tensor, max_seqlen: int,
             cu_seqlens_host: Tensor | None = None) -> FlexPlan:
        # the packed length on the host: from the host copy if given, else one device read
        T = int((cu_seqlens_host if cu_seqlens_host is not None else cu_seqlens)[-1])
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
        doc = torch.repeat_interleave(torch.arange(len(lengths), device=cu_seqlens.device), lengths,
                                      output_size=T)
        pos = torch.arange(T, device=cu_seqlens.device) - cu_seqlens.long()[doc]
        return FlexPlan(doc, pos)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, plan: FlexPlan, window: int | None,
               dropout_p: float = 0.0) -> Tensor:
        no_dropout(self.name, dropout_p)
        args = [x.transpose(0, 1).unsqueeze(0) for x in (q, k, v)]  # [1, H, T, Dh]
        if torch.compiler.is_compiling():  # inside a compiled layer: traced into its graph
            from torch.nn.attention.flex_attention import flex_attention

            o = flex_attention(*args, block_mask=plan.block_mask(window))
        elif q.is_cuda:
            o = _compiled_flex()(*args, block_mask=plan.block_mask(window))
        else:
            # Eager on CPU by design (a check, not a training path): silence the
            # "called without torch.compile" advice.
            with warnings_kept():
                warnings.filterwarnings("ignore", message=".*without torch.compile.*")
                o = _flex()[1](*args, block_mask=plan.block_mask(window))
        return o[0].transpose(0, 1)
