"""Paired screen of contrastive-stage settings: does the probe of the contrastive
encoder beat the probe of the masked-LM encoder it started from?

    nice -n 10 python -m benchmarks.contrastive_screen --out /work/scratch/contrast \
        --tasks ItalyPowerDemand ArrowHead breast_cancer ecoli-coding-frame digits \
        --seeds 0 1 --settings base lr1e-4 ...

For each task (built by ``examples/finetune_<domain>.py``; its kept MLM run and store are
copied in from ``--reuse`` so nothing is pretrained again) it embeds with the MLM run
once, then for every setting and seed runs the contrastive stage from that same MLM run
(``encoderkit finetune task=contrastive``, the harness's 1,024-token batch and 100
steps unless the setting says otherwise), embeds, and probes (the harness's
``probe_predict``: standardised mean-pooled embeddings, LogisticRegressionCV on the
training rows, accuracy on the fixed test rows, whose labels nothing else sees).

Setting ``defaults`` is the stage as a user types it, ``encoderkit finetune checkpoint=<MLM run>
task=contrastive data.store=...``: no ``train.steps`` / ``data.max_tokens`` from the screen, so
``auto`` resolves both (8,192 tokens a step for a contrastive task; 20 epochs, at least 1,000
steps); what it resolved, the step ``best/`` holds, the validation InfoNCE per evaluation and
the wall time go to ``<out>/budget.json`` (``--report`` prints them), and with
``--probe-checkpoints`` every kept ``checkpoints/<step>`` is probed too (the probe along
the run: does a longer stage lose what a shorter one had?).

Paired by construction: every setting starts from the same MLM weights and is scored
on the same split, so ``contrastive - MLM`` differences are comparable across
settings; seeds vary the contrastive stage only. Scores are cached in
``<out>/screen.json`` (an interrupted screen resumes); ``--report`` prints the table.

Settings are config overrides, plus view patches that the domains' ``views`` do not
expose as config (applied in the child process before ``encoderkit finetune`` runs;
``data.num_workers`` is 0, so the patch is the one the loader calls).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import finetune_common as common  # noqa: E402

# name -> (config overrides, view patch or None)
SETTINGS: dict[str, tuple[list[str], str | None]] = {
    "base": ([], None),
    "lr1e-4": (["optim.lr=1e-4"], None),
    "lr3e-5": (["optim.lr=3e-5"], None),
    "lr1e-5": (["optim.lr=1e-5"], None),
    # the encoder slower, the fresh projection head and temperature at the old rate
    "lr3e-5h10": (["optim.lr=3e-5", "task.head_lr=10"], None),
    "lr1e-4h3": (["optim.lr=1e-4", "task.head_lr=3"], None),
    "projnone": (["task.projection=none"], None),
    "projlinear": (["task.projection=linear"], None),
    "t0.1fixed": (["task.temperature=0.1", "task.learn_temperature=false"], None),
    "steps300": (["train.steps=300"], None),
    # the stage `encoderkit finetune task=contrastive` runs by default: 8,192-token batches
    # (data.max_tokens=auto) and train.steps=auto (20 epochs, at least 1,000 steps)
    "userdefault": (["train.steps=auto", "data.max_tokens=auto"], None),
    # the masked-LM loss kept beside InfoNCE (DeCLUTR), views masked as in pretraining
    "mlm1": (["task.mlm_weight=1.0"], None),
    # both: the stage a user gets, with the masked-LM loss kept beside InfoNCE
    "userdefault_mlm1": (["train.steps=auto", "data.max_tokens=auto", "task.mlm_weight=1.0"], None),
    # `encoderkit finetune checkpoint=<mlm run> task=contrastive data.store=...` as typed: no
    # train.steps or data.max_tokens from the screen (DEFAULT_BUDGET); every kept checkpoint
    # (train.keep=0, which changes no step) can be probed with --probe-checkpoints
    "defaults": (["train.keep=0"], None),
    # the same stage with best/ chosen by task.metric=rankme (opt-in; the start, step 0, a
    # candidate); train.checkpoint_every=50 is finetune.yaml's train.eval_every, so every
    # evaluation's model is kept: the checkpoint at the step of the lowest val InfoNCE is
    # what `defaults` keeps as best/ (task.metric and checkpointing change no training step;
    # checked in benchmarks/RESULTS.md, "Issue 13: `task.metric=rankme` as the contrastive default?")
    "defaults_rankme": (["train.keep=0", "train.checkpoint_every=50", "task.metric=rankme"], None),
    "weakviews": ([], "weak"),
    "norc": ([], "norc"),  # genomic only: views never reverse-complemented
}
# settings that take the stage's budget from `encoderkit finetune`'s defaults (train.steps=auto,
# data.max_tokens=auto), not the screen's CONTRASTIVE_STEPS x common.BATCH
DEFAULT_BUDGET = {"defaults", "defaults_rankme"}
REUSE = {
    "ItalyPowerDemand": "/tmp/ftb/final/ItalyPowerDemand",
    "ArrowHead": "/tmp/ftb/final/ArrowHead",
    "breast_cancer": "/tmp/ftb/final/breast_cancer",
    "digits": "/tmp/ftb/final/digits",
    "ecoli-coding-frame": "/work/scratch/ft_ecoli/ecoli-coding-frame",
}


def patch_views(kind: str) -> None:
    """``weak``: weaker views, one knob per domain: time-series crops of 80-100% (not 50-100%),
    set rotations within +-30 degrees (not the full circle: a 6 rotated by 180 degrees
    is a 9), genomic crops of 80-100%, tabular SCARF corruption 0.3 (not 0.6). ``norc``:
    genomic views without the reverse complement."""
    import domains.genomic.domain as gd

    if kind == "norc":  # diagnostic: the strand-and-frame label is what a reverse complement changes
        gd.genomic_views = functools.partial(gd.genomic_views, rc_prob=0.0)
        return
    if kind != "weak":
        raise SystemExit(f"unknown view patch {kind!r}")
    import domains.sets.views as sv
    import domains.tabular.domain as tbd
    import domains.timeseries.domain as tsd

    tsd.timeseries_views = functools.partial(tsd.timeseries_views, min_fraction=0.8)
    gd.genomic_views = functools.partial(gd.genomic_views, min_fraction=0.8)
    tbd.tabular_views = functools.partial(tbd.tabular_views, rate=0.3)

    def small_rotation(positions: np.ndarray, rng: np.random.Generator,
                       reflect_prob: float = 0.0) -> np.ndarray:
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape[0] == 0 or pos.shape[1] == 0:
            return pos
        m = sv.rigid_matrix(pos.shape[1], rng.uniform(-np.pi / 6, np.pi / 6), rng.random() < reflect_prob)
        center, extent = pos.mean(axis=0), np.ptp(pos, axis=0)
        shift = rng.uniform(-1.0, 1.0, size=pos.shape[1]) * extent
        return (pos - center) @ m.T + center + shift

    sv.rigid_transform = small_rotation


def child(argv: list[str]) -> None:
    """``--child <patch|-> encoderkit args...``: patch the views, then run the CLI."""
    kind, args = argv[0], argv[1:]
    if kind != "-":
        patch_views(kind)
    from encoderkit.cli import main

    sys.argv = ["encoderkit", *args]
    sys.exit(main())


def data_seed(seed: int) -> list[str]:
    """Seeds 0 and 1 vary what ``run.seed`` varies in the harness (the projection head's
    initialisation and dropout; ``data.seed`` stays 0, so batches and views are the same);
    seeds 2 and up also draw their own batches and views (``data.seed=<seed>``)."""
    return [] if seed < 2 else [f"data.seed={seed}"]


def contrastive(task: common.Task, work: Path, setting: str, seed: int) -> Path:
    overrides, patch = SETTINGS[setting]
    run = work / f"{task.name}-c-{setting}-s{seed}"
    if (run / "done.json").exists():
        return run
    run.mkdir(parents=True, exist_ok=True)
    steps_batch = ([] if setting in DEFAULT_BUDGET
                   else [f"train.steps={common.CONTRASTIVE_STEPS}", *common.BATCH])
    args = ["finetune", f"checkpoint={work / f'{task.name}-mlm'}", f"data.store={task.pretrain_store}",
            "task=contrastive", f"run.dir={run}", *steps_batch,
            "train.progress=false", f"run.seed={seed}", *data_seed(seed),
            *task.overrides, *overrides]
    log = work / f"{run.name}.log"
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.time()
    with open(log, "w") as fh:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.contrastive_screen", "--child",
                               patch or "-", *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                              cwd=str(Path(__file__).resolve().parent.parent))
    if proc.returncode:
        raise RuntimeError(f"contrastive run failed; log {log}:\n{log.read_text()[-3000:]}")
    (run / "done.json").write_text(json.dumps({"wall_s": round(time.time() - t0, 1)}))
    return run


def budget(run: Path) -> dict:
    """What the stage resolved and did: steps, batch (tokens, window), training / validation
    records, the step best/ holds (the lowest validation InfoNCE, what ``embed`` of the run
    uses), the validation InfoNCE per evaluation, tokens and pairs of views a step (the metrics'
    ``predicted``, logged every ``train.log_every`` steps), wall time (``done.json``)."""
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    split = json.loads((run / "split.json").read_text())
    best = run / "best" / "state.json"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    last = max((r for r in rows if "tokens" in r), key=lambda r: r["step"], default=None)
    pairs = [r["predicted"] for r in rows if "predicted" in r]  # a contrastive step's pairs of views
    return {"steps": cfg["train"]["steps"], "max_tokens": cfg["data"]["max_tokens"],
            "max_seqlen": cfg["data"]["max_seqlen"], "train_records": len(split["train"]),
            "val_records": len(split["val"]),
            "best_step": json.loads(best.read_text())["step"] if best.is_file() else None,
            "val_loss": val, "tokens_per_step": round(last["tokens"] / last["step"]) if last else None,
            "pairs_per_step": round(float(np.mean(pairs)), 1) if pairs else None,
            "wall_s": json.loads((run / "done.json").read_text()).get("wall_s")}


def checkpoints(run: Path) -> list[Path]:
    """The run's kept numbered checkpoints, oldest first."""
    return sorted((p for p in (run / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def prepare(name: str, out: Path, reuse: str) -> tuple[common.Task, Path]:
    """The task's work dir with the kept MLM run, stores and inputs copied in."""
    from benchmarks.finetune_tasks import build

    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    src = Path(reuse)
    for p in src.iterdir():
        keep = p.name.endswith((".zarr", "-mlm", ".fasta", "-labels.csv"))
        if keep and not (work / p.name).exists():
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, work / p.name)
    return build(name, work), work


def report(scores: dict, tasks: list[str], settings: list[str], seeds: list[int]) -> str:
    """Markdown: per task the MLM probe, then per setting mean contrastive - MLM over
    ``seeds`` (with the per-seed values), and the mean over tasks."""
    lines = ["| setting | " + " | ".join(tasks) + " | mean over tasks | tasks better |",
             "|---|" + "---|" * (len(tasks) + 2)]
    lines.append("| probe, MLM (accuracy) | " + " | ".join(
        f"{scores.get(f'{t}|mlm', float('nan')):.3f}" for t in tasks) + " | | |")
    for s in settings:
        cells, means = [], []
        for t in tasks:
            mlm = scores.get(f"{t}|mlm")
            d = [scores[f"{t}|{s}|{x}"] - mlm for x in seeds
                 if f"{t}|{s}|{x}" in scores and mlm is not None]
            if not d:
                cells.append("")
                continue
            means.append(float(np.mean(d)))
            cells.append(f"{np.mean(d):+.3f} ({', '.join(f'{x:+.3f}' for x in d)})")
        full = len(means) == len(tasks)
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {np.mean(means):+.3f}{'' if full else ' (partial)'}"
                     f" | {sum(m > 0 for m in means)}/{len(means)} |" if means else f"| {s} |" + " |" * (len(tasks) + 2))
    return "\n".join(lines)


def save(file: Path, key: str, value: Any) -> Any:
    """``value`` under ``key`` in the JSON file, merged with what is there now (screens of other
    tasks may share ``--out`` and write between our reads); returns ``value``."""
    import os

    from benchmarks.environment import environment

    got = json.loads(file.read_text()) if file.exists() else {}
    got[key] = value
    got["_environment"] = environment()  # the kernel of the latest write (benchmarks/environment.py)
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(got, indent=1))
    tmp.replace(file)
    return value


