"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

Layout: ``<run>/checkpoints/<step>/{model.safetensors, optimizer.safetensors, state.json}``.
A checkpoint is written into ``checkpoints/.tmp-<step>-<pid>`` and renamed into place,
so a crash at any moment leaves either the complete checkpoint or none; only
directories named by a step number are ever loaded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"

# Config keys that may change between a checkpoint and its resume (how long, how often,
# where, with how many workers) without changing what is trained.
RESUMABLE_KEYS = ("run.resume", "run.dir", "run.name", "run.device", "run.compile", "train.steps",
                  "train.log_every", "train.eval_every", "train.eval_tokens",
                  "train.checkpoint_every", "train.keep", "train.progress", "data.num_workers",
                  "data.store", "run.init_from")


# ---------------------------------------------------------------- model / optimizer tensors
def model_state(model: torch.nn.Module) -> dict[str, Tensor]:
    """State dict with shared tensors (tied embeddings) stored once, contiguous, on CPU."""
    out: dict[str, Tensor] = {}
    seen: dict[int, str] = {}
    for name, t in model.state_dict().items():
        key = t.data_ptr() if t.numel() else id(t)
        if key in seen and t.numel():
            continue  # a tied weight: load_state_dict(strict=False) restores it via its twin
        seen[key] = name
        out[name] = t.detach().to("cpu").contiguous().clone()
    return out


def load_model_state(model: torch.nn.Module, state: Mapping[str, Tensor]) -> None:
    missing, unexpected = model.load_state_dict(dict(state), strict=False)
    # Missing keys are allowed only when they are tied to a loaded tensor.
    ptrs = {t.data_ptr() for n, t in model.state_dict().items() if n in state}
    really_missing = [k for k in missing if model.state_dict()[k].data_ptr() not in ptrs]
    if really_missing or unexpected:
        raise ValueError(f"checkpoint does not match the model: missing {really_missing}, "
                         f"unexpected {list(unexpected)}")


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list]:
    """Flatten ``optimizer.state_dict()`` into named tensors plus JSON param groups."""
    sd = optimizer.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            t = v if isinstance(v, Tensor) else torch.tensor(v)
            tensors[f"state.{idx}.{k}"] = t.detach().to("cpu").contiguous().clone()
    return tensors, sd["param_groups"]


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, tensors: Mapping[str, Tensor],
                           groups: list) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for name, t in tensors.items():
        _, idx, k = name.split(".", 2)
        state.setdefault(int(idx), {})[k] = t
    for g in groups:  # JSON turns tuples into lists
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# ---------------------------------------------------------------- RNG states as JSON
def _b64(t: Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": _b64(torch.get_rng_state()),
        "cuda": [_b64(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(_unb64(state["torch"]))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


# ---------------------------------------------------------------- config comparison
def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_hash(cfg: Mapping[str, Any]) -> str:
    """sha256 of the config keys that define what is trained (not how long or where)."""
    flat = {k: v for k, v in flatten(cfg).items() if k not in RESUMABLE_KEYS}
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()


def config_diff(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Human-readable differences of the training-defining keys."""
    a = {k: v for k, v in flatten(saved).items() if k not in RESUMABLE_KEYS}
    b = {k: v for k, v in flatten(current).items() if k not in RESUMABLE_KEYS}
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            lines.append(f"{k}: checkpoint {a.get(k, '<absent>')!r}, now {b.get(k, '<absent>')!r}")
    return lines


# ---------------------------------------------------------------- directory handling
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def complete_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (only renamed, step-named directories count)."""
    if not ckpt_dir.is_dir():
        return []
    found = [p for p in ckpt_dir.iterdir()
             if p.is_dir() and p.name.isdigit() and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name))


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = complete_checkpoints(ckpt_dir)
    return found[-1] if found else None


def remove_stale(ckpt_dir: Path) -> None:
    """Remove temporary directories left by a crash during a checkpoint write."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)


def save_checkpoint(ckpt_dir: Path, step: int, model_tensors: Mapping[str, Tensor],
                    optim_tensors: Mapping[str, Tensor], optim_groups: list,
                    state: Mapping[str, Any], keep: int) -> Path:
    """Write a checkpoint atomically and keep the newest ``keep`` (0 keeps all)."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / str(step)
    tmp = ckpt_dir / f".tmp-{step}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(dict(model_tensors), str(tmp / MODEL_FILE), metadata={"format": "pt"})
    save_file(dict(optim_tensors) or {"_empty": torch.zeros(0)}, str(tmp / OPTIMIZER_FILE),
              metadata={"format": "pt", "param_groups": json.dumps(optim_groups)})
    full_state = {"format_version": FORMAT_VERSION, **state}
    (tmp / STATE_FILE).write_text(json.dumps(full_state, indent=1, default=_json_default))
    for name in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE):
        _fsync_file(tmp / name)
    _fsync_dir(tmp)
    if final.exists():  # re-saving a step (e.g. after a resume): replace the old copy
        old = ckpt_dir / f".tmp-old-{step}-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    _fsync_dir(ckpt_dir)
    if keep > 0:
        for p in complete_checkpoints(ckpt_dir)[:-keep]:
            # rename first so a crash mid-delete never leaves a step dir without files
            doomed = ckpt_dir / f".tmp-del-{p.name}-{os.getpid()}"
            p.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    return final


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Tensor):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot store {type(x).__name__} in state.json")


def read_state(path: Path) -> dict[str, Any]:
    state = json.loads((Path(path) / STATE_FILE).read_text())
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"checkpoint {path} has format_version {version!r}; this encoderkit "
                         f"reads format_version {FORMAT_VERSION}")
    return state


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Tensor], list, dict]:
    """(model tensors, optimizer tensors, optimizer param groups, state.json)."""
    from safetensors import safe_open

    path = Path(path)
    state = read_state(path)
    model = load_file(str(path / MODEL_FILE))
    with safe_open(str(path / OPTIMIZER_FILE), framework="pt") as f:
        groups = json.loads(f.metadata()["param_groups"])
    optim = {k: v for k, v in load_file(str(path / OPTIMIZER_FILE)).items() if k != "_empty"}
    return model, optim, groups, state
