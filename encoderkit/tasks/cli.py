"""``encoderkit finetune | predict | evaluate``.

    encoderkit finetune [-m] checkpoint=<pretrained run|checkpoint|none> data.store=<store>
                        task.type=<type> task.labels=<file> run.dir=<dir> train.steps=N [overrides]
    encoderkit predict checkpoint=<finetuned run> input=<store or raw file> output=<preds.csv|.parquet>
                       [overwrite=false] [device=cpu|auto] [max_tokens=16384] [<ingest option>=value ...]
    encoderkit evaluate checkpoint=<finetuned run> input=<store or raw file> labels=<labels file>
                        [device=cpu] [<ingest option>=value ...]   (task.label_column runs, and
                        inputs that hold their own labels such as a .ts series file: labels
                        default to the raw input; on a task.label_column run's store, to its column)

A raw file is read as the run's store was ingested; its ingest options (a series' time_column,
a genome's max_n_run) may be repeated, and one that contradicts the run is refused.

finetune takes Hydra overrides (the pretrain config tree plus `checkpoint` and `task.*`,
see configs/finetune.yaml and configs/task/); it ends with a table of the validation
metrics (last and best evaluation; the test split when task.split has one). With -m it runs
one job per combination of the sweep's values (``encoderkit.train.cli.multirun``).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from encoderkit.cliutil import check_device
from encoderkit.errors import DataError, EncoderkitError, InputNotFoundError, UsageError, data_error

USAGE = __doc__

# `predict --help` / `evaluate --help`: what a user types, not the module's notes
COMMAND_HELP = {
    "predict": """usage: encoderkit predict checkpoint=<fine-tuned run> input=<store or raw file> output=<preds.csv|.parquet>
                         [overwrite=false] [device=cpu] [max_tokens=16384] [progress=true|false]
                         [<ingest option>=value ...]

