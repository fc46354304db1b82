"""Data loader throughput on one CPU core: record store -> PackedBatch.

    .venv/bin/python benchmarks/data_throughput.py [--records 4000] [--append-results]

Measures, in one process pinned to one core:
  1. per-record read cost of the store, zarr-backed vs in-memory (random order);
  2. tokens/s from store to PackedBatch for short token-id records (genomic-like,
     100..2000 tokens, 15% random masking with 80/10/10), num_workers=0;
  3. packing efficiency (real tokens / token budget) for that length distribution
     and for a log-normal one, at several budgets.
The token-id domain below is a minimal genomic-like stand-in so the figure measures
the data layer, not a particular domain's featurisation (the domains benchmark
their own featurisers).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

from encoderkit.data.loader import PackedLoader
from encoderkit.data.masking import choose_random, corrupt_ids
from encoderkit.data.packing import BestFitPacker
from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.domain import Domain, Example, MaskedExample


class TokenDomain(Domain):
    """Genomic-like: one uint8 token id per base, 1-D positions, random masking."""

    name = "bench_tokens"
    rope_axes = 1

    def featurize(self, record: dict[str, Any]) -> Example:
        ids = record["ids"].astype(np.int64)
        return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])

    @property
    def maskers(self):
        def random(example: Example, rng: np.random.Generator) -> MaskedExample:
            ids = example.fields["ids"]
            predict = choose_random(ids >= 4, 0.15, rng)
            return MaskedExample(inputs={"ids": corrupt_ids(ids, predict, 1, 4, 9, rng)},
                                 positions=example.positions, targets={"ids": ids[predict]}, predict=predict)
        return {"random": random}


def write_store(path: str, n: int, seed: int = 0, chunk_bytes: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(100, 2001, size=n)
    kw = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    with StoreWriter(path, TokenDomain.name, **kw) as w:
        for L in lengths:
            w.append({"ids": rng.integers(4, 9, size=L).astype(np.uint8)}, {"gc": 0.5})
        w.finalize({"vocab": ["[PAD]", "[MASK]", "[CLS]", "[N]", "A", "C", "G", "T", "N"]}, {"files": []})
    return lengths


def read_cost(store: RecordStore, n: int, seed: int = 0) -> float:
    idx = np.random.default_rng(seed).integers(0, len(store), size=n)
    t = time.perf_counter()
    for i in idx:
        store[int(i)]
    return (time.perf_counter() - t) / n


def loader_throughput(store: RecordStore, domain: Domain, max_tokens: int, max_seqlen: int,
                      seconds: float = 8.0, in_memory: bool = True) -> tuple[float, float, int]:
    loader = PackedLoader(store, domain, max_tokens=max_tokens, max_seqlen=max_seqlen, seed=0, epochs=None,
                          in_memory=in_memory)
    tokens = batches = 0
    it = iter(loader)
    next(it)  # warm-up
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        b = next(it)
        tokens += b.num_tokens
        batches += 1
    elapsed = time.perf_counter() - t
    return tokens / elapsed, loader.stats()["fill"], batches


def packing_fill(lengths: np.ndarray, budget: int, num_open: int) -> float:
    packer = BestFitPacker(budget, num_open)
    used = []
    for n in lengths:
        for b in packer.add(int(n), int(n)):
            used.append(sum(b))
    return sum(used) / (len(used) * budget)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--append-results", action="store_true", help="append a section to benchmarks/RESULTS.md")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)
    lines: list[str] = []

    def say(s: str) -> None:
        print(s, flush=True)
        lines.append(s)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.zarr")
        t = time.perf_counter()
        lengths = write_store(path, args.records)
        write_s = time.perf_counter() - t
        say(f"- store: {args.records} records, {int(lengths.sum()):,} tokens (uint8 ids, 100..2000 tokens/record); "
            f"write {lengths.sum() / write_s / 1e6:.1f} M tokens/s")
        zs = RecordStore(path, in_memory=False)
        ms = RecordStore(path, in_memory=True)
        zarr_cost, mem_cost = read_cost(zs, 300), read_cost(ms, 20000)
        say(f"- per-record random read: zarr-backed {zarr_cost * 1e3:.3f} ms, in-memory {mem_cost * 1e6:.1f} us "
            f"(ratio {zarr_cost / mem_cost:.0f}x; default 256 KiB chunks, zstd)")
        for chunk_bytes in (1 << 20, 1 << 16):
            p2 = os.path.join(tmp, f"c{chunk_bytes}.zarr")
            write_store(p2, min(args.records, 1000), chunk_bytes=chunk_bytes)
            c = read_cost(RecordStore(p2), 300)
            say(f"  - zarr-backed with {chunk_bytes >> 10} KiB chunks: {c * 1e3:.3f} ms/record "
                f"({c / zarr_cost:.2f}x the default)")
        domain = TokenDomain({})
        for max_tokens, max_seqlen in ((16384, 2048), (65536, 2048)):
            tps, fill, nb = loader_throughput(ms, domain, max_tokens, max_seqlen, args.seconds)
            say(f"- loader (1 core, num_workers=0, in-memory), max_tokens={max_tokens}, max_seqlen={max_seqlen}: "
                f"**{tps / 1e6:.2f} M tokens/s**, fill {fill * 100:.2f}% over {nb} batches")
        tps_z, fill_z, _ = loader_throughput(zs, domain, 16384, 2048, args.seconds / 2, in_memory=False)
        say(f"- same, zarr-backed store (in_memory=False, shuffled reads): {tps_z / 1e6:.2f} M tokens/s")
    rng = np.random.default_rng(1)
    uniform = rng.integers(100, 2001, size=50_000)
    lognormal = np.clip(rng.lognormal(np.log(400), 0.8, size=50_000), 16, 2048).astype(int)
    for name, lens in (("uniform 100..2000", uniform), ("log-normal median 400, <=2048", lognormal)):
        fills = ", ".join(f"{budget}: {packing_fill(lens, budget, 16) * 100:.2f}%"
                          for budget in (8192, 16384, 65536))
        say(f"- packing fill, {name}, 16 open micro-batches, by max_tokens: {fills}")
    say(f"- load average at start: {load:.1f} (2 cores shared with other jobs; figures are lower bounds)")
    if args.append_results:
        results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
        with open(results, "a") as f:
            f.write("\n## Data loader throughput (CPU)\n\n"
                    f"`benchmarks/data_throughput.py --records {args.records}` "
                    f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, python {sys.version.split()[0]})\n\n")
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
