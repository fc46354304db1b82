"""Inference on a trained run: ``load`` -> ``Pretrained`` with ``embed``, ``infill``,
``predict``; linear probes of embeddings (``encoderkit.infer.probe``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from encoderkit.infer.load import load
    from encoderkit.infer.pretrained import Pretrained

__all__ = ["load", "Pretrained"]


def __getattr__(name: str) -> Any:
    # Lazy, so `encoderkit probe` (scikit-learn only) does not import torch and the model code.
    if name == "load":
        from encoderkit.infer.load import load

        return load
    if name == "Pretrained":
        from encoderkit.infer.pretrained import Pretrained

        return Pretrained
    raise AttributeError(f"module 'encoderkit.infer' has no attribute {name!r}")
