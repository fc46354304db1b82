"""Encoder: packing invariance, local-window gradients, parameter count, HF ModernBERT parity."""

from __future__ import annotations

import math

import pytest
import torch

from encoderkit.core import Encoder, EncoderConfig
from encoderkit.core.layers import EncoderLayer, LayerContext
from encoderkit.core.attention import get_backend


def _cfg(**kw) -> EncoderConfig:
    base = dict(hidden_size=64, num_layers=3, num_heads=2, intermediate_size=96, local_window=8,
                global_every=2, backend="sdpa")
    return EncoderConfig(**{**base, **kw})


def _cu(lengths) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)


def _positions(lengths) -> torch.Tensor:
    return torch.cat([torch.arange(n) for n in lengths])[:, None].int()


def test_sequence_output_is_the_same_alone_and_packed():
    torch.manual_seed(0)
    model = Encoder(_cfg()).eval()  # global, local (window 8), global
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.Wqkv.weight.normal_(0, 0.3)  # peaky attention: packing leaks would show
    # The targets sit between other sequences, one next to an equal length; 130 tokens run
    # local layers blocked, 37 dense.
    lengths = [12, 130, 1, 130, 25, 37, 40]
    hidden = torch.randn(sum(lengths), 64)
    cu = _cu(lengths).tolist()
    with torch.no_grad():
        packed = model(hidden, _positions(lengths), _cu(lengths), max(lengths))
        for i in (1, 2, 5):
            s, e = cu[i], cu[i + 1]
            alone = model(hidden[s:e], _positions([e - s]), _cu([e - s]), e - s)
            torch.testing.assert_close(packed[s:e], alone, atol=1e-5, rtol=1e-5)


def test_local_layer_gradient_is_zero_beyond_half_window():
    """Through one local layer (norms, attention, MLP): d y_i / d x_j == 0 iff |i - j| > 4."""
    torch.manual_seed(0)
    cfg = _cfg()
    layer = EncoderLayer(cfg, 1)  # layer 1 is local (global_every=2)
    assert layer.attn.window == 8
    lengths, i = [6, 30], 15
    x = torch.randn(sum(lengths), 64, requires_grad=True)
    backend = get_backend("sdpa")
    from encoderkit.core.rope import Rotary
    rot = Rotary(cfg.head_dim, cfg.axis_split(), cfg.axis_thetas("local"))
    pos = _positions(lengths)
    ctx = LayerContext(pos, {"local": rot(pos)}, backend, backend.plan(_cu(lengths), 30))
    layer(x, ctx)[6 + i].sum().backward()
    per_token = x.grad[6:].abs().sum(1)
    dist = (torch.arange(30) - i).abs()
    assert torch.all(per_token[dist > 4] == 0)
    assert torch.all(per_token[dist <= 4] > 0)
    assert torch.all(x.grad[:6] == 0)


def test_base_core_parameter_count_matches_modernbert_base_shapes():
    d, inter, layers = 768, 1152, 22
    per_layer = 3 * d * d + d * d + d * 2 * inter + inter * d + d  # Wqkv, Wo, Wi, Wo, mlp_norm
    expected = layers * per_layer + (layers - 1) * d + 2 * d  # attn_norms (not layer 0), emb+final
    assert expected == 110_331_648  # ModernBERT-base's 149,014,272 minus 50368 x 768 embeddings
    with torch.device("meta"):
        model = Encoder(EncoderConfig.preset("base"))
    assert model.num_parameters() == expected


def test_init_follows_modernbert():
    torch.manual_seed(0)
    cfg = EncoderConfig.preset("tiny", num_layers=6)
    model = Encoder(cfg)
    std_out = 0.02 / math.sqrt(2 * cfg.num_layers)
    for layer in model.layers:
        for w, std in ((layer.attn.Wqkv.weight, 0.02), (layer.mlp.Wi.weight, 0.02),
                       (layer.attn.Wo.weight, std_out), (layer.mlp.Wo.weight, std_out)):
            assert w.abs().max() <= 2 * std + 1e-7  # truncated at 2 std
            # the std of N(0, s) truncated at +-2s is 0.8796 s
            assert abs(w.std().item() / (0.8796 * std) - 1) < 0.05
    assert torch.all(model.final_norm.weight == 1) and model.final_norm.bias is None


def test_backward_and_gradient_checkpointing_agree():
    torch.manual_seed(0)
    model = Encoder(_cfg(rope_mode="mixed"))
    lengths = [20, 9, 31]
    hidden = torch.randn(sum(lengths), 64)
    grads = []
    for ckpt in (False, True):
        model.zero_grad()
        model.gradient_checkpointing = ckpt
        model(hidden, _positions(lengths), _cu(lengths), 31).pow(2).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(g.abs().sum() > 0 for g in grads[0])  # every parameter learns (mixed freqs too)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_flex_encoder_forward_matches_sdpa():
    """The whole Encoder on the flex backend (forward-only on CPU) equals the sdpa one."""
    torch.manual_seed(0)
    sdpa = Encoder(_cfg(local_window=16)).eval()
    flex = Encoder(_cfg(local_window=16, backend="flex")).eval()
    flex.load_state_dict(sdpa.state_dict())
    lengths = [40, 3, 70]
    hidden = torch.randn(sum(lengths), 64)
    with torch.no_grad():
        a = sdpa(hidden, _positions(lengths), _cu(lengths), 70)
        b = flex(hidden, _positions(lengths), _cu(lengths), 70)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_xformers_refuses_local_layers_with_a_clear_error():
    with pytest.raises(ValueError, match="global_every=1"):
        Encoder(_cfg(backend="xformers"))


def test_matches_transformers_modernbert():
    """Same weights -> same hidden states as HF ModernBertModel (padded batch vs packed)."""
    mb = pytest.importorskip("transformers.models.modernbert.modeling_modernbert")
    torch.manual_seed(0)
    cfg = _cfg(num_layers=4, global_every=3, local_window=16)
    model = Encoder(cfg).eval()
    hf_cfg = mb.ModernBertConfig(
        vocab_size=8, pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2,
        hidden_size=64, num_hidden_layers=4, num_attention_heads=2, intermediate_size=96,
        local_attention=16, global_attn_every_n_layers=3, global_rope_theta=160000.0,
        local_rope_theta=10000.0, norm_eps=1e-5, attn_implementation="sdpa")
    hf = mb.ModernBertModel(hf_cfg).eval()
    state = {k.replace("embedding_norm", "embeddings.norm"): v for k, v in model.state_dict().items()}
    result = hf.load_state_dict(state, strict=False)
    assert result.missing_keys == ["embeddings.tok_embeddings.weight"] and not result.unexpected_keys
    lengths = [50, 23]
    hidden = torch.randn(2, 50, 64)
    mask = torch.zeros(2, 50, dtype=torch.long)
    mask[0, :50], mask[1, :23] = 1, 1
    with torch.no_grad():
        ref = hf(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
        out = model(torch.cat([hidden[0], hidden[1, :23]]), _positions(lengths), _cu(lengths), 50)
    torch.testing.assert_close(out[:50], ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[50:], ref[1, :23], atol=1e-5, rtol=1e-5)
    # The rotary tables are bit-identical to HF's.
    rope = mb.ModernBertRotaryEmbedding(hf_cfg)
    pos = torch.arange(300)
    for kind, layer_type in (("global", "full_attention"), ("local", "sliding_attention")):
        cos_ref, sin_ref = rope(torch.zeros(1), pos[None], layer_type)
        cos, sin = model.rotary[kind](pos[:, None])
        assert torch.equal(cos, cos_ref[0]) and torch.equal(sin, sin_ref[0])
