"""Step-path micro-benchmarks (CPU-verifiable parts of "make it fast"), in one process.

Each comparison alternates its variants round by round on the same batches, so
background load hits both alike; the median round is reported (compare ratios).

- ``compile``: Encoder forward + backward, eager vs ``Encoder.compile()`` (sdpa: the
  dense parts around attention compiled, attention eager).
- ``rotary``: q and k rotated in one pass on the fused ``[T, 2, H, Dh]`` QKV slice with
  one shared table vs two separate calls (q, then k).
- ``step``: a whole training step with vs without the batch's host-side fields
  (``predict_index``, ``cu_seqlens_host``).
- ``bf16``: a whole training step (genomic model, StableAdamW) in fp32 vs under CPU bf16
  autocast (``run.precision=bf16``: bf16 matmuls, attention upcast to fp32), and torch's
  SDPA kernel alone, forward + backward, in fp32 vs bf16 (why attention stays fp32 on CPU).
- ``groups``: sdpa forward + backward on many short sequences padded into groups, one
  gather each way vs padding and unpadding member by member.
- ``gather``: predicted-token gather with the host-side ``predict_index`` vs boolean
  indexing (on CUDA the latter is a device->host sync; on CPU only its cost shows).

    python -m benchmarks.perf_step [--size tiny] [--tokens 8192] [--only compile rotary gather step bf16 groups]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from encoderkit.core import Encoder, EncoderConfig
from encoderkit.core.rope import Rotary, apply_rotary


def batches(n: int, tokens: int, hidden: int, seed: int = 0, lo: int = 16, hi: int = 256):
    """Packed batches of exactly ``tokens`` tokens, lengths uniform in [lo, hi] (var256)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lengths = []
        while sum(lengths) < tokens:
            lengths.append(int(rng.integers(lo, hi + 1)))
        lengths[-1] -= sum(lengths) - tokens
        lengths = [x for x in lengths if x > 0]
        cu = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)
        pos = torch.from_numpy(np.concatenate([np.arange(x) for x in lengths]))[:, None].int()
        h = torch.from_numpy(rng.standard_normal((tokens, hidden), dtype=np.float32))
        out.append((h, pos, cu, max(lengths)))
    return out


