"""A contrastive run's validation figures (loss, top-1 retrieval) are those of the whole
validation split, whatever the number of ranks and micro-batches that share it (audit s48 d5:
57 records gave val_loss 3.971 on one process and 3.340 on two; each rank compared its
records only among themselves). References: ``heads.info_nce`` and a float64 loop over all
pairs; one process with the split in one batch; a real 2-rank gloo group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import contrastive_val_entry_s48i as E
from encoderkit.tasks import heads as H
from encoderkit.tasks import objective_eval as OE
from encoderkit.train.distributed import DistInfo

HERE = Path(__file__).resolve().parent


def reference(pa, pb, za, zb, scale, groups) -> tuple[float, float]:
    """float64 loops: symmetric InfoNCE over all pairs (other copies of a window left out of
    the softmax), and the share of rows whose nearest second view is of the same window."""
    a = [x / np.linalg.norm(x) for x in pa.double().numpy()]
    b = [x / np.linalg.norm(x) for x in pb.double().numpy()]
    g = groups.numpy()
    n = len(a)

    def one_way(q, k):
        total = 0.0
        for i in range(n):
            logits = [scale * float(q[i] @ k[j]) for j in range(n) if j == i or g[j] != g[i]]
            total += -(scale * float(q[i] @ k[i])) + np.log(np.sum(np.exp(logits)))
        return total / n

    loss = 0.5 * (one_way(a, b) + one_way(b, a))
    zs, zt = za.double().numpy(), zb.double().numpy()
    zs, zt = zs / np.linalg.norm(zs, axis=1, keepdims=True), zt / np.linalg.norm(zt, axis=1, keepdims=True)
    top1 = float(np.mean(g[(zs @ zt.T).argmax(1)] == g))
    return loss, top1


def test_whole_split_figures_match_a_float64_loop_and_info_nce(monkeypatch):
    monkeypatch.setattr(OE, "CHUNK", 4)  # several blocks on 11 rows
    gen = torch.Generator().manual_seed(0)
    pa, pb = torch.randn(11, 8, generator=gen), torch.randn(11, 8, generator=gen)
    za, zb = pa + 0.3 * torch.randn(11, 8, generator=gen), pb + 0.3 * torch.randn(11, 8, generator=gen)
    groups = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 3, 10])  # rows 3 and 9: copies of one window
    scale = torch.tensor(7.0)
    loss, top1 = OE.contrastive_figures(pa, pb, za, zb, scale, groups)
    ref_loss, ref_top1 = reference(pa, pb, za, zb, 7.0, groups)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert loss == pytest.approx(float(H.info_nce(pa, pb, scale, groups)), rel=1e-5)
    assert top1 == ref_top1


def test_figures_do_not_depend_on_how_the_split_is_batched():
    """One process: the split in one batch (what the audit's one-process run did, and what
    the per-batch figures were then) and in batches of 4 records give the same figures."""
    whole = E.figures(E.batches(np.arange(E.RECORDS), E.RECORDS), DistInfo())
    cut = E.figures(E.batches(np.arange(E.RECORDS), E.PER_BATCH), DistInfo())
    assert cut["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert cut["retrieval_top1"] == pytest.approx(whole["retrieval_top1"])
    # the one-batch figures against the loss function of training on that batch
    one = E.batches(np.arange(E.RECORDS), E.RECORDS)[0]
    m = E.model().eval()
    with torch.no_grad():
        p = m.project(m.pool(m.encode(one), one))
        expected = float(H.info_nce(p[0::2], p[1::2], m.scale(), H.view_groups(one)))
    assert whole["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_two_gloo_ranks_give_the_one_process_figures(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(HERE / "contrastive_val_entry_s48i.py"), str(out)],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(out.read_text())
    one = E.figures(E.batches(np.arange(E.RECORDS), E.RECORDS), DistInfo())
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert two["retrieval_top1"] == pytest.approx(one["retrieval_top1"])