def budget_report(scores: dict, budgets: dict, tasks: list[str], settings: list[str], seeds: list[int]) -> str:
    """Markdown: per run the resolved budget, best/'s step, wall time, and its probe."""
    lines = ["| task | setting | seed | steps | tokens / step (max_tokens) | pairs / step | window |"
             " train records | pairs per record | best/ step | wall s | probe (MLM) |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for t in tasks:
        for s in settings:
            for x in seeds:
                b = budgets.get(f"{t}|{s}|{x}")
                if b is None:
                    continue
                pairs = b.get("pairs_per_step")
                per = f"{b['steps'] * pairs / b['train_records']:.0f}" if pairs else ""
                lines.append(f"| {t} | {s} | {x} | {b['steps']} | {b['tokens_per_step']} ({b['max_tokens']}) | "
                             f"{pairs} | {b['max_seqlen']} | {b['train_records']} | {per} | {b['best_step']} | {b['wall_s']} | "
                             f"{scores.get(f'{t}|{s}|{x}', float('nan')):.3f} ({scores.get(f'{t}|mlm', float('nan')):.3f}) |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="runs/contrastive-screen")
    from benchmarks.finetune_tasks import TASKS

    ap.add_argument("--tasks", nargs="+", default=list(REUSE), choices=list(TASKS))
    ap.add_argument("--reuse", type=Path, default=None,
                    help="a benchmarks.finetune_tasks --out folder: each task's kept MLM run and "
                         "stores are taken from <reuse>/<task> (default: the paths in REUSE)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--settings", nargs="+", default=["base"], choices=list(SETTINGS))
    ap.add_argument("--report", action="store_true", help="print the table of what is cached and exit")
    ap.add_argument("--probe-checkpoints", action="store_true",
                    help="also probe every kept checkpoints/<step> of each run (keys <task>|<setting>|<seed>|<step>)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "screen.json"
    scores = json.loads(cache.read_text()) if cache.exists() else {}
    budgets = json.loads((out / "budget.json").read_text()) if (out / "budget.json").exists() else {}
    if args.report:
        print(report(scores, args.tasks, args.settings, args.seeds))
        if budgets:
            print()
            print(budget_report(scores, budgets, args.tasks, args.settings, args.seeds))
        return
    common.one_thread()
    for name in args.tasks:
        if args.reuse is None and name not in REUSE:
            raise SystemExit(f"no kept MLM run known for {name!r}: give --reuse")
        task, work = prepare(name, out, str(args.reuse / name) if args.reuse else REUSE[name])
        y, train, test = task.labels, task.train, task.test_idx

        def probe(run: Path) -> float:
            pred = common.probe_predict(common.embed(run, task), y, train, test, 0)
            return common.accuracy(pred, y[test])

        if f"{name}|mlm" not in scores:
            scores[f"{name}|mlm"] = save(cache, f"{name}|mlm", probe(work / f"{name}-mlm"))
        for setting in args.settings:
            for seed in args.seeds:
                key = f"{name}|{setting}|{seed}"
                if key not in scores:
                    t0 = time.time()
                    scores[key] = save(cache, key, probe(contrastive(task, work, setting, seed)))
                    print(f"{key}: {scores[key]:.3f} (MLM {scores[f'{name}|mlm']:.3f}; "
                          f"{time.time() - t0:.0f} s)", flush=True)
                run = work / f"{name}-c-{setting}-s{seed}"
                if key not in budgets and (run / "done.json").exists():
                    budgets[key] = save(out / "budget.json", key, budget(run))
                if args.probe_checkpoints and (run / "checkpoints").is_dir():
                    for c in checkpoints(run):
                        k = f"{key}|{c.name}"
                        if k not in scores:
                            scores[k] = save(cache, k, probe(c))
                            print(f"{k}: {scores[k]:.3f}", flush=True)
    print(report(scores, args.tasks, args.settings, args.seeds))


if __name__ == "__main__":
    main()
