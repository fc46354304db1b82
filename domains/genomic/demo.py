"""`make demo`: pretrain a tiny DNA encoder on 1.9 Mb of E. coli K-12 and infill held-out bases.

    python -m domains.genomic.demo [--out runs/genomic-demo] [--precision auto] [--steps N] [--model NAME] [--lr 1e-3]

1. Split the bundled 2,000,000-base excerpt: the first 1,900,000 bases train, the last
   100,000 are held out (never seen in training, nor by the baseline).
2. Ingest the training part (FASTA -> record store), pretrain a small encoder through
   ``encoderkit.train.pretrain`` (nucleotide tokens, 15% random masking, reverse-complement
   augmentation; `tiny6` under bf16 autocast where the CPU has native bf16, else `tiny` in
   fp32), then load the run with ``encoderkit.infer``.
3. Held-out infill: in every 256-base held-out window one base in every 16 is hidden as N
   (isolated: each hidden base has its 15 neighbours on either side visible) and filled by
   ``Pretrained.infill`` (both strands averaged). Baseline: the most frequent centre base
   of the same k left + k right neighbours counted on the training part (k picked on a
   validation slice of the training part, backing off to shorter contexts when a context
   was never seen).
4. Embed held-out windows and their reverse complements; save everything under ``--out``.

About 5 minutes on an idle 2-core CPU, most of it training (`--steps` trades time for accuracy).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from domains.genomic.domain import bundled_sequence, reverse_complement
from domains.genomic.io import SeqRecord, write_seq_records
from encoderkit.errors import UsageError
from encoderkit.outputs import is_store

TRAIN_BASES = 1_900_000
WINDOW = 256  # training windows (data.max_seqlen) and held-out windows alike
HIDE_EVERY = 16
ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)


def to_codes(seq: str) -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    lut[ACGT] = np.arange(4)
    return lut[np.frombuffer(seq.encode(), dtype=np.uint8)]


# ---------------------------------------------------------------- count baseline
class NeighbourCounts:
    """Predict a hidden base from counts of (k left, k right) neighbour contexts seen in training,
    backing off to k-1, ..., 0 neighbours for contexts never seen."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.tables: list[np.ndarray] = []

    @staticmethod
    def _context(codes: np.ndarray, pos: np.ndarray, j: int) -> np.ndarray:
        """Integer id of the j left + j right neighbours of each position (base-4 digits)."""
        ctx = np.zeros(pos.shape[0], dtype=np.int64)
        for off in list(range(-j, 0)) + list(range(1, j + 1)):
            ctx = ctx * 4 + codes[pos + off]
        return ctx

    def fit(self, codes: np.ndarray) -> NeighbourCounts:
        """Counts on both strands (the model also trains on both, by reverse-complement augmentation)."""
        self.tables = [np.zeros((4 ** (2 * j), 4), dtype=np.int64) for j in range(self.k + 1)]
        for strand in (codes, 3 - codes[::-1]):  # A,C,G,T = 0..3, so 3 - code is the complement
            pos = np.arange(self.k, strand.shape[0] - self.k)
            for j, table in enumerate(self.tables):
                ctx = self._context(strand, pos, j) * 4 + strand[pos]
                table += np.bincount(ctx, minlength=table.size).reshape(table.shape)
        return self

    def predict(self, codes: np.ndarray, pos: np.ndarray) -> np.ndarray:
        out = np.full(pos.shape[0], -1, dtype=np.int64)
        for j in range(self.k, -1, -1):  # longest context first, back off where unseen
            todo = out < 0
            if not todo.any():
                break
            counts = self.tables[j][self._context(codes, pos[todo], j)]
            seen = counts.sum(1) > 0
            idx = np.flatnonzero(todo)[seen]
            out[idx] = counts[seen].argmax(1)
        return out


