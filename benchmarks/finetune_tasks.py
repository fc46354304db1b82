"""Fine-tuning results on every bundled labelled task, side by side, in one run.

    nice -n 10 .venv/bin/python -m benchmarks.finetune_tasks [--out runs/finetune-bench]
        [--seeds 0 1] [--tasks ItalyPowerDemand ArrowHead GunPoint OSULeaf BasicMotions JapaneseVowels wine breast_cancer diabetes anes96 star98 ecoli-coding-frame digits]

For each task (built by ``examples/finetune_<domain>.py``; protocol and settings in
``examples/finetune_common.py``) it reports test accuracy (R^2 for a regression task,
diabetes, star98) of: the classical anchor(s),
the frozen-embedding probe of the masked-LM encoder, the probe of the contrastive
stage, the fine-tuned pretrained encoder and the same architecture from scratch. Runs
that the checkout cannot do (no ``encoderkit finetune``) are left out and say so.
Intermediate runs are kept in ``--out`` and reused, so an interrupted benchmark resumes.
Writes ``results.json`` and ``results.md`` (the table for benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import finetune_common as common  # noqa: E402

from benchmarks.environment import describe, environment  # noqa: E402

TASKS = ("ItalyPowerDemand", "ArrowHead", "GunPoint", "OSULeaf", "BasicMotions", "JapaneseVowels", "wine", "breast_cancer", "diabetes",
         "anes96", "star98", "ecoli-coding-frame", "digits", "Covid3Month", "CardanoSentiment",
         "ACSF1", "PickupGestureWiimoteZ")
COLUMNS = ("finetuned", "finetuned_members", "scratch", "probe_mlm", "probe_mlm_std", "probe_contrastive")


def build(name: str, workdir: Path) -> common.Task:
    if name in ("ItalyPowerDemand", "ArrowHead", "GunPoint", "OSULeaf", "BasicMotions", "JapaneseVowels",
                "Covid3Month", "CardanoSentiment", "ACSF1", "PickupGestureWiimoteZ"):
        import finetune_timeseries as m
        return m.make_task(name, workdir)
    if name in ("wine", "breast_cancer", "diabetes", "anes96", "star98"):
        import finetune_tabular as m
        return m.make_task(name, workdir)
    if name == "ecoli-coding-frame":
        import finetune_genomic as m
        return m.make_task(workdir)
    if name == "digits":
        import finetune_sets as m
        return m.make_task(workdir)
    raise SystemExit(f"unknown task {name!r}; choose from {list(TASKS)}")


def cell(accs: list[float] | None) -> str:
    if not accs:
        return "n/a"
    if len(accs) == 1:
        return f"{accs[0]:.3f}"
    return f"{np.mean(accs):.3f} +- {np.std(accs):.3f}"


def table(results: dict[str, dict], tasks: dict[str, common.Task]) -> list[str]:
    head = ("| task (domain) | classical anchor | " + " | ".join(COLUMNS) + " |")
    lines = [head, "|" + "---|" * (2 + len(COLUMNS))]
    for name, res in results.items():
        task = tasks[name]
        anchors = [a for a in task.anchors if a in res]
        anchor = "<br>".join(f"{cell(res[a])} ({a})" for a in anchors)
        lines.append(f"| {name} ({task.domain}) | {anchor} | "
                     + " | ".join(cell(res.get(c)) for c in COLUMNS) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="runs/finetune-bench")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--finetune-steps", default=None,
                    help="train.steps of the fine-tuning runs (default: the encoderkit finetune "
                         "default, auto); an int caps the cost of a large task")
    ap.add_argument("--finetune-max-tokens", default=None,
                    help="data.max_tokens of the fine-tuning runs (default: the encoderkit finetune "
                         "default, auto: sized by the labelled training split)")
    ap.add_argument("--finetune-extra", nargs="+", default=[], metavar="KEY=VALUE",
                    help="more overrides of every fine-tuning run, fine-tuned and scratch alike "
                         "(e.g. task.lp_fraction=0.1); runs are reused by --out, so give each "
                         "setting its own --out")
    ap.add_argument("--budget", choices=("cpu", "defaults"), default="cpu",
                    help="cpu: the small encoder and batch of examples/finetune_common.py; defaults: "
                         "every run with the commands' documented defaults (model tiny, "
                         "data.max_tokens 8192, pretraining train.steps, auto elsewhere)")
    ap.add_argument("--pretrain-steps", type=int, default=None,
                    help="train.steps of the masked-LM pretraining (default: the harness's 200; "
                         "with --budget defaults, encoderkit pretrain's own)")
    ap.add_argument("--methods", nargs="+", default=list(common.METHODS), choices=common.METHODS)
    args = ap.parse_args()
    common.one_thread()
    if args.budget == "defaults":
        common.use_documented_defaults()
    if args.pretrain_steps is not None:
        common.PRETRAIN_STEPS = args.pretrain_steps
    if args.finetune_steps is not None:
        common.FINETUNE_STEPS = args.finetune_steps if args.finetune_steps == "auto" else int(args.finetune_steps)
    if args.finetune_max_tokens is not None:
        common.FINETUNE_BATCH = [f"data.max_tokens={args.finetune_max_tokens}"]
    common.FINETUNE_EXTRA = list(args.finetune_extra)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results: dict[str, dict] = {}
    tasks: dict[str, common.Task] = {}
    for name in args.tasks:
        work = out / name
        work.mkdir(exist_ok=True)
        tasks[name] = task = build(name, work)
        print(f"{name} ({task.domain}): {len(task.ids)} records, {int(task.test.sum())} test; {task.notes}",
              flush=True)
        results[name] = common.compare(task, work, tuple(args.seeds), tuple(args.methods),
                                       log=lambda s: print(s, flush=True))
        # the kernel the probes and anchors ran on (benchmarks/environment.py)
        record = {**results, "_environment": environment()}
        (out / "results.json").write_text(json.dumps(record, indent=1))
    command = "nice -n 10 python -m benchmarks.finetune_tasks " + " ".join(sys.argv[1:])
    lines = [f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{platform.machine()} CPU, python {platform.python_version()}, 1 torch thread, "
             f"wall {time.time() - t0:.0f} s; {describe()})", "",
             f"Test accuracy (R^2 for diabetes and star98; mean +- std over seeds {args.seeds} where a method depends on the seed; "
             f"one number where it does not). Encoder: {' '.join(common.MODEL) or 'default (tiny)'}, "
             f"{' '.join(common.BATCH) or 'default data.max_tokens'}; "
             f"MLM pretraining {common.PRETRAIN_STEPS or 'default'} steps, contrastive {common.CONTRASTIVE_STEPS} steps, "
             f"fine-tuning train.steps={common.FINETUNE_STEPS}, "
             f"{' '.join(common.FINETUNE_BATCH) or 'data.max_tokens=auto'}"
             f"{''.join(' ' + o for o in common.FINETUNE_EXTRA)}.", ""]
    lines += table(results, tasks)
    block = "\n".join(lines)
    print(block)
    (out / "results.md").write_text(block + "\n")


if __name__ == "__main__":
    main()
