"""The comparison every ``examples/finetune_<domain>.py`` runs, on one labelled task:

(a) the pretrained encoder fine-tuned (``encoderkit finetune checkpoint=<MLM run>``),
(b) the same architecture trained from scratch on the labels (``checkpoint=none``),
(c) frozen embeddings + a logistic-regression probe, from the masked-LM run and from a
    contrastive stage on top of it (``task.type=contrastive``, the domain's ``views``),
(d) the classical tool a user of the field would pick.

Protocol (the same for every method, so one run gives one side-by-side table):

* one fixed test split per task (the archive's own split where there is one, else a
  stratified 30% drawn once with seed 0); its labels are seen by nothing but the score;
* pretraining (masked LM, then contrastive) sees the inputs of every record, test
  included, and no label: the workflow the issue describes ("pretrain on everything,
  fine-tune on the labelled part"), and the only one where one store (one schema:
  normalisation, vocabularies) serves pretraining and fine-tuning alike;
* every supervised method gets the same labelled training rows; the fine-tuned models
  hold out a stratified ``VAL_FRACTION`` of them to pick their best checkpoint
  (``task.val_fraction``), the probe and the classical tools use all of them
  (they tune by internal cross-validation or not at all);
* seeds (``run.seed``) vary the initialisation (the new head; the whole model from scratch)
  and dropout, never the test split; batches, views and the validation draw keep
  ``data.seed`` / ``task.seed`` 0 for every seed, so the spread over seeds understates
  the spread a user would see (the recorded tables were measured this way);
* each fine-tuning run is what ``encoderkit finetune`` does by default, including
  ``task.ensemble=auto``: on a training split of at most 1,000 records a run is 5 members
  (``run.seed`` .. ``run.seed + 4``) whose predictions are averaged, so harness seeds 0 and 1
  share 4 members (pass ``--finetune-extra task.ensemble=1`` for single models, as every
  table recorded before 2026-12-05 was measured); from a pretrained checkpoint the frozen
  encoder's linear probe joins them at a weight chosen on validation (``task.ensemble_probe``;
  ``--finetune-extra task.ensemble_probe=false`` for the ensemble recorded before 2026-12-05 13:00);
* every run is CPU-cheap: the tiny encoder below, one torch thread.

The same settings serve every dataset of a domain (no per-dataset tuning).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

# The encoder of every run: ModernBERT's layout at a CPU-friendly size.
MODEL = ["model=tiny", "model.hidden_size=64", "model.num_layers=4", "model.num_heads=2",
         "model.intermediate_size=128"]
# 1,024 tokens per step: about 0.5 s a step on one shared core (pretraining stages).
BATCH = ["data.max_tokens=1024"]
# fine-tuning: the `encoderkit finetune` default, data.max_tokens=auto (a batch sized by the
# labelled training split; configs/finetune.yaml)
FINETUNE_BATCH: list[str] = []
PRETRAIN_STEPS: int | None = 200
CONTRASTIVE_STEPS: int | str = 100
FINETUNE_STEPS: int | str = "auto"  # the `encoderkit finetune` default (configs/finetune.yaml)
# more overrides of every fine-tuning run, fine-tuned and scratch alike (e.g. task.lp_fraction=0.1)
FINETUNE_EXTRA: list[str] = []
VAL_FRACTION = 0.2


def use_documented_defaults() -> None:
    """Every run with the settings a user gets from the commands alone: ``encoderkit
    pretrain``'s model (``tiny``), batch (``data.max_tokens``) and steps, and
    ``train.steps=auto`` for the contrastive stage and fine-tuning. About 40x the tokens
    of the CPU-sized settings above."""
    global MODEL, BATCH, PRETRAIN_STEPS, CONTRASTIVE_STEPS, FINETUNE_STEPS
    MODEL, BATCH, PRETRAIN_STEPS, CONTRASTIVE_STEPS, FINETUNE_STEPS = [], [], None, "auto", "auto"
# probe_mlm_std: the probe on pooling=mean_std embeddings (mean and spread of the token states);
# finetuned_members: the "finetuned" runs' fine-tuned members averaged without the ensemble's
# probe member (no training of its own: what task.ensemble_probe adds, from the same runs)
METHODS = ("finetuned", "finetuned_members", "scratch", "probe_mlm", "probe_mlm_std", "probe_contrastive")

# (train indices, test indices, seed) -> predicted labels of the test indices
Anchor = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass
class Task:
    """One labelled task, ready for every method."""

    name: str
    domain: str
    store: str  # every labelled record (train and test), in ``ids`` order
    ids: np.ndarray  # [N] record ids of ``store``
    labels: np.ndarray  # [N] class labels (regression: numbers)
    test: np.ndarray  # [N] bool, the fixed test split
    pretrain_store: str  # unlabelled inputs to pretrain on (the task's store, or a genome)
    overrides: list[str] = field(default_factory=list)  # domain / data options of every run
    anchors: dict[str, Anchor] = field(default_factory=dict)  # classical tools, first = primary
    seeded_anchors: tuple[str, ...] = ()  # anchors whose result depends on the seed (others run once)
    notes: str = ""
    kind: str = "classification"  # or "regression": scored by R^2 instead of accuracy
    # [N] group of each record (e.g. the gene a window was cut from): fine-tuning draws its
    # validation split by whole groups (task.group_column); None = records are independent
    groups: np.ndarray | None = None

    @property
    def train(self) -> np.ndarray:
        return np.flatnonzero(~self.test)

    @property
    def test_idx(self) -> np.ndarray:
        return np.flatnonzero(self.test)


def fixed_test_split(labels: np.ndarray, fraction: float = 0.3, stratify: bool = True) -> np.ndarray:
    """``fraction`` test mask (stratified by label for classification), drawn once (seed 0)
    and reused by every seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    _, test = train_test_split(idx, test_size=fraction, stratify=labels if stratify else None,
                               random_state=0)
    mask = np.zeros(len(labels), dtype=bool)
    mask[test] = True
    return mask


