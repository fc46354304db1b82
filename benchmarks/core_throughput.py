"""Core encoder throughput on CPU: tokens/s on packed variable-length batches.

Per preset (``tiny``, ``small``) and per attention backend available on CPU:
forward + backward for the backends that train on CPU (``sdpa``), forward only
for ``flex`` (eager on CPU, a check rather than a training path). With ``--hf``
the same shape runs through ``transformers.ModernBertModel`` (sdpa, batches
padded to the longest sequence with an attention mask, as its API requires) in
the same process, so the ratio is not skewed by other load on the machine.

    python -m benchmarks.core_throughput [--presets tiny small] [--hf] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from encoderkit.core import Encoder, EncoderConfig, available_backends
from encoderkit.core.attention import BACKENDS

RESULTS = Path(__file__).with_name("RESULTS.md")


def make_batches(n: int, tokens: int, min_len: int, max_len: int, hidden: int,
                 seed: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]:
    """Packed batches of ~``tokens`` tokens, lengths uniform in [min_len, max_len]."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lengths = []
        while sum(lengths) < tokens:
            lengths.append(int(rng.integers(min_len, max_len + 1)))
        lengths[-1] -= sum(lengths) - tokens
        if lengths[-1] <= 0:
            lengths.pop()
        cu = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)
        pos = torch.from_numpy(np.concatenate([np.arange(n) for n in lengths]))[:, None].int()
        h = torch.from_numpy(rng.standard_normal((sum(lengths), hidden), dtype=np.float32))
        out.append((h, pos, cu, max(lengths)))
    return out


def time_encoder(model: Encoder, batches, train: bool, reps: int) -> float:
    """Tokens/s over ``reps`` passes through ``batches`` (one warm-up pass first)."""
    def step(b):
        h, pos, cu, mx = b
        if train:
            model(h, pos, cu, mx).square().mean().backward()
        else:
            with torch.no_grad():
                model(h, pos, cu, mx)

    step(batches[0])
    tokens, t0 = 0, time.perf_counter()
    for _ in range(reps):
        for b in batches:
            step(b)
            tokens += b[0].shape[0]
    return tokens / (time.perf_counter() - t0)


def hf_model(cfg: EncoderConfig):
    from transformers import ModernBertConfig, ModernBertModel

    hc = ModernBertConfig(
        vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1,
        sep_token_id=2, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        local_attention=cfg.local_window, global_attn_every_n_layers=cfg.global_every,
        global_rope_theta=cfg.rope_theta_global, local_rope_theta=cfg.rope_theta_local,
        norm_eps=cfg.norm_eps, attn_implementation="sdpa")
    return ModernBertModel(hc)


def time_hf(model, batches, reps: int) -> float:
    padded = []
    for h, _, cu, mx in batches:
        lengths = (cu[1:] - cu[:-1]).tolist()
        x = torch.zeros(len(lengths), mx, h.shape[1])
        mask = torch.zeros(len(lengths), mx, dtype=torch.long)
        for i, (s, n) in enumerate(zip(cu[:-1].tolist(), lengths)):
            x[i, :n], mask[i, :n] = h[s:s + n], 1
        padded.append((x, mask, h.shape[0]))

    def step(p):
        x, mask, _ = p
        out = model(inputs_embeds=x, attention_mask=mask).last_hidden_state
        out[mask.bool()].square().mean().backward()  # loss on real tokens only, as ours

    step(padded[0])
    tokens, t0 = 0, time.perf_counter()
    for _ in range(reps):
        for p in padded:
            step(p)
            tokens += p[2]
    return tokens / (time.perf_counter() - t0)


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, torch {torch.__version__}, " \
           f"{torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--tokens", type=int, default=4096, help="tokens per packed batch")
    ap.add_argument("--min-len", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--batches", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: a shared machine punishes oversubscription)")
    ap.add_argument("--hf", action="store_true", help="also time transformers' ModernBertModel")
    ap.add_argument("--write", action="store_true", help=f"append the results to {RESULTS.name}")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = os.getloadavg()[0]
    backends = available_backends("cpu")
    rows = []
    for preset in args.presets:
        batches = make_batches(args.batches, args.tokens, args.min_len, args.max_len,
                               EncoderConfig.preset(preset).hidden_size, seed=0)
        results = {}
        for name in backends:
            cfg = EncoderConfig.preset(preset, backend=name)
            model = Encoder(cfg)
            train = BACKENDS[name].trains_on_cpu
            if train:
                results[f"{name} fwd+bwd"] = time_encoder(model, batches, True, args.reps)
            results[f"{name} fwd"] = time_encoder(model, batches, False, args.reps)
        if args.hf:
            results["transformers ModernBertModel (sdpa, padded) fwd+bwd"] = time_hf(
                hf_model(EncoderConfig.preset(preset)), batches, args.reps)
        for key, tps in results.items():
            rows.append((preset, key, tps))
            print(f"{preset:6s} {key:55s} {tps:10,.0f} tokens/s", flush=True)
        if args.hf:
            ratio = results["sdpa fwd+bwd"] / results[
                "transformers ModernBertModel (sdpa, padded) fwd+bwd"]
            rows.append((preset, "ratio encoderkit sdpa / transformers (fwd+bwd)", ratio))
            print(f"{preset:6s} ratio sdpa / transformers fwd+bwd: {ratio:.2f}x", flush=True)

    if args.write:
        cmd = "python -m benchmarks.core_throughput " + " ".join(argv if argv is not None
                                                                 else sys.argv[1:])
        lines = [
            "", "## Core throughput (CPU)", "",
            f"`{cmd.strip()}` ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC)", "",
            f"- machine: {machine()}; load average at start {load:.1f} (shared machine: absolute "
            "figures are lower bounds, ratios within one run are the meaningful part)",
            f"- batches: {args.batches} packed batches of {args.tokens} tokens, lengths uniform in "
            f"[{args.min_len}, {args.max_len}], 1-D positions; {args.reps} timed passes after one "
            "warm-up step; fwd+bwd = forward, mean-square loss, backward (no optimizer)", "",
            "| preset | what | tokens/s |", "|---|---|---|",
        ]
        for preset, key, v in rows:
            lines.append(f"| {preset} | {key} | {v:.2f}x |" if key.startswith("ratio")
                         else f"| {preset} | {key} | {v:,.0f} |")
        with RESULTS.open("a") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
