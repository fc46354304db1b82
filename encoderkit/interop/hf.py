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
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from encoderkit.core import EncoderConfig
from encoderkit.errors import DataError, OutputExistsError
from encoderkit.outputs import (HF_TOKENIZER_FILE, as_created, check_output, is_hf_export, remove_dead_temporaries,
                                restore_dead_replaced, write_error)

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
SPECIAL_TOKENS = ("pad", "bos", "eos", "cls", "sep", "mask")


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


# ---------------------------------------------------------------------------
# checks


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
    embedder_params = sorted(n for n, _ in model.embedder.named_parameters())
    if embedder_params != ["tok_embeddings.weight"] or not isinstance(
            getattr(model.embedder, "tok_embeddings", None), nn.Embedding):
        problems.append(f"the domain embedder must be one nn.Embedding `tok_embeddings` (a token-id "
                        f"domain); it has parameters {embedder_params}")
    return problems


def check_exportable(model: nn.Module) -> None:
    """Refuse, naming the reason, a model that ModernBERT cannot represent."""
    problems = encoder_problems(model)
    head = model.head
    for part in ("dense", "norm", "decoder"):
        if not isinstance(getattr(head, part, None), (nn.Linear, nn.LayerNorm)):
            problems.append(f"the domain head has no `{part}` module")
    unmapped = sorted(n for n, _ in model.named_parameters() if ours_to_hf_name(n) is None)
    if unmapped:
        problems.append(f"parameters with no ModernBERT counterpart: {unmapped[:8]}")
    if problems:
        raise HFInteropError("cannot export to Hugging Face ModernBERT: " + "; ".join(problems))


def _scalar_theta(t: float | tuple[float, ...]) -> float:
    return float(t[0] if isinstance(t, tuple) else t)


def special_token_ids(domain: Any) -> dict[str, int | None]:
    """Special token ids a domain exposes as ``<name>_token_id`` / ``<name>_id`` attributes,
    the same keys in its schema, or ``schema['special_tokens'][<name>]``; None if absent."""
    schema = getattr(domain, "schema", None) or {}
    table = schema.get("special_tokens") or {}
    out: dict[str, int | None] = {}
    for name in SPECIAL_TOKENS:
        value = None
        for key in (f"{name}_token_id", f"{name}_id"):
            value = getattr(domain, key, None)
            if value is None:
                value = schema.get(key)
            if value is not None:
                break
        if value is None:
            value = table.get(name)
        out[name] = int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None
    return out


def hf_config(config: EncoderConfig, vocab_size: int, special: Mapping[str, int | None],
              tied: bool = True) -> dict[str, Any]:
    """A ``config.json`` for ``ModernBertForMaskedLM`` (readable by transformers 4.48+ and 5.x)."""
    layer_types = ["full_attention" if config.is_global(i) else "sliding_attention"
                   for i in range(config.num_layers)]
    g, loc = _scalar_theta(config.rope_theta_global), _scalar_theta(config.rope_theta_local)
    ids = {f"{k}_token_id": (v if v is not None and 0 <= v < vocab_size else None)
           for k, v in special.items() if k != "mask"}
    return {
        "architectures": ["ModernBertForMaskedLM"],
        "model_type": "modernbert",
        "vocab_size": int(vocab_size),
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "hidden_activation": "gelu",
        "max_position_embeddings": 8192,
        "initializer_range": config.initializer_range,
        "initializer_cutoff_factor": 2.0,
        "norm_eps": config.norm_eps,
        "norm_bias": False,
        **ids,
        "mask_token_id": special.get("mask"),
        "attention_bias": False,
        "attention_dropout": config.attention_dropout,
        "local_attention": config.local_window,
        "global_attn_every_n_layers": config.global_every,  # transformers 4.x
        "layer_types": layer_types,  # transformers 5.x
        "global_rope_theta": g,  # transformers 4.x
        "local_rope_theta": loc,
        "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": g},
                            "sliding_attention": {"rope_type": "default", "rope_theta": loc}},
        "embedding_dropout": config.embedding_dropout,
        "mlp_bias": False,
        "mlp_dropout": config.mlp_dropout,
        "decoder_bias": True,
        "classifier_bias": False,
        "classifier_activation": "gelu",
        "classifier_pooling": "mean",
        "tie_word_embeddings": bool(tied),
        "torch_dtype": "float32",
    }


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
    remove_dead_temporaries(out_dir.parent, f".{out_dir.name}.tmp-")
    restore_dead_replaced(out_dir, f".{out_dir.name}.old-", complete=is_hf_export)
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
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        as_created(tmp / "model.safetensors")  # safetensors writes 0600: readable as config.json is
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / TOKENIZER_FILE).write_text(json.dumps(tokenizer, indent=1) + "\n")
        if out_dir.exists():
            # moved aside, not deleted, until the new export is in place
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(e, out_dir) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


