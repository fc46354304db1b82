"""Masked-LM training (or embedding) throughput: encoderkit vs transformers' ModernBERT.

One process, same shape, same batches, same device, same optimizer; the two models
run in alternating rounds so background load hits both alike, and the median round
is reported. See ``modernbert_compare.py`` for the FLOPs formula behind MFU.

    python -m benchmarks.train_throughput --size tiny --dist var256 --tokens 8192
    python -m benchmarks.train_throughput --size base --dist fixed512 --device cuda --precision bf16
    python -m benchmarks.train_throughput --mode embed --size small --dist var256   # forward only

``--write`` appends the table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import statistics
import sys

import numpy as np
import torch

from benchmarks import modernbert_compare as mc
from encoderkit.core import EncoderConfig, get_backend
from encoderkit.train.optim import StableAdamW, param_groups


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["train", "embed"], default="train")
    p.add_argument("--size", nargs="+", default=["tiny"], help="EncoderConfig presets")
    p.add_argument("--dist", nargs="+", default=["var256"], choices=sorted(mc.DISTRIBUTIONS))
    p.add_argument("--tokens", type=int, default=8192, help="real tokens per batch")
    p.add_argument("--batches", type=int, default=4, help="timed batches per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                   help="default: bf16 autocast on CUDA, fp32 on CPU")
    p.add_argument("--backend", default="auto", help="encoderkit attention backend")
    p.add_argument("--compile", action="store_true", help="torch.compile both models")
    p.add_argument("--rate", type=float, default=0.3, help="masking rate")
    p.add_argument("--no-hf", action="store_true", help="encoderkit only")
    p.add_argument("--write", action="store_true", help="append results to RESULTS.md")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def run_case(args, size: str, dist: str, device: torch.device) -> dict:
    rng = np.random.default_rng(args.seed)
    config = EncoderConfig.preset(size, backend=args.backend)
    ours = mc.build_encoderkit(config, device)
    vocab = ours.embedder.tok_embeddings.num_embeddings
    dom = mc.genomic_domain()
    lo, hi = dom.vocab.acgt_range  # random bases, as DNA
    batches = [mc.make_batch(mc.sample_lengths(dist, args.tokens, rng), lo, hi, dom.mask_token_id,
                             dom.pad_token_id, args.rate, rng)
               for _ in range(args.batches + args.warmup)]
    train = args.mode == "train"
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" \
        else contextlib.nullcontext

    models = {"encoderkit": ours}
    if not args.no_hf:
        models["transformers"] = mc.build_hf(config, vocab, device)
    steps = {}
    for name, model in models.items():
        model.train(train)
        opt = StableAdamW(param_groups(model, 1e-5), lr=1e-4) if train else None
        fwd = torch.compile(model) if args.compile else model
        steps[name] = make_step(name, fwd, opt, device, train, autocast)

    times = {name: [] for name in models}
    tokens = 0
    for _ in range(args.rounds):
        for name in models:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            secs, tokens = mc.time_steps(steps[name], batches[args.warmup:], device, args.warmup)
            times[name].append(secs)
    lengths = [n for b in batches for n in (b.packed.seq_lengths().tolist())]
    pred_frac = sum(b.predicted for b in batches) / sum(b.tokens for b in batches)
    fpt = mc.flops_per_token(config, mc.non_embedding_params(ours), vocab, lengths, pred_frac, train)
    result = {"size": size, "dist": dist, "precision": precision,
              "attn_hf": models.get("transformers") and models["transformers"].config._attn_implementation,
              "backend": type(get_backend(config.backend, device)).name,
              "flops_per_token": fpt}
    pk = mc.peak(device)
    for name in models:
        tps = tokens / statistics.median(times[name])
        result[name] = tps
        result[f"{name}_mfu"] = fpt * tps / pk if pk else None
    if "transformers" in models:
        result["ratio"] = result["encoderkit"] / result["transformers"]
    return result


def make_step(name, model, opt, device, train, autocast):
    def step(b: mc.Batch) -> None:
        if name == "encoderkit":
            batch = b.packed.to(device)
            with autocast():
                if train:
                    loss = model(batch).loss
                else:
                    with torch.no_grad():
                        model.encode(batch)
                    return
        else:
            kw = dict(input_ids=b.input_ids.to(device), attention_mask=b.attention_mask.to(device))
            with autocast():
                if train:
                    loss = model(**kw, labels=b.labels.to(device)).loss
                else:
                    with torch.no_grad():
                        model.model(**kw)
                    return
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mc.default_threads()
    device = torch.device(args.device)
    rows = []
    for size in args.size:
        for dist in args.dist:
            r = run_case(args, size, dist, device)
            rows.append(r)
            msg = (f"{args.mode} {size:5s} {dist:9s} encoderkit {r['encoderkit']:>10,.0f} tok/s")
            if "transformers" in r:
                msg += f" | transformers ({r['attn_hf']}) {r['transformers']:>10,.0f} tok/s | ratio {r['ratio']:.2f}x"
            if r.get("encoderkit_mfu"):
                msg += f" | MFU {100 * r['encoderkit_mfu']:.1f}%"
            print(msg, flush=True)
    if args.write:
        head = ("| mode | size | lengths | precision | encoderkit tok/s | transformers tok/s (attn) "
                "| ratio | MFU ours | MFU HF |")
        table = [head, "|" + "---|" * 9]
        for r in rows:
            mfu = lambda k: f"{100 * r[k]:.1f}%" if r.get(k) else "n/a"  # noqa: E731
            hf = f"{r['transformers']:,.0f} ({r['attn_hf']})" if "transformers" in r else "-"
            ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "-"
            table.append(f"| {args.mode} | {r['size']} | {r['dist']} | {r['precision']} | "
                         f"{r['encoderkit']:,.0f} | {hf} | {ratio} | {mfu('encoderkit_mfu')} | "
                         f"{mfu('transformers_mfu')} |")
        notes = [f"{args.tokens} real tokens per batch, {args.batches} batches x {args.rounds} "
                 f"alternating rounds (median), masking rate {args.rate}",
                 "transformers gets the batch padded to its longest sequence (its API); encoderkit "
                 "packed. Same StableAdamW for both; HF sparse_prediction=True."]
        mc.append_results(f"{args.mode} throughput vs transformers ModernBERT", "python -m "
                          "benchmarks.train_throughput " + shlex.join(sys.argv[1:] if argv is None else argv),
                          device, table, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
