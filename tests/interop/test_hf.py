"""Hugging Face ModernBERT interop, checked against transformers itself.

Export: our packed logits == transformers' padded logits of the exported directory.
Import: a transformers-saved random ModernBERT == our model after ``init_from_hf``.
Random tiny configs cover local and global layers, several shapes and rotary thetas.
The token-id domain is defined here (the mapping must not depend on a built-in domain).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.domain import Domain, Example, HeadOutput
from encoderkit.infer.pretrained import Pretrained
from encoderkit.interop.hf import (HFInteropError, config_from_hf, export_hf, hf_to_ours_name,
                                   init_from_hf, ours_to_hf_name)
from encoderkit.modeling import MaskedEncoderModel

transformers = pytest.importorskip("transformers")


class _Embedder(nn.Module):
    def __init__(self, vocab: int, d: int) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, d)

    def forward(self, inputs):
        return self.tok_embeddings(inputs["ids"].long())


class _Head(nn.Module):
    def __init__(self, d: int, vocab: int, eps: float, embedder: _Embedder) -> None:
        super().__init__()
        self.dense = nn.Linear(d, d, bias=False)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(d, eps=eps, bias=False)
        self.decoder = nn.Linear(d, vocab, bias=True)
        self.decoder.weight = embedder.tok_embeddings.weight

    def forward(self, hidden, targets=None, weights=None):
        return HeadOutput(predictions={"logits": self.decoder(self.norm(self.act(self.dense(hidden))))})


class TokenDomain(Domain):
    name = "hf-test-tokens"
    rope_axes = 1

    def __init__(self, schema=None, **options):
        super().__init__(schema or {}, **options)
        self.vocab = int(self.schema.get("vocab_size", 40))
        self.pad_token_id = 0

    def featurize(self, record):
        ids = np.asarray(record["ids"], dtype=np.int64)
        return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])

    def embedder(self, config):
        return _Embedder(self.vocab, config.hidden_size)

    def head(self, config, embedder=None):
        return _Head(config.hidden_size, self.vocab, config.norm_eps, embedder)


def _randomise(model: nn.Module, seed: int) -> None:
    """Non-trivial values everywhere (norm weights, decoder bias) so no mapping error hides."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=g))


def _ours_logits(model: MaskedEncoderModel, seqs: list[np.ndarray]) -> list[np.ndarray]:
    domain = TokenDomain({"vocab_size": model.embedder.tok_embeddings.num_embeddings})
    examples = []
    for s in seqs:
        ex = domain.unmasked(domain.featurize({"ids": s}))
        ex.predict = np.ones(len(s), dtype=bool)  # head at every token
        examples.append(ex)
    batch = collate(examples)
    with torch.no_grad():
        logits = model.eval()(batch, with_targets=False).predictions["logits"].numpy()
    return np.split(logits, np.cumsum([len(s) for s in seqs])[:-1])


def _hf_logits(hf_model, seqs: list[np.ndarray]) -> list[np.ndarray]:
    L = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.from_numpy(s)
        mask[i, :len(s)] = 1
    with torch.no_grad():
        logits = hf_model.eval()(input_ids=ids, attention_mask=mask).logits.numpy()
    return [logits[i, :len(s)] for i, s in enumerate(seqs)]


# (hidden, heads, layers, intermediate, local_window, global_every, vocab, theta_g, theta_l, attn)
SHAPES = [
    (32, 2, 4, 48, 8, 3, 40, 160000.0, 10000.0, "sdpa"),
    (48, 4, 3, 64, 4, 2, 23, 1000.0, 50.0, "eager"),
    (64, 2, 2, 32, 6, 1, 70, 160000.0, 10000.0, "sdpa"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"d{s[0]}h{s[1]}l{s[2]}w{s[4]}g{s[5]}-{s[9]}")
def test_export_loads_in_transformers_with_same_logits(tmp_path, shape):
    d, h, n, inter, win, every, vocab, tg, tl, attn = shape
    config = EncoderConfig(hidden_size=d, num_heads=h, num_layers=n, intermediate_size=inter,
                           local_window=win, global_every=every, rope_theta_global=tg,
                           rope_theta_local=tl, backend="sdpa")
    domain = TokenDomain({"vocab_size": vocab})
    model = MaskedEncoderModel(domain, config)
    _randomise(model, seed=d)
    out = export_hf(Pretrained(model, domain, config), tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "encoderkit_tokenizer.json", "model.safetensors"]

    hf_model = transformers.AutoModelForMaskedLM.from_pretrained(out, attn_implementation=attn,
                                                                 dtype=torch.float32)
    assert type(hf_model).__name__ == "ModernBertForMaskedLM"
    assert hf_model.decoder.weight.data_ptr() == hf_model.model.embeddings.tok_embeddings.weight.data_ptr()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, vocab, size=L) for L in (3, 2 * win + 5, 17, 1)]  # longer than the window
    for ours, theirs in zip(_ours_logits(model, seqs), _hf_logits(hf_model, seqs)):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape", SHAPES[:2], ids=["4layers-g3", "3layers-g2"])