#: written beside config.json: how to turn a record into the model's ``input_ids``
TOKENIZER_FILE = HF_TOKENIZER_FILE
_CHARACTERS = "".join(chr(c) for c in range(33, 127))  # printable ASCII, one at a time


def _token_ids(domain: Any, text: str) -> list[int] | None:
    """The token ids encoderkit gives the record ``text`` (``to_records`` + ``featurize``), or
    None where the domain does not read it."""
    try:
        records = domain.to_records([text])
        if len(records) != 1:
            return None
        return [int(i) for i in domain.featurize(records[0]).fields["ids"]]
    except Exception:  # noqa: BLE001 - a character the domain refuses is simply not in the table
        return None


def _added_token(domain: Any, singles: Mapping[str, list[int] | None],
                 vocab: list[str] | None) -> tuple[int, int, str] | None:
    """(index in input_ids, id, name) of the [CLS] element the domain puts into every record
    at ``cls_position``: the id at that index of every one-character record it reads
    (``singles``), else its ``cls`` special id; None without a ``cls_position``."""
    at = getattr(domain, "cls_position", None)
    if at is None:
        return None
    seen = {ids[at] for ids in singles.values() if ids is not None and len(ids) > at}
    cls = seen.pop() if len(seen) == 1 else special_token_ids(domain).get("cls")
    if cls is None:
        return None
    name = vocab[cls] if vocab and 0 <= cls < len(vocab) else "[CLS]"
    return int(at), int(cls), name


def _sample_text(domain: Any, table: Mapping[str, int]) -> str:
    """A short text to show the domain's ids on: the start of its own infill sample where that
    is text, else the characters it reads."""
    try:
        sample = domain.sample_infill_input()
        sample = sample if isinstance(sample, str) else sample[0]
    except (NotImplementedError, TypeError, KeyError, IndexError):  # no text sample: the characters
        sample = None
    return sample[:16] if isinstance(sample, str) and sample else "".join(table)[:16]


