"""The sets domain's options: their names and defaults (``DEFAULTS``), the values each may
take, and the checks of a set of them against the store's schema (``check_options``).
Split out of ``domain.py`` so the domain class keeps its behaviour and this module its
settings (as the timeseries domain's ``options.py``).
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from encoderkit.errors import bad_value

from .curves import CURVES
from .io import check_unit

DEFAULTS: dict[str, Any] = {
    "masker": "random",
    "mask_rate": 0.3,
    "feature_mask_rate": 0.15,
    "use_coordinates": True,
    "unit": 1.0,
    "order": "input",
    "curve_bits": 10,
    "chunking": "auto",
    "chunk_seed": 0,
    "pooling_token": False,
    "pooling": None,  # None -> "cls" with a pooling token, else "mean"
    "jitter": 0.0,
    "random_rotation": False,
    "tie_embeddings": True,
    "id_loss_weight": 1.0,
    "feature_loss_weight": 1.0,
    "infill_max_seqlen": 1024,
    "offset_bands": 6,
}
ORDERS = ("input", *CURVES)
CHUNKINGS = ("auto", "spatial", "random")
POOLINGS = ("mean", "cls")


def _real(v: Any) -> bool:
    """A number option's value: an int or a float, never a boolean (``true`` is 1 to Python)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v: Any) -> bool:
    """An integer option's value: an int, never a boolean or a float (``2.0``)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _bad(name: str, allowed: str, got: Any) -> ValueError:
    return ValueError(bad_value(name, allowed, got, what="option", owner="the sets domain"))


def check_options(o: Mapping[str, Any], maskers: Collection[str], coord_dims: int, coord_extent: Any,
                  has_ids: bool, num_features: int) -> None:
    """A ``ValueError`` naming the first of the options ``o`` (every key of ``DEFAULTS``) that
    takes a value it may not, for a store whose sets have ``coord_dims`` coordinates (their
    extent ``coord_extent``: positions must fit float32), item ids (``has_ids``) and
    ``num_features`` features; ``maskers``: the names of the domain's maskers."""
    masker = o["masker"]
    names = set(maskers)
    choice = set(masker) if isinstance(masker, Mapping) else {masker}
    if not choice or not choice <= names:
        raise _bad("masker", f"one of {sorted(names)} or a {{name: weight}} mixture of them "
                   "(the 'feature' masker needs feature columns)", masker)
    for key in ("mask_rate", "feature_mask_rate"):
        if not _real(o[key]) or not 0.0 < o[key] <= 1.0:
            raise _bad(key, "a float in (0, 1]", o[key])
    if not _real(o["unit"]) or not o["unit"] > 0:
        raise _bad("unit", "a positive float (coordinate distance of one rotary step)",
                   o["unit"])
    if o["use_coordinates"] and coord_dims:  # positions are used: they must fit float32
        check_unit(coord_extent, o["unit"])
    if o["order"] not in ORDERS:
        raise _bad("order", f"one of {ORDERS}", o["order"])
    if o["order"] != "input" and not (o["use_coordinates"] and coord_dims):
        raise _bad("order", "'input' for sets without (used) coordinates", o["order"])
    max_bits = 63 // max(coord_dims, 1)
    if not _whole(o["curve_bits"]) or not 1 <= o["curve_bits"] <= max_bits:
        raise _bad("curve_bits", f"an int in [1, {max_bits}]", o["curve_bits"])
    if o["chunking"] not in CHUNKINGS:
        raise _bad("chunking", f"one of {CHUNKINGS}", o["chunking"])
    if o["chunking"] == "spatial" and not (o["use_coordinates"] and coord_dims):
        raise _bad("chunking", "'auto' or 'random' for sets without (used) coordinates",
                   o["chunking"])
    if not _whole(o["chunk_seed"]):
        raise _bad("chunk_seed", "an int", o["chunk_seed"])
    if o["pooling"] is not None and o["pooling"] not in POOLINGS:
        raise _bad("pooling", f"one of {POOLINGS} (or null)", o["pooling"])
    if o["pooling"] == "cls" and not o["pooling_token"]:
        raise _bad("pooling", "'mean' unless pooling_token is true", o["pooling"])
    if not _real(o["jitter"]) or o["jitter"] < 0:
        raise _bad("jitter", "a float >= 0 (coordinate units)", o["jitter"])
    for key in ("use_coordinates", "pooling_token", "random_rotation", "tie_embeddings"):
        if not isinstance(o[key], bool):
            raise _bad(key, "true or false", o[key])
    for key in ("id_loss_weight", "feature_loss_weight"):
        if not _real(o[key]) or o[key] < 0:
            raise _bad(key, "a float >= 0", o[key])
    if not _whole(o["offset_bands"]) or not 0 <= o["offset_bands"] <= 16:
        raise _bad("offset_bands", "an int in [0, 16] (0: coordinates only in the rotary "
                   "positions)", o["offset_bands"])
    if not _whole(o["infill_max_seqlen"]) or o["infill_max_seqlen"] < 2:
        raise _bad("infill_max_seqlen", "an int >= 2", o["infill_max_seqlen"])
    if not has_ids and not num_features:
        raise ValueError("the sets schema has neither item ids nor features: masked "
                         "elements would have nothing to predict")