def test_transformers_saved_model_imports_with_same_logits(tmp_path, shape):
    d, h, n, inter, win, every, vocab, tg, tl, attn = shape
    hf_config = transformers.ModernBertConfig(
        vocab_size=vocab, hidden_size=d, num_attention_heads=h, num_hidden_layers=n, intermediate_size=inter,
        local_attention=win, global_attn_every_n_layers=every, global_rope_theta=tg, local_rope_theta=tl,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
    torch.manual_seed(0)
    hf_model = transformers.ModernBertForMaskedLM(hf_config)
    _randomise(hf_model, seed=1)  # HF init leaves norms at 1 and the decoder bias at 0
    hf_model.save_pretrained(tmp_path / "hf")

    config = config_from_hf(json.loads((tmp_path / "hf" / "config.json").read_text()), backend="sdpa")
    assert (config.local_window, config.global_every) == (win, every)
    model = MaskedEncoderModel(TokenDomain({"vocab_size": vocab}), config)
    message = init_from_hf(model, tmp_path / "hf")
    assert "loaded" in message and "resized" not in message
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, vocab, size=L) for L in (2 * win + 3, 4, 9)]
    hf_model.config._attn_implementation = "sdpa"
    for ours, theirs in zip(_ours_logits(model, seqs), _hf_logits(hf_model, seqs)):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_import_resizes_vocabulary_keeping_the_shared_rows(tmp_path):
    hf_config = transformers.ModernBertConfig(
        vocab_size=50, hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=32,
        local_attention=4, pad_token_id=0, bos_token_id=None, eos_token_id=None, cls_token_id=None,
        sep_token_id=None)
    torch.manual_seed(0)
    hf_model = transformers.ModernBertForMaskedLM(hf_config)
    _randomise(hf_model, seed=2)
    hf_model.save_pretrained(tmp_path / "hf")
    config = config_from_hf(hf_config.to_dict(), backend="sdpa")
    model = MaskedEncoderModel(TokenDomain({"vocab_size": 12}), config)
    message = init_from_hf(model, tmp_path / "hf")
    assert "vocabulary resized 50 -> 12: kept rows 0..11" in message
    torch.testing.assert_close(model.embedder.tok_embeddings.weight,
                               hf_model.model.embeddings.tok_embeddings.weight[:12])
    # Tokens of the shared rows: our logits are HF's logits restricted to those rows.
    seqs = [np.random.default_rng(3).integers(0, 12, size=10)]
    hf_model.config._attn_implementation = "eager"
    np.testing.assert_allclose(_ours_logits(model, seqs)[0], _hf_logits(hf_model, seqs)[0][:, :12],
                               atol=1e-4, rtol=0)


def test_name_mapping_round_trips():
    names = ["embedder.tok_embeddings.weight", "encoder.embedding_norm.weight", "encoder.final_norm.weight",
             "encoder.layers.7.attn.Wqkv.weight", "encoder.layers.0.mlp.Wo.weight", "head.decoder.bias"]
    for name in names:
        assert hf_to_ours_name(ours_to_hf_name(name)) == name
    assert ours_to_hf_name("encoder.layers.1.attn.rope.freqs") is None


def test_refuses_non_modernbert_directory(tmp_path):
    bert = transformers.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=8)
    bert.save_pretrained(tmp_path)
    model = MaskedEncoderModel(TokenDomain(), EncoderConfig(hidden_size=32, num_heads=2, num_layers=1,
                                                            intermediate_size=32))
    with pytest.raises(HFInteropError, match="'bert' model"):
        init_from_hf(model, tmp_path)
    with pytest.raises(HFInteropError, match="no config.json"):
        init_from_hf(model, tmp_path / "nothing")


def test_refuses_domains_and_configs_modernbert_cannot_hold(tmp_path):
    class Extra(TokenDomain):
        def embedder(self, config):
            emb = _Embedder(self.vocab, config.hidden_size)
            emb.scale = nn.Parameter(torch.ones(1))
            return emb

    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=32)
    model = MaskedEncoderModel(Extra(), config)
    with pytest.raises(HFInteropError, match="scale"):
        export_hf(Pretrained(model, Extra(), config), tmp_path / "a")
    mixed = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=32, rope_mode="mixed")
    model = MaskedEncoderModel(TokenDomain(), mixed)
    with pytest.raises(HFInteropError, match="rope_mode='mixed'"):
        export_hf(Pretrained(model, TokenDomain(), mixed), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_export_killed_between_its_renames_is_put_back_and_its_temporary_removed(tmp_path, monkeypatch):
    """(s44) ``overwrite=true`` moves the old export aside, then renames the new one in: a kill
    between the two left no export and the old one stranded as ``.hf.old-<pid>`` for good."""
    import os
    import subprocess
    import sys

    import encoderkit.outputs as outputs

    monkeypatch.setattr(outputs, "RECENT_SECONDS", 0.0)  # the kill here is a second old
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # a pid that has exited: what a killed exporter leaves
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48)
    domain = TokenDomain({"vocab_size": 20})
    model = MaskedEncoderModel(domain, config)
    out = export_hf(Pretrained(model, domain, config), tmp_path / "hf")
    before = (out / "model.safetensors").read_bytes()
    os.rename(out, tmp_path / f".hf.old-{p.pid}")
    (tmp_path / f".hf.tmp-{p.pid}").mkdir()
    with pytest.warns(UserWarning, match="restored the previous one"):
        with pytest.raises(Exception, match="exists"):  # back in place: overwrite is needed again
            export_hf(Pretrained(model, domain, config), tmp_path / "hf")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["hf"]
    assert (out / "model.safetensors").read_bytes() == before