def tokenizer_description(domain: Any, max_seqlen: int | None, run: Any = None) -> dict[str, Any]:
    """What ``TOKENIZER_FILE`` holds: how a transformers user builds ``input_ids`` for the
    export. ``vocab`` (token strings in id order, where the domain names them);
    ``special_tokens_added``: the [CLS] element the domain puts at ``cls_position`` of every
    record (its index, id and name), or none; and, where the domain tokenizes one character
    at a time around it (checked: a string of every character it reads gives the
    concatenation of their single ids), ``char_to_id``, so that ``[char_to_id[c] for c in
    text]`` (with the [CLS] id inserted at its index) is the whole tokenizer. Otherwise the
    ids come from encoderkit itself (``python``), with one ``example`` the domain tokenized."""
    out: dict[str, Any] = {"domain": domain.name,
                           "options": {k: v for k, v in dict(getattr(domain, "options", {}) or {}).items()
                                       if isinstance(v, (str, int, float, bool)) or v is None}}
    vocab = getattr(getattr(domain, "vocab", None), "token_strings", None)
    if callable(vocab):
        with contextlib.suppress(NotImplementedError, TypeError, ValueError):  # described without it
            out["vocab"] = [str(t) for t in vocab()]
    singles = {c: _token_ids(domain, c) for c in _CHARACTERS}  # one-character records
    added = _added_token(domain, singles, out.get("vocab"))
    out["special_tokens_added"] = ([{"token": added[2], "id": added[1], "index": added[0]}]
                                   if added else [])

    def own(ids: list[int] | None) -> list[int] | None:  # a record's own tokens: no [CLS]
        if ids is None or added is None:
            return ids
        at, cls, _ = added
        return ids[:at] + ids[at + 1:] if len(ids) > at and ids[at] == cls else None

    table = {}
    for c in _CHARACTERS:  # the characters the domain reads on their own
        ids = own(singles[c])
        if ids is not None and len(ids) == 1:
            table[c] = ids[0]
    base = "".join(table) * 2
    before = own(_token_ids(domain, base)) if table else None
    for c in _CHARACTERS:  # and those it reads among them (a DNA reader refuses "R" alone)
        ids = own(_token_ids(domain, base + c)) if before is not None and c not in table else None
        if ids is not None and len(ids) == len(before) + 1 and ids[:-1] == before:
            table[c] = ids[-1]
    text = "".join(base + c for c in table)
    whole = own(_token_ids(domain, text)) if table else None
    python = ("import encoderkit; m = encoderkit.load(<run>); "
              "input_ids = m.domain.featurize(m.domain.to_records([text])[0]).fields['ids']")
    if whole is not None and whole == [table[c] for c in text]:
        out["char_to_id"] = table
        if added is None:
            recipe = "input_ids = [char_to_id[c] for c in text], nothing added around the record"
        else:
            at, cls, name = added
            recipe = (f"ids = [char_to_id[c] for c in text]; input_ids = ids[:{at}] + [{cls}] + ids[{at}:] "
                      f"({name}, id {cls}, at index {at} of every record)")
        out["how"] = (f"{recipe}: one token per character; a character not in char_to_id is not "
                      f"read by this model")
    else:
        sample = _sample_text(domain, table)
        ids = _token_ids(domain, sample) if sample else None
        if ids is not None:
            out["example"] = {"text": sample, "input_ids": ids}
            names = out.get("vocab")
            if names and all(0 <= i < len(names) for i in ids):  # what each id stands for
                out["example"]["tokens"] = [names[i] for i in ids]
        out["how"] = ("the domain's tokens are not one per character (ids as in vocab"
                      + (", e.g. example" if ids is not None else "")
                      + ("" if added is None else f"; {added[2]} id {added[1]} at index {added[0]}")
                      + "); build input_ids with encoderkit")
    out["python"] = python
    if max_seqlen:
        out["max_length"] = int(max_seqlen)
        out["long_records"] = (f"encoderkit cuts a record longer than {int(max_seqlen)} tokens into "
                               "windows and pools them; transformers runs the whole input at once, "
                               "so only records up to that length give encoderkit's outputs")
    if run is not None:
        out["run"] = str(run)
    return out


# ---------------------------------------------------------------------------
# fine-tuned classifiers

#: encoderkit task -> (transformers class, problem_type)
TASK_ARCHITECTURES = {
    "classification": ("ModernBertForSequenceClassification", "single_label_classification"),
    "multilabel": ("ModernBertForSequenceClassification", "multi_label_classification"),
    "regression": ("ModernBertForSequenceClassification", "regression"),
    "token_classification": ("ModernBertForTokenClassification", "single_label_classification"),
    "token_regression": ("ModernBertForTokenClassification", "regression"),
}


def check_task_exportable(model: nn.Module) -> None:
    """Refuse, naming the reasons, a fine-tuned model transformers cannot represent."""
    spec = model.spec
    problems = []
    if spec.type not in TASK_ARCHITECTURES:
        problems.append(f"task {spec.type!r} has no transformers head (exportable: "
                        f"{sorted(TASK_ARCHITECTURES)}; export the encoder of a contrastive run "
                        "from its pretrained run)")
    if spec.head != "mlp":
        problems.append("task.head=linear (transformers' classifiers always have the "
                        "dense -> GELU -> LayerNorm head; fine-tune with task.head=mlp)")
    if spec.pooling == "mean_std":
        problems.append("task.pooling=mean_std (transformers pools the mean or [CLS] only; "
                        "fine-tune with task.pooling=mean)")
    if spec.pooling == "cls" and getattr(model, "cls_position", None) != 0:
        problems.append("cls pooling needs the [CLS] element first in every window")
    problems += encoder_problems(model)
    unmapped = sorted(n for n, _ in model.named_parameters() if _task_hf_name(n) is None)
    if unmapped:
        problems.append(f"parameters with no ModernBERT counterpart: {unmapped[:8]}")
    if problems:
        raise HFInteropError("cannot export to Hugging Face ModernBERT: " + "; ".join(problems))