def pick_k(codes: np.ndarray, candidates=range(1, 6)) -> tuple[int, dict[int, float]]:
    """k with the best accuracy on the last 10% of the training part, fit on the first 90%."""
    cut = int(codes.shape[0] * 0.9)
    fit_part, val = codes[:cut], codes[cut:]
    scores = {}
    for k in candidates:
        pos = np.arange(k, val.shape[0] - k, 7)
        scores[k] = float((NeighbourCounts(k).fit(fit_part).predict(val, pos) == val[pos]).mean())
    return max(scores, key=scores.get), scores


# ---------------------------------------------------------------- demo
def hide(window: str, phase: int) -> tuple[str, np.ndarray]:
    pos = np.arange(phase, len(window), HIDE_EVERY)
    chars = bytearray(window.encode())
    for p in pos:
        chars[p] = ord("N")
    return chars.decode(), pos


DEMO_MARK = ".encoderkit-genomic-demo"  # written first into --out: the folder is the demo's to replace
DEMO_ENTRIES = frozenset({DEMO_MARK, "data", "store.zarr", "run", "embeddings.npy", "summary.json"})


def _old_demo_output(out: Path) -> bool:
    """A demo output written before the mark existed: its store, its summary, and a data
    folder of the demo's two FASTA files only (a user's own store.zarr / data/ / run/ is not)."""
    data = out / "data"
    return (is_store(out / "store.zarr") and (out / "summary.json").is_file() and data.is_dir()
            and {p.name for p in data.iterdir()} <= {"train.fasta.gz", "heldout.fasta.gz"}
            and (data / "train.fasta.gz").is_file())


