"""Shared pieces of the side-by-side benchmarks against Hugging Face ModernBERT.

Both models get the same shape (an ``EncoderConfig`` preset), the same vocabulary
(the genomic domain's nucleotide vocabulary, padded to 64), the same batches and the
same optimizer (encoderkit's StableAdamW). encoderkit consumes the batch packed
(no padding); transformers gets it padded to the longest sequence with an attention
mask, as its API requires, and uses its best attention implementation available on
the device (flash_attention_2 > sdpa) and ``sparse_prediction=True`` (its MLM head
runs only at masked tokens, like ours).

Training FLOPs per token (documented formula, used for MFU):

    6 * N_nonembedding                                  (matmuls, forward + backward)
  + 12 * L_global * d * S_global                        (QK^T and AV over the sequence)
  + 12 * L_local  * d * S_local                         (the same inside the window)
  + 6 * (d*d + d*V) * p_pred                            (MLM head at the predicted fraction)

``S_global`` is the token-weighted mean sequence length E[L^2]/E[L] (a token of a
sequence of length L attends to L keys) and ``S_local`` the same with each key span
capped at the window (``local_window + 1`` keys). Forward-only FLOPs are a third.
MFU = FLOPs/token * tokens/s / peak; peak 989 TFLOP/s dense bf16 for H100/H200.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.domain import MaskedExample
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import get_domain

PEAK_BF16 = {"H100": 989e12, "H200": 989e12}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

# name -> (kind, mean, std, lo, hi): ModernBERT's efficiency-study length distributions.
DISTRIBUTIONS = {
    "fixed512": ("fixed", 512, 0, 512, 512),
    "var256": ("normal", 256, 64, 16, 512),
    "fixed8192": ("fixed", 8192, 0, 8192, 8192),
    "var4096": ("normal", 4096, 1024, 16, 8192),
}


def sample_lengths(dist: str, budget: int, rng: np.random.Generator) -> list[int]:
    """Sequence lengths filling ``budget`` tokens (the last one cut to fit)."""
    kind, mean, std, lo, hi = DISTRIBUTIONS[dist]
    out, total = [], 0
    while total < budget:
        n = mean if kind == "fixed" else int(np.clip(round(rng.normal(mean, std)), lo, hi))
        n = min(n, budget - total)
        if n < lo and out:
            break
        out.append(n)
        total += n
    return out


@dataclass
class Batch:
    packed: object  # PackedBatch
    input_ids: torch.Tensor  # [B, Lmax] padded, for transformers
    attention_mask: torch.Tensor  # [B, Lmax]
    labels: torch.Tensor  # [B, Lmax], -100 where nothing is predicted
    tokens: int
    predicted: int


def make_batch(lengths: list[int], vocab_low: int, vocab_high: int, mask_id: int, pad_id: int,
               rate: float, rng: np.random.Generator) -> Batch:
    examples = []
    B, Lmax = len(lengths), max(lengths)
    input_ids = torch.full((B, Lmax), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((B, Lmax), dtype=torch.long)
    labels = torch.full((B, Lmax), -100, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids = rng.integers(vocab_low, vocab_high, n).astype(np.int64)
        predict = rng.random(n) < rate
        corrupted = np.where(predict, mask_id, ids)
        examples.append(MaskedExample(inputs={"ids": corrupted},
                                      positions=np.arange(n, dtype=np.int32)[:, None],
                                      targets={"ids": ids[predict]}, predict=predict))
        input_ids[b, :n] = torch.from_numpy(corrupted)
        attention_mask[b, :n] = 1
        labels[b, :n] = torch.from_numpy(np.where(predict, ids, -100))
    packed = collate(examples)
    return Batch(packed, input_ids, attention_mask, labels, int(sum(lengths)),
                 int(packed.predict.sum()))


def genomic_domain():
    from encoderkit.registry import available_domains, register_domain

    if "genomic" not in available_domains():  # encoderkit not pip-installed (a bare GPU image)
        from domains.genomic import GenomicDomain

        register_domain(GenomicDomain)
    return get_domain("genomic")({})


def build_encoderkit(config: EncoderConfig, device: torch.device) -> MaskedEncoderModel:
    return MaskedEncoderModel(genomic_domain(), config).to(device)


def hf_attn_implementation(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def build_hf(config: EncoderConfig, vocab_size: int, device: torch.device, dtype=None):
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    d = genomic_domain()
    hf_config = ModernBertConfig(
        vocab_size=vocab_size, hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size, num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads, local_attention=config.local_window,
        global_attn_every_n_layers=config.global_every, norm_eps=config.norm_eps,
        max_position_embeddings=16384, pad_token_id=d.pad_token_id, cls_token_id=d.cls_token_id,
        sep_token_id=d.sep_token_id, bos_token_id=d.cls_token_id, eos_token_id=d.sep_token_id,
        sparse_prediction=True, attn_implementation=hf_attn_implementation(device))
    return ModernBertForMaskedLM(hf_config).to(device)


def non_embedding_params(model: MaskedEncoderModel) -> int:
    return sum(p.numel() for p in model.encoder.parameters())


def flops_per_token(config: EncoderConfig, n_nonemb: int, vocab: int, lengths: list[int],
                    predicted_fraction: float, train: bool = True) -> float:
    L = np.asarray(lengths, dtype=np.float64)
    s_global = float((L * L).sum() / L.sum())
    span = np.minimum(L, config.local_window + 1)
    s_local = float((L * span).sum() / L.sum())
    n_global = sum(config.is_global(i) for i in range(config.num_layers))
    n_local = config.num_layers - n_global
    d = config.hidden_size
    total = (6 * n_nonemb + 12 * n_global * d * s_global + 12 * n_local * d * s_local
             + 6 * (d * d + d * vocab) * predicted_fraction)
    return total if train else total / 3


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step: Callable[[Batch], None], batches: list[Batch], device: torch.device,
               warmup: int) -> tuple[float, int]:
    """Seconds and tokens for one pass over ``batches`` after ``warmup`` untimed steps."""
    for b in batches[:warmup]:
        step(b)
    sync(device)
    t0 = time.perf_counter()
    tokens = 0
    for b in batches:
        step(b)
        tokens += b.tokens
    sync(device)
    return time.perf_counter() - t0, tokens


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {torch.get_num_threads()} threads"


def peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def append_results(title: str, command: str, device: torch.device, table: list[str],
                   notes: list[str]) -> None:
    """Append one dated, attributed section to benchmarks/RESULTS.md."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"\n### {title}", "", f"- device: {device_name(device)}", f"- date: {stamp}",
             f"- commit: {commit()}", f"- command: `{command}`", ""] + table + [""]
    lines += [f"- {n}" for n in notes]
    with open(RESULTS, "a") as f:
        f.write("\n".join(lines) + "\n")


def default_threads() -> None:
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
