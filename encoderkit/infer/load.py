"""``load(path)``: a run directory or a checkpoint directory -> ``Pretrained``.

Loading is safe: ``state.json`` through ``json`` and weights through
``safetensors``; nothing goes through pickle. A missing file, a checkpoint of a
newer format version, or weights that do not fit the model the checkpoint's own
config describes give an error naming the file and the problem, the last before the
model is built (``weights_fit``). A run folder may be an upload: the files read of it
stay inside it and its ``config.yaml`` is read, never evaluated (``run_files``).

A run may be read while it trains: ``train.keep`` removes the checkpoint chosen, best/ is
replaced. A checkpoint that is removed or replaced between being chosen and being read is
chosen again, ``READ_TRIES`` times, then one line says the run is being written
(``checkpoint.CheckpointRemoved``); best/ caught in the instant of its replacement is waited
for, never passed over for checkpoints/<newest>.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from safetensors import SafetensorError
from torch import nn

from encoderkit.core import EncoderConfig
from encoderkit.data.store import RecordStore, StoreError
from encoderkit.domain import Domain
from encoderkit.errors import DataError, InputNotFoundError
from encoderkit.infer import run_files
from encoderkit.infer.pretrained import Pretrained
from encoderkit.infer.weights_fit import build_checked
from encoderkit.modeling import MaskedEncoderModel, meta_build_cheap
from encoderkit.registry import build_domain, get_domain
from encoderkit.session_state import model_build
from encoderkit.train import checkpoint as ckpt
from encoderkit.train.checkpoint_safetensors import load_tensors

DEFAULT_MAX_SEQLEN = 1024


READ_TRIES = 3  # choices of a checkpoint removed or replaced as it is read, before saying so
SWAP_WAIT_S = 2.0  # the longest wait for a checkpoint in the instant of its replacement (two renames)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory (holds ``state.json``) or a run directory (newest
    numbered step under ``checkpoints/`` that verifies; damaged newer ones are skipped
    with a warning) -> the checkpoint directory. One removed or replaced while it is
    verified (a run being written) is chosen again."""
    for _ in range(READ_TRIES):
        try:
            return _resolve(Path(path))
        except ckpt.CheckpointRemoved:
            continue
    raise ckpt.CheckpointRemoved(path, READ_TRIES)


def _resolve(path: Path) -> Path:
    if not path.exists():  # a checkpoint named directly (<run>/best) in the instant of its replacement?
        _settled(path)
    if not path.exists():
        raise InputNotFoundError("checkpoint path does not exist", file=path, key="checkpoint")
    if (path / ckpt.STATE_FILE).is_file():
        run_files.check_checkpoint_files(path, path)
        return _verified(path)
    # a run directory: its checkpoints lie inside it (before their files are read to verify them)
    run_files.check_run_checkpoints(path)
    best = path / run_files.BEST
    _settled(best)
    if (best / ckpt.STATE_FILE).is_file():  # a fine-tuned run: its best checkpoint
        return _verified(best)
    if not (path / "checkpoints").is_dir():
        raise InputNotFoundError(
            f"is neither a checkpoint directory (no {ckpt.STATE_FILE}) nor a run "
            f"directory (no checkpoints/ folder)", file=path, key="checkpoint")
    latest = ckpt.newest_valid_checkpoint(path / "checkpoints", for_inference=True)
    if latest is None:
        raise InputNotFoundError(f"run directory has no complete checkpoint under "
                                 f"checkpoints/<step>/ (each needs {ckpt.STATE_FILE} and {ckpt.MODEL_FILE})",
                                 file=path, key="checkpoint")
    return latest


