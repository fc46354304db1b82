"""Screen a genomic-demo training setting at a CPU budget (benchmarks/RESULTS.md, "Genomic demo:
where a CPU step goes, and what learns more per CPU-second").

    python -m benchmarks.genomic_demo_screen NAME --steps 800 [--mask-rate 0.25] [--ov model.num_layers=6 ...]
    python -m benchmarks.genomic_demo_screen NAME --eval-run runs/genomic-demo/run   # evaluate a demo run

Trains like ``domains/genomic/demo.py`` (same split, windows, masking, lr; no validation passes)
with the torch threads given (1 by default: CPU seconds are then comparable on shared cores),
then reads the demo's held-out infill (both strands) on the demo's hidden bases (phase 0) and on
three more phase shifts of the same windows, 4 x 6,240 bases; the per-base correctness goes into
``OUT/NAME.json`` so two runs can be compared base by base (paired).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from domains.genomic.demo import HIDE_EVERY, TRAIN_BASES, WINDOW, NeighbourCounts, hide, to_codes
from domains.genomic.domain import bundled_sequence
from domains.genomic.io import SeqRecord, write_seq_records

PHASES = (0, 4, 8, 12)  # 0 = the demo's own hidden bases


def training_store(work: Path) -> Path:
    """The demo's training part as a record store (built once under ``work``)."""
    from encoderkit.data.ingest import ingest

    store = work / "store.zarr"
    if not store.exists():
        train = bundled_sequence()[:TRAIN_BASES]
        fasta = work / "train.fasta.gz"
        write_seq_records([SeqRecord(f"NC_007779.1:{s}-{s + 100_000}", train[s:s + 100_000], "train")
                           for s in range(0, TRAIN_BASES, 100_000)], str(fasta))
        ingest("genomic", [str(fasta)], str(store))
    return store


def evaluate(run: Path, windows: int = 390) -> dict:
    from encoderkit.infer.load import load

    model = load(run)
    genome = bundled_sequence()
    codes = to_codes(genome)
    starts = np.arange(TRAIN_BASES, len(genome) - WINDOW + 1, WINDOW)[:windows]
    seqs = [genome[s:s + WINDOW] for s in starts]
    baseline = NeighbourCounts(4).fit(codes[:TRAIN_BASES])  # k = 4, as the demo picks
    out = {}
    for o in PHASES:
        masked, hidden = zip(*(hide(w, (i + o) % HIDE_EVERY) for i, w in enumerate(seqs)))
        filled = []
        for i in range(0, len(masked), 32):
            filled += model.infill(list(masked[i:i + 32]))
        truth = np.concatenate([to_codes(w)[h] for w, h in zip(seqs, hidden)])
        pred = np.concatenate([to_codes(f)[h] for f, h in zip(filled, hidden)])
        pos = np.concatenate([s + h for s, h in zip(starts, hidden)])
        out[o] = {"model": float((pred == truth).mean()),
                  "baseline": float((baseline.predict(codes, pos) == codes[pos]).mean()),
                  "model_correct": (pred == truth).astype(int).tolist()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--mask-rate", type=float, default=0.15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="runs/genomic-demo-screen", help="store, runs and results")
    ap.add_argument("--eval-run", default=None, help="only evaluate this run directory")
    ap.add_argument("--ov", nargs="*", default=[], help="more pretrain overrides, e.g. model.num_layers=6")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {"name": args.name}
    if args.eval_run:
        run = Path(args.eval_run)
    else:
        from encoderkit.train import pretrain

        run = work / "runs" / args.name
        shutil.rmtree(run, ignore_errors=True)
        overrides = ["domain=genomic", f"data.store={training_store(work)}", f"run.dir={run}",
                     "run.resume=never", "model=tiny", f"train.steps={args.steps}",
                     f"data.max_seqlen={WINDOW}", f"data.max_tokens={args.max_tokens}",
                     f"optim.lr={args.lr}", f"domain.mask_rate={args.mask_rate}", "domain.mask_prob=1.0",
                     "domain.random_prob=0", "train.log_every=10", f"train.checkpoint_every={args.steps}",
                     "train.eval_every=0", "train.progress=false", *args.ov]
        c0 = time.process_time()
        pretrain(overrides)
        res.update(overrides=overrides, train_cpu_s=time.process_time() - c0)
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    res["tokens"] = max(m.get("tokens", 0) for m in metrics)
    res["phases"] = evaluate(run)
    res["model_all"] = float(np.mean([p["model"] for p in res["phases"].values()]))
    res["baseline_all"] = float(np.mean([p["baseline"] for p in res["phases"].values()]))
    from benchmarks.environment import environment  # threads and kernels of this measurement

    res["environment"] = environment()
    (work / f"{args.name}.json").write_text(json.dumps(res))
    print(f"{args.name}: {res['tokens']:,} tokens, train CPU {res.get('train_cpu_s', float('nan')):.0f} s | "
          f"phase 0: model {res['phases'][0]['model']:.4f} baseline {res['phases'][0]['baseline']:.4f} | "
          f"{len(PHASES)} phases: model {res['model_all']:.4f} baseline {res['baseline_all']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