def _task_hf_name(name: str) -> str | None:
    if name in ("head.dense.weight", "head.norm.weight", "classifier.weight", "classifier.bias"):
        return name
    if name.startswith(("embedder.", "encoder.")):
        return ours_to_hf_name(name)
    return None


def task_hf(model: nn.Module, domain: Any) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """HF-named weights and ``config.json`` of a fine-tuned ``TaskModel``: transformers'
    ``ModernBertForSequenceClassification`` (pooling ``classifier_pooling`` = the task's) or
    ``ModernBertForTokenClassification``, ``id2label`` from the task's classes. Regression
    logits are the standardised targets (``encoderkit.target_mean`` / ``target_std`` in the
    config map them back)."""
    check_task_exportable(model)
    spec = model.spec
    tensors = {_task_hf_name(n): p.detach().to("cpu", torch.float32).contiguous().clone()
               for n, p in model.named_parameters()}
    vocab = model.embedder.tok_embeddings.num_embeddings
    config = hf_config(model.config, vocab, special_token_ids(domain), tied=False)
    arch, problem = TASK_ARCHITECTURES[spec.type]
    names = spec.classes if spec.type in ("classification", "multilabel", "token_classification") \
        else spec.targets
    config.update({
        "architectures": [arch],
        "problem_type": problem,
        "num_labels": len(names),
        "id2label": {str(i): str(c) for i, c in enumerate(names)},
        "label2id": {str(c): i for i, c in enumerate(names)},
        "classifier_pooling": spec.pooling,
        "classifier_dropout": float(spec.dropout),
    })
    if spec.type in ("regression", "token_regression"):
        config["target_mean"], config["target_std"] = list(spec.mean), list(spec.std)
    return tensors, config


# ---------------------------------------------------------------------------
# import


def read_hf_config(hf_dir: str | Path) -> dict[str, Any]:
    hf_dir = Path(hf_dir)
    file = hf_dir / "config.json"
    if not file.is_file():
        raise HFInteropError(f"{str(hf_dir)!r} is not a Hugging Face model directory (no config.json)")
    from encoderkit.interop.hf_files import check_inside

    check_inside(file, hf_dir)
    try:
        config = json.loads(file.read_text())
    except (ValueError, OSError) as e:  # JSONDecodeError / UnicodeDecodeError are ValueErrors
        raise HFInteropError(f"not valid JSON ({' '.join(str(e).split())})", file=file) from None
    if not isinstance(config, dict):
        raise HFInteropError(f"holds a JSON {type(config).__name__}, not an object", file=file)
    kind = config.get("model_type")
    if kind != "modernbert":
        raise HFInteropError(f"{file} describes a {kind!r} model (architectures "
                             f"{config.get('architectures')}); only 'modernbert' can be imported")
    for flag in ("norm_bias", "attention_bias", "mlp_bias", "classifier_bias"):
        if config.get(flag, False):
            raise HFInteropError(f"{file} sets {flag}=true; encoderkit's ModernBERT layers have no such bias")
    act = (config.get("hidden_activation", "gelu"), config.get("classifier_activation", "gelu"))
    if act != ("gelu", "gelu"):
        raise HFInteropError(f"{file} uses activations {act}; encoderkit implements GELU only")
    return config


def _hf_layer_types(hf: Mapping[str, Any]) -> list[str]:
    if hf.get("layer_types"):
        return list(hf["layer_types"])
    every = int(hf.get("global_attn_every_n_layers", 3))
    return ["sliding_attention" if i % every else "full_attention" for i in range(int(hf["num_hidden_layers"]))]


