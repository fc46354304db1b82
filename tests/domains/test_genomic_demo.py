"""`make demo` (domains/genomic/demo.py): its count baseline against a brute-force count, and
one end-to-end run at a toy size (slow: the baseline counts the whole 1.9 Mb training part)."""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import pytest
import torch

from domains.genomic.demo import HIDE_EVERY, WINDOW, NeighbourCounts, main


def brute_force_predict(train: np.ndarray, test: np.ndarray, pos: np.ndarray, k: int) -> np.ndarray:
    """Most frequent centre base of each test position's (k left, k right) context, counted
    with a dict on both strands of ``train``; the longest context seen wins (back-off)."""
    counts: list[dict[tuple, Counter]] = [{} for _ in range(k + 1)]
    for strand in (train, 3 - train[::-1]):
        for i in range(k, len(strand) - k):
            for j in range(k + 1):
                ctx = tuple(strand[i - j:i]) + tuple(strand[i + 1:i + 1 + j])
                counts[j].setdefault(ctx, Counter())[int(strand[i])] += 1
    out = []
    for p in pos:
        for j in range(k, -1, -1):
            ctx = tuple(test[p - j:p]) + tuple(test[p + 1:p + 1 + j])
            if ctx in counts[j]:
                c = counts[j][ctx]
                out.append(max(range(4), key=lambda b: (c[b], -b)))  # ties: lowest code, as argmax
                break
    return np.array(out)


def test_neighbour_counts_match_a_brute_force_count_with_back_off():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 4, 3000).astype(np.uint8)
    test = rng.integers(0, 4, 400).astype(np.uint8)
    pos = np.arange(3, len(test) - 3)
    got = NeighbourCounts(3).fit(train).predict(test, pos)
    # 3+3 contexts (4^6 = 4096) are mostly unseen in 6,000 counted positions: back-off is exercised
    np.testing.assert_array_equal(got, brute_force_predict(train, test, pos, 3))


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reports_its_training_cpu_time(tmp_path):
    steps, max_tokens, windows = 2, 1024, 4
    threads = torch.get_num_threads()
    c0 = time.process_time()
    try:
        assert main(["--out", str(tmp_path / "demo"), "--steps", str(steps), "--max-tokens", str(max_tokens),
                     "--max-windows", str(windows), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # --threads sets it for the whole process
    used = time.process_time() - c0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["heldout_hidden_bases"] == windows * WINDOW // HIDE_EVERY
    assert summary["train_tokens"] == steps * max_tokens  # 256-base windows fill a 1,024-token pack
    # the training's CPU time is part of this process's CPU time since the call
    assert 0 < summary["train_cpu_seconds"] <= used
    assert 0.0 <= summary["model_infill_accuracy"] <= 1.0
    # the default model follows the precision: tiny6 under bf16 autocast, tiny in fp32
    from encoderkit.train.precision import cpu_has_native_bf16

    want = "bf16" if torch.cuda.is_available() or cpu_has_native_bf16() else "fp32"
    assert (summary["precision"], summary["model"]) == (want, "tiny6" if want == "bf16" else "tiny")
