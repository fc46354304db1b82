"""Our parameter names <-> Hugging Face ModernBERT's (the table in ``interop/hf.py``), and
what keeps a model from mapping onto ModernBERT (``check_exportable``): the structure both
directions, export and import, require."""

from __future__ import annotations

import re

from torch import nn

from encoderkit.core import EncoderConfig
from encoderkit.errors import DataError

#: names with ``{i}`` for the layer index; ours on the left, Hugging Face's on the right
_LAYER_PARTS = ("attn_norm", "attn.Wqkv", "attn.Wo", "mlp_norm", "mlp.Wi", "mlp.Wo")
_FIXED = {
    "embedder.tok_embeddings.weight": "model.embeddings.tok_embeddings.weight",
    "encoder.embedding_norm.weight": "model.embeddings.norm.weight",
    "encoder.final_norm.weight": "model.final_norm.weight",
    "head.dense.weight": "head.dense.weight",
    "head.norm.weight": "head.norm.weight",
    "head.decoder.weight": "decoder.weight",
    "head.decoder.bias": "decoder.bias",
}
_LAYER_RE = re.compile(r"^encoder\.layers\.(\d+)\.(.+)\.weight$")
_HF_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.weight$")


class HFInteropError(DataError):
    """A model or directory that cannot be mapped to / from ModernBERT."""


def ours_to_hf_name(name: str) -> str | None:
    if name in _FIXED:
        return _FIXED[name]
    m = _LAYER_RE.match(name)
    if m and m.group(2) in _LAYER_PARTS:
        return f"model.layers.{m.group(1)}.{m.group(2)}.weight"
    return None


def hf_to_ours_name(name: str) -> str | None:
    for ours, hf in _FIXED.items():
        if hf == name:
            return ours
    m = _HF_LAYER_RE.match(name)
    if m and m.group(2) in _LAYER_PARTS:
        return f"encoder.layers.{m.group(1)}.{m.group(2)}.weight"
    return None


def encoder_problems(model: nn.Module) -> list[str]:
    """What keeps a model's encoder and embedder from being a ModernBERT (1-D axial rotary,
    one token embedding): shared by the pretrained and the fine-tuned export."""
    config: EncoderConfig = model.config
    problems = []
    if config.rope_axes != 1:
        problems.append(f"rope_axes={config.rope_axes} (ModernBERT has 1-D positions)")
    if config.rope_mode != "axial":
        problems.append(f"rope_mode={config.rope_mode!r} (ModernBERT uses fixed axial rotary)")
    for name in ("rope_theta_global", "rope_theta_local"):
        if isinstance(getattr(config, name), tuple) and len(set(getattr(config, name))) > 1:
            problems.append(f"{name}={getattr(config, name)}")
    return problems + embedder_problems(model.embedder)


def embedder_problems(embedder: nn.Module) -> list[str]:
    """What keeps a domain's embedder from being ModernBERT's token embedding."""
    params = sorted(n for n, _ in embedder.named_parameters())
    if params != ["tok_embeddings.weight"] or not isinstance(getattr(embedder, "tok_embeddings", None),
                                                             nn.Embedding):
        return [f"the domain embedder must be one nn.Embedding `tok_embeddings` (a token-id "
                f"domain); it has parameters {params}"]
    return []


def head_problems(head: nn.Module) -> list[str]:
    """What keeps a domain's head from being ModernBERT's masked-token head."""
    return [f"the domain head has no `{part}` module" for part in ("dense", "norm", "decoder")
            if not isinstance(getattr(head, part, None), (nn.Linear, nn.LayerNorm))]


def check_exportable(model: nn.Module) -> None:
    """Refuse, naming the reason, a model that ModernBERT cannot represent."""
    problems = encoder_problems(model) + head_problems(model.head)
    unmapped = sorted(n for n, _ in model.named_parameters() if ours_to_hf_name(n) is None)
    if unmapped:
        problems.append(f"parameters with no ModernBERT counterpart: {unmapped[:8]}")
    if problems:
        raise HFInteropError("cannot export to Hugging Face ModernBERT: " + "; ".join(problems))
