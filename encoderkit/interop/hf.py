"""Hugging Face ModernBERT weights in and out, for token-id domains with 1-D positions.

The core keeps ModernBERT's module names, so the mapping is a rename:

    HF ModernBertForMaskedLM                         encoderkit MaskedEncoderModel
    model.embeddings.tok_embeddings.weight      <->  embedder.tok_embeddings.weight
    model.embeddings.norm.weight                <->  encoder.embedding_norm.weight
    model.layers.{i}.{attn_norm, attn.Wqkv, attn.Wo, mlp_norm, mlp.Wi, mlp.Wo}.weight
                                                <->  encoder.layers.{i}.(same)
    model.final_norm.weight                     <->  encoder.final_norm.weight
    head.dense.weight, head.norm.weight         <->  head.dense.weight, head.norm.weight
    decoder.weight (tied), decoder.bias         <->  head.decoder.weight (tied), head.decoder.bias

Any domain whose embedder is exactly a ``tok_embeddings`` embedding and whose head
is ``dense`` -> GELU -> ``norm`` -> ``decoder`` can go out; other domains are refused
with the parameter names that do not map. Hugging Face uses ``position_ids =
arange(L)`` by default; rotary depends only on position differences, so a domain
whose positions are consecutive token indices (any origin) gives the same logits.
Only ``safetensors`` and JSON are read or written.

This module writes an export (``export_hf``); the rest is split by job, each name still
importable from here: ``hf_names.py`` (the name table above, ``check_exportable``),
``hf_config.py`` (``config.json`` out and in; ``hf_rope.py`` its rotary, default only),
``hf_tokenizer.py`` (``TOKENIZER_FILE``), ``hf_task.py`` (fine-tuned classifiers) and
``hf_import.py`` (``init_from_hf``; ``hf_heads.py`` what it refuses or says of the heads:
an untied decoder, a classifier's head; ``hf_domain.py`` a domain that cannot be a ModernBERT).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import Tensor, nn

from encoderkit.errors import OutputExistsError
from encoderkit.outputs import (HF_TOKENIZER_FILE, as_created, check_output, is_hf_export, remove_dead_temporaries,
                                sibling, sibling_prefix,
                                restore_dead_replaced, write_error)

# the parts of the interop that live in their own modules; importable from here as before
from encoderkit.interop.hf_names import (_FIXED, _HF_LAYER_RE, _LAYER_PARTS, _LAYER_RE,  # noqa: F401
                                         HFInteropError, check_exportable, encoder_problems, hf_to_ours_name,
                                         ours_to_hf_name)
from encoderkit.interop.hf_config import (SPECIAL_TOKENS, _global_layers, _hf_layer_types, _hf_thetas,  # noqa: F401
                                          _scalar_theta, config_from_hf, hf_config, read_hf_config,
                                          special_token_ids)
from encoderkit.interop.hf_tokenizer import (_CHARACTERS, _added_token, _sample_text, _token_ids,  # noqa: F401
                                             tokenizer_description)
from encoderkit.interop.hf_task import (TASK_ARCHITECTURES, TASK_WARNINGS, _task_hf_name,  # noqa: F401
                                        check_task_exportable, task_hf)
from encoderkit.interop.hf_import import init_from_hf, read_hf_weights  # noqa: F401

#: written beside config.json: how to turn a record into the model's ``input_ids``
TOKENIZER_FILE = HF_TOKENIZER_FILE


# ---------------------------------------------------------------------------
# export


def to_hf_state_dict(model: nn.Module) -> tuple[dict[str, Tensor], bool]:
    """HF-named fp32 contiguous copies of the weights; whether the decoder is tied."""
    check_exportable(model)
    tied = model.head.decoder.weight is model.embedder.tok_embeddings.weight
    out = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        hf = ours_to_hf_name(name)
        if hf == "decoder.weight" and tied:
            continue  # HF re-ties it to the embedding on load
        out[hf] = p.detach().to("cpu", torch.float32).contiguous().clone()
    if "decoder.bias" not in out:  # a head without decoder bias: ModernBERT's is zeros
        out["decoder.bias"] = torch.zeros(model.embedder.tok_embeddings.num_embeddings)
    return out, tied


def export_hf(source: Any, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (and ``TOKENIZER_FILE``: how to build
    ``input_ids``, ``tokenizer_description``) that
    ``transformers.AutoModelForMaskedLM.from_pretrained(out_dir)`` loads as ``ModernBertForMaskedLM``
    (a fine-tuned run: ``ModernBertForSequenceClassification`` / ``ForTokenClassification``, see
    ``task_hf``). ``source``: a run / checkpoint directory or a loaded ``Pretrained``."""
    if isinstance(source, (str, Path)):
        from encoderkit.infer import load

        source = load(source)
    model, domain = source.model, source.domain
    out_dir = Path(out_dir)
    # what an export killed (SIGKILL) on the way left: its temporary, and an old export it
    # had moved aside (put back when nothing is at out_dir, else removed)
    remove_dead_temporaries(out_dir.parent, sibling_prefix(out_dir.name, "tmp"))
    restore_dead_replaced(out_dir, sibling_prefix(out_dir.name, "old"), complete=is_hf_export)
    if out_dir.exists() and out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError("exists and is not empty; pass overwrite=true to replace it", file=out_dir)
    # overwrite replaces an earlier export only, never a folder of the user's files
    check_output(out_dir, overwrite, what="a Hugging Face export written by encoderkit",
                 recognise=is_hf_export)
    # a domain may know what ModernBERT cannot reproduce (e.g. positions that skip numbers)
    problems = list(getattr(domain, "hf_export_problems", lambda: [])())
    if problems:
        raise HFInteropError("cannot export to Hugging Face ModernBERT: " + "; ".join(problems))
    if getattr(model, "spec", None) is not None:  # a fine-tuned TaskModel
        tensors, config = task_hf(model, domain)  # refuses first: no warning before a refusal
        if model.spec.type in TASK_WARNINGS:  # what transformers will not do with it
            warnings.warn(TASK_WARNINGS[model.spec.type], stacklevel=2)
        members = getattr(source, "members", ())
        if members:  # transformers runs one model: the export is the first member
            warnings.warn(f"{source.path} is an ensemble of {1 + len(members)} fine-tuned members "
                          "(task.ensemble); the export holds the first member only, whose "
                          "predictions differ from the ensemble's", stacklevel=2)
    else:
        tensors, tied = to_hf_state_dict(model)
        vocab = model.embedder.tok_embeddings.num_embeddings
        config = hf_config(model.config, vocab, special_token_ids(domain), tied=tied)
    config["encoderkit"] = {"domain": domain.name, "step": getattr(source, "step", None)}
    tokenizer = tokenizer_description(domain, getattr(source, "max_seqlen", None),
                                      getattr(source, "path", None))
    tmp = sibling(out_dir, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        as_created(tmp / "model.safetensors")  # safetensors writes 0600: readable as config.json is
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / TOKENIZER_FILE).write_text(json.dumps(tokenizer, indent=1) + "\n")
        if out_dir.exists():
            # moved aside, not deleted, until the new export is in place
            old = sibling(out_dir, "old")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except (OSError, SafetensorError) as e:  # a full disk in safetensors' writer is its own error type
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(e, out_dir) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
