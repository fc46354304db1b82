"""N-D rotary: HF-exact for D = 1, relative (shift-invariant) for D = 1..3, none for D = 0."""

from __future__ import annotations

import pytest
import torch

from encoderkit.core import Encoder, EncoderConfig
from encoderkit.core.rope import Rotary, apply_rotary


def test_one_axis_is_the_standard_rotary_ladder():
    """D = 1: inv_freq = theta ** (-2i / Dh), tables cat(freqs, freqs) (HF-exact: test_model)."""
    pos = torch.arange(300)
    cos, sin = Rotary(32, (16,), (160000.0,))(pos[:, None].int())
    inv = 160000.0 ** (-torch.arange(0, 32, 2, dtype=torch.float64) / 32)
    ang = pos[:, None].double() * inv
    torch.testing.assert_close(cos.double(), torch.cat([ang.cos(), ang.cos()], -1), atol=2e-5, rtol=0)
    torch.testing.assert_close(sin.double(), torch.cat([ang.sin(), ang.sin()], -1), atol=2e-5, rtol=0)


def test_tables_are_float32_and_rotation_keeps_dtype_and_norm():
    rot = Rotary(16, (5, 3), (100.0, 10.0))
    pos = torch.randint(0, 50, (20, 2))
    cos, sin = rot(pos)
    assert cos.dtype == torch.float32 and cos.shape == (20, 16)
    x = torch.randn(20, 3, 16)
    y = apply_rotary(x.bfloat16(), (cos, sin))
    assert y.dtype == torch.bfloat16
    # A rotation of each pair: norms are preserved (float32 path).
    torch.testing.assert_close(apply_rotary(x, (cos, sin)).norm(dim=-1), x.norm(dim=-1))


def test_each_axis_rotates_only_its_own_pairs():
    rot = Rotary(16, (5, 3), (100.0, 10.0))  # pairs 0-4 follow axis 0, 5-7 axis 1
    base = torch.tensor([[3, 4]])
    moved = torch.tensor([[3, 9]])  # only axis 1 changes
    (c0, _), (c1, _) = rot(base), rot(moved)
    assert torch.equal(c0[0, :5], c1[0, :5]) and not torch.equal(c0[0, 5:8], c1[0, 5:8])


def test_no_axes_means_no_rotation():
    assert Rotary(16, (), ())(torch.zeros(5, 0)) is None


def test_mixed_starts_as_axial_and_learns():
    pos = torch.randint(0, 30, (12, 2)).float()
    axial = Rotary(16, (4, 4), (1e4, 1e4))
    mixed = Rotary(16, (4, 4), (1e4, 1e4), mode="mixed", num_heads=3)
    (ca, sa), (cm, sm) = axial(pos), mixed(pos)
    assert cm.shape == (12, 3, 16)
    torch.testing.assert_close(cm, ca[:, None].expand_as(cm))
    torch.testing.assert_close(sm, sa[:, None].expand_as(sm))
    (cm.sum() + sm.sum()).backward()
    assert mixed.freqs.grad is not None and mixed.freqs.grad.abs().sum() > 0


def _tiny(**kw) -> EncoderConfig:
    kw = {"global_every": 2, **kw}  # layers: global, local, global
    return EncoderConfig(hidden_size=64, num_layers=3, num_heads=2, intermediate_size=96,
                         local_window=8, backend="sdpa", **kw)


def _sharpen(model: Encoder) -> Encoder:
    """Larger q/k weights make attention peaky, so positions visibly matter."""
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.Wqkv.weight.normal_(0, 0.3)
    return model


def _run(model, positions, lengths):
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(sum(lengths), 64, generator=g)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    with torch.no_grad():
        return model(hidden, positions, cu, max(lengths))


@pytest.mark.parametrize("axes", [1, 2, 3])
@pytest.mark.parametrize("mode", ["axial", "mixed"])
def test_shifting_one_sequence_leaves_its_output_unchanged(axes, mode):
    torch.manual_seed(0)
    model = _sharpen(Encoder(_tiny(rope_axes=axes, rope_mode=mode))).eval()
    lengths = [17, 30]
    pos = torch.randint(0, 20, (sum(lengths), axes)).float()
    out = _run(model, pos, lengths)
    for axis in range(axes):
        shifted = pos.clone()
        shifted[17:, axis] += 23.0  # the second sequence only, along one axis
        again = _run(model, shifted, lengths)
        torch.testing.assert_close(again, out, atol=1e-4, rtol=1e-4)
    # ... and the positions do matter (the check above is not vacuous).
    scaled = pos.clone()
    scaled[17:] *= 2
    assert (_run(model, scaled, lengths)[17:] - out[17:]).abs().max() > 1e-2


def test_without_positions_permuting_tokens_permutes_the_output():
    torch.manual_seed(0)
    model = _sharpen(Encoder(_tiny(rope_axes=0, global_every=None))).eval()  # auto: every layer global
    lengths = [9, 40, 5]
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(sum(lengths), 64, generator=g)
    cu = torch.tensor([0, 9, 49, 54], dtype=torch.int32)
    pos = torch.zeros(54, 0)
    perm = torch.arange(54)
    perm[9:49] = 9 + torch.randperm(40, generator=g)  # shuffle the middle sequence
    with torch.no_grad():
        out = model(hidden, pos, cu, 40)
        out_perm = model(hidden[perm], pos, cu, 40)
    torch.testing.assert_close(out_perm, out[perm], atol=1e-5, rtol=1e-5)
