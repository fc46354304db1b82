"""Fine-tuning with the documented defaults on scikit-learn's breast_cancer table: the
pretrained encoder fine-tuned, the same architecture from scratch (checkpoint=none), and
HistGradientBoostingClassifier, on one fixed 70/30 split (test accuracy, macro-F1, AUROC).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/finetune_defaults.py [--out /tmp/ftbench] \
        [--pretrain-steps 300] [--finetune-steps 300]

The label lives in the table (task.label_column=target): ingest keeps it, fine-tuning
removes it from the inputs. The pretraining run sees every row (no labels used).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

if not __package__:  # run as a file (python benchmarks/finetune_defaults.py): benchmarks.* importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/ftbench")
    ap.add_argument("--pretrain-steps", type=int, default=300)
    ap.add_argument("--finetune-steps", type=int, default=300)
    args = ap.parse_args()
    import torch
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    from domains.tabular.domain import ingest_frame
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune
    from encoderkit.train import pretrain

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    store = out / "bc.zarr"
    if not store.exists():
        ingest_frame(frame, str(store), verbose=False)
    s = RecordStore(str(store))
    ids = [s[i]["id"] for i in range(len(s))]
    train, test = train_test_split(np.arange(len(s)), test_size=0.3, random_state=0,
                                   stratify=frame["target"])
    split = np.asarray(["train"] * len(s), dtype=object)
    split[test] = "test"
    val = train_test_split(train, test_size=0.15, random_state=0, stratify=frame["target"].iloc[train])[1]
    split[val] = "val"
    split_file = out / "split.csv"
    pd.DataFrame({"id": ids, "split": split}).to_csv(split_file, index=False)

    results = {}
    t0 = time.perf_counter()
    common = ["train.progress=false", "run.device=cpu"]
    pre = out / "pre"
    if not (pre / "checkpoints").is_dir():
        pretrain(["domain=tabular", f"data.store={store}", f"run.dir={pre}", "model=tiny",
                  f"train.steps={args.pretrain_steps}", "train.eval_every=100", "data.max_tokens=2048",
                  "data.max_seqlen=64", *common])
    results["pretrain_s"] = time.perf_counter() - t0
    y = frame["target"].to_numpy()
    for name, ck in (("finetuned", str(pre)), ("scratch", "none")):
        t0 = time.perf_counter()
        run = out / name
        extra = ["model=tiny", "domain=tabular"] if ck == "none" else []
        finetune([f"checkpoint={ck}", f"data.store={store}", f"run.dir={run}", "task.label_column=target",
                  f"task.split={split_file}", f"train.steps={args.finetune_steps}",
                  "data.max_tokens=2048", "data.max_seqlen=64", "run.resume=auto", *extra, *common])
        model = load(run)
        pred = model.predict([s[i] for i in test], progress=False)
        proba = pred["proba_1"].to_numpy()
        results[name] = {"accuracy": accuracy_score(y[test], proba >= 0.5),
                         "macro_f1": f1_score(y[test], proba >= 0.5, average="macro"),
                         "auroc": roc_auc_score(y[test], proba), "seconds": time.perf_counter() - t0}
    X = frame.drop(columns=["target"]).to_numpy()
    fit = np.setdiff1d(np.arange(len(s)), test)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(X[fit], y[fit])
    p = hgb.predict_proba(X[test])[:, 1]
    results["hist_gradient_boosting"] = {"accuracy": accuracy_score(y[test], p >= 0.5),
                                         "macro_f1": f1_score(y[test], p >= 0.5, average="macro"),
                                         "auroc": roc_auc_score(y[test], p)}
    from benchmarks.environment import environment  # the kernel the scikit-learn baseline ran on

    print(json.dumps({**results, "_environment": environment()}, indent=1))


if __name__ == "__main__":
    main()
