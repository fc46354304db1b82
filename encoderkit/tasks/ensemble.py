"""``task.ensemble``: several fine-tuned members of one run, their predictions averaged.

On a few hundred labelled records, what a fine-tuning run ends at depends on its seed as much
as on its settings: 10 seeds of one GunPoint run ranged 0.77-0.99 test accuracy, and averaging
the probabilities of 5 seeds' runs gave ArrowHead 0.801 -> 0.829, GunPoint 0.933 -> 0.987,
OSULeaf 0.788 -> 0.818, up on 13 of 14 small sets and down on none (benchmarks/RESULTS.md,
"Ensembles of fine-tuned members"). Deep
ensembles (Lakshminarayanan et al. 2017) are the standard remedy; on small data the members
are cheap.

Layout: the run directory is member 0 (a complete single-model run, as without an ensemble);
member ``i`` is a complete run under ``members/<i>`` with ``run.seed + i`` and everything
else equal (the same labels, split, budget and pretrained start). ``ensemble.json``, written
when every member is done, lists them; ``encoderkit.load(run)`` then predicts with the
average of the members' probabilities (classification, multilabel) or values in original
units (regression), per record or per token. ``embed`` and ``export-hf`` use member 0.
A command killed between members resumes: a finished member's resume trains nothing.

``task.ensemble_probe`` (on by default): an ensemble fine-tuned from a pretrained checkpoint
gets the frozen encoder's linear probe as one more member, weighted by the validation split
(``encoderkit/tasks/probe_member.py``). ``ensemble.json`` then lists each member's weight;
``val`` scores the fine-tuned members alone, ``val_with_probe`` (when the probe is averaged
in) the mix ``predict`` uses, with the probe fitted on the training split that chose its weight.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from encoderkit.session_state import warnings_kept

MANIFEST = "ensemble.json"
MEMBERS_DIR = "members"
# task.ensemble=auto: this many members when the training split holds at most
# AUTO_MAX_RECORDS labelled records, else one (a larger set varies less between seeds, and
# each member costs a full fine-tuning run)
AUTO_MEMBERS = 5
AUTO_MAX_RECORDS = 1000
MAX_MEMBERS = 64
# task types whose runs predict (a contrastive run's output is its embedding: no average)
ENSEMBLE_TASKS = ("classification", "regression", "multilabel", "token_classification",
                  "token_regression")
# task types task.ensemble=auto gives AUTO_MEMBERS: one label per record, where the seed
# spread was measured. A token task's run (many labels per record, not measured) gets one
# member under auto, however its type was chosen (task=token_classification sets
# ensemble: 1, but task.type=token_classification keeps the classification group's auto);
# an explicit task.ensemble=N still trains N members, averaged per token
AUTO_TASKS = ("classification", "regression", "multilabel")


def check_ensemble(value: Any, task_type: str) -> str | None:
    """None if ``task.ensemble`` is valid for ``task_type``, else what is expected."""
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MEMBERS:
        return f"auto or an int in [1, {MAX_MEMBERS}]"
    if value > 1 and task_type not in ENSEMBLE_TASKS:
        return f"1 for task.type={task_type} (its output is an embedding, not a prediction to average)"
    return None


def resolve_members(value: Any, task_type: str, train_records: int, steps: Any = None) -> int:
    """The number of fine-tuned members ``task.ensemble`` asks for, given the task type
    (``auto``: several only for ``AUTO_TASKS``) and the training split's size (one for a
    run that takes no step: every member would be the same probe)."""
    if value != "auto":
        return int(value)
    if task_type not in AUTO_TASKS or steps == 0:
        return 1
    return AUTO_MEMBERS if train_records <= AUTO_MAX_RECORDS else 1


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def member_overrides(overrides: list[str], run_dir: Path, seed: int, index: int) -> list[str]:
    """The root run's overrides for member ``index``: its own directory and seed, one member."""
    own = {"run.dir", "run.seed", "task.ensemble"}
    kept = [o for o in overrides if override_key(o) not in own]
    return kept + [f"run.dir={run_dir / MEMBERS_DIR / str(index)}", f"run.seed={seed + index}",
                   "task.ensemble=1"]


def train_records(run_dir: Path, parts: tuple[str, ...] = ("train",)) -> int:
    """Labelled records of a finished run's training split (its ``split.json``), or of the
    ``parts`` named."""
    from encoderkit.tasks.objective import SPLIT_FILE

    split = json.loads((run_dir / SPLIT_FILE).read_text())
    return sum(len(split.get(p) or []) for p in parts)


