"""``evaluate`` on the records a fine-tuned run trained on: its metrics per part of the run's split.

``encoderkit evaluate checkpoint=runs/ft input=<the run's own store> labels=<its labels>`` (the
README's own example) scored every record, the ones the run trained on among them, as one
number: on coin-flip labels 0.619 accuracy over 569 records, 0.693 on the 342 it trained on,
0.504 / 0.509 on its validation / test records. When the input holds the run's own records,
evaluate now also scores each part of the run's split (``split.json``: ``train``, ``val``,
``test``, and ``unseen``, records outside it: unlabelled when the run trained, or appended to
the store since), says in one warning how many of the scored records trained the model (the
averaged members' training parts, the probe member's too: without a ``task.split`` file it is
fitted on every labelled record, validation records included) and which part is held out.

Whether the input holds the run's records is judged by content, never by ids (a raw table
re-read names its rows ``row<i>`` whatever they hold): a record store whose identity is the one
the run's checkpoint recorded (``RecordStore.identity``: the source files' sha256 and every
record's length; ``ingest.run_records`` also accepts the run's store appended to since, whose
first records are the run's), or a raw file whose sha256 is that of the one file the run's
store was ingested from. A run that recorded no store identity (checkpoints older than it)
gets no per-split figures.

The run's split and store identity are read once, when the model is loaded (``read_run_split``,
kept on the model as ``run_split``), never again at evaluate: a service holds a model for hours
while its run folder may be replaced on disk (another training finishing under that name), and
reading them at each call scored the model in memory against the other run's split: its
"held-out" figures then included records these weights trained on, without a word.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.session_state import warnings_kept

# the parts, in the order the table shows them; "unseen": records outside the run's split
PARTS = ("train", "val", "test", "unseen")
# the held-out part, the first of these with no record a member trained on
HELD_OUT_ORDER = ("test", "val", "unseen")


class Evaluation(dict):
    """What ``FineTuned.evaluate`` returns: the metrics over every labelled record scored, as a
    plain dict (``metrics["accuracy"]``, ``metrics["records"]``), as it always has, and, where
    the input holds the run's own records (see the module docstring):

    * ``parts``: ``{part: metrics}`` for each part of the run's split with a labelled record
      here (``train``, ``val``, ``test``, ``unseen``); empty for other inputs;
    * ``held_out``: the part no member of the run trained on (``test`` if it has labelled
      records here, else ``val``, else ``unseen``), whose figures are the honest estimate;
      None when every part was trained on or the input is not the run's;
    * ``trained_on``: the ids of the labelled records scored here that some member of the run
      (the probe member too) was trained on."""

    parts: dict[str, dict[str, float]]
    held_out: str | None
    trained_on: list[str]

    def __init__(self, metrics: Mapping[str, Any]) -> None:
        super().__init__(metrics)
        self.parts, self.held_out, self.trained_on = {}, None, []


@dataclass(frozen=True)
class RunRecords:
    """The run's split, and which records of the input are the run's."""

    run: Path  # the run folder (member 0's)
    split: dict[str, frozenset[str]]  # train / val / test ids (member 0's split.json)
    trained: frozenset[str]  # ids some averaged member trained on (member 0, the others, the probe)
    extra: tuple[str, ...]  # members that trained on records outside member 0's train part
    count: int  # the input's first records that are the run's (the rest appended since)
    what: str  # how the input holds them, for the warning ({run}: the run folder)
    # a raw source file: the ids of its records that are the run's (the store's ids, the file's
    # row ids: ``row4`` then ``row7`` where ingest skipped empty rows), matched by id, not by
    # position; None for a store, whose first ``count`` records are the run's
    own: frozenset[str] | None = None


@dataclass(frozen=True)
class RunSplit:
    """What a fine-tuned run's folder said of its records when the model was loaded."""

    run: Path  # the run folder
    split: dict[str, frozenset[str]]  # train / val / test ids (split.json)
    inputs: Mapping[str, Any] | None  # the newest checkpoint's record of its store (identity, ...)


