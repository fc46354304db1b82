"""Checkpoints without pickle: safetensors for tensors, JSON for everything else.

Layout: ``<run>/checkpoints/<step>/{model.safetensors, optimizer.safetensors, state.json}``.
A checkpoint is written into ``checkpoints/.tmp-<step>-<pid>`` and renamed into place,
so a crash at any moment leaves either the complete checkpoint or none; only
directories named by a step number are ever loaded.

What a crash cannot do, a disk or a user can: ``manifest.json`` records the size and
sha256 of every file at save time, and ``newest_valid_checkpoint`` (resume, ``load``)
walks the checkpoints newest first, skips each one that does not verify or load with a
warning naming what is wrong, and raises one ``DataError`` if none does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors.torch import save_file
from torch import Tensor

from encoderkit.errors import DataError
from encoderkit.outputs import as_created
# what goes into a checkpoint (tensors, generator states) and the config comparison of a resume
# live in their own modules; their names stay importable from here
from encoderkit.train.checkpoint_config import OLDER_RUN, RESUMABLE_KEYS, _typed, config_diff, config_hash, flatten
# what a reader of a run being written needs (a checkpoint removed or replaced while it is read)
from encoderkit.train.checkpoint_live import (STATE_FILE, CheckpointRemoved, aside, being_replaced,
                                             checkpoint_identity)
from encoderkit.train.checkpoint_rng import _RNG_ERRORS, _b64, _parse_rng, _unb64, rng_state, set_rng_state
# safetensors files read by their name's bytes (a run folder named under a locale not UTF-8)
from encoderkit.train.checkpoint_safetensors import load_tensors, read_header
from encoderkit.train.checkpoint_tensors import (load_model_state, load_optimizer_tensors, model_state,
                                                 optimizer_tensors, untied_state)
# the run-directory checks, clean-up and lock live in run_dir; their names stay importable from here
from encoderkit.train.run_dir import (_HELD, _SCOPES, RUN_ENTRIES, RUN_TEMP_PREFIXES, _check_creatable, _kept,
                                      check_no_links, check_run_dir, discard_metrics, keep_run_dir_locks,
                                      lock_run_dir, remove_run_leftovers, unlock_run_dir)

__all__ = [
    "FORMAT_VERSION", "MODEL_FILE", "OPTIMIZER_FILE", "STATE_FILE", "MANIFEST_FILE", "RESUMABLE_KEYS",
    "untied_state", "model_state", "load_model_state", "optimizer_tensors", "load_optimizer_tensors",
    "rng_state", "set_rng_state", "flatten", "config_hash", "OLDER_RUN", "config_diff",
    "complete_checkpoints", "latest_checkpoint", "file_digest", "verify_checkpoint",
    "newest_valid_checkpoint", "remove_stale", "save_checkpoint", "read_state", "check_resume_state",
    "load_checkpoint",
    # checkpoint_live (a run read while it trains)
    "CheckpointRemoved", "checkpoint_identity", "aside", "being_replaced",
    # run_dir (its private names too: one lock table, whichever module a caller reaches it by)
    "RUN_ENTRIES", "RUN_TEMP_PREFIXES", "check_no_links", "check_run_dir", "discard_metrics",
    "keep_run_dir_locks", "lock_run_dir", "remove_run_leftovers", "unlock_run_dir", "_HELD", "_SCOPES",
    "_check_creatable", "_kept",
]

FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
MANIFEST_FILE = "manifest.json"


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
    # a link is no checkpoint of this run's: resuming from it, pruning would delete its target
    found = [p for p in ckpt_dir.iterdir()
             if p.is_dir() and p.name.isdigit() and (p / STATE_FILE).is_file() and not p.is_symlink()]
    return sorted(found, key=lambda p: int(p.name))


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete checkpoint, verified or not (see ``newest_valid_checkpoint``)."""
    found = complete_checkpoints(ckpt_dir)
    return found[-1] if found else None


def file_digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
        # the size of the file hashed, from its open handle: a checkpoint removed meanwhile
        # (train.keep while the run trains) has no path left to stat
        size = os.fstat(f.fileno()).st_size
    return {"size": size, "sha256": h.hexdigest()}


