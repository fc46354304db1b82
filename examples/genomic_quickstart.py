"""Genomic quickstart through the Python API (about a minute on a laptop CPU).

    .venv/bin/python examples/genomic_quickstart.py [--out runs/genomic-quickstart] [--steps 60]

Ingest 200 kb of the bundled E. coli K-12 genome, pretrain a small encoder on it,
then embed sequences and fill in hidden bases. ``domains/genomic/demo.py`` (``make demo``)
is the same at a larger scale, with a held-out evaluation against a count baseline.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from domains.genomic import GenomicDomain, SeqRecord, bundled_sequence, embed_both_strands
from domains.genomic.io import write_seq_records
from encoderkit.data.ingest import ingest
from encoderkit.infer.load import load
from encoderkit.train import pretrain


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/genomic-quickstart")
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    # 1. Raw data: any FASTA/FASTQ files (plain or gzip). Here: 20 pieces of 10 kb.
    genome = bundled_sequence(210_000)
    fasta = out / "ecoli_200kb.fasta"
    write_seq_records([SeqRecord(f"piece{i}", genome[i * 10_000:(i + 1) * 10_000]) for i in range(20)], str(fasta))

    # 2. Ingest into a record store (bases + soft-mask flags; tokens are made on the fly).
    ingest("genomic", [str(fasta)], str(out / "store.zarr"))

    # 3. Pretrain: Hydra overrides, exactly as on the command line (`encoderkit pretrain ...`).
    #    Domain options go under `domain.`, e.g. domain.tokens=kmer domain.k=3 domain.masker=span.
    run = pretrain(["domain=genomic", f"data.store={out / 'store.zarr'}", f"run.dir={out / 'run'}",
                    "run.resume=never", "model=tiny", "model.num_layers=2", f"train.steps={args.steps}",
                    "data.max_seqlen=256", "data.max_tokens=4096", "optim.lr=2e-3", "train.log_every=10"])
    print(f"run directory: {run}  (loss curve: {run / 'loss.png'})")

    # 4. Load the run: embeddings (mean-pooled), also averaged over both strands.
    model = load(run)
    windows = [genome[200_000 + i * 500: 200_000 + (i + 1) * 500] for i in range(8)]  # unseen bases
    emb = model.embed(windows)
    emb_both = embed_both_strands(model, windows)
    print(f"embeddings: {emb.shape}, both strands: {emb_both.shape}")

    # 5. Infill: every N is filled; everything else comes back unchanged.
    hidden = windows[0][:60]
    masked = "".join("N" if i % 10 == 5 else c for i, c in enumerate(hidden))
    filled = model.infill(masked)
    correct = np.mean([filled[i] == hidden[i] for i in range(5, 60, 10)])
    print(f"masked: {masked}\nfilled: {filled}\ntruth:  {hidden}\nhidden bases recovered: {correct:.0%}")

    # The same for a FASTA file: domain.read_input / domain.write_output (what `encoderkit infill` does).
    domain: GenomicDomain = model.domain
    write_seq_records([SeqRecord("query", masked)], str(out / "query.fasta"))
    domain.write_output(model.infill(domain.read_input(str(out / "query.fasta"))), str(out / "filled.fasta"))
    print(f"filled FASTA: {out / 'filled.fasta'}")


if __name__ == "__main__":
    main()
