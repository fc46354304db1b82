"""Smoke run of the side-by-side harness (no timing assertions) and its FLOPs formula."""

import numpy as np
import pytest

from benchmarks import modernbert_compare as mc
from benchmarks import train_throughput
from encoderkit.core import EncoderConfig


def test_flops_formula_matches_hand_computation():
    # 3 layers, global_every 3 -> layer 0 global, layers 1-2 local; window 4 -> 5 keys.
    cfg = EncoderConfig(hidden_size=8, num_layers=3, num_heads=2, intermediate_size=16,
                        local_window=4, global_every=3)
    lengths = [2, 10]
    # token-weighted spans: global (2*2 + 10*10)/12, local (2*2 + 10*5)/12
    s_g, s_l = 104 / 12, 54 / 12
    expected = 6 * 1000 + 12 * 1 * 8 * s_g + 12 * 2 * 8 * s_l + 6 * (64 + 8 * 64) * 0.25
    got = mc.flops_per_token(cfg, n_nonemb=1000, vocab=64, lengths=lengths, predicted_fraction=0.25)
    assert got == pytest.approx(expected)
    assert mc.flops_per_token(cfg, 1000, 64, lengths, 0.25, train=False) == pytest.approx(expected / 3)


def test_lengths_fill_budget_within_distribution_bounds():
    rng = np.random.default_rng(0)
    lengths = mc.sample_lengths("var256", 20_000, rng)
    assert sum(lengths) == 20_000
    assert max(lengths) <= 512 and min(lengths[:-1]) >= 16


def test_packed_and_padded_views_hold_the_same_tokens():
    rng = np.random.default_rng(1)
    b = mc.make_batch([5, 3], 5, 9, 3, 0, 0.5, rng)
    assert b.packed.cu_seqlens.tolist() == [0, 5, 8]
    assert b.attention_mask.sum() == 8
    packed_ids = b.packed.inputs["ids"]
    assert b.input_ids[0, :5].tolist() == packed_ids[:5].tolist()
    assert b.input_ids[1, :3].tolist() == packed_ids[5:].tolist()
    assert (b.labels != -100).sum() == b.packed.predict.sum()


@pytest.mark.parametrize("mode", ["train", "embed"])
def test_harness_smoke_run(mode, capsys):
    assert train_throughput.main(["--mode", mode, "--size", "tiny", "--dist", "var256",
                                  "--tokens", "300", "--batches", "1", "--rounds", "1",
                                  "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "encoderkit" in out and "transformers" in out and "ratio" in out


def test_max_batch_smoke_run_reports_cap(capsys):
    from benchmarks import max_batch

    assert max_batch.main(["--size", "tiny", "--dist", "var256", "--device", "cpu", "--start", "128",
                           "--cap", "256"]) == 0
    assert "256 tokens (cap reached)" in capsys.readouterr().out


def test_step_profile_smoke_run_reports_phases_and_operators(capsys):
    import re

    from benchmarks import step_profile

    assert step_profile.main(["--size", "tiny", "--dist", "var256", "--tokens", "512", "--steps", "2",
                              "--warmup", "1", "--top", "5", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"step ([\d.]+) ms.*forward ([\d.]+) ms.*backward ([\d.]+) ms.*optimizer ([\d.]+) ms", out)
    assert m, out
    step, *phases = map(float, m.groups())
    # the step is the sum of the phase medians (each rounded to 0.1 ms in the printout)
    assert sum(phases) == pytest.approx(step, abs=0.25)
    assert "aten::mm" in out or "aten::addmm" in out  # the operator table is there