def _hf_thetas(hf: Mapping[str, Any]) -> tuple[float, float]:
    rp = hf.get("rope_parameters") or {}
    g = (rp.get("full_attention") or {}).get("rope_theta", hf.get("global_rope_theta", 160000.0))
    loc = (rp.get("sliding_attention") or {}).get("rope_theta", hf.get("local_rope_theta", 10000.0))
    return float(g), float(loc)


def _global_layers(every: int, num_layers: int) -> list[int]:  # every every-th layer, from 0
    return [i for i in range(num_layers) if i % every == 0]


def config_from_hf(hf: Mapping[str, Any], **overrides: Any) -> EncoderConfig:
    """The ``EncoderConfig`` of a ModernBERT ``config.json`` (1-D rotary)."""
    types = _hf_layer_types(hf)
    globals_ = [i for i, t in enumerate(types) if t == "full_attention"]
    every = globals_[1] - globals_[0] if len(globals_) > 1 else max(len(types), 1)
    if globals_[:1] != [0] or _global_layers(every, len(types)) != globals_:
        raise HFInteropError(f"layer pattern {types} is not 'every n-th layer global, starting at 0'; "
                             f"encoderkit cannot represent it")
    said = hf.get("global_attn_every_n_layers")  # one global layer fits any n >= the depth:
    if type(said) is int and said >= 1 and _global_layers(said, len(types)) == globals_:
        every = said  # config.json's n (a 2-layer export of n=3 says 3), the exported model's
    g, loc = _hf_thetas(hf)
    fields = dict(hidden_size=int(hf["hidden_size"]), num_layers=int(hf["num_hidden_layers"]),
                  num_heads=int(hf["num_attention_heads"]), intermediate_size=int(hf["intermediate_size"]),
                  rope_axes=1, rope_theta_global=g, rope_theta_local=loc,
                  local_window=int(hf.get("local_attention", 128)), global_every=every,
                  norm_eps=float(hf.get("norm_eps", 1e-5)),
                  initializer_range=float(hf.get("initializer_range", 0.02)))
    return EncoderConfig.from_dict({**fields, **overrides})


def read_hf_weights(hf_dir: str | Path) -> dict[str, Tensor]:
    """All tensors of ``model.safetensors`` (or its shards, ``hf_files.shard_files``), HF
    names with the ``model.`` prefix (added when the directory holds a bare ``ModernBertModel``)."""
    from encoderkit.interop.hf_files import shard_files

    tensors: dict[str, Tensor] = {}
    for f in shard_files(hf_dir):
        with safe_open(str(f), framework="pt") as handle:
            for k in handle.keys():
                tensors[k] = handle.get_tensor(k)
    if not any(k.startswith("model.") for k in tensors):
        tensors = {(k if k.startswith(("head.", "decoder.")) else f"model.{k}"): v for k, v in tensors.items()}
    return tensors


def init_from_hf(model: nn.Module, hf_dir: str | Path) -> str:
    """Copy a local ModernBERT checkpoint into ``model`` (a ``MaskedEncoderModel``) in place.

    The architecture must match (``config_from_hf`` gives the matching config). A
    vocabulary of another size keeps the overlapping rows of the embedding (and the
    decoder bias) and leaves the model's own initialisation in the rest; the
    returned message says what was kept. A directory without the MLM head (a bare
    ``ModernBertModel``) leaves the head as initialised.
    """
    from encoderkit.interop.hf_files import check_shapes, checked_header

    hf = read_hf_config(hf_dir)
    shapes = checked_header(hf_dir, hf)  # shards inside hf_dir; config.json's sizes are the weights'
    config: EncoderConfig = model.config
    mine = dict(hidden_size=config.hidden_size, num_layers=config.num_layers, num_heads=config.num_heads,
                intermediate_size=config.intermediate_size, local_window=config.local_window,
                rope_theta_global=_scalar_theta(config.rope_theta_global),
                rope_theta_local=_scalar_theta(config.rope_theta_local))
    theirs_cfg = config_from_hf(hf)
    theirs = {k: getattr(theirs_cfg, k) for k in mine}
    diff = {k: (theirs[k], mine[k]) for k in mine if theirs[k] != mine[k]}
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
    notes: list[str] = []
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
    return "; ".join([f"loaded {loaded} tensors from {hf_dir}"] + notes)
