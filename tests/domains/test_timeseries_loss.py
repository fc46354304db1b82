"""The series head's training loss: mean squared error, or with ``domain.loss_delta`` a
squared error that turns linear beyond that many window sds (hand-computed references)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.modules import PatchHead


def loss_ref(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, delta: float | None) -> float:
    """float64: per token the mean over its target samples, then the mean over tokens that
    have any; e^2 inside +-delta, 2 delta |e| - delta^2 outside (continuous at delta)."""
    e = np.abs(pred - truth)
    per = e ** 2 if delta is None else np.where(e <= delta, e ** 2, 2 * delta * e - delta ** 2)
    n = mask.sum(axis=1)
    tokens = (per * mask).sum(axis=1)[n > 0] / n[n > 0]
    return float(tokens.mean())


@pytest.mark.parametrize("delta", [None, 3.0, 0.5])
def test_head_loss_equals_the_float64_reference(delta):
    torch.manual_seed(0)
    head = PatchHead(4, 8, loss_delta=delta)
    hidden = torch.randn(6, 8)
    truth = torch.randn(6, 4) * 8  # several errors beyond 3 sds
    mask = torch.rand(6, 4) < 0.7
    mask[2] = False  # a token with no target sample does not count
    out = head(hidden, {"values": truth, "target_mask": mask})
    pred = head.proj(hidden).detach().double().numpy()
    ref = loss_ref(pred, truth.double().numpy(), mask.numpy(), delta)
    np.testing.assert_allclose(float(out.loss), ref, rtol=1e-5)
    assert set(out.losses) == {"mse" if delta is None else "huber"}
    np.testing.assert_allclose(float(out.metrics["sample_mse"]),
                               ((pred - truth.double().numpy()) ** 2 * mask.numpy()).sum() / mask.sum().item(),
                               rtol=1e-5)  # the metric stays the squared error


def test_an_outlier_pulls_the_bounded_loss_with_a_bounded_gradient():
    head = PatchHead(1, 2, loss_delta=3.0)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.zero_()
    hidden = torch.ones(2, 2)
    truth = torch.tensor([[1.0], [130.0]])  # the second: a sample 130 window sds out
    out = head(hidden, {"values": truth, "target_mask": torch.ones(2, 1, dtype=torch.bool)})
    out.loss.backward()
    # d/dpred of the mean over 2 tokens: -2 * 1 / 2 (inside) and -2 * 3 / 2 (clipped at delta)
    np.testing.assert_allclose(float(head.proj.bias.grad), -(1.0 + 3.0), rtol=1e-6)


def test_domain_passes_the_option_and_validates_it():
    class Config:
        hidden_size = 8
    assert TimeSeriesDomain({}, patch=4).head(Config()).loss_delta is None
    assert TimeSeriesDomain({}, patch=4, loss_delta=3.0).head(Config()).loss_delta == 3.0
    for bad in (0, -1.0, True, "3"):
        with pytest.raises(ValueError, match="loss_delta"):
            TimeSeriesDomain({}, loss_delta=bad)