def verify_checkpoint(path: Path, *, for_inference: bool = False) -> None:
    """Raise a ``DataError`` naming the file unless the checkpoint at ``path`` is intact:
    its manifest's sizes and sha256 match (checkpoints written before manifests: the
    state parses and both safetensors headers open). One removed or replaced while it is
    read raises ``CheckpointRemoved``, never "missing" or "damaged". ``for_inference``: the
    optimizer file, which loading a model never reads (twice the weights' size with AdamW's
    moments: two thirds of a base model's load was its sha256), is checked for its size and
    header only."""
    path = Path(path)
    seen = checkpoint_identity(path)
    try:
        _verify_files(path, skip_digest=(OPTIMIZER_FILE,) if for_inference else ())
    except (DataError, OSError) as e:
        if seen is not None and checkpoint_identity(path) != seen:
            raise CheckpointRemoved(path) from None
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot be read ({e.strerror or e})", file=e.filename or path) from None


def _verify_files(path: Path, skip_digest: tuple[str, ...] = ()) -> None:
    manifest = path / MANIFEST_FILE
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text())["files"]
            expected = {str(k): (int(v["size"]), str(v["sha256"])) for k, v in files.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"unreadable checkpoint manifest ({type(e).__name__})", file=manifest) from None
        for name, (size, digest) in expected.items():
            file = path / name
            if not file.is_file():
                raise DataError("missing (listed in the checkpoint's manifest)", file=file)
            if file.stat().st_size != size:
                raise DataError(f"has {file.stat().st_size} bytes, {size} when saved (truncated or "
                                f"overwritten)", file=file)
            if name not in skip_digest and file_digest(file)["sha256"] != digest:
                raise DataError("its sha256 differs from the one recorded when saved (damaged)", file=file)
    read_state(path)
    for name in (MODEL_FILE, OPTIMIZER_FILE):
        file = path / name
        if not file.is_file():
            raise DataError("missing from the checkpoint", file=file)
        try:
            read_header(file)
        except Exception as e:  # safetensors raises its own error type for a bad header
            raise DataError(f"not a readable safetensors file ({' '.join(str(e).split())})", file=file) from None


def newest_valid_checkpoint(ckpt_dir: Path, *, verify: bool = True, tries: int = 3,
                            for_inference: bool = False) -> Path | None:
    """The newest checkpoint that verifies (``for_inference``: see ``verify_checkpoint``);
    each damaged newer one is skipped with a warning. None when there is no checkpoint; a ``DataError`` when none verifies. One that
    disappears while it is verified was removed by the run writing it (``train.keep``), not
    damaged: the folder is listed again, ``tries`` times in all, then ``CheckpointRemoved``."""
    for _ in range(tries):
        found = complete_checkpoints(Path(ckpt_dir))
        problems = []
        for path in reversed(found):
            try:
                if verify:
                    verify_checkpoint(path, for_inference=for_inference)
                else:
                    read_state(path)
            except CheckpointRemoved:
                break
            except DataError as e:
                if not path.is_dir():  # gone since it was listed: newer ones took its place
                    break
                problems.append(f"{path.name}: {e}")
                warnings.warn(f"skipping damaged checkpoint {path}: {e}", stacklevel=2)
                continue
            return path
        else:
            if problems:
                raise DataError(f"none of the {len(found)} checkpoint(s) loads ({'; '.join(problems[:3])})",
                                file=ckpt_dir)
            return None
    raise CheckpointRemoved(ckpt_dir, tries)