Predictions of a fine-tuned run for every record of a record store or a raw file, one row
per record (CSV or Parquet, by the output's suffix).
  input      a record store, or a raw file read as the run's store was ingested: an ingest
             option given again (a series' time_column, say) must be the one the run used
  output     .csv / .tsv / .parquet
  overwrite  replace a predictions file written before
  device     cpu, cuda, cuda:0, mps, or auto (a CUDA GPU when there is one, else the CPU)""",
    "evaluate": """usage: encoderkit evaluate checkpoint=<fine-tuned run> input=<store or raw file> [labels=<labels file>]
                          [device=cpu] [<ingest option>=value ...]

The task metrics of a fine-tuned run on input's records against their labels.
  labels     a labels file as for finetune's task.labels; may be left out for a run with
             task.label_column, and for inputs that hold their own labels (a .ts series file)
  input      a record store, or a raw file read as the run's store was ingested
When input holds the run's own records (its store, or the file that store was ingested from),
a second table scores each part of the run's split (train, val, test, records outside it),
and a warning says how many scored records the run trained on and which part is held out.""",
}


FINETUNE_USAGE = """usage: encoderkit finetune checkpoint=<pretrained run|checkpoint|none> data.store=<store>
                           [task.type=classification] [task.labels=<labels file>] [run.dir=<dir>] [key=value ...]

Fine-tunes a task head, and the encoder, of a pretrained run on labelled records (Hydra
overrides of the pretrain config tree plus `checkpoint` and `task.*`); ends with a table of
the validation metrics (last and best evaluation; the test split when task.split has one).
  checkpoint   a pretrained (or fine-tuned) run or checkpoint directory, whose architecture and
               domain options are used; none: the same architecture from scratch, from
               model=... and domain=... (the control)
  task.labels  a labels file (an id column and the label); a table store's own column is
               task.label_column=<column> instead; contrastive takes no labels
  train.steps  auto (the default: from the size of the labelled set) or a number of steps
Values auto are resolved when the run starts and written to its config.yaml; their rules are
in the comments of configs/finetune.yaml and configs/task/<type>.yaml.
encoderkit finetune -m ... sweeps comma lists (optim.lr=1e-4,3e-4) and Hydra's other sweep
forms, one run directory each (<run.dir>/<job number>), as pretrain -m does."""


def _help(command: str) -> str:
    if command != "finetune":
        return COMMAND_HELP.get(command, USAGE)
    from encoderkit.train.config import config_dir
    from encoderkit.train.help import config_sections

    types = ", ".join(sorted(p.stem for p in (config_dir() / "task").glob("*.yaml")))
    return "\n".join([FINETUNE_USAGE, "", f"task types: {types}",
                      "(task=<type> selects configs/task/<type>.yaml, its own task.* defaults; the task "
                      "keys below are task=classification's, which task.type=<type> keeps)",
                      "", *config_sections("finetune")])


def summary(run_dir: Path) -> str:
    """The final table: metrics of the step-0 validation (a probe-initialised head), the last
    and the best validation, and of the test split."""
    from encoderkit.tasks.metrics import format_table
    from encoderkit.train.metrics_log import read_metrics

    history = read_metrics(run_dir / "metrics.jsonl")
    vals = [h for h in history if any(k.startswith("val_") for k in h)]
    rows: dict[str, dict[str, Any]] = {}
    if vals and vals[0].get("step") == 0:  # the model fine-tuning started from (head_init=probe)
        rows["start (step 0)"] = {k[4:]: v for k, v in vals[0].items() if k.startswith("val_")}
    if vals and vals[-1].get("step") != 0:  # (a train.steps=0 run: the start is all there is)
        last = vals[-1]
        rows[f"last (step {last['step']})"] = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
    best_state = run_dir / "best" / "state.json"
    if best_state.is_file():
        from encoderkit.tasks.objective_best import best_evaluation

        best = json.loads(best_state.read_text())
        step = best.get("step")
        # the row of the model best/ holds: its step AND the figure it was chosen by (a step
        # alone matched a resumed run's own evaluation of that step to another model's best/)
        match = best_evaluation(best, vals)
        if match is not None and (step != 0 or len(vals) > 1):
            rows[f"best (step {step})"] = {k[4:]: v for k, v in match.items() if k.startswith("val_")}
        elif match is None and not (best.get("best") or {}).get("scaled"):
            chosen = best.get("best") or {}  # no logged row: what best/ itself records
            if str(chosen.get("metric", "")).startswith("val_") and isinstance(chosen.get("value"), (int, float)):
                rows[f"best (step {step})"] = {chosen["metric"][4:]: chosen["value"]}
    test = [h for h in history if any(k.startswith("test_") for k in h)]
    if test:
        rows["test"] = {k[5:]: v for k, v in test[-1].items() if k.startswith("test_")}
    if not rows:
        train = [h for h in history if "loss" in h]
        if train:
            return f"no validation was run (last train loss {train[-1]['loss']:.4f})"
        probe = [h for h in history if "head_init_records" in h]
        if probe:  # a train.steps=0 run without a validation split
            return (f"no validation was run: a linear probe fitted on "
                    f"{int(probe[-1]['head_init_records'])} labelled records, no training step")
        return "no validation was run"
    sizes = split_sizes(run_dir)
    said = [f"{part} ({_records(sizes[key])})" for part, key, shown in
            (("validation", "val", any(r != "test" for r in rows)), ("test", "test", "test" in rows))
            if shown and key in sizes]
    # how many records the numbers are over: 2 validation records read like 200 in the table alone
    return (", ".join(said) + ":\n" if said else "") + format_table(rows)


def split_sizes(run_dir: Path) -> dict[str, int]:
    """Records per part (train, val, test) of a run's split (its ``split.json``); empty
    where the run has none (a run directory older than the file)."""
    from encoderkit.tasks.objective import SPLIT_FILE

    try:
        return {k: len(v or []) for k, v in json.loads((run_dir / SPLIT_FILE).read_text()).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def kept_probe(run_dir: Path) -> str:
    """What the kept probe member (``members/probe``) was fitted on, from its own split:
    without a ``task.split`` file, on every labelled record (``task.val_fraction=0``, so it
    has no validation part); with one, on that file's training part only, the same probe
    that scored the validation records (``probe_member.probe_overrides``)."""
    from encoderkit.tasks.ensemble import MEMBERS_DIR
    from encoderkit.tasks.probe_member import PROBE_MEMBER

    sizes = split_sizes(run_dir / MEMBERS_DIR / PROBE_MEMBER)
    if not sizes:  # a run directory older than split.json: nothing to read it from
        return "members/probe, which predict uses, may have seen these validation records"
    if sizes.get("val"):
        return (f"members/probe, which predict uses, is that probe: with task.split it keeps the "
                f"split file's parts and was fitted on its training part only, {_records(sizes['train'])}")
    return (f"members/probe, which predict uses, was fitted on every labelled record, "
            f"{_records(sizes.get('train', 0))}, these validation records too")


def _records(n: int) -> str:
    return f"{n} record{'' if n == 1 else 's'}"


def _finetune(argv: list[str]) -> int:
    """One fine-tuning run, or with ``-m`` / ``--multirun`` one per job of a sweep, as
    ``pretrain -m`` runs them (``encoderkit.train.cli.multirun``)."""
    many = any(a in ("-m", "--multirun") for a in argv)
    argv = [a for a in argv if a not in ("-m", "--multirun")]
    bad = [a for a in argv if a.startswith("-")]
    if bad:
        print(f"encoderkit finetune: error: unknown option {bad[0]!r} (options: --help, -m)", file=sys.stderr)
        return 2
    if many:
        from encoderkit.train.cli import multirun
        from encoderkit.train.config import compose_finetune

        return multirun(argv, compose_finetune, _finetune_one, config_name="finetune")
    return _finetune_one(argv)


def _finetune_one(argv: list[str]) -> int:
    from encoderkit.tasks import finetune
    from encoderkit.train.trainer import NonFiniteLossError

    try:
        run_dir = finetune(argv)  # holds run.dir from member 0 to the ensemble's end
    except NonFiniteLossError as e:
        from encoderkit.cliutil import say

        say(f"encoderkit finetune: stopped: {e}")  # on a line of its own, a bar cleared first
        return 1
    if os.environ.get("RANK", "0") == "0":
        from encoderkit.tasks.ensemble import member_dirs

        print(summary(run_dir))
        members = member_dirs(run_dir)
        if members:
            from encoderkit.tasks.ensemble import MANIFEST
            from encoderkit.tasks.metrics import format_table

            n = 1 + len(members)
            body = json.loads((run_dir / MANIFEST).read_text())
            probe = body.get("probe") or {}
            averaged = bool(probe) and float(probe.get("weight") or 0) > 0
            kind = (f" (the last: the linear probe on the pretrained encoder, weight "
                    f"{probe['weight']:.3f} chosen by {probe.get('chosen_by')})" if averaged else "")
            print(f"ensemble of {n} members{kind} (task.ensemble; the table above is the first "
                  f"member's, the others are under {run_dir / 'members'}): predict and evaluate "
                  "average their predictions")
            val = body.get("val")
            if val:  # the fine-tuned members' best checkpoints, averaged, on the shared validation split
                tuned = len(body.get("seeds") or [n])
                n_val = split_sizes(run_dir).get("val")
                columns = {f"ensemble of {tuned} fine-tuned (val"
                           + (f", {_records(n_val)})" if n_val is not None else ")"): val}
                mixed = body.get("val_with_probe") if averaged else None
                if mixed:  # what predict averages: the fine-tuned members and the probe at its weight
                    columns[f"+ probe at {probe['weight']:.3f} (train-split probe)"] = mixed
                print(format_table(columns))
                if mixed:
                    print(f"predict and evaluate average the fine-tuned members with the probe at "
                          f"weight {probe['weight']:.3f}: the second column, scored with a probe "
                          f"fitted on the training split only ({kept_probe(run_dir)}; the weight "
                          "was chosen on these validation records)")
            if probe and not averaged:
                print("the linear probe member (members/probe) is not averaged in: weight 0 had the "
                      "lowest validation loss")
        print(f"run directory: {run_dir}")
    return 0


def _extra(argv: list[str], base: dict[str, Any]) -> tuple[str, ...]:
    """The words that are none of the command's own parameters: the run's ingest options a
    user repeats for a raw file (``max_n_run=100``, ``time_column=date``), known to be the
    domain's once the checkpoint names it, as ``embed`` takes them."""
    named = [w.split("=", 1)[0].lstrip("+") for w in argv if "=" in w]
    return tuple(k for k in named if k not in base)


def _predict(argv: list[str]) -> int:
    from encoderkit.infer import load
    from encoderkit.infer.cli import check_ingest_options, on_device, parse_args
    from encoderkit.infer.load import pick_device
    from encoderkit.tasks.predict import FineTuned, as_written, output_format, write_frame

    base = {"checkpoint": "", "input": "", "output": "", "device": "cpu", "overwrite": False,
            "max_tokens": None, "progress": None}
    args = parse_args(argv, base, ("checkpoint", "input", "output"), "predict", extra=_extra(argv, base),
                      flags=("progress",))
    from encoderkit.data.textfiles import check_codec
    from encoderkit.outputs import check_output, same_file

    out = Path(args["output"])
    kind, _ = output_format(out)  # a UsageError for a name that is no predictions file
    if not isinstance(args["overwrite"], bool):
        raise UsageError(f"The 'overwrite' parameter must be true or false. Got {args['overwrite']!r}.",
                         key="overwrite")
    mt = args["max_tokens"]
    if mt is not None and (isinstance(mt, bool) or not isinstance(mt, int) or mt < 1):
        raise UsageError(f"The 'max_tokens' parameter must be an int >= 1. Got {mt!r}.", key="max_tokens")
    if same_file(out, args["input"]):  # overwrite=true would replace the user's data with predictions
        raise UsageError("output is the input file; write the predictions elsewhere",
                         file=args["output"], key="output")
    # before any work: an existing file needs overwrite=true; a folder or a parent that is a
    # file is refused (overwrite only replaces a predictions file)
    check_output(out, bool(args["overwrite"]), what="a predictions file", file_ok=True)
    check_codec(str(out))
    device = pick_device(args["device"])
    check_device(device)
    model = load(args["checkpoint"], device=device)
    check_ingest_options(model.domain, {k: args[k] for k in _extra(argv, base)}, base)
    if not isinstance(model, FineTuned):
        raise UsageError(f"checkpoint {args['checkpoint']} is not a fine-tuned run "
                         "(encoderkit finetune writes one)", key="checkpoint")
    with _reading_input(args["input"]):
        frame = model.predict(_input(model, args["input"]), max_tokens=args["max_tokens"],
                              progress=args["progress"])
    # a CSV's text as before typed predictions (a float label 1.0 stays "1", a bool "true");
    # Parquet keeps the labels' type
    write_frame(as_written(frame, model.spec, kind), out, overwrite=bool(args["overwrite"]))
    print(f"wrote {len(frame)} prediction rows ({model.spec.type}) to {out}{on_device(args['device'], device)}")
    return 0


@contextmanager
def _reading_input(source: str) -> Iterator[None]:
    """The domain's word on records it cannot use (a ``ValueError`` / ``KeyError`` from its
    reader or featurizer), and an ``EncoderkitError`` that names no file, name ``source``,
    as ``embed`` and ``infill`` do; an error that names its own file (a labels file) keeps it."""
    try:
        yield
    except EncoderkitError as e:
        if isinstance(e, DataError) and e.file is None:
            e.file = source
        raise
    except (ValueError, KeyError) as e:
        raise data_error(e, source) from e


def _input(model: Any, source: str) -> Any:
    path = Path(source)
    if not path.exists():
        raise InputNotFoundError(f"input {source!r} does not exist", file=source)
    return path if path.is_dir() else model.domain.read_records(str(path))


def _evaluate(argv: list[str]) -> int:
    from encoderkit.infer import load
    from encoderkit.infer.cli import check_ingest_options, on_device, parse_args
    from encoderkit.infer.load import pick_device

    base = {"checkpoint": "", "input": "", "labels": "", "device": "cpu"}
    args = parse_args(argv, base, ("checkpoint", "input"), "evaluate", extra=_extra(argv, base))
    device = pick_device(args["device"])
    check_device(device)
    model = load(args["checkpoint"], device=device)
    if on_device(args["device"], device):  # stdout is the metrics table: said on stderr
        print(f"encoderkit evaluate: device=auto chose {device}", file=sys.stderr)
    check_ingest_options(model.domain, {k: args[k] for k in _extra(argv, base)}, base)
    if not hasattr(model, "evaluate"):
        raise UsageError(f"checkpoint {args['checkpoint']} is not a fine-tuned run", key="checkpoint")
    labels = args["labels"]
    if not labels:  # a raw table holding the run's task.label_column, a file holding its own
        # labels (a .ts series file), or the store of a task.label_column run (its column)
        if not Path(args["input"]).exists():
            raise InputNotFoundError(f"input {args['input']!r} does not exist", file=args["input"])
        with _reading_input(args["input"]):
            own = model.holds_labels(args["input"])
        if not own:
            column = getattr(model.spec, "label_column", None)
            hint = (f" or the raw table holding the run's task.label_column {column!r} as input="
                    if column else "")
            raise UsageError(f"missing required parameter labels=<labels file>{hint} (see encoderkit "
                             "evaluate --help)", key="labels")
        # the input as its own labels, read by evaluate from the input itself: its label
        # column by name (so its feature columns are not taken for labels), and no
        # "joined by row order, columns ignored" warning about the table's own features
        with _reading_input(args["input"]):
            model.evaluate(args["input"])
        return 0
    path = Path(args["input"])
    if not path.exists():
        raise InputNotFoundError(f"input {args['input']!r} does not exist", file=args["input"])
    with _reading_input(args["input"]):
        # a raw file by its path, which evaluate reads (once): the file the run's store was
        # ingested from is told apart by its content, and scored per part of the run's split
        model.evaluate(path if path.is_dir() else args["input"], labels)
    return 0


COMMANDS = {"finetune": _finetune, "predict": _predict, "evaluate": _evaluate}


def run(command: str, argv: list[str]) -> int:
    if command not in COMMANDS:
        print(f"encoderkit: unknown command {command!r}; expected one of {sorted(COMMANDS)}", file=sys.stderr)
        return 2
    if any(a in ("-h", "--help") for a in argv):
        print(_help(command))
        return 0
    try:
        return COMMANDS[command](argv)
    except EncoderkitError:  # cli.main reports it (a misspelled key with the closest one);
        raise  # before the clause below: a UsageError is a ValueError too
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, TypeError) as e:
        print(f"encoderkit {command}: error: {e}", file=sys.stderr)
        return 1