def _settled(checkpoint: Path) -> None:
    """Return once ``checkpoint`` is not in the instant of its replacement (best/ between the
    two renames of ``write_weights_checkpoint``: absent, its old copy set aside), waiting up to
    ``SWAP_WAIT_S``: read then, a run's best/ looked absent and checkpoints/<newest> was loaded
    in its place. ``CheckpointRemoved`` when the replacement does not end in that time."""
    deadline = time.monotonic() + SWAP_WAIT_S
    while not (checkpoint / ckpt.STATE_FILE).is_file() and ckpt.being_replaced(checkpoint):
        if time.monotonic() > deadline:
            raise ckpt.CheckpointRemoved(checkpoint)
        time.sleep(0.01)


def _verified(checkpoint: Path) -> Path:
    """A checkpoint named directly (or a run's ``best/``) is verified as the newest of a run
    directory is (``ckpt.verify_checkpoint``: the manifest's sizes and sha256; without a
    manifest, the state and both safetensors headers). A newer format version and missing
    weights keep their own errors (``read_state``, ``load_weights``); a checkpoint removed or
    replaced meanwhile is ``CheckpointRemoved``."""
    with _unchanged(checkpoint, ckpt.checkpoint_identity(checkpoint)):
        ckpt.read_state(checkpoint)  # a newer format version: its upgrade hint, before the manifest's
        if not (checkpoint / ckpt.MODEL_FILE).is_file():
            raise InputNotFoundError("checkpoint weights are missing", file=checkpoint / ckpt.MODEL_FILE)
        ckpt.verify_checkpoint(checkpoint, for_inference=True)
    return checkpoint


@contextmanager
def _unchanged(checkpoint: Path, seen: Any) -> Iterator[None]:
    """Around reading ``checkpoint`` (``seen``: its ``checkpoint_identity`` when it was chosen):
    what fails, or even succeeds, while the folder was removed or another took its name (a
    run writing it: ``train.keep``, best/ replaced) is ``CheckpointRemoved``, for the reader to
    choose again; its state and weights could be of two checkpoints. Otherwise errors pass."""
    try:
        yield
    except Exception:
        if seen is None or ckpt.checkpoint_identity(checkpoint) != seen:
            raise ckpt.CheckpointRemoved(checkpoint) from None
        raise
    if seen is None or ckpt.checkpoint_identity(checkpoint) != seen:
        raise ckpt.CheckpointRemoved(checkpoint)


