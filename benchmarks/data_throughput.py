"""Data loader throughput on one CPU core: record store -> PackedBatch.

    .venv/bin/python benchmarks/data_throughput.py [--records 4000] [--append-results]
    .venv/bin/python benchmarks/data_throughput.py --scale-gb 1.1 [--append-results]   # data at scale

``--scale-gb``: a genomic-like store of that many uncompressed GB (uint8 ids + bool soft
mask, log-normal record lengths), read with ``ENCODERKIT_IN_MEMORY_MB=256`` so it is
over 4x the in-memory threshold: the loader with default settings (chunk-aware reading)
vs the in-memory loader, from local disk and from a local moto S3 server; each in a
fresh process on one core (peak RSS measured there), the S3 server on the other core.

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
import json
import os
import resource
import shutil
import socket
import subprocess
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


SCALE_THRESHOLD_MB = 256


def write_scale_store(path: str, target_bytes: float, seed: int = 0) -> tuple[int, int]:
    """Genomic-like records until ``target_bytes`` (2 bytes/token): log-normal lengths, median 1000,
    64..16384 tokens; token ids are slices of one random pool (cheap to make, compress like DNA)."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(4, 9, size=1 << 24).astype(np.uint8)
    soft = rng.random(1 << 24) < 0.1
    n = tokens = 0
    with StoreWriter(path, TokenDomain.name) as w:
        while tokens * 2 < target_bytes:
            lengths = np.clip(rng.lognormal(np.log(1000), 0.9, size=4096), 64, 16384).astype(np.int64)
            starts = rng.integers(0, pool.size - 16384, size=lengths.size)
            for L, a in zip(lengths.tolist(), starts.tolist()):
                w.append({"ids": pool[a:a + L], "soft": soft[a:a + L]}, {"gc": 0.5}, id=f"seq{n}")
                n += 1
                tokens += L
        w.finalize({"vocab": ["[PAD]", "[MASK]", "[CLS]", "[N]", "A", "C", "G", "T", "N"]}, {"files": []})
    return n, tokens


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(store_path: str, mode: str, seconds: float, max_tokens: int = 16384, max_seqlen: int = 2048,
            buffer_mb: float | None = None) -> dict:
    """One loader in this (fresh) process: the rate over at least 3 buffer windows of tokens (or
    ``seconds``, whichever is later; capped at 300 s), with and without the time to
    the first batch (which includes reading the first window); fill; peak RSS."""
    torch.set_num_threads(1)
    store = RecordStore(store_path)
    base = _rss_mb()  # after imports and opening the store (s3fs, aiobotocore for a URL)
    kw: dict[str, Any] = {"in_memory": True} if mode == "memory" else {}
    if buffer_mb is not None:
        kw["buffer_mb"] = buffer_mb
    t0 = time.perf_counter()
    loader = PackedLoader(store, TokenDomain({}), max_tokens=max_tokens, max_seqlen=max_seqlen, seed=0,
                          epochs=None, **kw)
    want = 3 * loader.buffer_mb * 2**20 / max(store.token_bytes, 1)
    it = iter(loader)
    next(it)
    first = time.perf_counter() - t0
    tokens = batches = 0
    t, cpu = time.perf_counter(), time.process_time()
    while True:
        elapsed = time.perf_counter() - t
        if (elapsed >= seconds and tokens >= want) or elapsed >= max(300.0, seconds):
            break
        b = next(it)
        tokens += b.num_tokens
        batches += 1
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "read": loader.read, "buffer_mb": loader.buffer_mb, "in_memory": loader.store.in_memory,
            "tps": tokens / elapsed, "tps_cpu": tokens / cpu, "cpu_share": cpu / elapsed, "tps_with_first": tokens / (elapsed + first), "fill": loader.stats()["fill"],
            "batches": batches, "tokens": tokens, "records": loader.stats()["records"], "first_batch_s": first,
            "seconds": elapsed, "base_rss_mb": base, "peak_rss_mb": peak,
            "windows": loader._next_chunk if loader.read == "chunks" else None}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scale(args, say) -> None:
    """The data-at-scale targets (see the module docstring)."""
    cores = sorted(os.sched_getaffinity(0))
    tmp = args.scale_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), ".scale-store")
    path = os.path.join(tmp, "scale.zarr")
    os.makedirs(tmp, exist_ok=True)
    if not os.path.exists(path):
        t = time.perf_counter()
        n, tokens = write_scale_store(path, args.scale_gb * 1e9)
        say(f"- store: {n:,} records, {tokens:,} tokens, {2 * tokens / 1e9:.2f} GB uncompressed (uint8 ids + "
            f"bool soft, log-normal lengths median 1000, 64..16384); written in {time.perf_counter() - t:.0f} s")
    store = RecordStore(path)
    disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    say(f"- store size {store.nbytes / 2**20:.0f} MiB uncompressed ({store.nbytes / 2**20 / SCALE_THRESHOLD_MB:.1f}x "
        f"the in-memory threshold, lowered to {SCALE_THRESHOLD_MB} MB with ENCODERKIT_IN_MEMORY_MB), "
        f"{disk / 2**20:.0f} MiB on disk (zstd)")
    env = dict(os.environ, ENCODERKIT_IN_MEMORY_MB=str(SCALE_THRESHOLD_MB))

    def child(mode: str, location: str, extra_env: dict | None = None, buffer_mb: float | None = None) -> dict:
        cmd = ["taskset", "-c", str(cores[0]), sys.executable, os.path.abspath(__file__), "--measure", mode,
               "--store", location, "--seconds", str(args.seconds)]
        if buffer_mb is not None:
            cmd += ["--buffer-mb", str(buffer_mb)]
        out = subprocess.run(cmd, env={**env, **(extra_env or {})}, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    # alternate the two loaders: the load of the shared machine drifts over minutes
    pairs = [(child("memory", path), child("auto", path)) for _ in range(2)]
    for k, (m, d) in enumerate(pairs):
        say(f"- pair {k + 1}: in-memory {m['tps'] / 1e6:.2f} M tokens/s wall, {m['tps_cpu'] / 1e6:.2f} M per "
            f"CPU-second; chunk-aware local {d['tps'] / 1e6:.2f} M wall ({d['tps'] / m['tps'] * 100:.0f}%), "
            f"{d['tps_cpu'] / 1e6:.2f} M per CPU-second ({d['tps_cpu'] / m['tps_cpu'] * 100:.0f}%)")
    mem, disk_r = pairs[-1]
    small = child("auto", path, buffer_mb=32)
    port = _free_port()
    s3env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen(["taskset", "-c", str(cores[-1]), shutil.which("moto_server") or "moto_server",
                               "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        os.environ.update(s3env)
        import s3fs  # noqa: PLC0415

        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        fs = s3fs.S3FileSystem()
        fs.mkdir("bench")
        t = time.perf_counter()
        fs.put(path, "bench/scale.zarr", recursive=True)
        say(f"- uploaded to the moto S3 server in {time.perf_counter() - t:.0f} s")
        s3 = child("auto", "s3://bench/scale.zarr", s3env)
    finally:
        server.terminate()
        server.wait()
    for name, r in (("in-memory loader (in_memory=True)", mem), ("local disk, default settings", disk_r),
                    ("moto S3 server, default settings", s3)):
        windows = f", {r['windows']} buffer windows done" if r["windows"] is not None else ""
        say(f"- {name}: read={r['read']}: **{r['tps'] / 1e6:.2f} M tokens/s** wall, {r['tps_cpu'] / 1e6:.2f} M per "
            f"CPU-second (the process got {r['cpu_share'] * 100:.0f}% of its core), over {r['tokens'] / 1e6:.0f} M "
            f"tokens in {r['seconds']:.0f} s ({r['tps_with_first'] / 1e6:.2f} M/s counting the {r['first_batch_s']:.1f} s "
            f"to the first batch), fill {r['fill'] * 100:.2f}% over {r['batches']} batches ({r['records']:,} records"
            f"{windows}); peak RSS {r['peak_rss_mb']:.0f} MiB (after imports + open {r['base_rss_mb']:.0f} MiB)")
    say(f"- ratios (wall): local chunk-aware / in-memory = {disk_r['tps'] / mem['tps'] * 100:.0f}%, "
        f"S3 / local = {s3['tps'] / disk_r['tps'] * 100:.0f}%; peak RSS above the after-import baseline: "
        f"local {disk_r['peak_rss_mb'] - disk_r['base_rss_mb']:.0f} MiB, S3 "
        f"{s3['peak_rss_mb'] - s3['base_rss_mb']:.0f} MiB, for the default {disk_r['buffer_mb']:.0f} MB buffer "
        f"(in-memory: {mem['peak_rss_mb'] - mem['base_rss_mb']:.0f} MiB); with buffer_mb=32: "
        f"{small['peak_rss_mb'] - small['base_rss_mb']:.0f} MiB, {small['tps'] / 1e6:.2f} M tokens/s")
    if not args.keep_store:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--append-results", action="store_true", help="append a section to benchmarks/RESULTS.md")
    ap.add_argument("--scale-gb", type=float, default=0.0, help="run the data-at-scale benchmark on a store of "
                    "this many uncompressed GB instead")
    ap.add_argument("--scale-dir", default=None, help="where the scale store is built (default benchmarks/.scale-store)")
    ap.add_argument("--keep-store", action="store_true", help="keep the scale store for the next run")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--buffer-mb", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.store, args.measure, args.seconds, buffer_mb=args.buffer_mb)))
        return
    if args.scale_gb:
        lines: list[str] = []

        def say_(s: str) -> None:
            print(s, flush=True)
            lines.append(s)

        load = os.getloadavg()[0]
        scale(args, say_)
        say_(f"- load average at start: {load:.1f} (2 cores shared with other engineers' jobs, run under "
             f"nice -n 10: figures are lower bounds)")
        if args.append_results:
            results = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
            with open(results, "a") as f:
                f.write("\n## Data at scale\n\n"
                        f"`nice -n 10 python benchmarks/data_throughput.py --scale-gb {args.scale_gb} "
                        f"--seconds {args.seconds:g}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                        f"python {sys.version.split()[0]}, {os.cpu_count()} shared CPU cores, no GPU)\n\n")
                f.write("\n".join(lines) + "\n")
        return
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