def claim_out(out: Path) -> None:
    """Make ``out`` the demo's empty folder, marked as its own. An earlier demo output (the
    mark, or before the mark existed its record store, and nothing but the demo's entries) is
    emptied; anything else is refused with a ``UsageError`` naming it, so ``--out .`` or a
    mistyped ``--out`` never deletes a user's files."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        kind = "a symbolic link" if out.is_symlink() else "a file"
        raise UsageError(f"--out {out}: is {kind}, not a folder the demo wrote; give another --out")
    if out.is_dir():
        names = sorted(p.name for p in out.iterdir())
        foreign = [n for n in names if n not in DEMO_ENTRIES]
        ours = (out / DEMO_MARK).is_file() or _old_demo_output(out)
        if names and (foreign or not ours):
            shown = foreign or names  # a user's own data/ and run/ without the demo's mark or store
            held = ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "")
            raise UsageError(f"--out {out}: the folder holds files the demo did not write ({held}); "
                             "give another --out (a new or empty folder), or remove it yourself")
        for name in names:
            entry = out / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARK).write_text("written by `python -m domains.genomic.demo`; the demo replaces this folder\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/genomic-demo",
                    help="output folder (a re-run replaces one the demo wrote; any other is refused)")
    # The budget (~630 CPU-s, ~5 min on 2 idle cores) buys 1,600 fp32 steps of `tiny`, or under bf16 autocast
    # (CPUs with native bf16) 1,400 steps of the 6-layer `tiny6`, which learns more per token
    # (benchmarks/RESULTS.md "Genomic demo"); 3200 x 2,048 tokens took 8 minutes for no gain.
    ap.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="auto: bf16 autocast on CUDA or where the CPU has native bf16 (AVX512-BF16 / AMX), else fp32")
    ap.add_argument("--steps", type=int, default=None,
                    help="optimizer steps (default 1400 under bf16, 1600 in fp32)")
    ap.add_argument("--max-tokens", type=int, default=4096, help="tokens per step (packed, no padding)")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (a tiny model takes a high one)")
    ap.add_argument("--model", default=None,
                    help="model preset (default tiny6 under bf16, tiny in fp32; small, ...)")
    ap.add_argument("--max-windows", type=int, default=390, help="held-out windows to evaluate")
    ap.add_argument("--mask-rate", type=float, default=0.15, help="share of bases predicted in training")
    # every predicted base shown as [MASK]: the demo scores isolated hidden bases, and the
    # 80/10/10 corruption is not needed (Wettig et al. 2023)
    ap.add_argument("--mask-prob", type=float, default=1.0,
                    help="share of the predicted bases shown as [MASK] (the rest: random or unchanged)")
    # torch's default (all cores) is fastest on an idle machine (21k vs 12k tokens/s on
    # 2 cores); on cores shared with other jobs --threads 1 is faster (11k vs 6k).
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (0 = torch's default; 1 on a shared machine)")
    args = ap.parse_args(argv)
    if args.precision == "auto":
        import torch

        from encoderkit.train.precision import cpu_has_native_bf16

        args.precision = "bf16" if torch.cuda.is_available() or cpu_has_native_bf16() else "fp32"
    bf16 = args.precision == "bf16"
    args.model = args.model or ("tiny6" if bf16 else "tiny")
    args.steps = args.steps or (1400 if bf16 else 1600)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from encoderkit.data.ingest import ingest
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain

    t_start = time.perf_counter()
    out = Path(args.out)
    try:
        claim_out(out)  # a re-run starts from scratch, but only ever in the demo's own folder
    except UsageError as e:
        print(f"domains.genomic.demo: error: {e}", file=sys.stderr)
        return e.exit_code
    (out / "data").mkdir(parents=True)

    print("== 1. data: bundled E. coli K-12 (NC_007779.1) excerpt, 2,000,000 bases")
    genome = bundled_sequence()
    train_seq, heldout_seq = genome[:TRAIN_BASES], genome[TRAIN_BASES:]
    train_fa = out / "data" / "train.fasta.gz"
    # 19 records of 100 kb, so the trainer's record-level train/validation split has records to split
    write_seq_records([SeqRecord(f"NC_007779.1:{s}-{s + 100_000}", train_seq[s:s + 100_000], "E. coli K-12 W3110")
                       for s in range(0, TRAIN_BASES, 100_000)], str(train_fa))
    write_seq_records([SeqRecord("NC_007779.1:1900000-2000000", heldout_seq, "held out")],
                      str(out / "data" / "heldout.fasta.gz"))
    print(f"   train {len(train_seq):,} bases, held out {len(heldout_seq):,} bases -> {out / 'data'}")

    print("== 2. ingest")
    store = out / "store.zarr"
    ingest("genomic", [str(train_fa)], str(store))

    print(f"== 3. pretrain a {args.model!r} encoder ({args.steps} steps x {args.max_tokens:,} tokens, "
          f"{args.precision})")
    run_dir = out / "run"
    t0, c0 = time.perf_counter(), time.process_time()
    run = pretrain(["domain=genomic", f"data.store={store}", f"run.dir={run_dir}", "run.resume=never",
                    f"model={args.model}", f"train.steps={args.steps}", f"data.max_seqlen={WINDOW}",
                    f"data.max_tokens={args.max_tokens}", f"optim.lr={args.lr}",
                    f"domain.mask_rate={args.mask_rate}", f"domain.mask_prob={args.mask_prob}",
                    f"domain.random_prob={min(0.1, 1.0 - args.mask_prob):.6g}", "train.log_every=10",
                    f"train.checkpoint_every={args.steps}", f"train.eval_every={max(args.steps // 3, 1)}",
                    "train.eval_tokens=32768", f"run.precision={args.precision}"])
    train_s = time.perf_counter() - t0
    # CPU seconds of all threads: unlike wall time, barely moved by other jobs on shared cores
    train_cpu_s = time.process_time() - c0
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in metrics if "loss" in m]
    tokens = max(m.get("tokens", 0) for m in metrics)
    tps = [m["tokens_per_s"] for m in logged if "tokens_per_s" in m]

    print("== 4. held-out single-base infill (1 base in 16 hidden, full context visible)")
    model = load(run)
    codes = to_codes(genome)
    starts = np.arange(TRAIN_BASES, len(genome) - WINDOW + 1, WINDOW)[: args.max_windows]
    windows = [genome[s:s + WINDOW] for s in starts]
    masked, hidden = zip(*(hide(w, i % HIDE_EVERY) for i, w in enumerate(windows)))
    from encoderkit.cliutil import progress_bar  # a log-aware bar that leaves the process as it was

    filled = []
    with progress_bar(total=len(masked), desc="infill", unit="window") as bar:
        for i in range(0, len(masked), 32):
            filled += model.infill(list(masked[i:i + 32]))
            bar.update(len(masked[i:i + 32]))
    truth = np.concatenate([to_codes(w)[h] for w, h in zip(windows, hidden)])
    model_pred = np.concatenate([to_codes(f)[h] for f, h in zip(filled, hidden)])
    model_acc = float((model_pred == truth).mean())

    train_codes = codes[:TRAIN_BASES]
    k, k_scores = pick_k(train_codes)
    baseline = NeighbourCounts(k).fit(train_codes)
    abs_pos = np.concatenate([s + h for s, h in zip(starts, hidden)])
    base_acc = float((baseline.predict(codes, abs_pos) == codes[abs_pos]).mean())
    majority = float((truth == np.bincount(train_codes, minlength=4).argmax()).mean())

    print("== 5. embeddings of held-out windows and of their reverse complements")
    n_emb = min(64, len(windows))
    emb = model.embed(windows[:n_emb])
    emb_rc = model.embed([reverse_complement(w) for w in windows[:n_emb]])
    np.save(out / "embeddings.npy", emb)

    def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    same = float(cos(emb, emb_rc).mean())
    other = float(cos(emb, np.roll(emb_rc, 1, axis=0)).mean())

    summary = {
        "heldout_hidden_bases": int(truth.size),
        "model_infill_accuracy": model_acc,
        "baseline": f"{k} left + {k} right neighbour counts (k chosen on a validation slice: "
                    + ", ".join(f"k={j}: {v:.3f}" for j, v in k_scores.items()) + ")",
        "baseline_accuracy": base_acc,
        "majority_base_accuracy": majority,
        "model": args.model,
        "steps": args.steps,
        "precision": args.precision,
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu_s,
        "train_tokens": int(tokens),
        "tokens_per_s_mean": float(np.mean(tps)) if tps else float(tokens / train_s),
        "first_loss": logged[0]["loss"] if logged else None,
        "last_loss": logged[-1]["loss"] if logged else None,
        "embedding_shape": list(emb.shape),
        "cosine_window_vs_own_reverse_complement": same,
        "cosine_window_vs_other_window_rc": other,
        "total_seconds": time.perf_counter() - t_start,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print("\n================ genomic demo summary ================")
    print(f"held-out bases hidden:        {truth.size:,} (1 in {HIDE_EVERY}, {len(windows)} windows "
          f"of {WINDOW} bases never seen in training)")
    print(f"model infill accuracy:        {model_acc:.4f}")
    print(f"baseline accuracy ({k}+{k} nbr): {base_acc:.4f}   (majority base: {majority:.4f})")
    print(f"training:                     {train_s:.1f} s ({train_cpu_s:.0f} CPU-s), {tokens:,} tokens, "
          f"{summary['tokens_per_s_mean']:,.0f} tokens/s (mean of logged steps)")
    if logged:
        print(f"loss:                         {logged[0]['loss']:.3f} (step {logged[0]['step']}) -> "
              f"{logged[-1]['loss']:.3f} (step {logged[-1]['step']})")
    print(f"embeddings:                   {emb.shape}; cosine to own reverse complement {same:.3f}, "
          f"to another window's {other:.3f}")
    print(f"total time:                   {summary['total_seconds']:.1f} s")
    print("outputs:")
    print(f"  data       {out / 'data'}")
    print(f"  store      {store}")
    print(f"  run        {run}  (checkpoints/, metrics.jsonl, config.yaml)")
    print(f"  loss curve {run / 'loss.png'}")
    print(f"  embeddings {out / 'embeddings.npy'}")
    print(f"  summary    {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