def train_members(cfg: Any, overrides: list[str], run_dir: Path) -> int:
    """After the root run (member 0) finished: train the other members, write the manifest.
    Returns the number of members."""
    from encoderkit.outputs import write_text_atomic
    from encoderkit.tasks import finetune
    from encoderkit.tasks.head_size import MANY_CLASSES
    from encoderkit.tasks.labels import CASE_VARIANTS
    from encoderkit.tasks.objective import CONSTANT_TARGET_SAID, SMALL_VALIDATION, UNTRAINED_CLASS
    from encoderkit.tasks.probe_member import PROBE_MEMBER, probe_overrides, train_probe_member, wants_probe
    from encoderkit.tasks.split_checks import TEST_AUROC
    from encoderkit.train.trainer_resume import QUIET_FINISHED, found_finished

    main = os.environ.get("RANK", "0") == "0"  # under torchrun every rank trains every member
    records = train_records(run_dir)
    n = resolve_members(cfg.task.ensemble, cfg.task.type, records, cfg.train.steps)
    manifest = run_dir / MANIFEST
    if n <= 1:
        if main:
            manifest.unlink(missing_ok=True)  # a rerun with one member: no stale ensemble
            # the training split's size chose one model (a smaller one gets members): said where
            # the members would be announced
            if cfg.task.ensemble == "auto" and records > AUTO_MAX_RECORDS and \
                    resolve_members("auto", cfg.task.type, 0, cfg.train.steps) > 1:
                print(f"{records:,} training records, more than {AUTO_MAX_RECORDS:,}: one model "
                      "(task.ensemble=auto)", file=sys.stderr, flush=True)
        return 1
    seed = int(cfg.run.seed)
    probe = wants_probe(cfg, n, run_dir)
    total = n + int(probe)
    members = [f"{MEMBERS_DIR}/{i}" for i in range(1, n)]
    tuned = [run_dir, *(run_dir / m for m in members)]
    weights = [1.0 / n] * n
    entry = None
    # the root run found finished and an ensemble.json of these members: most likely a rerun of
    # a finished ensemble, whose members are checked quietly (one line for all of them, at the end)
    kept = _kept_manifest(manifest, [seed + i for i in range(n)], probe)
    rerun = kept is not None and found_finished(run_dir) is not None
    probe_dir = run_dir / MEMBERS_DIR / PROBE_MEMBER
    quiet = QUIET_FINISHED.set(rerun)
    try:
        with warnings_kept():
            # the members (the probe's validation run too) share the root run's labels and split,
            # whose small size (and untrained classes, a test_auroc over fewer classes, ...) it
            # has already warned of
            for said in (SMALL_VALIDATION, UNTRAINED_CLASS, CASE_VARIANTS, CONSTANT_TARGET_SAID,
                         TEST_AUROC, MANY_CLASSES):
                warnings.filterwarnings("ignore", message=said)
            for i in range(1, n):
                header = f"ensemble member {i + 1} of {total} (run.seed={seed + i}): {tuned[i]}"
                if main and not rerun:
                    print(header, file=sys.stderr, flush=True)
                finetune(member_overrides(overrides, run_dir, seed, i))
                if main and rerun and found_finished(tuned[i]) is None:  # it trained after all
                    print(f"{header}: was not finished, trained", file=sys.stderr, flush=True)
            finished = rerun and all(found_finished(d) is not None for d in tuned)
            if probe and finished:  # the kept probe member: its weight stands if it is finished
                finetune(probe_overrides(overrides, run_dir, seed))
                finished = found_finished(probe_dir) is not None
            if probe and not finished:
                entry = train_probe_member(cfg, overrides, run_dir, tuned, f"{total} of {total}")
    finally:
        QUIET_FINISHED.reset(quiet)
    if finished and kept is not None:
        if main:
            others = [*members, *([f"{MEMBERS_DIR}/{PROBE_MEMBER}"] if probe else [])]
            steps = (f"; train.steps is the fine-tuned members' ({MEMBERS_DIR}/{PROBE_MEMBER}, the linear "
                     f"probe, is fitted without steps)" if probe else "")
            print(f"ensemble {run_dir}: its other members ({', '.join(others)}) are finished too; "
                  f"nothing was trained, {MANIFEST} kept{steps}", file=sys.stderr, flush=True)
        return 1 + len(kept["members"])
    with_probe = None
    if entry is not None:
        w = float(entry["weight"])
        with_probe = entry.pop("val_with_probe", None)
        if w > 0:  # a weight of 0 chosen on validation: the member is not averaged in
            members.append(entry["dir"])
            weights = [(1.0 - w) / n] * n + [w]
        else:
            with_probe = None  # the fine-tuned members alone: "val" describes them
    if main:
        body = {"members": members, "seeds": [seed + i for i in range(n)],
                "weights": weights, "probe": entry, "train_records": records,
                # the fine-tuned members' (the probe member may have fitted on the validation records)
                "val": validation(tuned),
                # what predict averages (members and the probe at its weight), scored with the
                # probe fitted on the training split only, the one that chose the weight
                "val_with_probe": with_probe}
        text = json.dumps(body, indent=1)
        if not (manifest.is_file() and manifest.read_text() == text):  # the same ensemble: left as it is
            write_text_atomic(manifest, text)
    return 1 + len(members)


