"""Which files loading a run reads, and that each lies inside the folder the user named.

A run folder to load may be someone else's upload. What ``load`` reads of it:

- a run directory ``<run>``: its newest ``checkpoints/<step>/`` (or a fine-tuned run's
  ``best/``), ``<run>/config.yaml`` and, for an ensemble, the member folders its
  ``ensemble.json`` names (``encoderkit/tasks/ensemble.py``);
- a checkpoint directory given alone: its own files and ``config.yaml`` and, where it sits
  where a run puts its checkpoints (``<run>/checkpoints/<step>``, ``<run>/best``), the
  ``config.yaml`` of that run folder. Nothing else above it: ``uploads/ck`` read
  ``uploads/../config.yaml`` of whatever folder held the upload.

Each of those paths must stay inside the folder it belongs to once symbolic links are
followed: a ``checkpoints`` link to another tenant's run loaded that tenant's model under
this run's name, a ``config.yaml`` link read a file of the host. Links inside the folder
(a run's ``latest -> checkpoints/5``) stay allowed.

A key the checkpoint's ``state.json`` records (its ``config``, written resolved at save time)
is taken from there, whatever a ``config.yaml`` beside it says; ``config.yaml`` fills only the
keys it does not record, and only one of the same run (``run_setting``).

``config.yaml`` is read as plain YAML: nothing in it is evaluated (an
``${oc.env:SECRET}`` there put the host's secret into an error line), and a value that is an
interpolation is refused naming the file and key (``config_guard.check_saved_values``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from encoderkit.errors import DataError
from encoderkit.train import checkpoint as ckpt

CONFIG_FILE = "config.yaml"
# what a checkpoint directory holds and loading reads (verify_checkpoint reads them all)
CHECKPOINT_FILES = (ckpt.STATE_FILE, ckpt.MODEL_FILE, ckpt.OPTIMIZER_FILE, ckpt.MANIFEST_FILE)
BEST = "best"
CHECKPOINTS = "checkpoints"


def within(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or below it once every symbolic link is followed."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def check_within(path: str | Path, folder: str | Path, what: str) -> None:
    """A ``DataError`` naming ``path`` when it leads outside ``folder`` (a symbolic link);
    a path that does not exist is left to the reader's own error."""
    if os.path.lexists(path) and not within(path, folder):
        link = _link_out(path, folder)
        # the link may be a folder above it (a linked checkpoints/): name that one, not `path`
        where = f"{what} is a symbolic link" if link is None or os.path.abspath(link) == os.path.abspath(path) \
            else f"{what} lies under {str(link)!r}, a symbolic link"
        raise DataError(f"{where} leading outside {str(folder)!r}; a run folder is "
                        f"loaded only from files inside it (copy the files in instead of linking them)",
                        file=path)


def _link_out(path: str | Path, folder: str | Path) -> Path | None:
    """The first symbolic link on the way from ``folder`` down to ``path`` (as written) that
    leads outside ``folder``; None where ``path`` is not written below ``folder``."""
    try:
        rest = Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return None
    step = Path(os.path.abspath(folder))
    for part in rest.parts:
        step = step / part
        if step.is_symlink() and not within(step, folder):
            return step
    return None


def check_checkpoint_files(checkpoint: Path, folder: Path) -> None:
    """The checkpoint directory and each file of it loading reads lie inside ``folder``
    (the run or checkpoint directory given)."""
    check_within(checkpoint, folder, "the checkpoint directory")
    for name in CHECKPOINT_FILES:
        check_within(checkpoint / name, folder, f"the checkpoint's {name}")


def check_run_checkpoints(run_dir: Path) -> None:
    """Before a run directory's checkpoints are verified (which reads their files): its
    ``checkpoints/`` and ``best/`` folders and every checkpoint in them stay inside it."""
    for sub in (run_dir / CHECKPOINTS, run_dir / BEST):
        check_within(sub, run_dir, f"the run's {sub.name}/ folder")
    steps = run_dir / CHECKPOINTS
    if steps.is_dir():
        for entry in steps.iterdir():
            if entry.name.isdigit():
                check_checkpoint_files(entry, run_dir)
    if (run_dir / BEST).is_dir():
        check_checkpoint_files(run_dir / BEST, run_dir)