def read_state(checkpoint: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint (through the train package's reader), checked
    for the entries inference needs; newer format versions are refused."""
    file = checkpoint / ckpt.STATE_FILE
    state = ckpt.read_state(checkpoint)
    for key in ("model_config", "domain"):
        if key not in state:
            raise DataError(f"lacks the {key!r} entry needed to rebuild the model", file=file)
    return state


def load_weights(model: nn.Module, file: Path) -> None:
    """Strictly load a safetensors state dict (tied weights may be stored once)."""
    apply_weights(model, read_weights(file), file)


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint's ``model.safetensors`` (by the name's bytes: ``load_tensors``)."""
    try:
        return load_tensors(file)
    except FileNotFoundError:
        raise InputNotFoundError("checkpoint weights are missing", file=file) from None
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"not a readable safetensors file: {' '.join(str(e).split())}", file=file) from None


def apply_weights(model: nn.Module, tensors: Mapping[str, torch.Tensor], file: Path) -> None:
    """``tensors`` (read from ``file``) into ``model``, strictly (tied weights may be stored once)."""
    try:
        ckpt.load_model_state(model, tensors)
    except (ValueError, RuntimeError) as e:
        raise DataError(f"does not match the model its state.json describes: {e}", file=file) from None


def run_max_seqlen(checkpoint: Path) -> int:
    """``data.max_seqlen`` of the run's ``config.yaml`` (the window the model trained on);
    ``run_files`` says which config files a checkpoint reads."""
    value, file = run_files.run_setting(checkpoint, "data.max_seqlen")
    return DEFAULT_MAX_SEQLEN if file is None else run_files.positive_int(value, file, "data.max_seqlen")


def run_store(checkpoint: Path, inputs: Mapping[str, Any] | None = None) -> str | None:
    """The store the run trained on: the first of ``store_candidates`` whose records are the
    run's (the identity pretrain recorded in the checkpoint, ``inputs``, its ``state.json``
    entry; ``ingest.run_records``: the same store, or it appended to since). A stale store left
    at the recorded absolute path (an old copy) lost to the copy moved with the run. Without a
    recorded identity (older checkpoints): the first candidate that exists, data.store read from
    where this command runs before the others, as then. None of them matching or existing: the first candidate, for the reader to say why
    it cannot use it (``domains/tabular/filling.py``), or None without any."""
    identity = inputs.get("identity") if isinstance(inputs, Mapping) else None
    # without an identity to tell them apart, data.store from where this runs first, as before
    candidates = store_candidates(checkpoint, inputs, here_first=not identity)
    for where in candidates:
        if "://" in where:  # remote: not opened at load, taken as named
            return where
        if not Path(where).exists():
            continue
        if not identity or _holds_run_records(where, inputs):
            return where
    return candidates[0] if candidates else None


def store_candidates(checkpoint: Path, inputs: Mapping[str, Any] | None = None,
                     here_first: bool = False) -> list[str]:
    """Where the run's store may be, in order, absolute and without repeats: the absolute path
    pretrain recorded (``inputs["store"]``); ``data.store`` of the run's config (its
    ``config.yaml``, else the checkpoint's own recorded config) when absolute, else read from
    the directory training ran in (the run folder less its ``run.dir``: the run and its store
    moved together), from the run folder and the folders above it (a run and its stores moved
    side by side), and from where this command runs (``here_first``: right after the recorded
    path)."""
    recorded = inputs.get("store") if isinstance(inputs, Mapping) else None
    out: list[str] = [recorded] if isinstance(recorded, str) and recorded else []
    value, _ = run_files.run_setting(checkpoint, "data.store")
    if value not in (None, ""):
        text = str(value)
        if "://" in text or Path(text).expanduser().is_absolute():
            out.append(text)
        else:
            near = [str(base / text) for base in _store_bases(checkpoint)]
            out += [text, *near] if here_first else [*near, text]  # text: from where this runs
    seen: set[str] = set()
    unique = []
    for where in out:
        key = where if "://" in where else os.path.abspath(os.path.expanduser(where))
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def _store_bases(checkpoint: Path) -> list[Path]:
    """The folders a run's relative ``data.store`` may be read from (``store_candidates``)."""
    folder = run_files.run_folder(checkpoint) or Path(os.path.abspath(checkpoint))
    bases = []
    run_dir, _ = run_files.run_setting(checkpoint, "run.dir")
    parts = Path(str(run_dir)).parts if run_dir not in (None, "") else ()
    if parts and not Path(str(run_dir)).is_absolute() and folder.parts[-len(parts):] == parts:
        bases.append(Path(*folder.parts[:-len(parts)]) if len(folder.parts) > len(parts) else Path("/"))
    bases.append(folder)
    bases += list(folder.parents)[:STORE_PARENTS]
    return bases


STORE_PARENTS = 2  # the folders above a run folder where its relative data.store is looked for


def _holds_run_records(where: str, inputs: Mapping[str, Any] | None) -> bool:
    """Whether the store at ``where`` holds the run's records (``ingest.run_records``)."""
    from encoderkit.data.ingest import run_records

    try:
        return run_records(RecordStore(where, in_memory=False), inputs) is not None
    except (StoreError, OSError, ValueError, KeyError):
        return False


def run_domain(description: Mapping[str, Any], store: str | None) -> Domain:
    """The run's domain (``build_domain`` of its saved description), its schema completed from
    the run's store where the domain says how (``schema_with_provenance``: a series store
    ingested before the schema kept a long layout's columns holds them in its provenance
    only). A store that is gone or unreadable, or remote (not opened at load), leaves the
    saved schema as it is."""
    description = dict(description)
    complete = getattr(get_domain(str(description.get("name"))), "schema_with_provenance", None)
    if complete is not None and store and "://" not in store:
        try:
            provenance = RecordStore(store, in_memory=False).provenance
        except (StoreError, OSError, ValueError):  # moved, offline, damaged: the saved schema
            provenance = {}
        description["schema"] = complete(dict(description.get("schema") or {}), provenance)
    return build_domain(description)


def pick_device(device: str | torch.device) -> str | torch.device:
    """``auto``: a CUDA GPU when torch has one, else the CPU (as training's ``run.device=auto``);
    any other device as given (``cliutil.check_device`` checks it)."""
    if isinstance(device, str) and device.strip().lower() == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load(path: str | Path, device: str | torch.device = "cpu") -> Pretrained:
    """Load a run directory (newest checkpoint; a fine-tuned run's ``best/``) or a
    checkpoint directory. A fine-tuned checkpoint loads as ``FineTuned`` (predict, evaluate).
    ``device``: a torch device, or ``auto`` (``pick_device``).

    The model is built without its random initialisation, which the weights replace
    (``weights_fit.build_checked``: 11 s of a ``base`` model's 13 s load on one CPU thread),
    leaving the caller's random generators as they were, and float32 whatever torch's default
    dtype (``session_state.model_build``); its build on the meta device, which checks it
    against the weights first, skips torch's Python meta kernels (``meta_build_cheap``: the
    first of them imported torch._dynamo, 1.2 s CPU of every load)."""
    with model_build(), meta_build_cheap():
        return _load(path, pick_device(device))


def _load(path: str | Path, device: str | torch.device) -> Pretrained:
    """Choose the checkpoint and read it, again when it was removed or replaced meanwhile
    (a run being written: ``_unchanged``), ``READ_TRIES`` times in all. What runs between the
    choice and the read is kept short: a run writing a checkpoint each second replaced the one
    chosen while the meta build imported torch._dynamo (3.3 s of 3.5), which
    ``meta_build_cheap`` (``load``) spares; the domain's import and the builds remain."""
    for _ in range(READ_TRIES):
        checkpoint = resolve_checkpoint(path)
        try:
            return _load_checkpoint(path, checkpoint, ckpt.checkpoint_identity(checkpoint), device)
        except ckpt.CheckpointRemoved:
            continue
    raise ckpt.CheckpointRemoved(path, READ_TRIES)


def _load_checkpoint(path: str | Path, checkpoint: Path, seen: Any, device: str | torch.device) -> Pretrained:
    with _unchanged(checkpoint, seen):
        state = read_state(checkpoint)
        if "task" in state:
            from encoderkit.tasks.ensemble import member_dirs, member_weights, warn_one_member
            from encoderkit.tasks.predict import load_finetuned

            # a run directory of several members predicts as their ensemble; a checkpoint is one
            # model (said where it is an ensemble's first member: ``warn_one_member``)
            warn_one_member(Path(path), checkpoint)
            members = member_dirs(Path(path)) if Path(path).is_dir() else []
            weights = member_weights(Path(path)) if members else []
            return load_finetuned(checkpoint, state, device, members, weights)
    inputs = state.get("inputs") if isinstance(state.get("inputs"), Mapping) else None
    store = run_store(checkpoint, inputs)
    try:
        domain = run_domain(state["domain"], store)
        config = EncoderConfig.from_dict(state["model_config"])
    except (KeyError, ValueError, TypeError) as e:
        raise DataError(f"cannot rebuild its domain and model: {' '.join(str(e).split())}",
                        file=checkpoint / ckpt.STATE_FILE) from None
    file = checkpoint / ckpt.MODEL_FILE
    with _unchanged(checkpoint, seen):  # the header checked, then the weights read: of one checkpoint
        model = build_checked(lambda: MaskedEncoderModel(domain, config), config.num_layers, checkpoint)
        tensors = read_weights(file)
    apply_weights(model, tensors, file)
    return Pretrained(model=model, domain=domain, config=config, path=checkpoint,
                      step=int(state.get("step", 0)), max_seqlen=run_max_seqlen(checkpoint),
                      store=store, store_inputs=inputs).to(device)