def _kept_manifest(manifest: Path, seeds: list[int], probe: bool) -> dict[str, Any] | None:
    """``ensemble.json`` as an earlier run of the same ensemble wrote it (its members' seeds,
    a probe entry if and only if this run wants the probe member), else None."""
    try:
        body = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("seeds") != seeds or bool(body.get("probe")) != probe \
            or not isinstance(body.get("members"), list):
        return None
    return body


def val_arrays(run: Path) -> tuple[Any, Any] | None:
    """``(y_true, values)`` a run's best/ checkpoint kept for its validation split
    (``best/val.npz``), or None where it kept none (no validation split; under torchrun, a
    run rank 0 has already removed)."""
    import numpy as np

    from encoderkit.tasks.objective import VAL_FILE

    try:
        with np.load(Path(run) / "best" / VAL_FILE, allow_pickle=False) as z:
            return z["y_true"], z["values"]
    except OSError:
        return None


def best_spec(run: Path) -> Any:
    """The ``TaskSpec`` of a run's best/ checkpoint."""
    from encoderkit.tasks.spec import TaskSpec

    state = json.loads((Path(run) / "best" / "state.json").read_text())
    return TaskSpec.from_dict(state["task"])


def validation(runs: list[Path]) -> dict[str, float] | None:
    """The ensemble's validation metrics: its members' predictions on the shared validation
    split at their best/ checkpoints (``best/val.npz``), averaged and scored as one model's.
    None when a member kept none (no validation split)."""
    from encoderkit.numerics import mean_without_overflow
    from encoderkit.tasks.metrics import task_metrics

    parts = [val_arrays(r) for r in runs]
    if any(p is None for p in parts):
        return None
    y_true = parts[0][0]  # members share the validation split (task.seed): one set of labels
    values = mean_without_overflow([p[1] for p in parts], axis=0)  # predictions near 1.8e308: no inf
    return {k: float(v) for k, v in task_metrics(best_spec(runs[0]), y_true, values).items()}