def one_thread() -> None:
    """Every run on one core: the machine is shared. Classical anchors run inside
    ``kept_threads`` so that none of them can raise the count for what follows."""
    import torch
    from threadpoolctl import threadpool_limits

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # numba reads this at import: aeon's ROCKET puts numba's count back to it after each
    # transform (on numba's OpenMP layer that is omp_set_num_threads, which torch reads)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    torch.set_num_threads(1)
    threadpool_limits(limits=1)  # BLAS / OpenMP libraries loaded before OMP_NUM_THREADS was set


@contextmanager
def kept_threads() -> Iterator[None]:
    """Run a classical anchor with the thread counts of now, and put them back after it:
    torch's, and every BLAS / OpenMP pool's (threadpoolctl). aeon's ROCKET sets numba's
    thread count, which on numba's OpenMP layer is the process-wide OpenMP count torch reads:
    the pretraining after it ran on 2 threads, crawling on a shared machine."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- pretraining, embedding, probe
def pretrain_mlm(task: Task, workdir: Path, steps: int | None = None, seed: int = 0) -> Path:
    from encoderkit.train import pretrain

    run = workdir / f"{task.name}-mlm"
    if (run / "done.json").exists():
        return run
    steps = PRETRAIN_STEPS if steps is None else steps
    pretrain([f"domain={task.domain}", f"data.store={task.pretrain_store}", f"run.dir={run}",
              *([f"train.steps={steps}"] if steps is not None else []), "train.log_every=25", "train.eval_every=0",
              "train.checkpoint_every=0", "train.progress=false", f"run.seed={seed}",
              *MODEL, *BATCH, *task.overrides])
    (run / "done.json").write_text(json.dumps({"steps": steps}))
    return run


def embed(run: Path, task: Task, pooling: str = "mean") -> np.ndarray:
    """Pooled embeddings of every record of the task's store, in store order."""
    from encoderkit.data.store import RecordStore
    from encoderkit.infer.load import load

    return np.asarray(load(run).embed(RecordStore(task.store), pooling=pooling, progress=False))