def read_run_split(checkpoint: Path | None) -> RunSplit | None:
    """The split and store record of the run ``checkpoint`` belongs to, read now: the run
    folder's ``split.json`` and newest checkpoint's record, else those the checkpoint holds
    itself (``checkpoint_split``: a ``best/`` copied out of its run folder); None where neither
    has them (a checkpoint written before best/ kept them, copied alone)."""
    from encoderkit.infer.run_files import run_folder

    run = run_folder(checkpoint) if checkpoint else None
    split = _split(run) if run is not None else None
    own_split, own_inputs = _checkpoint_records(Path(checkpoint)) if checkpoint else (None, None)
    if split is None:
        if own_split is None:
            return None
        return RunSplit(Path(os.path.abspath(checkpoint)), own_split, own_inputs)
    return RunSplit(run, split, _recorded_inputs(run) or own_inputs)


# the key of a checkpoint's state.json saying which split file it holds and its sha256
SPLIT_STATE = "split"


def checkpoint_split(run_dir: Path, state: dict[str, Any], inputs: Mapping[str, Any]) -> dict[str, bytes]:
    """The run's split as a file of a checkpoint (``write_weights_checkpoint``'s ``files``), its
    sha256 and the store's record (``inputs``: identity, records) put into ``state``: best/
    copied without its run folder still tells the records it trained on. Nothing where the run
    has no split file (yet)."""
    import hashlib

    from encoderkit.tasks.objective import SPLIT_FILE

    state["inputs"] = dict(inputs)
    try:
        body = (Path(run_dir) / SPLIT_FILE).read_bytes()
    except OSError:
        return {}
    state[SPLIT_STATE] = {"file": SPLIT_FILE, "sha256": hashlib.sha256(body).hexdigest()}
    return {SPLIT_FILE: body}


