"""What an import must say or refuse about a Hugging Face directory's heads, beyond the
tensor names: an untied decoder that a tied head cannot hold (``check_tying``), and a
classifier's pooling head that lands in the masked-token head (``classifier_head_note``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from encoderkit.interop.hf_names import HFInteropError

_EMBEDDING = "model.embeddings.tok_embeddings.weight"


def check_tying(hf: Mapping[str, Any], tensors: Mapping[str, Tensor], own: Mapping[str, Tensor],
                hf_dir: str | Path) -> None:
    """Refuse a ModernBERT whose decoder is its own matrix (``tie_word_embeddings=false`` and a
    ``decoder.weight`` that differs from the embedding) when the model's head ties its decoder
    to the token embedding, as every built-in domain's head does: the one shared parameter can
    hold only one of the two, and the masked-token logits would change without a word.

    A head with a decoder of its own takes the directory's as it is (``init_from_hf`` copies it
    by name), and an export of it writes ``tie_word_embeddings=false`` again."""
    decoder, embedding = own.get("head.decoder.weight"), own.get("embedder.tok_embeddings.weight")
    if decoder is None or decoder is not embedding:  # untied head: nothing is lost
        return
    if hf.get("tie_word_embeddings", True) is not False:
        return  # transformers ties them too: the embedding is the decoder
    theirs, emb = tensors.get("decoder.weight"), tensors.get(_EMBEDDING)
    if theirs is None:  # no masked-token decoder (a bare ModernBertModel, a classifier)
        return
    if emb is not None and theirs.shape == emb.shape and torch.equal(theirs, emb):
        return  # untied in name only: the tied head reproduces it exactly
    gap = (f" (max |decoder.weight - embedding| = {float((theirs - emb).abs().max()):.3g})"
           if emb is not None and theirs.shape == emb.shape else "")
    raise HFInteropError(
        f"sets tie_word_embeddings=false and its weights hold a decoder.weight of their own{gap}; this "
        "model's masked-token head ties its decoder to the token embedding (every built-in domain's "
        "does), so one of the two would be dropped and the masked-token logits would change. An "
        "untied ModernBERT can be imported only by a domain whose head has a decoder of its own",
        file=Path(hf_dir) / "config.json")


def classifier_head_note(hf: Mapping[str, Any], tensors: Mapping[str, Tensor]) -> list[str]:
    """The import note of a fine-tuned classifier's directory (``ModernBertFor*Classification``:
    ``head.*`` + ``classifier.*``, no decoder): its ``head.dense`` / ``head.norm`` pool for the
    classifier, yet share their names with the masked-token head's, so they are loaded there;
    infill from such a model must not be trusted before it is pretrained further."""
    if not any(k.startswith("classifier.") for k in tensors) or not any(k.startswith("head.") for k in tensors):
        return []
    arch = hf.get("architectures") or ["a ModernBERT classifier"]
    decoder = "its decoder bias as initialised" if "decoder.bias" not in tensors else "its decoder bias loaded"
    return [f"the directory is a fine-tuned classifier ({', '.join(map(str, arch))}): its head.dense / head.norm "
            f"(the classifier's pooling head) were loaded into the masked-token head, {decoder}, so this "
            "model's masked-token predictions (infill) are not a trained masked-LM's; pretrain it before "
            "trusting them"]
