"""Tabular imputation: encoderkit's tabular encoder against scikit-learn's imputers.

Protocol (issue 6): for each dataset and seed, hide 20% of the cells completely
at random; pretrain a small masked encoder on the rows *with the hidden cells
missing* (transductive, as the scikit-learn imputers are fitted on the same
holed table); impute; score the hidden cells only.

- numeric cells: normalised RMSE = sqrt(mean(((pred - true) / sd)^2)), sd = the
  column's standard deviation over the full table; lower is better.
- categorical cells (anes96's integer-coded survey answers): accuracy; higher is better.

Baselines: SimpleImputer (mean for numeric, most frequent for categorical),
KNNImputer (k=5, on standardised columns) and IterativeImputer (BayesianRidge,
max_iter=10). The scikit-learn imputers see categorical codes as numbers; their
output is rounded to the nearest known category (the usual practice).

Our model (hyperparameters fixed for every dataset, no tuning on the hidden cells):
hidden 64, 3 layers, 4 heads, GeGLU 128, every layer global (rope_axes 0);
16 quantile bins; masker mix {random: 0.7 (rate 0.3), column: 0.3}; AdamW
lr 2e-3, weight decay 0.01, 10% linear warmup then cosine decay; batches of
128 rows; STEPS steps (default 600). The same trained model is scored with both
numeric decodes: ``regression`` (the regression value, the conditional-mean
estimate) and ``clip`` (clipped to the most probable quantile bin, the domain's
default). An ensemble of ``--ensemble`` models
(different initialisation seeds) is averaged at infill time when asked.

Usage: python benchmarks/tabular_imputation.py [--seeds 3] [--steps 600] [--append]
(``--append`` adds the table to benchmarks/RESULTS.md under "## Tabular imputation").
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

if not __package__:  # run as a file: benchmarks.environment importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from domains.tabular import TabularDomain, sample_frame
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.modeling import MaskedEncoderModel

HIDE = 0.2
MODEL = dict(hidden_size=64, num_layers=3, num_heads=4, intermediate_size=128, rope_axes=0,
             backend="sdpa")
DOMAIN = dict(masker={"random": 0.7, "column": 0.3}, mask_rate=0.3, column_max_fraction=0.5)


def datasets() -> dict[str, pd.DataFrame]:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    return {"wine": load_wine(as_frame=True).data,
            "breast_cancer": load_breast_cancer(as_frame=True).data,
            "diabetes": load_diabetes(as_frame=True).data,
            "anes96 (mixed)": sample_frame()}


# ------------------------------------------------------------------ our model

def train_model(domain: TabularDomain, frame: pd.DataFrame, steps: int, seed: int,
                batch_rows: int = 128, lr: float = 2e-3) -> MaskedEncoderModel:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MaskedEncoderModel(domain, EncoderConfig.preset("tiny", **MODEL))
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "norm" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    examples = [domain.featurize(r) for r in domain.to_records(frame)]
    keep = [e for e in examples if e.fields["observed"].sum() >= 2]
    model.train()
    for step in range(steps):
        idx = rng.choice(len(keep), size=min(batch_rows, len(keep)), replace=False)
        batch = collate([domain.mask(keep[i], rng) for i in idx])
        out = model(batch)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return model


def make_predict(models: list[MaskedEncoderModel]):
    """predict_fn for ``domain.infill``: averages probabilities / values over models."""

    def predict(examples):
        batch = collate(examples)
        outs = []
        with torch.no_grad():
            for m in models:
                m.eval()
                h = m.encode(batch)[batch.predict]
                outs.append(m.head(h).predictions)
        preds = {"cat_logits": torch.stack([o["cat_logits"].log_softmax(-1) for o in outs]).logsumexp(0),
                 "bin_logits": torch.stack([o["bin_logits"].log_softmax(-1) for o in outs]).logsumexp(0),
                 "value": torch.stack([o["value"] for o in outs]).mean(0)}
        counts = np.cumsum([int(e.predict.sum()) for e in examples])[:-1]
        split = {k: np.split(v.numpy(), counts) for k, v in preds.items()}
        return [{k: split[k][i] for k in split} for i in range(len(examples))]

    return predict


def impute_encoderkit(holed: pd.DataFrame, steps: int, seed: int, ensemble: int):
    """One trained model (or ensemble), decoded both ways: {decode: filled frame}, domain."""
    domain = TabularDomain.from_frame(holed, ingest_options={"validation_fraction": 0.0}, **DOMAIN)
    models = [train_model(domain, holed, steps, seed * 100 + k) for k in range(ensemble)]
    predict = make_predict(models)
    fills = {}
    for decode in ("regression", "clip"):
        domain.options["numeric_decode"] = decode
        fills[decode] = domain.infill(holed, predict)
    return fills, domain


# ------------------------------------------------------------------ baselines

def impute_sklearn(holed: pd.DataFrame, categorical: list[str], method: str, seed: int) -> pd.DataFrame:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    x = holed.to_numpy(dtype=np.float64)
    cat = np.array([c in categorical for c in holed.columns])
    mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    if method == "simple":
        out = z.copy()
        if (~cat).any():
            out[:, ~cat] = SimpleImputer(strategy="mean").fit_transform(z[:, ~cat])
        if cat.any():
            out[:, cat] = SimpleImputer(strategy="most_frequent").fit_transform(z[:, cat])
    elif method == "knn":
        out = KNNImputer(n_neighbors=5).fit_transform(z)
    else:
        out = IterativeImputer(max_iter=10, random_state=seed).fit_transform(z)
    out = out * sd + mu
    res = holed.copy()
    for j, c in enumerate(holed.columns):
        col = out[:, j]
        if cat[j]:  # nearest observed category
            levels = np.unique(x[~np.isnan(x[:, j]), j])
            col = levels[np.abs(col[:, None] - levels[None, :]).argmin(1)]
        res[c] = col.astype(holed[c].dtype) if holed[c].dtype.kind == "f" else col
    return res


# ------------------------------------------------------------------ scoring

def score(truth: pd.DataFrame, pred: pd.DataFrame, holes: np.ndarray, categorical: list[str]) -> tuple[float, float]:
    sq, hit, n_num, n_cat = 0.0, 0, 0, 0
    for j, c in enumerate(truth.columns):
        h = holes[:, j]
        if not h.any():
            continue
        t = truth[c].to_numpy(dtype=np.float64)[h]
        p = pred[c].to_numpy(dtype=np.float64)[h]
        if c in categorical:
            hit += int((t == p).sum())
            n_cat += int(h.sum())
        else:
            sd = truth[c].to_numpy(dtype=np.float64).std() or 1.0
            sq += float((((p - t) / sd) ** 2).sum())
            n_num += int(h.sum())
    return (math.sqrt(sq / n_num) if n_num else float("nan"), hit / n_cat if n_cat else float("nan"))


def run(seeds: int, steps: int, ensemble: int, only: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for name, full in datasets().items():
        if only and not any(o in name for o in only):
            continue
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            holes = rng.random(full.shape) < HIDE
            holed = full.mask(holes)
            t0 = time.perf_counter()
            ours, domain = impute_encoderkit(holed, steps, seed, ensemble)
            t_ours = time.perf_counter() - t0
            categorical = [c["name"] for c in domain.columns if c["kind"] == "categorical"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # IterativeImputer's convergence notice
                preds = {"encoderkit": ours["regression"], "encoderkit_clip": ours["clip"]}
                for m in ("simple", "knn", "iterative"):
                    preds[m] = impute_sklearn(holed, categorical, m, seed)
            for method, pred in preds.items():
                nrmse, acc = score(full, pred, holes, categorical)
                rows.append(dict(dataset=name, seed=seed, method=method, nrmse=nrmse, accuracy=acc,
                                 seconds=t_ours if method.startswith("encoderkit") else float("nan")))
            print(f"{name} seed {seed}: " + ", ".join(
                f"{r['method']} {r['nrmse']:.3f}" + (f"/{r['accuracy']:.3f}" if r['accuracy'] == r['accuracy'] else "")
                for r in rows[-5:]) + f" (ours {t_ours:.0f}s)", flush=True)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    methods = ["encoderkit", "encoderkit_clip", "simple", "knn", "iterative"]
    label = {"encoderkit": "encoderkit (regression decode)", "encoderkit_clip": "encoderkit (clip decode)",
             "simple": "SimpleImputer", "knn": "KNNImputer",
             "iterative": "IterativeImputer"}
    g = df.groupby(["dataset", "method"], sort=False)
    mean, std = g.mean(numeric_only=True), g.std(numeric_only=True)
    lines = ["| dataset | metric | " + " | ".join(label[m] for m in methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for ds in df["dataset"].unique():
        for metric, name in (("nrmse", "NRMSE (numeric) ↓"), ("accuracy", "accuracy (categorical) ↑")):
            if np.isnan(mean.loc[(ds, "encoderkit"), metric]):
                continue
            cells = [f"{mean.loc[(ds, m), metric]:.3f} ± {std.loc[(ds, m), metric]:.3f}" for m in methods]
            lines.append(f"| {ds} | {name} | " + " | ".join(cells) + " |")
    avg = df[df["nrmse"].notna()].groupby("method")["nrmse"].mean()
    lines.append("| **mean over datasets** | NRMSE ↓ | " + " | ".join(f"{avg[m]:.3f}" for m in methods) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (tiny matmuls: more threads mostly add contention)")
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    df = run(args.seeds, args.steps, args.ensemble, args.only)
    md = table(df)
    total = time.perf_counter() - t0
    print(md)
    if args.append:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
        secs = df[df.method == "encoderkit"].groupby("dataset")["seconds"].mean()
        with open(path, "a") as f:
            f.write("\n## Tabular imputation\n\n"
                    f"`python benchmarks/tabular_imputation.py --seeds {args.seeds} --steps {args.steps}"
                    f"{' --ensemble %d' % args.ensemble if args.ensemble > 1 else ''}` on CPU "
                    f"(torch {torch.__version__}); {int(HIDE * 100)}% of cells hidden completely at "
                    f"random, mean ± sd over {args.seeds} seeds, hidden cells only. Model: hidden 64, "
                    "3 layers, 4 heads, rope_axes 0, 16 quantile bins (PLE), masker {random 0.7 "
                    f"(rate 0.3), column 0.3}}, AdamW lr 2e-3, {args.steps} steps of 128 rows; "
                    "trained on the holed table (transductive, like the scikit-learn imputers). "
                    "NRMSE = RMSE / column sd. scikit-learn imputers work on standardised codes; "
                    "their categorical outputs are rounded to the nearest observed category.\n\n")
            f.write(md + "\n\n")
            f.write("Training + infill time per dataset and seed (s, shared 2-core CPU): "
                    + ", ".join(f"{k} {v:.0f}" for k, v in secs.items())
                    + f"; whole benchmark {total:.0f} s.\n")
            from benchmarks.environment import describe  # the kernel the scikit-learn imputers ran on

            f.write(f"BLAS / OpenMP: {describe()}.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
