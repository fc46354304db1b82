"""The weights files of a Hugging Face directory, checked before anything is read or built.

A directory to import is someone else's upload. Its ``model.safetensors.index.json`` names
the shard of each tensor; a name such as ``/srv/tenant-b/model.safetensors`` or
``../../other/model.safetensors`` read a file anywhere on the host, so a shard must be a
plain file name inside the directory (what transformers writes). Its ``config.json`` sets
the model's size; a tiny upload claiming ``hidden_size=16384`` and 96 layers allocated
gigabytes before the weights were looked at, so the shapes the config implies are checked
against the safetensors headers (``safe_open`` reads the header only, no tensor) first.

A plain name can still be a symbolic link out of the directory (``model.safetensors ->
/srv/tenant-b/...``): a file is read only where its link stays inside the directory, or
where the directory is a Hugging Face cache snapshot (``.../snapshots/<revision>``) and the
link leads to that repository's ``blobs/``, which is how the hub cache stores every file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from encoderkit.errors import DataError

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"


def shard_files(hf_dir: str | Path) -> list[Path]:
    """``model.safetensors``, or the shards ``model.safetensors.index.json`` names: each a
    plain file name of a file in ``hf_dir`` (a ``DataError`` naming the entry otherwise)."""
    from encoderkit.interop.hf import HFInteropError

    hf_dir = Path(hf_dir)
    single, index = hf_dir / SINGLE, hf_dir / INDEX
    if single.is_file():
        check_inside(single, hf_dir)
        return [single]
    check_inside(index, hf_dir)
    if not index.is_file():
        found = sorted(p.name for p in hf_dir.iterdir())
        hint = " (pickle weights are never loaded; re-save with safe_serialization=True)" \
            if any(n.endswith((".bin", ".pt", ".pth")) for n in found) else ""
        raise HFInteropError(f"{str(hf_dir)!r} has no {SINGLE}; found {found}{hint}")
    try:
        weight_map = json.loads(index.read_text()).get("weight_map")
    except (ValueError, OSError, AttributeError) as e:  # not JSON, not an object
        raise HFInteropError(f"not a JSON object with a weight_map ({' '.join(str(e).split())})",
                             file=index) from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise HFInteropError(f"weight_map is {type(weight_map).__name__}, not an object of tensor name "
                             "-> shard file", file=index)
    files: dict[str, Path] = {}
    for tensor, name in weight_map.items():
        if not _plain_file_name(name):
            raise HFInteropError(f"weight_map entry {tensor!r} names shard {name!r}: a shard must be a "
                                 f"plain file name in {hf_dir} (no directory part, no '..')", file=index)
        if name not in files:
            path = hf_dir / name
            if not path.is_file():
                raise HFInteropError(f"weight_map entry {tensor!r} names shard {name!r}, which is not a "
                                     f"file in {hf_dir}", file=index)
            check_inside(path, hf_dir)
            files[name] = path
    return [files[n] for n in sorted(files)]


def _real_inside(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def check_inside(path: Path, hf_dir: Path) -> None:
    """Refuse ``path`` (a file of the upload ``hf_dir``) when a symbolic link takes it out of
    the directory, unless to the hub cache's ``blobs/`` of a snapshot (module docstring)."""
    from encoderkit.interop.hf import HFInteropError

    if not os.path.lexists(path):
        return
    real, root = os.path.realpath(path), os.path.realpath(hf_dir)
    if _real_inside(real, root):
        return
    snapshots = os.path.dirname(root)
    if os.path.basename(snapshots) == "snapshots" \
            and _real_inside(real, os.path.join(os.path.dirname(snapshots), "blobs")):
        return
    raise HFInteropError(f"is a symbolic link leading outside {str(hf_dir)!r} (to {real!r}); a model "
                         f"directory is imported only from files inside it (copy the files in)", file=path)


def _plain_file_name(name: Any) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\x00" not in name)


