"""Attention backends behind one signature: ``attend(q, k, v, cu_seqlens, max_seqlen, window)``.

Tensors are unpadded and packed, ``[T, H, Dh]``; ``window=None`` is global
attention, an int is a symmetric local window (``|i - j| <= window // 2``
within a sequence). Backends whose package or device is missing simply do not
appear in ``available_backends``; flash-attn and xformers are imported lazily.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import Tensor

from encoderkit.core.attention.base import AttentionBackend
from encoderkit.core.attention.flash import FlashBackend
from encoderkit.core.attention.flex import FlexBackend
from encoderkit.core.attention.sdpa import SdpaBackend
from encoderkit.core.attention.varlen import VarlenBackend
from encoderkit.core.attention.xformers import XformersBackend
from encoderkit.errors import UsageError

log = logging.getLogger("encoderkit.core")

BACKENDS: dict[str, type[AttentionBackend]] = {
    b.name: b for b in (SdpaBackend, FlexBackend, VarlenBackend, FlashBackend, XformersBackend)}
# Preference of `auto` on CUDA; on CPU only sdpa trains, so auto is sdpa there.
CUDA_PREFERENCE = ("varlen", "flash", "flex", "sdpa")


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    device = torch.device(device)
    return [name for name, cls in BACKENDS.items() if cls.is_available(device)]


def get_backend(name: str = "auto", device: torch.device | str = "cpu") -> AttentionBackend:
    """The backend instance for ``name`` on ``device`` (``auto`` resolves per device type)."""
    device = torch.device(device)
    return _get(name, device.type, device.index)


@functools.cache
def _get(name: str, device_type: str, index: int | None) -> AttentionBackend:
    device = torch.device(device_type, index) if index is not None else torch.device(device_type)
    if name == "auto":
        prefs = CUDA_PREFERENCE if device_type == "cuda" else ("sdpa",)
        pick = next(n for n in prefs if BACKENDS[n].is_available(device))
        log.info("attention backend auto -> %r on %s", pick, device)
        return BACKENDS[pick]()
    check_backend(name, device)
    return BACKENDS[name]()


def check_backend(name: str, device: torch.device | str = "cpu") -> None:
    """A ``UsageError`` (exit 2, one line) when backend ``name`` is unknown or cannot run on
    ``device`` here (xformers / flash-attn not installed, a CUDA-only kernel on a CPU), naming
    the backends that can. A trainer calls it before its run starts; a plain ValueError met
    at the first forward was reported as a bug in encoderkit."""
    device = torch.device(device)
    if name == "auto":
        return
    if name not in BACKENDS:
        raise UsageError(f"The 'backend' parameter must be one of {('auto', *BACKENDS)}. "
                         f"Got {name!r} instead.", key="backend")
    if not BACKENDS[name].is_available(device):
        raise UsageError(f"attention backend {name!r} is not available on {device} here (its package is "
                         f"not installed, or it needs another device); available: "
                         f"{available_backends(device)} (or 'auto')", key="backend")


def attend(q: Tensor, k: Tensor, v: Tensor, cu_seqlens: Tensor, max_seqlen: int,
           window: int | None = None, *, backend: str = "auto", dropout_p: float = 0.0) -> Tensor:
    """One attention call on packed ``[T, H, Dh]`` tensors (plans the batch each call).

    The Encoder instead calls ``plan`` once per batch and ``attend`` per layer.
    """
    b = get_backend(backend, q.device)
    return b.attend(q, k, v, b.plan(cu_seqlens, max_seqlen), window, dropout_p)


__all__ = ["AttentionBackend", "BACKENDS", "attend", "available_backends", "check_backend", "get_backend"]