def remove_stale(ckpt_dir: Path) -> None:
    """Remove temporary directories left by a crash during a checkpoint write (a link only
    as a link: what it points to is not this run's)."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.startswith(".tmp-"):
                if p.is_symlink():
                    p.unlink(missing_ok=True)
                else:
                    shutil.rmtree(p, ignore_errors=True)


def save_checkpoint(ckpt_dir: Path, step: int, model_tensors: Mapping[str, Tensor],
                    optim_tensors: Mapping[str, Tensor], optim_groups: list,
                    state: Mapping[str, Any], keep: int) -> Path:
    """Write a checkpoint atomically and keep the newest ``keep`` (0 keeps all). A write that
    fails (a full disk, a quota) removes its temporary and raises one ``DataError`` naming the
    checkpoint and the newest intact one; the checkpoints already there are untouched."""
    from safetensors import SafetensorError

    tmp = ckpt_dir / f".tmp-{step}-{os.getpid()}"
    try:
        return _save_checkpoint(ckpt_dir, tmp, step, model_tensors, optim_tensors, optim_groups, state, keep)
    except (OSError, SafetensorError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(e, "strerror", None) or " ".join(str(e).split())
        last = latest_checkpoint(ckpt_dir)
        then = (f"checkpoint {last.name} is intact: once there is room, the same command resumes from it"
                if last else "no checkpoint was written before it")
        raise DataError(f"cannot write checkpoint {step}: {reason} ({then})", file=ckpt_dir / str(step)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_checkpoint(ckpt_dir: Path, tmp: Path, step: int, model_tensors: Mapping[str, Tensor],
                     optim_tensors: Mapping[str, Tensor], optim_groups: list,
                     state: Mapping[str, Any], keep: int) -> Path:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / str(step)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(dict(model_tensors), str(tmp / MODEL_FILE), metadata={"format": "pt"})
    # one metadata key: safetensors writes its metadata map in a random order per call, so a
    # second key made the same optimizer state a file of other bytes (and another sha256)
    save_file(dict(optim_tensors) or {"_empty": torch.zeros(0)}, str(tmp / OPTIMIZER_FILE),
              metadata={"param_groups": json.dumps(optim_groups)})
    for name in (MODEL_FILE, OPTIMIZER_FILE):  # safetensors writes 0600: readable as state.json is
        as_created(tmp / name)
    full_state = {"format_version": FORMAT_VERSION, **state}
    (tmp / STATE_FILE).write_text(json.dumps(full_state, indent=1, default=_json_default))
    # sizes and checksums, so a file damaged after the save is recognised at resume
    (tmp / MANIFEST_FILE).write_text(json.dumps(
        {"files": {name: file_digest(tmp / name) for name in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE)}},
        indent=1))
    for name in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, MANIFEST_FILE):
        _fsync_file(tmp / name)
    _fsync_dir(tmp)
    if final.exists():  # re-saving a step (e.g. after a resume): replace the old copy
        old = aside(final)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    _fsync_dir(ckpt_dir)
    if keep > 0:
        for p in complete_checkpoints(ckpt_dir)[:-keep]:  # links are not among them: never pruned
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
    """``state.json`` of the checkpoint folder ``path``, as a dict: the one reader of it (the
    trainer's resume, ``load``, fine-tuning). A ``DataError`` naming the file where it is
    missing, not a JSON object, of another format version (a newer one: upgrade) or has a
    counter that is not a count."""
    file = Path(path) / STATE_FILE
    try:
        state = json.loads(file.read_text())
    except FileNotFoundError:
        raise DataError("missing from the checkpoint", file=file) from None
    except (ValueError, OSError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError(f"not valid JSON ({' '.join(str(e).split())})", file=file) from None
    if not isinstance(state, dict):
        raise DataError(f"holds a JSON {type(state).__name__}, not an object", file=file)
    version = state.get("format_version")
    if _is_count(version) and version > FORMAT_VERSION:  # written by a newer encoderkit
        raise DataError(f"has format_version {version}, newer than this encoderkit reads "
                        f"({FORMAT_VERSION}); upgrade encoderkit to load it", file=file)
    if version != FORMAT_VERSION:
        raise DataError(f"checkpoint {path} has format_version {version!r}; this encoderkit "
                        f"reads format_version {FORMAT_VERSION}", file=file)
    for key in ("step", "tokens"):  # every checkpoint's counters (load reads step)
        if key in state and not _is_count(state[key]):
            raise DataError(f"entry {key!r} is {_short(state[key])}, not a whole number >= 0 "
                            "(damaged or edited)", file=file)
    return state


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _short(x: Any) -> str:
    text = json.dumps(x, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_keys(bins: Any) -> bool:
    """A loader's open / pending bins: lists of lists of integer keys (epoch, record, window)."""
    return isinstance(bins, list) and all(
        isinstance(b, list) and all(isinstance(k, list) and k and all(_is_count(i) for i in k) for k in b)
        for b in bins)


def check_resume_state(state: Mapping[str, Any], path: Path) -> None:
    """The entries a resume restores (``config``, ``step``, ``tokens``, ``loader``, ``rng``,
    ``inputs``) have the shapes the trainer writes: a ``DataError`` naming ``state.json`` and
    the entry otherwise, raised before anything is restored. A checkpoint without ``loader``
    (weights only: ``import-hf``, ``best/``) starts a run and is not checked."""
    from encoderkit.data.loader import STATE_VERSION

    file = Path(path) / STATE_FILE

    def bad(key: str, problem: str) -> DataError:
        return DataError(f"entry {key} {problem}: the checkpoint cannot be resumed from (damaged or "
                         "edited)", file=file)

    if "loader" not in state:
        return
    for key in ("config", "step", "tokens", "rng"):
        if key not in state:
            raise bad(repr(key), "is missing")
    if not isinstance(state["config"], dict):
        raise bad("'config'", f"is {_short(state['config'])}, not an object")
    for key in ("step", "tokens"):
        if not _is_count(state[key]):
            raise bad(repr(key), f"is {_short(state[key])}, not a whole number >= 0")
    inputs = state.get("inputs")
    if inputs is not None and not (isinstance(inputs, dict)
                                   and isinstance(inputs.get("files") or {}, dict)):
        raise bad("'inputs'", f"is {_short(inputs)}, not an object of the store's identity and file digests")
    loaders, rngs = state["loader"], state["rng"]
    for key, value in (("loader", loaders), ("rng", rngs)):
        if not isinstance(value, list) or not value:
            raise bad(repr(key), f"is {_short(value)}, not a list with one entry per rank")
    if len(rngs) != len(loaders):
        raise bad("'rng'", f"has {len(rngs)} entries, 'loader' {len(loaders)} (one per rank each)")
    for i, loader in enumerate(loaders):
        name = f"loader[{i}]"
        if not isinstance(loader, dict):
            raise bad(name, f"is {_short(loader)}, not an object")
        for key in ("version", "fingerprint", "next_chunk", "open", "pending"):
            if key not in loader:
                raise bad(name, f"lacks {key!r}")
        if loader["version"] != STATE_VERSION:
            raise bad(f"{name}.version", f"is {_short(loader['version'])}; this encoderkit resumes "
                      f"loader state version {STATE_VERSION}")
        if not isinstance(loader["fingerprint"], str):
            raise bad(f"{name}.fingerprint", f"is {_short(loader['fingerprint'])}, not a string")
        for key in ("next_chunk", "skip", "window"):  # window: a long record's windows taken
            if key in loader and not _is_count(loader[key]):
                raise bad(f"{name}.{key}", f"is {_short(loader[key])}, not a whole number >= 0")
        for key in ("open", "pending"):
            if not _check_keys(loader[key]):
                raise bad(f"{name}.{key}", f"is {_short(loader[key])}, not a list of lists of record keys")
        stats = loader.get("stats", {})
        if not (isinstance(stats, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in stats.values())):
            raise bad(f"{name}.stats", f"is {_short(stats)}, not an object of counts")
    for i, rng in enumerate(rngs):
        try:
            if not isinstance(rng, Mapping):
                raise TypeError(f"a JSON {type(rng).__name__}, not an object")
            _parse_rng(rng)
        except _RNG_ERRORS as e:
            raise bad(f"rng[{i}]", f"cannot be restored ({type(e).__name__}: {' '.join(str(e).split())})") from None


def load_checkpoint(path: Path, *, resume: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor], list, dict]:
    """(model tensors, optimizer tensors, optimizer param groups, state.json). ``resume``:
    the entries a resume restores are checked too (``check_resume_state``)."""
    path = Path(path)
    state = read_state(path)
    if resume:
        check_resume_state(state, path)
    file = path / MODEL_FILE
    try:
        model = load_tensors(file)
        file = path / OPTIMIZER_FILE
        groups = json.loads(read_header(file).metadata["param_groups"])
        optim = {k: v for k, v in load_tensors(file).items() if k != "_empty"}
    except FileNotFoundError:
        raise DataError("missing from the checkpoint", file=file) from None
    except Exception as e:  # SafetensorError, a bad header, a missing param_groups entry
        raise DataError(f"cannot be loaded ({type(e).__name__}: {' '.join(str(e).split())})",
                        file=file) from None
    return model, optim, groups, state
