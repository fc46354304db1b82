"""The time-series embedder + head inside MaskedEncoderModel: relative 2-D positions,
and a few optimizer steps on a real bundled series lower the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from domains.timeseries import TimeSeriesDomain
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.modeling import MaskedEncoderModel


def tiny_config(rope_axes: int, **kw) -> EncoderConfig:
    return EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, rope_axes=rope_axes, backend="sdpa",
                                local_window=8, **kw)


def record(x: np.ndarray) -> dict:
    x = np.atleast_2d(x)
    return {"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0], "length": x.shape[1]}


@pytest.mark.parametrize("channel_independent", [False, True])
def test_shifting_a_series_by_whole_patches_leaves_token_outputs_unchanged(channel_independent):
    torch.manual_seed(0)
    d = TimeSeriesDomain({}, patch=4, channel_independent=channel_independent)
    model = MaskedEncoderModel(d, tiny_config(d.rope_axes)).eval().double()
    # Larger weights than the 0.02 init, so attention is far from uniform and positions
    # really matter; float64 so "unchanged" can be checked tightly.
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    x = np.random.default_rng(0).normal(size=(2, 40))
    ex = d.windows(d.featurize(record(x)), max_seqlen=64)[0]
    m = d.unmasked(ex)
    shifted = d.unmasked(ex)
    shifted.positions = m.positions.copy()
    shifted.positions[:, 0] += 7  # the same series, seven patches later in time
    with torch.no_grad():
        a = model.encode(collate([m]))
        b = model.encode(collate([shifted]))
        # the channel axis is relative too: shifting channel indices changes nothing
        if not channel_independent:
            other = d.unmasked(ex)
            other.positions = m.positions.copy()
            other.positions[:, 1] += 3
            torch.testing.assert_close(model.encode(collate([other])), a, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    # and positions do matter: swapping the time order changes the outputs
    moved = d.unmasked(ex)
    moved.positions = m.positions[::-1].copy()
    with torch.no_grad():
        assert (model.encode(collate([moved])) - a).abs().max() > 1e-2


def test_a_few_adamw_steps_on_co2_lower_the_loss():
    import statsmodels.api as sm

    torch.manual_seed(0)
    # statsmodels' bundled weekly Mauna Loa CO2 (has real NaNs), first 800 weeks
    x = sm.datasets.co2.load_pandas().data["co2"].to_numpy(np.float64)[:800]
    assert np.isnan(x).any()
    d = TimeSeriesDomain({}, patch=8, masker={"random": 1.0, "span": 1.0}, mask_rate=0.3,
                         baseline="none")
    model = MaskedEncoderModel(d, tiny_config(2))
    ex = d.featurize(record(x))
    windows = d.windows(ex, max_seqlen=32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    eval_batch = collate([d.mask(w, np.random.default_rng(1000 + i)) for i, w in enumerate(windows)])

    def eval_loss() -> float:
        with torch.no_grad():
            return float(model(eval_batch).loss)

    before = eval_loss()
    rng = np.random.default_rng(0)
    for _ in range(50):
        batch = collate([d.mask(w, rng) for w in windows])
        out = model(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.6 * before, (before, after)
