"""Largest packed batch (real tokens) whose training step fits in GPU memory.

Doubles the token budget until a step runs out of memory, then bisects between the
last fit and the first failure (to ``--resolution`` tokens). encoderkit only:
transformers pads, so its limit is in padded tokens and is measured by
``train_throughput`` failing instead.

    python -m benchmarks.max_batch --size base --dist fixed512 fixed8192 --write
"""

from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np
import torch

from benchmarks import modernbert_compare as mc
from encoderkit.core import EncoderConfig
from encoderkit.train.optim import StableAdamW, param_groups


def fits(model, opt, dist: str, tokens: int, device: torch.device, dom) -> bool:
    rng = np.random.default_rng(0)
    lo, hi = dom.vocab.acgt_range
    b = mc.make_batch(mc.sample_lengths(dist, tokens, rng), lo, hi, dom.mask_token_id,
                      dom.pad_token_id, 0.3, rng)
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model(b.packed.to(device)).loss
        loss.backward()
        opt.step()
        mc.sync(device)
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


def search(model, opt, dist, device, start, cap, resolution, dom) -> tuple[int, bool]:
    """(largest fitting budget, whether the cap was reached without failing)."""
    good, bad = 0, None
    n = start
    while n <= cap:
        if fits(model, opt, dist, n, device, dom):
            good, n = n, n * 2
        else:
            bad = n
            break
    if bad is None:
        return good, True
    while bad - good > resolution:
        mid = (good + bad) // 2
        if fits(model, opt, dist, mid, device, dom):
            good = mid
        else:
            bad = mid
    return good, False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="base")
    p.add_argument("--dist", nargs="+", default=["fixed512", "fixed8192"], choices=sorted(mc.DISTRIBUTIONS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--start", type=int, default=8192)
    p.add_argument("--cap", type=int, default=4_194_304, help="stop doubling here")
    p.add_argument("--resolution", type=int, default=4096)
    p.add_argument("--backend", default="auto")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    dom = mc.genomic_domain()
    model = mc.build_encoderkit(EncoderConfig.preset(args.size, backend=args.backend), device)
    opt = StableAdamW(param_groups(model, 1e-5), lr=1e-4)
    rows = []
    for dist in args.dist:
        best, capped = search(model, opt, dist, device, args.start, args.cap, args.resolution, dom)
        mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        rows.append((dist, best, capped, mem))
        print(f"{args.size} {dist}: {best:,} tokens{' (cap reached)' if capped else ''}", flush=True)
    if args.write:
        table = ["| size | lengths | largest batch (tokens) | note |", "|---|---|---|---|"]
        table += [f"| {args.size} | {d} | {b:,} | {'cap reached, no OOM' if c else 'next step OOM'} |"
                  for d, b, c, _ in rows]
        mc.append_results("max batch (training step, bf16 autocast)", "python -m benchmarks.max_batch "
                          + shlex.join(sys.argv[1:] if argv is None else argv), device, table,
                          [f"bisection resolution {args.resolution} tokens"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