def _checkpoint_records(checkpoint: Path) -> tuple[dict[str, frozenset[str]] | None, Mapping[str, Any] | None]:
    """(the split, the store's record) a checkpoint holds itself (``checkpoint_split``); the
    split only when its file is the one state.json names by sha256 (not one edited or swapped)."""
    import hashlib

    from encoderkit.infer.run_files import within
    from encoderkit.tasks.objective import SPLIT_FILE

    try:
        state = json.loads((checkpoint / "state.json").read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(state, dict):
        return None, None
    inputs = state.get("inputs") if isinstance(state.get("inputs"), Mapping) else None
    said = state.get(SPLIT_STATE)
    file = checkpoint / SPLIT_FILE
    if not isinstance(said, Mapping) or not file.is_file() or not within(file, checkpoint):
        return None, inputs
    try:
        body = file.read_bytes()
    except OSError:
        return None, inputs
    if hashlib.sha256(body).hexdigest() != said.get("sha256"):
        return None, inputs
    return _split_of(body), inputs


def run_split_of(model: Any) -> RunSplit | None:
    """``model``'s ``run_split``: set when it was loaded (``load_finetuned``), else read the
    first time it is asked for and kept with the model from then on."""
    if "run_split" not in vars(model):
        model.run_split = read_run_split(getattr(model, "path", None))
    return model.run_split


def own_records(model: Any, data: Any) -> RunRecords | None:
    """The run's split and training records when ``data`` (an open store, or a raw file's path)
    holds the records ``model``'s run was fine-tuned on; None otherwise, or when it cannot be
    told (a checkpoint outside a run folder, a run without ``split.json`` or store identity).
    The split and identity are those read when ``model`` was loaded (``run_split_of``)."""
    known = run_split_of(model)
    inputs = known.inputs if known is not None else None
    if not inputs or not inputs.get("identity"):
        _say_unchecked(model, known)
        return None
    held = _held_records(data, inputs, model.path)
    if held is None:
        return None
    count, what, own = held
    run, split = known.run, known.split
    trained = set(split["train"])
    extra = []
    members = list(getattr(model, "members", ()))
    weights = list(getattr(model, "weights", ()))
    weights = weights[1:] if len(weights) == 1 + len(members) else [1.0] * len(members)
    for member, weight in zip(members, weights):
        part = run_split_of(member) if weight > 0 else None
        if part is None:
            continue
        if part.split["train"] - trained:
            extra.append(os.path.relpath(part.run, run))
        trained |= part.split["train"]
    return RunRecords(run, split, frozenset(trained), tuple(extra), count, what, own)


def _say_unchecked(model: Any, known: RunSplit | None) -> None:
    """Once per model loaded from a checkpoint: it keeps no record of its run's split or store
    (a checkpoint written before best/ kept them, copied out of its run folder; a run from
    before stores had an identity), so whether the records scored trained it cannot be told."""
    path = getattr(model, "path", None)
    if path is None or vars(model).get("_said_unchecked"):
        return
    model._said_unchecked = True
    what = "its run's split.json" if known is None else "its store's identity"
    warnings.warn(f"checkpoint {path} keeps no record of {what} (written by an older encoderkit, or "
                  f"copied out of its run folder): whether the records scored here trained the model "
                  f"cannot be checked, so the figures may be optimistic; evaluate the run folder, or "
                  f"records the run never saw", UserWarning, stacklevel=3)


def _split(run: Path) -> dict[str, frozenset[str]] | None:
    from encoderkit.tasks.objective import SPLIT_FILE

    try:
        return _split_of((run / SPLIT_FILE).read_bytes())
    except OSError:
        return None


def _split_of(text: bytes) -> dict[str, frozenset[str]] | None:
    """A split file's parts (train / val / test ids), None where it is not one."""
    try:
        body = json.loads(text)
        return {p: frozenset(str(i) for i in (body.get(p) or [])) for p in ("train", "val", "test")}
    except (ValueError, AttributeError, TypeError):
        return None


def _recorded_inputs(run: Path) -> Mapping[str, Any] | None:
    """What the run's newest checkpoint recorded of its store (``inputs``: identity, records,
    location); ``best/`` records none, every ``checkpoints/<step>/`` the same."""
    steps = run / "checkpoints"
    try:
        found = sorted((int(p.name) for p in steps.iterdir() if p.name.isdigit()), reverse=True)
    except OSError:  # no checkpoints/ folder (a checkpoint copied out of its run)
        return None
    for step in found:
        try:
            inputs = json.loads((steps / str(step) / "state.json").read_text()).get("inputs")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(inputs, Mapping):
            return inputs
    return None


def _held_records(data: Any, inputs: Mapping[str, Any],
                  checkpoint: Path) -> tuple[int, str, frozenset[str] | None] | None:
    """(how many of ``data``'s first records are the run's, how, the ids of the run's records
    for a raw file) or None: a store of the run's identity (or the run's store appended to
    since), or the raw file its store was ingested from."""
    from encoderkit.data.ingest import run_records as first_records

    if hasattr(data, "identity") and hasattr(data, "offsets"):  # an open record store
        n = first_records(data, inputs)
        if n is None:
            return None
        later = len(data) - n
        return n, ("the store run {run} was fine-tuned on" if not later else
                   f"the store run {{run}} was fine-tuned on, {later} records appended since"), None
    if isinstance(data, (str, Path)) and os.path.isfile(data):
        return _source_file(Path(data), inputs, checkpoint)
    return None


def _source_file(path: Path, inputs: Mapping[str, Any],
                 checkpoint: Path) -> tuple[int, str, frozenset[str] | None] | None:
    """A raw file whose sha256 is that of the one file the run's store (still holding the
    run's records) was ingested from: its records are the run's, read as ingest read them,
    known by the store's ids (the file's row ids). Not by position: ingest skips rows a raw
    read keeps (empty rows), so the store's 198th record is the file's 200th row."""
    from encoderkit.data.store import RecordStore, StoreError
    from encoderkit.infer.load import run_store
    from encoderkit.train.checkpoint import file_digest

    where = run_store(checkpoint, inputs)
    if not where or "://" in where:
        return None
    try:
        store = RecordStore(where)
        if store.identity != inputs["identity"]:
            return None
        files = [f for f in store.provenance.get("files") or [] if isinstance(f, Mapping)]
        if len(files) != 1 or files[0].get("size") != path.stat().st_size:
            return None  # a file of another size is another file: no hashing
        if file_digest(path)["sha256"] != files[0].get("sha256"):
            return None
        names = store.record_ids()
        # a store without ids names its records by position (0, 1, ...): matched by position
        own = None if names == [str(i) for i in range(len(names))] else frozenset(names)
    except (StoreError, OSError, ValueError, KeyError):
        return None
    return len(store), "the file that run {run}'s store was ingested from", own


def record_parts(known: RunRecords, ids: list[str]) -> np.ndarray:
    """Per record of the input, its part of the run's split (``PARTS``); a record past the
    run's ones (appended since) or outside the split is ``unseen``."""
    where: dict[str, str] = {}
    for part in ("test", "val", "train"):  # an id in two parts (records sharing it): train wins
        where.update(dict.fromkeys(known.split[part], part))
    runs = _runs(known, ids)
    return np.asarray([where.get(str(i), "unseen") if own else "unseen"
                       for own, i in zip(runs, ids)], dtype=object)


def _runs(known: RunRecords, ids: list[str]) -> np.ndarray:
    """Per record of the input, whether it is one of the run's: a raw source file's by id (the
    store's ids), a store's by position (its first ``count``; later ones appended since)."""
    if known.own is not None:
        return np.asarray([str(i) in known.own for i in ids], dtype=bool)
    return np.arange(len(ids)) < known.count


def split_metrics(result: Evaluation, known: RunRecords, ids: list[str], labelled: np.ndarray,
                  score: Callable[[np.ndarray], dict[str, float]], data_name: str, verbose: bool) -> None:
    """Fill ``result``'s ``parts``, ``held_out`` and ``trained_on`` (``score``: the metrics of the
    labelled records a mask keeps), warn when records the run trained on were scored, and print
    the per-part table when ``verbose``."""
    from encoderkit.tasks.metrics import format_table

    parts = record_parts(known, ids)
    trained = _runs(known, ids) & np.asarray([str(i) in known.trained for i in ids], dtype=bool)
    labelled = np.asarray(labelled, dtype=bool)
    result.trained_on = [str(ids[r]) for r in np.flatnonzero(labelled & trained)]
    columns: dict[str, dict[str, float]] = {}
    # the filters under the session lock (``warnings_kept``): a bare catch_warnings in one thread
    # and another thread's section that outlived it left ('ignore', Warning) in the process's
    # filters for good, every later warning silenced
    with warnings_kept():  # the all-records scoring has said what there is to say
        warnings.simplefilter("ignore")
        for part in PARTS:
            mask = labelled & (parts == part)
            if mask.any():
                result.parts[part] = score(mask)
    seen = {p: int((labelled & (parts == p) & trained).sum()) for p in result.parts}
    result.held_out = next((p for p in HELD_OUT_ORDER if p in result.parts and not seen[p]), None)
    for part, metrics in result.parts.items():
        n = int((labelled & (parts == part)).sum())
        columns[_column(part, seen[part], n, part == result.held_out)] = metrics
    if verbose and (result.trained_on or len(result.parts) > 1):
        print("per part of the run's split (split.json):")
        print(format_table(columns), flush=True)  # before the warning on stderr, which refers to it
    if result.trained_on:
        warnings.warn(_said(result, known, int(labelled.sum()), data_name), UserWarning, stacklevel=3)


def _column(part: str, seen: int, n: int, held: bool) -> str:
    name = "unseen by the run" if part == "unseen" else part
    if seen:
        return f"{name} (trained on)" if seen == n else f"{name} ({seen} trained on)"
    return f"{name} (held out)" if held else name


def _said(result: Evaluation, known: RunRecords, n: int, data_name: str) -> str:
    """The one-line warning: how many scored records trained the model, and where to look."""
    own = sum(str(i) in known.split["train"] for i in result.trained_on)
    more = len(result.trained_on) - own
    by = "the run's train part" if not more else (
        f"{own} of the run's train part, {more} more that {' and '.join(known.extra)} "
        f"{'was' if len(known.extra) == 1 else 'were'} fitted on: without task.split the probe member "
        f"fits every labelled record")
    head = (f"{data_name} is {known.what.format(run=known.run)}: {len(result.trained_on)} of the {n} "
            f"labelled records scored here trained the model ({by}), so the figures over all of them are "
            f"optimistic; ")
    if result.held_out is None:
        return head + ("no part of them was held out from training (a member trained on records of each), so "
                       "no figure here is a held-out estimate (score records the run never saw, or fine-tune "
                       "with task.split=<a file with a test part>)")
    return (head + f"the held-out figures are those of the run's {result.held_out!r} part "
            f"({result.parts[result.held_out]['records']:g} records), in the per-part table "
            f"(Python: evaluate(...).parts[{result.held_out!r}])")
