"""Where one masked-LM training step spends its time: forward, backward, optimizer, and the
top operators, for one preset and length distribution (the question behind a low MFU).

    python -m benchmarks.step_profile --size base --dist fixed512 --tokens 65536   # CUDA: bf16 autocast
    python -m benchmarks.step_profile --size base --dist var256 --compile layers   # the trainer's run.compile
    python -m benchmarks.step_profile --size tiny --dist var256 --tokens 4096 --device cpu

Phases are timed with a device synchronize at each boundary (median of ``--steps`` steps after
``--warmup``); the operator table comes from ``torch.profiler`` over two more steps, sorted by
device time on CUDA and by CPU time otherwise. ``--compile whole`` wraps the model in
``torch.compile``; ``--compile layers`` is what the trainer's ``run.compile=true`` does
(``MaskedEncoderModel.compile``: each layer, or its dense parts around attention).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
import time

import numpy as np
import torch

from benchmarks import modernbert_compare as mc
from encoderkit.core import EncoderConfig, get_backend
from encoderkit.train.optim import StableAdamW, param_groups


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="base", help="EncoderConfig preset")
    p.add_argument("--dist", default="fixed512", choices=sorted(mc.DISTRIBUTIONS))
    p.add_argument("--tokens", type=int, default=65536, help="real tokens per batch")
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batches", type=int, default=4,
                   help="distinct batches cycled through, each a few tokens shorter than the last "
                        "(a packed loader's batches differ in length: a compiled path must not recompile)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--compile", choices=["none", "whole", "layers"], default="none",
                   help="whole: torch.compile(model); layers: the trainer's run.compile=true")
    p.add_argument("--top", type=int, default=25, help="operators listed")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mc.default_threads()
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    config = EncoderConfig.preset(args.size, backend=args.backend)
    model = mc.build_encoderkit(config, device)
    model.train()
    fwd = torch.compile(model) if args.compile == "whole" else model
    if args.compile == "layers":
        model.compile()
    opt = StableAdamW(param_groups(model, 1e-5), lr=1e-4)
    dom = mc.genomic_domain()
    lo, hi = dom.vocab.acgt_range
    made = [mc.make_batch(mc.sample_lengths(args.dist, args.tokens - 97 * i, rng), lo, hi,
                          dom.mask_token_id, dom.pad_token_id, 0.3, rng) for i in range(max(1, args.batches))]
    batches = [b.packed.to(device) for b in made]
    tokens = statistics.mean(b.tokens for b in made)
    next_batch = itertools.cycle(batches).__next__
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext

    def step(times: dict | None) -> None:
        batch = next_batch()
        t0 = time.perf_counter()
        with autocast():
            loss = fwd(batch).loss
        if times is not None:
            _sync(device)
            t1 = time.perf_counter()
        loss.backward()
        if times is not None:
            _sync(device)
            t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if times is not None:
            _sync(device)
            t3 = time.perf_counter()
            for k, v in (("forward", t1 - t0), ("backward", t2 - t1), ("optimizer", t3 - t2)):
                times[k].append(v)

    for _ in range(args.warmup):
        step(None)
    _sync(device)
    times: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
    for _ in range(args.steps):
        step(times)
    med = {k: statistics.median(v) for k, v in times.items()}
    total = sum(med.values())
    name = type(get_backend(config.backend, device)).name
    print(f"{args.size} {args.dist} {tokens:,.0f} tokens on {device} ({name}"
          f"{'' if args.compile == 'none' else ', compiled ' + args.compile}): step {1e3 * total:.1f} ms, "
          f"{tokens / total:,.0f} tok/s; " +
          ", ".join(f"{k} {1e3 * v:.1f} ms ({100 * v / total:.0f}%)" for k, v in med.items()), flush=True)
    acts = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(2):
            step(None)
        _sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=args.top, max_name_column_width=60), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