def probe_predict(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                  seed: int, kind: str = "classification") -> np.ndarray:
    """Standardised features -> logistic regression (regression: ridge), L2 strength by
    3-fold CV on the training rows (scikit-learn); predictions for the test rows."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "regression":
        reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13), cv=3))
        return reg.fit(X[train], np.asarray(y[train], dtype=np.float64)).predict(X[test])
    folds = int(min(3, np.unique(y[train], return_counts=True)[1].min()))
    clf = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=8, cv=max(folds, 2), max_iter=2000,
                                                               random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        clf.fit(X[train], y[train])
    return clf.predict(X[test])


def logreg_anchor(X: np.ndarray, y: np.ndarray, kind: str = "classification") -> Anchor:
    """A classical anchor: ``probe_predict`` (standardised features, L2 logistic regression;
    ridge for regression) on fixed hand-made features ``X`` of every record."""
    def anchor(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        return probe_predict(X, y, train, test, seed, kind)
    return anchor


# ---------------------------------------------------------------- fine-tuning (encoderkit finetune)
def _cli(args: list[str], log: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "w") as fh:
        proc = subprocess.run([sys.executable, "-m", "encoderkit", *args], stdout=fh,
                              stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"encoderkit {args[0]} failed (exit {proc.returncode}); log {log}:\n{tail}")


def labels_file(task: Task, workdir: Path) -> Path:
    """``id,label`` (and ``group`` where the task has groups) with the test rows left blank
    (unlabelled: never trained or validated on)."""
    path = workdir / f"{task.name}-labels.csv"
    label = np.asarray(task.labels).astype(str).astype(object)  # a number's repr for regression
    label[task.test] = ""
    columns = {"id": task.ids, "label": label}
    if task.groups is not None:
        columns["group"] = task.groups
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def finetune_predict(task: Task, workdir: Path, checkpoint: str, tag: str, seed: int,
                     steps: int | str | None = None, extra: tuple[str, ...] = ()) -> np.ndarray:
    """Fine-tune (``task.kind``) from ``checkpoint`` (a run dir or ``none``), predict every
    record, return the predictions of the test rows (labels; numbers for regression)."""
    run = workdir / f"{task.name}-{tag}-s{seed}"
    preds = run / "predictions.csv"
    if not preds.exists():
        args = ["finetune", f"checkpoint={checkpoint}", f"data.store={task.store}",
                f"task={task.kind}", f"task.labels={labels_file(task, workdir)}",
                f"task.val_fraction={VAL_FRACTION}", f"run.dir={run}",
                *(["task.group_column=group"] if task.groups is not None else []),
                f"train.steps={FINETUNE_STEPS if steps is None else steps}",
                "train.progress=false", f"run.seed={seed}", *FINETUNE_BATCH, *task.overrides,
                *FINETUNE_EXTRA, *extra]
        if checkpoint == "none":
            args += MODEL
        run.mkdir(parents=True, exist_ok=True)
        _cli(args, workdir / f"{run.name}.log")
        _cli(["predict", f"checkpoint={run}", f"input={task.store}", f"output={preds}"],
             workdir / f"{run.name}-predict.log")
    frame = pd.read_csv(preds, dtype={"id": str, "prediction": float if task.kind == "regression" else str})
    by_id = dict(zip(frame["id"], frame["prediction"]))
    return np.asarray([by_id[i] for i in task.ids[task.test]])


def members_predict(task: Task, workdir: Path, seed: int) -> np.ndarray:
    """Test predictions of the fine-tuned members of the ``finetuned`` run of ``seed``,
    averaged with equal weights and without the ensemble's probe member (the run's own
    predictions where it has no probe member averaged in)."""
    import encoderkit
    from encoderkit.infer.load import resolve_checkpoint
    from encoderkit.tasks.ensemble import MANIFEST

    run = workdir / f"{task.name}-finetuned-s{seed}"
    manifest = run / MANIFEST
    body = json.loads(manifest.read_text()) if manifest.is_file() else {}
    probe = body.get("probe") or {}
    if not probe or not float(probe.get("weight") or 0) > 0:
        frame = pd.read_csv(run / "predictions.csv", dtype={"id": str, "prediction": float if task.kind == "regression" else str})
    else:
        model = encoderkit.load(resolve_checkpoint(run))  # the first member alone
        model.members = [encoderkit.load(run / m) for m in body["members"] if m != probe["dir"]]
        frame = model.predict(task.store)
    by_id = dict(zip(frame["id"], frame["prediction"]))
    return np.asarray([by_id[i] for i in task.ids[task.test]])


def contrastive_run(task: Task, workdir: Path, mlm: Path, seed: int = 0,
                    steps: int | str | None = None) -> Path:
    """Contrastive stage (InfoNCE between two ``views``) from the MLM run, on the same
    unlabelled inputs."""
    steps = CONTRASTIVE_STEPS if steps is None else steps
    run = workdir / f"{task.name}-contrastive"
    if not (run / "done.json").exists():
        run.mkdir(parents=True, exist_ok=True)
        _cli(["finetune", f"checkpoint={mlm}", f"data.store={task.pretrain_store}",
              "task=contrastive", f"run.dir={run}", f"train.steps={steps}",
              "train.progress=false", f"run.seed={seed}", *BATCH, *task.overrides],
             workdir / f"{run.name}.log")
        (run / "done.json").write_text(json.dumps({"steps": steps}))
    return run


# ---------------------------------------------------------------- the comparison
def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred).astype(str) == np.asarray(truth).astype(str)))


def r2(pred: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(np.asarray(truth, dtype=np.float64), np.asarray(pred, dtype=np.float64)))


def score(task: Task, pred: np.ndarray, truth: np.ndarray) -> float:
    """The task's score, higher is better: accuracy, or R^2 for regression."""
    return r2(pred, truth) if task.kind == "regression" else accuracy(pred, truth)