def run_folder(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint directory belongs to by the run layout
    (``<run>/checkpoints/<step>``, ``<run>/best``), or None for a checkpoint elsewhere.
    Judged on the path as written (made absolute, ``..`` folded), never on where a link
    points."""
    path = Path(os.path.abspath(checkpoint))
    if path.name.isdigit() and path.parent.name == CHECKPOINTS:
        return path.parent.parent
    if path.name == BEST:
        return path.parent
    return None


def config_files(checkpoint: Path) -> list[Path]:
    """The ``config.yaml`` files loading ``checkpoint`` may read, the run's first (the
    module docstring says which); each checked to lie inside its folder."""
    run = run_folder(checkpoint)
    found = []
    if run is not None:
        # the checkpoint itself must be inside the run whose config describes it
        check_within(checkpoint, run, "the checkpoint directory")
        found.append((run / CONFIG_FILE, run))
    found.append((checkpoint / CONFIG_FILE, checkpoint))
    files = []
    for file, folder in found:
        check_within(file, folder, CONFIG_FILE)
        if file.is_file():
            files.append(file)
    return files


def _read_yaml(file: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(file.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise DataError(f"not a readable run config ({type(e).__name__}: "
                        f"{' '.join(str(e).split())[:200]})", file=file) from None


def _select(tree: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(tree, dict):
            return None
        tree = tree.get(part)
    return tree


def run_setting(checkpoint: Path, key: str) -> tuple[Any, Path | None]:
    """``key`` (dotted, such as ``data.max_seqlen``) and the file it came from: the config the
    checkpoint's ``state.json`` records (written resolved at save time: the checkpoint's own
    truth) for every key it records; else the run's ``config.yaml`` (``config_files``), read
    only where it belongs to this checkpoint's run (``_config_of_run``: a ``best/`` placed in
    a folder holding some other config.yaml took its max_seqlen 512 over the 48 it trained
    on); ``(None, None)`` where none sets it. A value holding an OmegaConf interpolation is a
    ``DataError`` naming the file and key: such text was put there by hand, and it is never
    evaluated."""
    from encoderkit.train.config_guard import check_saved_values

    files = config_files(checkpoint)  # a config.yaml linked out of its folder is refused even unread
    state_file = Path(checkpoint) / ckpt.STATE_FILE
    saved = _saved_config(state_file)
    if _records(saved, key):  # recorded, even as null: config.yaml has no say over it
        value = _select(saved, key)
        if value in (None, ""):
            return None, None
        check_saved_values(value, state_file, key)
        return value, state_file
    # older checkpoints (no recorded config) or a key the state does not record: config.yaml
    for file in files:
        # with a recorded config, an unreadable config.yaml cannot be shown to be this run's
        tree = _read_yaml(file) if not isinstance(saved, dict) else _try_yaml(file)
        if not _config_of_run(tree, saved):
            continue
        value = _select(tree, key)
        if value not in (None, ""):
            check_saved_values(value, file, key)
            return value, file
    return None, None


def run_folder_setting(run_dir: Path, key: str) -> tuple[Any, Path | None]:
    """``key`` of what the run folder's ``config.yaml`` asks for now (the last command's
    resumable keys: a finished run rerun with more ``task.ensemble`` members), else as
    ``run_setting`` of its ``best/``; not a checkpoint's truth, which ``run_setting`` gives."""
    from encoderkit.train.config_guard import check_saved_values

    file = Path(run_dir) / CONFIG_FILE
    check_within(file, run_dir, CONFIG_FILE)
    if file.is_file():
        value = _select(_read_yaml(file), key)
        if value not in (None, ""):
            check_saved_values(value, file, key)
            return value, file
    return run_setting(Path(run_dir) / BEST, key)


def _records(tree: Any, key: str) -> bool:
    """Whether the dotted ``key`` is present in ``tree`` (its value may be null)."""
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def _try_yaml(file: Path) -> Any:
    """``file`` parsed, or None where it cannot be read (``_read_yaml`` says why elsewhere)."""
    try:
        return _read_yaml(file)
    except DataError:
        return None


def _config_of_run(tree: Any, saved: Any) -> bool:
    """Whether a config.yaml (parsed) describes the run whose checkpoint recorded ``saved``:
    both name the same ``run.dir`` (written by the same run; the path as recorded, so a moved
    run still matches). Without a recorded config (older checkpoints) nothing can tell them
    apart, so the run layout alone decides (``config_files``)."""
    if not isinstance(saved, dict):
        return True
    return isinstance(tree, dict) and _select(tree, "run.dir") == _select(saved, "run.dir")


def _saved_config(file: Path) -> Any:
    """The ``config`` entry of a checkpoint's state.json, or None where it has none or cannot be
    read (the loader's own read of that file says why)."""
    import json

    try:
        state = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return state.get("config") if isinstance(state, dict) else None


def positive_int(value: Any, file: str | Path, key: str) -> int:
    """``value`` read from a run's config as a positive int (an int, or its digits as
    text); a ``DataError`` naming the file and key otherwise."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise DataError(f"{key} is {shown}, not a positive integer (damaged or edited)", file=file)
    return value