def _manifest(run_dir: Path) -> dict[str, Any] | None:
    """``ensemble.json`` of a run as a JSON object, None where the run has none."""
    from encoderkit.errors import DataError

    manifest = Path(run_dir) / MANIFEST
    if not manifest.is_file():
        return None
    try:
        body = json.loads(manifest.read_text())
    except (ValueError, OSError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise DataError(f"unreadable ensemble manifest: {' '.join(str(e).split())}", file=manifest) from None
    if not isinstance(body, dict) or not isinstance(body.get("members"), list):
        raise DataError("unreadable ensemble manifest: not a JSON object with a 'members' list",
                        file=manifest)
    return body


def member_problem(entry: Any, run_dir: Path) -> str | None:
    """Why ``entry`` of ``ensemble.json``'s ``members`` may not name a member, or None.

    A member is a folder below the run folder, named by a relative path of plain parts
    (``members/1``, ``members/probe``: what ``train_members`` writes). The manifest may be
    someone else's upload: ``/abs/other/run`` or ``../../other`` made predict average (at
    weight 1, the run's own at 0) another tenant's model without a word, and ``.`` the run
    itself, loaded again and again. A link that leads out of the run folder is refused too."""
    from encoderkit.infer.run_files import within

    if not isinstance(entry, str) or not entry or "\x00" in entry:
        return "is not a folder name"
    parts = entry.replace("\\", "/").split("/")
    if entry.startswith(("/", "\\")):
        return "is an absolute path"
    if any(p in ("", ".", "..") for p in parts):
        return "is not a plain relative path (an empty, '.' or '..' part)"
    if not within(Path(run_dir) / entry, run_dir):
        return "leads outside the run folder through a symbolic link"
    if os.path.realpath(Path(run_dir) / entry) == os.path.realpath(run_dir):
        # a link to the run itself (members/m -> ..): the same recursion as '.'
        return "is the run folder itself (through a symbolic link)"
    return None


def member_dirs(run_dir: Path) -> list[Path]:
    """The other members of an ensemble run (empty for a single-model run): folders below
    the run folder, each named as ``member_problem`` allows (a ``DataError`` naming the
    entry otherwise)."""
    from encoderkit.errors import DataError

    body = _manifest(run_dir)
    if body is None:
        refuse_incomplete(Path(run_dir))
        return []
    manifest = Path(run_dir) / MANIFEST
    for entry in body["members"]:
        problem = member_problem(entry, Path(run_dir))
        if problem:
            raise DataError(f"ensemble member {entry!r} {problem}: a member must be a folder inside the "
                            f"run folder, named relative to it (such as 'members/1')", file=manifest)
    dirs = [Path(run_dir) / m for m in body["members"]]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise DataError(f"ensemble member {missing[0]} is missing (rerun the same "
                        f"`encoderkit finetune` command to train it, or copy the run's {MEMBERS_DIR}/ "
                        f"folder along with it)", file=manifest)
    return dirs


def warn_one_member(path: Path, checkpoint: Path) -> None:
    """A checkpoint of an ensemble's first member named directly (``<run>/best``,
    ``<run>/checkpoints/<n>``) loads as that one model, as any checkpoint does (naming a
    checkpoint names one model: its members' own best/ load alike); one line says the run
    averages more and how to load them, rather than predicting with a part of the run silently."""
    from encoderkit.errors import EncoderkitError
    from encoderkit.infer.run_files import run_folder

    if not (Path(path) / "state.json").is_file():
        return  # a run folder: loaded as its ensemble
    run = run_folder(checkpoint)
    try:
        body = _manifest(run) if run is not None else None
    except EncoderkitError:  # an unreadable manifest is said where the run folder is loaded
        return
    if body and body["members"]:
        warnings.warn(f"{path} is one model of the ensemble that run {run} averages "
                      f"({1 + len(body['members'])} members, {MANIFEST}): it predicts alone; pass the "
                      f"run folder (checkpoint={run}) for the ensemble", stacklevel=3)


def planned_members(run_dir: Path) -> int:
    """The fine-tuned members the ``config.yaml`` of the run folder ``run_dir`` asks for
    (``task.ensemble``; ``auto`` resolved as ``train_members`` resolves it, from the run's
    split); 1 where it asks for one or says nothing (a checkpoint folder, an older run)."""
    from encoderkit.infer.run_files import BEST, CHECKPOINTS, CONFIG_FILE, run_folder_setting

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not any((run_dir / d).is_dir() for d in (CHECKPOINTS, BEST)):
        return 1  # not a run folder: a checkpoint loads as one model
    value, _ = run_folder_setting(run_dir, "task.ensemble")  # what the run folder asks for now
    if value == "auto":
        try:
            records = train_records(run_dir)
        except (OSError, ValueError, TypeError, AttributeError):
            return 1  # no readable split: the run never trained a member to average
        task_type, _ = run_folder_setting(run_dir, "task.type")
        steps, _ = run_folder_setting(run_dir, "train.steps")
        return resolve_members("auto", str(task_type), records, steps)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 1


def refuse_incomplete(run_dir: Path) -> None:
    """A run folder whose config asks for an ensemble but holds no ``ensemble.json`` (written once
    every member is done): a finetune stopped partway (a scheduler's time limit) is refused
    naming how far it got, not loaded as its first member alone without a word."""
    from encoderkit.errors import DataError
    from encoderkit.infer.run_files import BEST, CHECKPOINTS

    n = planned_members(run_dir)
    if n <= 1:
        return
    tuned = [Path(run_dir), *(Path(run_dir) / MEMBERS_DIR / str(i) for i in range(1, n))]
    done = sum(1 for d in tuned if (d / BEST).is_dir() or any((d / CHECKPOINTS).glob("[0-9]*")))
    what = (f"{done} of {n} members have a checkpoint" if done < n
            else f"all {n} members have a checkpoint, the last (or the linear probe member) unfinished")
    raise DataError(f"ensemble incomplete: {what} (task.ensemble of its config.yaml; {MANIFEST} is written "
                    "once every member is done); rerun the same finetune to finish it", file=run_dir)


def member_weights(run_dir: Path) -> list[float]:
    """Each member's weight in the average, the run directory's first (``ensemble.json``'s
    ``weights``); empty for equal weights (manifests written before weights existed)."""
    from encoderkit.errors import DataError

    body = _manifest(run_dir)
    if body is None:
        return []
    weights = body.get("weights") or []
    if weights and (not isinstance(weights, list) or len(weights) != 1 + len(body["members"])
                    or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
                               for w in weights)):
        raise DataError(f"ensemble weights {weights} do not fit its {1 + len(body['members'])} "
                        "members", file=Path(run_dir) / MANIFEST)
    return [float(w) for w in weights]
