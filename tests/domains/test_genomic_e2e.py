"""Genomic end to end on a few kilobases of the bundled E. coli genome: ingest,
pretrain a tiny encoder a few steps, loss goes down, embed, infill."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from domains.genomic import GenomicDomain, embed_both_strands, reverse_complement
from encoderkit.batch import PackedBatch
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.data.store import RecordStore
from encoderkit.modeling import MaskedEncoderModel

from .sample_store import TINY_MODEL, ingest_sample

TINY = TINY_MODEL


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_sample("genomic", tmp_path_factory.mktemp("genomic"))


def test_manual_loop_with_collate_lowers_the_loss(store):
    """Embedder + core + head through collate and AdamW: the loss on a fixed batch falls."""
    torch.manual_seed(0)
    domain = GenomicDomain(RecordStore(store).schema, tokens="kmer", k=3)
    cfg = EncoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, rope_axes=1,
                        local_window=16, backend="sdpa")
    model = MaskedEncoderModel(domain, cfg)
    rng = np.random.default_rng(0)
    examples = [domain.mask(w, rng) for rec in RecordStore(store)
                for w in domain.windows(domain.featurize(rec), 128)]
    batch: PackedBatch = collate(examples)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        out = model(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0] - 0.5, losses


def test_pretrain_embed_infill_end_to_end(store, tmp_path):
    from encoderkit.train import pretrain

    run = pretrain(["domain=genomic", f"data.store={store}", f"run.dir={tmp_path / 'run'}", "train.steps=30",
                    "train.log_every=5", "train.progress=false", "data.max_seqlen=256",
                    "data.max_tokens=2048", *TINY])
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) >= 4 and losses[-1] < losses[0] - 0.3, losses
    assert (run / "loss.png").is_file()

    from encoderkit.infer.load import load  # (the package attribute can be shadowed by the submodule)

    model = load(run)
    assert model.domain.schema["vocab_size"] == 64 and model.domain.schema["mask_token_id"] == 3
    seqs = ["ACGTTGCAGGCTAGCTAGGATCGATCGTAGCTAGCTAGCATCGATCG", "ttgacaNNNNNNtataat"]
    emb = model.embed(seqs)
    assert emb.shape == (2, 32) and np.isfinite(emb).all()
    both = embed_both_strands(model, seqs)
    flipped = model.embed([reverse_complement(s) for s in seqs])
    np.testing.assert_allclose(both, (emb + flipped) / 2, rtol=1e-5, atol=1e-6)

    data = model.domain.sample_infill_input()
    filled = model.infill(data)
    for s, f in zip(data, filled):
        assert len(f) == len(s) and re.fullmatch("[ACGT]+", f)
        observed = np.frombuffer(s.encode(), np.uint8) != ord("N")
        assert (np.frombuffer(f.encode(), np.uint8)[observed] == np.frombuffer(s.encode(), np.uint8)[observed]).all()
