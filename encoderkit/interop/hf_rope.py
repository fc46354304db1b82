"""A ModernBERT ``config.json``'s rotary settings, resolved as transformers 5 resolves them
(``ModernBertConfig.convert_rope_params_to_dict``), and refused where encoderkit's rotary
cannot reproduce them.

transformers reads the rotary of each layer type from ``rope_parameters[<layer type>]``,
updated by a 4.x-style ``rope_scaling`` (applied to both layer types), the theta falling back
to ``global_rope_theta`` / ``local_rope_theta``. A ``rope_type`` other than ``"default"``
(``linear``, ``dynamic``, ``yarn``, ...) rescales the frequencies or the positions; encoderkit
has the default rotary only, so such a directory imported with its theta alone gave other
hidden states, silently. It is refused here, naming the field.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, Mapping

from encoderkit.interop.hf_names import HFInteropError

#: ModernBERT's layer types, each with its own rotary (global: full attention; local: sliding)
LAYER_TYPES = ("full_attention", "sliding_attention")
_THETA_FALLBACK = {"full_attention": ("global_rope_theta", 160000.0),
                   "sliding_attention": ("local_rope_theta", 10000.0)}


def rope_parameters(hf: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Layer type -> its rotary parameters (``rope_type``, ``rope_theta``, ...), as transformers
    builds them from ``config.json`` (its shape checked by ``check_default_rope``)."""
    given = hf.get("rope_parameters")
    given = given if isinstance(given, Mapping) else {}
    scaling = hf.get("rope_scaling")
    out: dict[str, dict[str, Any]] = {}
    for layer_type in LAYER_TYPES:
        params = dict(given.get(layer_type) or {"rope_type": "default"})
        if isinstance(scaling, Mapping):
            params.update(scaling)  # transformers applies rope_scaling to both layer types
        key, default = _THETA_FALLBACK[layer_type]
        params.setdefault("rope_theta", hf.get(key, default))
        out[layer_type] = params
    return out


def _field(hf: Mapping[str, Any], layer_type: str, key: str) -> str:
    """Which field of ``config.json`` set ``key`` of ``layer_type``'s rotary (rope_scaling wins,
    as it is applied last)."""
    scaling = hf.get("rope_scaling")
    if isinstance(scaling, Mapping) and key in scaling:
        return f"rope_scaling.{key}"
    given = hf.get("rope_parameters")
    if isinstance(given, Mapping) and isinstance(given.get(layer_type), Mapping) and key in given[layer_type]:
        return f"rope_parameters.{layer_type}.{key}"
    return _THETA_FALLBACK[layer_type][0] if key == "rope_theta" else key


def check_default_rope(hf: Mapping[str, Any], file: str | Path) -> None:
    """Refuse, naming the field, a ``config.json`` whose rotary is not transformers' default
    (unscaled) rotary with a numeric theta per layer type."""
    given = hf.get("rope_parameters")
    if given is not None:
        if not isinstance(given, Mapping):
            raise HFInteropError(f"rope_parameters is a {type(given).__name__}, not an object of layer type "
                                 f"-> rotary parameters ({list(LAYER_TYPES)})", file=file)
        other = sorted(str(k) for k in given if k not in LAYER_TYPES)
        if other:
            raise HFInteropError(f"rope_parameters has the keys {other}; ModernBERT's is one object per "
                                 f"layer type, {list(LAYER_TYPES)} (transformers refuses it too)", file=file)
        for layer_type in LAYER_TYPES:
            if given.get(layer_type) is not None and not isinstance(given[layer_type], Mapping):
                raise HFInteropError(f"rope_parameters.{layer_type} is a {type(given[layer_type]).__name__}, "
                                     "not an object", file=file)
    scaling = hf.get("rope_scaling")
    if scaling is not None and not isinstance(scaling, Mapping):
        raise HFInteropError(f"rope_scaling is a {type(scaling).__name__}, not an object", file=file)
    for layer_type, params in rope_parameters(hf).items():
        for key in ("rope_type", "type"):  # "type": the 4.x spelling of rope_type
            kind = params.get(key, "default")
            if kind != "default":
                raise HFInteropError(
                    f"{_field(hf, layer_type, key)}={kind!r}: encoderkit implements the default (unscaled) "
                    "rotary only, and a scaled rotary read as the default one would give other hidden "
                    "states; only rope_type 'default' can be imported", file=file)
        theta = params["rope_theta"]
        if not isinstance(theta, numbers.Real) or isinstance(theta, bool) or not theta > 1:
            raise HFInteropError(f"{_field(hf, layer_type, 'rope_theta')}={theta!r}: a rotary theta must be "
                                 "a number > 1", file=file)
