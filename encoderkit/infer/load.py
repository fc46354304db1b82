"""``load(path)``: a run directory or a checkpoint directory -> ``Pretrained``.

Loading is safe: ``state.json`` through ``json`` and weights through
``safetensors``; nothing goes through pickle. A missing file, a checkpoint of a
newer format version, or weights that do not fit the model built from the
checkpoint's own config give an error naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from encoderkit.core import EncoderConfig
from encoderkit.infer.pretrained import Pretrained
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import build_domain

# The newest checkpoint layout this reader understands (train helper's FORMAT_VERSION).
try:  # reuse the writer's constant when the train package provides it
    from encoderkit.train.checkpoint import FORMAT_VERSION as SUPPORTED_FORMAT
except ImportError:  # pragma: no cover - only while train is not installed
    SUPPORTED_FORMAT = 1

STATE_FILE = "state.json"
MODEL_FILE = "model.safetensors"


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory (holds ``state.json``) or a run directory (newest
    numbered step under ``checkpoints/``) -> the checkpoint directory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint path {str(path)!r} does not exist")
    if (path / STATE_FILE).is_file():
        return path
    ckpts = path / "checkpoints"
    if not ckpts.is_dir():
        raise FileNotFoundError(
            f"{str(path)!r} is neither a checkpoint directory (no {STATE_FILE}) nor a run directory "
            f"(no checkpoints/ folder)")
    steps = sorted((int(p.name), p) for p in ckpts.iterdir()
                   if p.is_dir() and p.name.isdigit() and (p / STATE_FILE).is_file())
    if not steps:
        raise FileNotFoundError(f"run directory {str(path)!r} has no complete checkpoint under "
                                f"checkpoints/<step>/ (each needs {STATE_FILE} and {MODEL_FILE})")
    return steps[-1][1]


def read_state(checkpoint: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint, checked for the keys and format version we need."""
    file = checkpoint / STATE_FILE
    try:
        state = json.loads(file.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {str(checkpoint)!r} has no {STATE_FILE}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{file} is not valid JSON: {e}") from None
    version = state.get("format_version")
    if not isinstance(version, int):
        raise ValueError(f"{file} has no integer 'format_version' (got {version!r}); "
                         f"it was not written by encoderkit")
    if version > SUPPORTED_FORMAT:
        raise ValueError(f"{file} has format_version {version}, newer than this encoderkit reads "
                         f"(<= {SUPPORTED_FORMAT}); upgrade encoderkit to load it")
    for key in ("model_config", "domain"):
        if key not in state:
            raise ValueError(f"{file} lacks the {key!r} entry needed to rebuild the model")
    return state


def load_weights(model: nn.Module, file: Path) -> None:
    """Load a safetensors state dict into ``model`` strictly; tied parameters
    (one tensor under two names) may appear under either name."""
    try:
        tensors = load_file(str(file))
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint weights {str(file)!r} are missing") from None
    except SafetensorError as e:
        raise ValueError(f"{file} is not a readable safetensors file: {e}") from None
    own = model.state_dict()
    # Names that alias the same storage (e.g. a decoder tied to the input embedding).
    by_ptr: dict[int, list[str]] = {}
    for name, t in own.items():
        by_ptr.setdefault(t.data_ptr(), []).append(name)
    aliases = {n: names for names in by_ptr.values() for n in names}
    unexpected = sorted(set(tensors) - set(own))
    missing = sorted(n for n in own if n not in tensors and not any(a in tensors for a in aliases[n]))
    wrong = [f"{n}: file {tuple(tensors[n].shape)} vs model {tuple(own[n].shape)}"
             for n in own if n in tensors and tensors[n].shape != own[n].shape]
    if unexpected or missing or wrong:
        raise ValueError(f"{file} does not match the model its state.json describes: "
                         f"missing {missing[:8]}, unexpected {unexpected[:8]}, shape mismatch {wrong[:8]}")
    with torch.no_grad():
        for name, t in own.items():
            src = tensors.get(name)
            if src is None:
                src = next(tensors[a] for a in aliases[name] if a in tensors)
            t.copy_(src)


def load(path: str | Path, device: str | torch.device = "cpu") -> Pretrained:
    """Load a run directory (newest checkpoint) or a checkpoint directory."""
    checkpoint = resolve_checkpoint(path)
    state = read_state(checkpoint)
    try:
        domain = build_domain(state["domain"])
    except KeyError as e:
        raise ValueError(f"{checkpoint / STATE_FILE}: cannot rebuild its domain: {e}") from None
    config = EncoderConfig.from_dict(state["model_config"])
    model = MaskedEncoderModel(domain, config)
    load_weights(model, checkpoint / MODEL_FILE)
    return Pretrained(model=model, domain=domain, config=config, path=checkpoint,
                      step=int(state.get("step", 0))).to(device)
