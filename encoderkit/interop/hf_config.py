"""ModernBERT's ``config.json``: written from an ``EncoderConfig`` (``hf_config``, with the
special token ids a domain exposes) and read back (``read_hf_config`` checks it,
``config_from_hf`` turns it into an ``EncoderConfig``)."""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any, Mapping

from encoderkit.core import EncoderConfig
from encoderkit.interop.hf_names import HFInteropError
from encoderkit.interop.hf_rope import check_default_rope, rope_parameters

SPECIAL_TOKENS = ("pad", "bos", "eos", "cls", "sep", "mask")
#: the dropout fields ModernBERT's config.json and ``EncoderConfig`` share, carried both ways
DROPOUTS = ("attention_dropout", "mlp_dropout", "embedding_dropout")


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
    check_default_rope(config, file)
    return config


def _hf_layer_types(hf: Mapping[str, Any]) -> list[str]:
    if hf.get("layer_types"):
        return list(hf["layer_types"])
    every = int(hf.get("global_attn_every_n_layers", 3))
    return ["sliding_attention" if i % every else "full_attention" for i in range(int(hf["num_hidden_layers"]))]


def _hf_thetas(hf: Mapping[str, Any]) -> tuple[float, float]:
    """(global, local) rotary theta, as transformers resolves them (``hf_rope.rope_parameters``)."""
    rope = rope_parameters(hf)
    return float(rope["full_attention"]["rope_theta"]), float(rope["sliding_attention"]["rope_theta"])


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
                  initializer_range=float(hf.get("initializer_range", 0.02)),
                  # the dropouts ModernBERT trained with; EncoderConfig has the same three
                  **{k: float(hf.get(k) or 0.0) for k in DROPOUTS})
    return EncoderConfig.from_dict({**fields, **overrides})