def compare(task: Task, workdir: Path, seeds: tuple[int, ...] = (0, 1, 2),
            methods: tuple[str, ...] = METHODS, log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Test score (``score``: accuracy, R^2 for regression) per method and seed:
    ``{method: [score per seed]}`` (anchors by name)."""
    workdir.mkdir(parents=True, exist_ok=True)
    y, train, test = task.labels, task.train, task.test_idx
    truth = y[test]
    out: dict[str, list[float]] = {}
    times: dict[str, float] = {}

    # finished (method, seed) scores are kept, so an interrupted comparison resumes
    cache_file = workdir / f"{task.name}-scores.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}

    def record(name: str, seed: int, pred: np.ndarray, t0: float) -> None:
        out.setdefault(name, []).append(score(task, pred, truth))
        times[name] = times.get(name, 0.0) + time.time() - t0
        cache[f"{name}|{seed}"] = out[name][-1]
        cache_file.write_text(json.dumps(cache, indent=1))
        log(f"  {task.name} {name} seed {seed}: {out[name][-1]:.3f} ({time.time() - t0:.0f} s)")

    def cached(name: str, seed: int) -> bool:
        if f"{name}|{seed}" not in cache:
            return False
        out.setdefault(name, []).append(cache[f"{name}|{seed}"])
        return True

    for name, anchor in task.anchors.items():
        for seed in (seeds if name in task.seeded_anchors else seeds[:1]):
            if not cached(name, seed):
                t0 = time.time()
                with kept_threads():
                    pred = anchor(train, test, seed)
                record(name, seed, pred, t0)
    mlm = None
    if any(m in methods for m in ("finetuned", "finetuned_members", "probe_mlm", "probe_mlm_std", "probe_contrastive")):
        t0 = time.time()
        mlm = pretrain_mlm(task, workdir)
        times["pretrain_mlm"] = time.time() - t0
        log(f"  {task.name} MLM pretraining: {times['pretrain_mlm']:.0f} s")
    # one pretraining run per task, and the probe is deterministic: one number each
    if "probe_mlm" in methods and not cached("probe_mlm", 0):
        t0 = time.time()
        record("probe_mlm", 0, probe_predict(embed(mlm, task), y, train, test, 0, task.kind), t0)
    if "probe_mlm_std" in methods and not cached("probe_mlm_std", 0):
        t0 = time.time()
        X = embed(mlm, task, pooling="mean_std")
        record("probe_mlm_std", 0, probe_predict(X, y, train, test, 0, task.kind), t0)
    if "probe_contrastive" in methods and not cached("probe_contrastive", 0):
        t0 = time.time()
        X = embed(contrastive_run(task, workdir, mlm), task)
        record("probe_contrastive", 0, probe_predict(X, y, train, test, 0, task.kind), t0)
    for method, checkpoint in (("finetuned", str(mlm)), ("scratch", "none")):
        if method in methods:
            for seed in seeds:
                if not cached(method, seed):
                    t0 = time.time()
                    record(method, seed, finetune_predict(task, workdir, checkpoint, method, seed), t0)
    if "finetuned_members" in methods:
        for seed in seeds:
            if not cached("finetuned_members", seed):
                t0 = time.time()
                finetune_predict(task, workdir, str(mlm), "finetuned", seed)
                record("finetuned_members", seed, members_predict(task, workdir, seed), t0)
    out["_seconds"] = [round(v) for v in times.values()]
    out["_timed"] = list(times)  # type: ignore[list-item]
    return out


def summary_lines(task: Task, results: dict[str, list[float]]) -> list[str]:
    """Markdown bullet lines ``method: mean +- std (n seeds)`` for one task."""
    lines = []
    for name, accs in results.items():
        if name.startswith("_"):
            continue
        lines.append(f"  - {name}: **{np.mean(accs):.3f}** +- {np.std(accs):.3f} "
                     f"({len(accs)} seed{'s' if len(accs) > 1 else ''})")
    return lines


def run_example(tasks: list[Task], workdir: Path, seeds: tuple[int, ...]) -> None:
    """What each example's ``main`` does: compare on every task, print a markdown block."""
    one_thread()
    for task in tasks:
        print(f"{task.name} ({task.domain}): {len(task.ids)} records, {task.test.sum()} test; "
              f"{task.notes}")
        res = compare(task, workdir, seeds)
        print("\n".join(summary_lines(task, res)))


def example_main(description: str, default_out: str,
                 make_tasks: Callable[[Path, list[str]], list[Task]],
                 datasets: tuple[str, ...] = ()) -> None:
    """The command line every example shares: ``--out``, ``--seeds`` and, where the example
    has several datasets, ``--datasets``; then ``run_example``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    if datasets:
        ap.add_argument("--datasets", nargs="+", default=list(datasets), choices=datasets)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_example(make_tasks(out, list(getattr(args, "datasets", []))), out, tuple(args.seeds))