def alternate(fns: dict, rounds: int) -> dict[str, float]:
    """Median seconds per call of each variant, variants alternating within each round."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_compile(size: str, tokens: int, rounds: int) -> None:
    torch.manual_seed(0)
    cfg = EncoderConfig.preset(size, backend="sdpa")
    eager = Encoder(cfg)
    compiled = Encoder(cfg)
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    bs = batches(3, tokens, cfg.hidden_size)

    def run(model):
        def f():
            for h, pos, cu, mx in bs:
                model(h, pos, cu, mx, cu).square().mean().backward()
            model.zero_grad(set_to_none=True)
        return f

    t = time.perf_counter()
    run(compiled)()  # compiles (static shapes, then dynamic T at the next new length)
    run(compiled)()
    warm = time.perf_counter() - t
    run(eager)()
    med = alternate({"eager": run(eager), "compiled": run(compiled)}, rounds)
    n = tokens * len(bs)
    print(f"compile {size} sdpa fwd+bwd var256 {tokens} tok/batch: eager {n / med['eager']:,.0f} tok/s, "
          f"compiled {n / med['compiled']:,.0f} tok/s, ratio {med['eager'] / med['compiled']:.2f}x "
          f"(compile warm-up {warm:.0f} s)", flush=True)


def bench_rotary(size: str, tokens: int, rounds: int) -> None:
    cfg = EncoderConfig.preset(size)
    H, Dh = cfg.num_heads, cfg.head_dim
    rot = Rotary(Dh, cfg.axis_split(), cfg.axis_thetas("global"))
    pos = torch.arange(tokens)[:, None].int()
    tables = rot(pos)
    qkv = torch.randn(tokens, 3, H, Dh, requires_grad=True)

    def fused():
        q, k = apply_rotary(qkv[:, :2], tables).unbind(1)
        (q.sum() + k.sum()).backward()

    def separate():
        q, k = apply_rotary(qkv[:, 0], tables), apply_rotary(qkv[:, 1], tables)
        (q.sum() + k.sum()).backward()

    def loop(f):
        return lambda: [f() for _ in range(10)]

    med = alternate({"fused": loop(fused), "separate": loop(separate)}, rounds)
    print(f"rotary {size} [T={tokens}, H={H}, Dh={Dh}] fwd+bwd: one pass {1e3 * med['fused'] / 10:.2f} ms, "
          f"q and k separately {1e3 * med['separate'] / 10:.2f} ms, "
          f"ratio {med['separate'] / med['fused']:.2f}x", flush=True)


def bench_gather(size: str, tokens: int, rounds: int) -> None:
    cfg = EncoderConfig.preset(size)
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(tokens, cfg.hidden_size, requires_grad=True)
    predict = torch.rand(tokens, generator=g) < 0.3
    idx = predict.nonzero().flatten()

    def boolean():
        hidden[predict].sum().backward()

    def index():
        hidden.index_select(0, idx).sum().backward()

    def loop(f):
        return lambda: [f() for _ in range(20)]

    med = alternate({"boolean": loop(boolean), "index": loop(index)}, rounds)
    print(f"gather {size} [T={tokens}, d={cfg.hidden_size}] fwd+bwd: predict_index {1e3 * med['index'] / 20:.3f} ms, "
          f"boolean mask {1e3 * med['boolean'] / 20:.3f} ms, ratio {med['boolean'] / med['index']:.2f}x",
          flush=True)


def _genomic_training(cfg: EncoderConfig, tokens: int):
    """The genomic model on CPU, 3 masked var256 batches of ``tokens`` and a StableAdamW."""
    from benchmarks import modernbert_compare as mc
    from encoderkit.train.optim import StableAdamW, param_groups

    rng = np.random.default_rng(0)
    model = mc.build_encoderkit(cfg, torch.device("cpu"))
    dom = mc.genomic_domain()
    lo, hi = dom.vocab.acgt_range
    packed = [mc.make_batch(mc.sample_lengths("var256", tokens, rng), lo, hi, dom.mask_token_id,
                            dom.pad_token_id, 0.3, rng).packed for _ in range(3)]
    return model, packed, StableAdamW(param_groups(model, 1e-5), lr=1e-6)


def _train_steps(model, opt, batches, bf16: bool = False):
    """A closure running one optimizer step per batch (CPU bf16 autocast when asked)."""
    def f():
        for b in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = model(b).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    return f


def bench_step(size: str, tokens: int, rounds: int) -> None:
    """Whole training step (genomic model, StableAdamW) with and without the host-side fields."""
    from dataclasses import replace

    model, packed, opt = _genomic_training(EncoderConfig.preset(size, backend="sdpa"), tokens)
    legacy = [replace(b, predict_index=None, cu_seqlens_host=None) for b in packed]

    def run(bs):
        return _train_steps(model, opt, bs)

    run(packed)()
    med = alternate({"host": run(packed), "device": run(legacy)}, rounds)
    n = tokens * len(packed)
    print(f"step {size} train var256: host fields {n / med['host']:,.0f} tok/s, without "
          f"{n / med['device']:,.0f} tok/s, ratio {med['device'] / med['host']:.2f}x", flush=True)


def bench_bf16(size: str, tokens: int, rounds: int) -> None:
    """Training step fp32 vs CPU bf16 autocast; SDPA kernel fp32 vs bf16."""
    cfg = EncoderConfig.preset(size, backend="sdpa")
    model, packed, opt = _genomic_training(cfg, tokens)

    def run(bf16: bool):
        return _train_steps(model, opt, packed, bf16=bf16)

    run(True)()
    med = alternate({"fp32": run(False), "bf16": run(True)}, rounds)
    n = tokens * len(packed)
    print(f"bf16 {size} train step var256: fp32 {n / med['fp32']:,.0f} tok/s, bf16 autocast "
          f"{n / med['bf16']:,.0f} tok/s, ratio {med['fp32'] / med['bf16']:.2f}x", flush=True)

    H, Dh, L = cfg.num_heads, cfg.head_dim, 256
    g = torch.Generator().manual_seed(0)
    qkv = {dt: [torch.randn(tokens // L, H, L, Dh, generator=g).to(dt).requires_grad_(True)
                for _ in range(3)] for dt in (torch.float32, torch.bfloat16)}

    def attn(dt):
        def f():
            for _ in range(3):
                torch.nn.functional.scaled_dot_product_attention(*qkv[dt]).float().square().mean().backward()
        return f

    med = alternate({"fp32": attn(torch.float32), "bf16": attn(torch.bfloat16)}, rounds)
    print(f"bf16 {size} SDPA fwd+bwd [{tokens // L} x {H} x {L} x {Dh}]: fp32 {1e3 * med['fp32'] / 3:.1f} ms, "
          f"bf16 {1e3 * med['bf16'] / 3:.1f} ms, ratio {med['bf16'] / med['fp32']:.2f}x", flush=True)


def _per_member(q, k, v, plan, backend):
    """The grouped path before one gather each way: members padded with ``pad_sequence``
    and unpadded row by row (each row's backward zero-filled the whole group's gradient)."""
    import torch.nn.functional as F
    from torch.nn.utils.rnn import pad_sequence

    H, Dh = q.shape[1], q.shape[2]
    qs, ks, vs = (x.split(plan.segments) for x in (q, k, v))
    outs = [None] * len(plan.segments)
    for ui, u in enumerate(plan.units):
        if not u.grouped:
            seg = u.segments[0]
            qu, ku, vu = (xs[seg].view(u.n, u.L, H, Dh).transpose(1, 2) for xs in (qs, ks, vs))
            outs[seg] = F.scaled_dot_product_attention(qu, ku, vu, attn_mask=plan.mask(ui, None, q.dtype, None)) \
                .transpose(1, 2).reshape(u.n * u.L, H, Dh)
            continue
        qu, ku, vu = (pad_sequence([xs[i] for i in u.segments], batch_first=True).transpose(1, 2)
                      for xs in (qs, ks, vs))
        o = F.scaled_dot_product_attention(qu, ku, vu, attn_mask=plan.mask(ui, None, q.dtype, None)).transpose(1, 2)
        for row, (seg, length) in enumerate(zip(u.segments, u.lens)):
            outs[seg] = o[row, :length]
    return torch.cat(outs)


def bench_groups(size: str, tokens: int, rounds: int) -> None:
    """sdpa forward + backward on a batch of many short sequences (table rows, contrastive
    views, short series: lengths 4-40, padded into groups), one gather each way (the
    backend) vs padding and unpadding member by member (the previous code, above)."""
    from encoderkit.core.attention.sdpa import SdpaBackend

    H, Dh = 4, 16
    rng = np.random.default_rng(0)
    lengths = []
    while sum(lengths) < tokens:
        lengths.append(int(rng.integers(4, 41)))
    lengths[-1] -= sum(lengths) - tokens
    cu = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int32)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(tokens, H, Dh, generator=g).requires_grad_() for _ in range(3))
    backend = SdpaBackend()
    plan = backend.plan(cu, max(lengths))
    w = torch.randn(tokens, H, Dh, generator=g)

    def run(f):
        def step():
            (f() * w).sum().backward()
        return step
    torch.testing.assert_close(backend.attend(q, k, v, plan, None), _per_member(q, k, v, plan, backend))
    med = alternate({"gather": run(lambda: backend.attend(q, k, v, plan, None)),
                     "per_member": run(lambda: _per_member(q, k, v, plan, backend))}, rounds)
    print(f"groups {len(lengths)} sequences of 4-40 tokens ({tokens} tokens, {H} x {Dh}), sdpa fwd+bwd: "
          f"per member {1e3 * med['per_member']:.1f} ms, one gather {1e3 * med['gather']:.1f} ms, "
          f"{med['per_member'] / med['gather']:.1f}x faster", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", nargs="+", default=["tiny"])
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", nargs="+", default=["compile", "rotary", "gather", "step"])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for size in args.size:
        for name in args.only:
            globals()[f"bench_{name}"](size, args.tokens, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
