"""Genomic featurize + mask throughput on the bundled E. coli excerpt, per vocabulary.

    .venv/bin/python -m benchmarks.genomic_tokenize [--bases 1000000] [--repeats 3]

Times, in one process (compare the rows as ratios; absolute figures depend on load):
featurize (tokenise a whole record), windows of 1,024 tokens, reverse complement,
and masking of every window, for nucleotide tokens and k-mers (k = 3, 6).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from domains.genomic import GenomicDomain, bundled_sequence
from domains.genomic.tokens import encode_bases


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bases", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    codes, soft = encode_bases(bundled_sequence(args.bases))
    record = {"ids": codes, "soft": soft}
    print(f"genomic featurize/mask, {args.bases:,} bases, best of {args.repeats}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for opts in (dict(tokens="nucleotide"), dict(tokens="kmer", k=3), dict(tokens="kmer", k=6)):
        d = GenomicDomain({}, **opts)
        rng = np.random.default_rng(0)
        ex = d.featurize(record)
        wins = d.windows(ex, 1024)
        t_feat = best_of(lambda: d.featurize(record), args.repeats)
        t_rc = best_of(lambda: [d.reverse_complement(w) for w in wins], args.repeats)
        t_mask = best_of(lambda: [d.mask(w, rng) for w in wins], args.repeats)
        label = opts["tokens"] + (f" k={opts['k']}" if "k" in opts else "")
        rows.append((label, len(ex), t_feat, t_rc, t_mask))
    base = rows[0]
    for label, n_tok, t_feat, t_rc, t_mask in rows:
        total = t_feat + t_rc + t_mask
        print(f"  {label:<14} tokens {n_tok:>9,}  featurize {args.bases / t_feat / 1e6:6.1f} M bases/s  "
              f"reverse-complement {args.bases / t_rc / 1e6:6.1f} M bases/s  mask {args.bases / t_mask / 1e6:6.1f} "
              f"M bases/s  all three {args.bases / total / 1e6:5.1f} M bases/s "
              f"({(base[2] + base[3] + base[4]) / total:.2f}x nucleotide)")


if __name__ == "__main__":
    main()
