"""The time-series channel-identity embedding (``domain.channel_embedding``): which
stores get a table, what each token looks up, the error for a series with more channels
than the table, and runs saved before the option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from domains.timeseries import TimeSeriesDomain
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import build_domain


def config() -> EncoderConfig:
    return EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, rope_axes=2, backend="sdpa", local_window=8)


def record(x: np.ndarray) -> dict:
    x = np.atleast_2d(x)
    return {"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0], "length": x.shape[1]}


def test_only_joint_multichannel_stores_get_a_channel_table():
    assert TimeSeriesDomain({"max_channels": 3}).embedded_channels == 3
    assert TimeSeriesDomain({"max_channels": 1}).embedded_channels == 0  # nothing to tell apart
    assert TimeSeriesDomain({}).embedded_channels == 0
    assert TimeSeriesDomain({"max_channels": 3}, channel_independent=True).embedded_channels == 0
    assert TimeSeriesDomain({"max_channels": 3}, channel_embedding=False).embedded_channels == 0
    emb = TimeSeriesDomain({"max_channels": 3}, patch=4).embedder(config())
    assert emb.channel_embeddings.weight.shape == (3, 32)
    assert not hasattr(TimeSeriesDomain({"max_channels": 1}).embedder(config()), "channel_embeddings")


def test_each_token_adds_its_own_channels_row():
    d = TimeSeriesDomain({"max_channels": 3}, patch=4, window_stats=False)
    torch.manual_seed(0)
    emb = d.embedder(config()).double()
    x = np.random.default_rng(0).normal(size=(3, 12))
    ex = d.featurize(record(x))
    m = d.unmasked(ex)
    # tokens are time-major: channels 0, 1, 2 of patch 0, then of patch 1, ...
    np.testing.assert_array_equal(m.inputs["channel"], np.tile([0, 1, 2], 3))
    inputs = {k: torch.as_tensor(v) for k, v in m.inputs.items()}
    without = {k: v for k, v in inputs.items() if k != "channel"}
    base = emb.proj(torch.cat([without[k].double() for k in emb.fields], dim=-1))
    table = emb.channel_embeddings.weight.detach().numpy()
    want = base.detach().numpy() + table[np.tile([0, 1, 2], 3)]
    np.testing.assert_allclose(emb(inputs).detach().numpy(), want, rtol=1e-12, atol=1e-12)


def test_swapping_two_channels_now_changes_the_outputs():
    """Rotary positions alone see channel 0 vs channel 1 only as an offset; the table makes
    the same values on another channel a different input."""
    d = TimeSeriesDomain({"max_channels": 2}, patch=4)
    torch.manual_seed(1)
    model = MaskedEncoderModel(d, config()).eval()
    x = np.random.default_rng(1).normal(size=(2, 16))
    a = model.encode(collate([d.unmasked(d.featurize(record(x)))]))
    b = model.encode(collate([d.unmasked(d.featurize(record(x[::-1])))]))
    # the token for (patch t, channel 0) of the swapped series holds channel 1's values
    swapped = b.view(4, 2, -1).flip(1).reshape(8, -1)
    assert (swapped - a).abs().max() > 1e-3


def test_a_series_with_more_channels_than_the_table_is_a_clear_error():
    d = TimeSeriesDomain({"max_channels": 2}, patch=4)
    ex = d.featurize(record(np.zeros((3, 8))))
    with pytest.raises(ValueError, match="3 channels.*2 channel embeddings"):
        d.unmasked(ex)


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_bad_channel_embedding_option(bad):
    with pytest.raises(ValueError, match="channel_embedding"):
        TimeSeriesDomain({"max_channels": 2}, channel_embedding=bad)


@pytest.mark.parametrize("n_series, on", [(1, False), (3, False), (4, True), (500, True), (None, True)])
def test_auto_series_inputs_are_on_for_a_collection_of_series(n_series, on):
    schema = {"max_channels": 3, "format_version": 1,
              **({} if n_series is None else {"n_series": n_series, "sum_length": 100 * n_series})}
    d = TimeSeriesDomain(schema, patch=4, channel_embedding="auto", window_stats="auto")
    assert d.options["channel_embedding"] is on and d.options["window_stats"] is on
    assert d.embedded_channels == (3 if on else 0)
    rebuilt = build_domain(d.describe())  # the saved run holds the resolved bools
    assert rebuilt.options["window_stats"] is on and rebuilt.embedded_channels == d.embedded_channels


def test_runs_saved_before_the_option_are_rebuilt_without_the_table():
    d = TimeSeriesDomain({"max_channels": 2, "format_version": 1}, patch=4)
    description = d.describe()
    saved = {**description, "options": {k: v for k, v in description["options"].items()
                                        if k != "channel_embedding"}}
    old = build_domain(saved)
    assert old.options["channel_embedding"] is False and old.embedded_channels == 0
    assert build_domain(description).embedded_channels == 2


# ---- window statistics (domain.window_stats) ---------------------------------------------

def test_running_center_matches_numpy_and_removes_the_units_offset():
    from domains.timeseries.modules import RunningCenter

    rng = np.random.default_rng(0)
    center = RunningCenter(groups=3, features=1).train()
    in_kilo = RunningCenter(groups=3, features=1).train()
    seen = []
    for _ in range(5):  # batches of different sizes, groups in any order
        n = int(rng.integers(1, 40))
        x = rng.normal(2.0, 0.5, size=(n, 1))
        g = rng.integers(0, 3, size=n)
        a = center(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(g))
        # the same data in units 1000x larger: log scales shift by log(1000), outputs do not
        b = in_kilo(torch.as_tensor(x + np.log(1000.0), dtype=torch.float32), torch.as_tensor(g))
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
        seen.append((np.asarray(x, dtype=np.float32).astype(np.float64), g))
    x = np.concatenate([v[0] for v in seen])
    g = np.concatenate([v[1] for v in seen])
    for k in range(3):
        np.testing.assert_allclose(center.mean[k].numpy(), x[g == k].mean(axis=0), rtol=1e-12)
    assert center.count.sum() == len(x)
    center.eval()  # frozen: no update, the running mean subtracted, nothing rescaled
    before = center.mean.clone()
    out = center(torch.tensor([[5.0], [5.0]]), torch.tensor([0, 2])).numpy()[:, 0]
    np.testing.assert_allclose(out, 5.0 - before[[0, 2], 0].numpy(), rtol=1e-6)
    assert torch.equal(center.mean, before)


def test_window_stats_carry_what_normalisation_took_away():
    d = TimeSeriesDomain({"max_channels": 2}, patch=4)
    x = np.stack([np.linspace(100.0, 110.0, 12), np.full(12, -2.0) + np.arange(12) % 2])
    m = d.unmasked(d.featurize(record(x)))
    stats = m.inputs["stats"]  # per token: its channel's level in its own scales, log scale
    want = {k: (np.arcsinh(x[k].mean() / x[k].std()), np.log(x[k].std())) for k in (0, 1)}
    for tok, ch in enumerate(m.inputs["channel"]):
        np.testing.assert_allclose(stats[tok], want[int(ch)], rtol=1e-5)
    # the same shape at another level: identical values input, different stats
    m2 = d.unmasked(d.featurize(record(x + 50.0)))
    np.testing.assert_allclose(m2.inputs["values"], m.inputs["values"], atol=1e-5)
    assert not np.allclose(m2.inputs["stats"][:, 0], m.inputs["stats"][:, 0])
    # in other units: the level term is unchanged, the log scale moves by log(1000)
    m3 = d.unmasked(d.featurize(record(x * 1000.0)))
    np.testing.assert_allclose(m3.inputs["stats"][:, 0], stats[:, 0], rtol=1e-5)
    np.testing.assert_allclose(m3.inputs["stats"][:, 1], stats[:, 1] + np.log(1000.0), rtol=1e-5)


def test_window_stats_off_and_old_runs_leave_the_embedder_as_it_was():
    d = TimeSeriesDomain({"max_channels": 2}, patch=4, window_stats=False)
    assert "stats" not in d.unmasked(d.featurize(record(np.zeros((2, 8)) + 1.0))).inputs
    assert not hasattr(d.embedder(config()), "stats_proj")
    saved = d.describe()
    saved["options"] = {k: v for k, v in saved["options"].items() if k != "window_stats"}
    assert build_domain(saved).options["window_stats"] is False


def test_the_embedder_adds_the_projected_stats_with_its_channels_log_scale_centred():
    d = TimeSeriesDomain({"max_channels": 2}, patch=4)
    torch.manual_seed(2)
    emb = d.embedder(config())
    x = np.stack([np.linspace(100.0, 110.0, 12), np.full(12, -2.0) + np.arange(12) % 2])
    m = d.unmasked(d.featurize(record(x)))
    inputs = {k: torch.as_tensor(v) for k, v in m.inputs.items()}
    emb.train()(inputs)  # one training batch: the running mean is this batch's log scales
    emb.eval()
    got = emb(inputs) - emb({**inputs, "stats": torch.zeros_like(inputs["stats"])})
    stats = m.inputs["stats"].astype(np.float64)
    ch = m.inputs["channel"]
    log_mean = {k: stats[ch == k, 1].mean() for k in (0, 1)}
    centred = np.stack([stats[:, 0], stats[:, 1] - [log_mean[int(k)] for k in ch]], axis=1)
    zero = -np.asarray([log_mean[int(k)] for k in ch])  # zero stats still lose the mean
    w = emb.stats_proj.weight.detach().double().numpy()  # [d, 2]
    want = centred @ w.T - np.stack([np.zeros_like(zero), zero], axis=1) @ w.T
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-4, atol=1e-6)
