"""Import: a local Hugging Face ModernBERT directory's weights copied into a model
(``init_from_hf``), after its config and the safetensors headers are checked against it."""

from __future__ import annotations

from pathlib import Path
from typing import Collection

import torch
from torch import Tensor, nn

from encoderkit.core import EncoderConfig
from encoderkit.interop.hf_config import _global_layers, _scalar_theta, config_from_hf, read_hf_config
from encoderkit.interop.hf_heads import check_tying, classifier_head_note
from encoderkit.interop.hf_names import HFInteropError, check_exportable, hf_to_ours_name, ours_to_hf_name


def read_hf_weights(hf_dir: str | Path) -> dict[str, Tensor]:
    """All tensors of ``model.safetensors`` (or its shards, ``hf_files.shard_files``), HF
    names with the ``model.`` prefix (added when the directory holds a bare ``ModernBertModel``)."""
    from encoderkit.interop.hf_files import shard_files

    tensors: dict[str, Tensor] = {}
    from encoderkit.train.checkpoint_safetensors import load_tensors  # any file name

    for f in shard_files(hf_dir):
        tensors.update(load_tensors(f))
    if not any(k.startswith("model.") for k in tensors):
        tensors = {(k if k.startswith(("head.", "decoder.")) else f"model.{k}"): v for k, v in tensors.items()}
    return tensors


#: config fields that retune the imported weights rather than shape them: compared like the
#: sizes (a pretrain run's default norm_eps must not silently replace the directory's), but
#: one the caller set on purpose (``chosen``: import-hf's ``model.<field>=`` words) is kept
RETUNABLE = ("norm_eps",)


def init_from_hf(model: nn.Module, hf_dir: str | Path, chosen: Collection[str] = ()) -> str:
    """Copy a local ModernBERT checkpoint into ``model`` (a ``MaskedEncoderModel``) in place.

    The architecture must match (``config_from_hf`` gives the matching config). A
    vocabulary of another size keeps the overlapping rows of the embedding (and the
    decoder bias) and leaves the model's own initialisation in the rest; the
    returned message says what was kept. A directory without the MLM head (a bare
    ``ModernBertModel``) leaves the head as initialised; a classifier's directory loads its
    pooling head into the masked-token head, and the message says so. An untied decoder
    (``tie_word_embeddings=false``) is refused where the model's head ties its decoder
    (``hf_heads.check_tying``); a rotary other than the default one is refused by
    ``read_hf_config``. ``chosen``: the ``EncoderConfig`` fields the user set for this import;
    of them, a ``RETUNABLE`` one that differs from the directory's is kept and said in the
    message, not refused.
    """
    from encoderkit.interop.hf_files import check_shapes, checked_header

    hf = read_hf_config(hf_dir)
    shapes = checked_header(hf_dir, hf)  # shards inside hf_dir; config.json's sizes are the weights'
    config: EncoderConfig = model.config
    mine = dict(hidden_size=config.hidden_size, num_layers=config.num_layers, num_heads=config.num_heads,
                intermediate_size=config.intermediate_size, local_window=config.local_window,
                rope_theta_global=_scalar_theta(config.rope_theta_global),
                rope_theta_local=_scalar_theta(config.rope_theta_local),
                # the norms' epsilon is part of what the weights were trained for (0.5 vs 1e-5
                # moves the hidden states), not a training choice as dropout is
                norm_eps=config.norm_eps)
    theirs_cfg = config_from_hf(hf)
    theirs = {k: getattr(theirs_cfg, k) for k in mine}
    diff = {k: (theirs[k], mine[k]) for k in mine if theirs[k] != mine[k]}
    kept = {k: diff.pop(k) for k in RETUNABLE if k in diff and k in chosen}
    n, depth = theirs_cfg.global_every, theirs_cfg.num_layers  # the global layers, not n: 2 layers
    if _global_layers(config.global_every, depth) != _global_layers(n, depth):  # of n=2 and n=3 agree
        theirs["global_every"], diff["global_every"] = n, (n, config.global_every)
    if config.rope_axes != 1 or config.rope_mode != "axial":
        diff["rope"] = ("1-D axial", f"rope_axes={config.rope_axes}, mode={config.rope_mode}")
    if diff:
        fix = " ".join(f"model.{k}={theirs[k]}" for k in diff if k in theirs)
        raise HFInteropError(f"{hf_dir}: ModernBERT config does not match the model ("
                             + ", ".join(f"{k}: HF {a!r} vs model {b!r}" for k, (a, b) in diff.items())
                             + f"); build the model from the HF config (pretrain overrides: {fix}; "
                             f"in Python: encoderkit.interop.hf.config_from_hf(config.json))")
    check_exportable(model)  # same structural requirements in both directions
    check_shapes(model, hf_dir, shapes)  # headers only, no tensor read
    tensors = read_hf_weights(hf_dir)
    own = dict(model.named_parameters(remove_duplicate=False))
    check_tying(hf, tensors, own, hf_dir)  # before any copy: a refusal leaves the model as it was
    notes: list[str] = [f"{k}={b!r} as set (model.{k}=), not the directory's {a!r}" for k, (a, b) in kept.items()]
    loaded, skipped = 0, []
    vocab_keys = {"embedder.tok_embeddings.weight", "head.decoder.bias", "head.decoder.weight"}
    with torch.no_grad():
        for hf_name, src in tensors.items():
            ours = hf_to_ours_name(hf_name)
            if ours is None or ours not in own:
                skipped.append(hf_name)
                continue
            dst = own[ours]
            if ours in vocab_keys and src.shape[0] != dst.shape[0] and src.shape[1:] == dst.shape[1:]:
                k = min(src.shape[0], dst.shape[0])
                dst[:k].copy_(src[:k])
                if ours == "embedder.tok_embeddings.weight":
                    notes.append(f"vocabulary resized {src.shape[0]} -> {dst.shape[0]}: kept rows 0..{k - 1} "
                                 f"of the Hugging Face embedding (and decoder bias)"
                                 + (f"; rows {k}..{dst.shape[0] - 1} keep their fresh initialisation"
                                    if dst.shape[0] > k else f"; dropped rows {k}..{src.shape[0] - 1}")
                                 + ". Token ids mean what the domain says, not what the HF tokenizer said.")
            elif src.shape != dst.shape:
                raise HFInteropError(f"{hf_dir}: tensor {hf_name} has shape {tuple(src.shape)}, "
                                     f"model {ours} has {tuple(dst.shape)}")
            else:
                dst.copy_(src)
            loaded += 1
        decoder, embedding = own["head.decoder.weight"], own["embedder.tok_embeddings.weight"]
        if "decoder.weight" not in tensors and decoder is not embedding and hf.get("tie_word_embeddings", True):
            decoder.copy_(embedding)  # HF stores a tied decoder once, under the embedding's name
            tensors = {**tensors, "decoder.weight": embedding}
    missing = sorted(n for n in own if ours_to_hf_name(n) not in tensors
                     and not (n == "head.decoder.weight" and own[n] is own["embedder.tok_embeddings.weight"]))
    if missing:
        notes.append(f"not in the Hugging Face directory, left as initialised: {missing}")
    if skipped:
        notes.append(f"ignored Hugging Face tensors with no encoderkit counterpart: {skipped[:8]}")
    notes += classifier_head_note(hf, tensors)
    return "; ".join([f"loaded {loaded} tensors from {hf_dir}"] + notes)