def header_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of every tensor in ``files``, from the safetensors headers
    (no tensor data read). HF names with the ``model.`` prefix, as ``read_hf_weights``."""
    from encoderkit.train.checkpoint_safetensors import read_header  # any file name

    shapes: dict[str, tuple[int, ...]] = {}
    for f in files:
        try:
            shapes.update(read_header(f).shapes)
        except Exception as e:  # safetensors' own SafetensorError for a damaged header
            raise DataError(f"not a readable safetensors file: {type(e).__name__}: "
                            f"{' '.join(str(e).split())}", file=f) from None
    if not any(k.startswith("model.") for k in shapes):  # a bare ModernBertModel
        shapes = {(k if k.startswith(("head.", "decoder.")) else f"model.{k}"): v for k, v in shapes.items()}
    return shapes


_LAYER = re.compile(r"^model\.layers\.(\d+)\.")
# config.json's size keys -> EncoderConfig's
CLAIMS = {"hidden_size": "hidden_size", "num_hidden_layers": "num_layers", "intermediate_size": "intermediate_size"}


def header_sizes(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """The model size the headers hold: hidden size (the embedding's width), layers (the
    highest layer index + 1) and intermediate size (half of layer 0's ``Wi`` rows, GeGLU)."""
    sizes: dict[str, int] = {}
    embedding = shapes.get("model.embeddings.tok_embeddings.weight", ())
    if len(embedding) == 2:
        sizes["hidden_size"] = embedding[1]
    layers = [int(m.group(1)) for k in shapes if (m := _LAYER.match(k))]
    sizes["num_layers"] = max(layers) + 1 if layers else 0
    wi = shapes.get("model.layers.0.mlp.Wi.weight", ())
    if len(wi) == 2:
        sizes["intermediate_size"] = wi[0] // 2
    return sizes


def check_sizes(claimed: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], where: str,
                why: str = "the config and the weights disagree (damaged or edited)") -> None:
    """``claimed`` sizes (EncoderConfig names) against the headers': nothing is built, nor
    a per-layer list made, for a size the weights do not hold."""
    from encoderkit.interop.hf import HFInteropError

    held = header_sizes(shapes)
    for key, value in claimed.items():
        if key in held and str(value) != str(held[key]):
            raise HFInteropError(f"{where} gives {key}={value}, the weights hold {key}={held[key]}: {why}")


def checked_header(hf_dir: str | Path, hf: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The header shapes of ``hf_dir``'s weights, once its shards are plain files inside it
    and ``config.json`` (``hf``) claims the sizes they hold."""
    shapes = header_shapes(shard_files(hf_dir))
    check_sizes({ours: hf[k] for k, ours in CLAIMS.items() if k in hf}, shapes, str(Path(hf_dir) / "config.json"))
    return shapes


def check_shapes(model: nn.Module, hf_dir: str | Path, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Every encoder tensor of ``model`` (meta or real; only shapes are read) is in the
    headers with its shape: ``init_from_hf``'s rules (the vocabulary's rows may differ; the
    MLM head may be absent, a bare ``ModernBertModel``) before a byte of weights is read."""
    from encoderkit.interop.hf import HFInteropError, hf_to_ours_name, ours_to_hf_name

    own = dict(model.named_parameters(remove_duplicate=False))
    vocab_keys = {"embedder.tok_embeddings.weight", "head.decoder.bias", "head.decoder.weight"}
    config = Path(hf_dir) / "config.json"
    for hf_name, shape in shapes.items():
        ours = hf_to_ours_name(hf_name)
        if ours is None or ours not in own:
            continue  # ignored by the import, and said so
        want = tuple(own[ours].shape)
        if shape != want and not (ours in vocab_keys and shape[1:] == want[1:]):
            raise HFInteropError(f"{config} describes tensor {hf_name} as {want}, the weights hold "
                                 f"{shape}: the config and the weights disagree (damaged or edited)")
    absent = [n for n in own if n.startswith(("embedder.", "encoder.")) and ours_to_hf_name(n) not in shapes]
    if absent:
        raise HFInteropError(f"{config} describes {getattr(model.config, 'num_layers', '?')} layers, "
                             f"the weights lack {len(absent)} of their tensors (e.g. "
                             f"{ours_to_hf_name(absent[0])}): the config and the weights disagree")
