"""A model too large for the machine is one line with its parameter count and bytes, said
before anything is allocated (encoderkit/train/model_size.py)."""

from __future__ import annotations

import pytest

from encoderkit import cli
from encoderkit.train import model_size
from encoderkit.train.config import ConfigError, encoder_config


def _encoder_count(h: int, layers: int, inter: int) -> int:
    """By hand: per layer Wqkv 3h^2, Wo h^2, Wi h x 2I (GLU), Wo I x h, two norms of h
    (layer 0 has no attn_norm: the embedding norm precedes it); plus the embedding and
    final norms. No biases."""
    return layers * (4 * h * h + 3 * h * inter + 2 * h) - h + 2 * h


def test_a_huge_model_is_refused_with_its_size_before_allocation(monkeypatch):
    monkeypatch.setattr(model_size, "memory_bytes", lambda: 64 * 10 ** 9)
    expected = _encoder_count(32768, 48, 256)  # model=tiny: intermediate 256
    with pytest.raises(ConfigError) as e:
        encoder_config({"preset": "tiny", "hidden_size": 32768, "num_layers": 48}, rope_axes=1)
    message = str(e.value)
    assert f"{expected:,} parameters" in message
    assert f"{expected * 4 / 1e9:.1f} GB" in message and "64.0 GB" in message and "\n" not in message
    # a model that fits is built as before
    assert encoder_config({"preset": "small"}, rope_axes=1).hidden_size == 384


def test_the_count_is_exact(monkeypatch):
    from encoderkit.core import Encoder, EncoderConfig

    config = EncoderConfig.preset("tiny", hidden_size=48, num_heads=2, num_layers=5, intermediate_size=40)
    assert model_size.encoder_parameters(config) == Encoder(config).num_parameters() == _encoder_count(48, 5, 40)


def test_a_failed_allocation_is_one_line_with_the_size():
    with pytest.raises(ConfigError) as e:
        with model_size.allocation(1_000_000, ConfigError):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't "
                               "allocate memory: you tried to allocate 4000000 bytes. Error code 12")
    assert "1,000,000 parameters (0.0 GB in float32)" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="1,000 parameters"):
        with model_size.allocation(1000, ConfigError):
            raise MemoryError()
    with pytest.raises(RuntimeError, match="shape mismatch"):  # not an allocation: unchanged
        with model_size.allocation(1000, ConfigError):
            raise RuntimeError("shape mismatch")


def test_memory_reads_this_machine():
    with open("/proc/meminfo") as f:
        fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    have = model_size.memory_bytes()
    assert have is not None and 2 ** 27 <= have <= fields["MemTotal"] + fields.get("SwapTotal", 0)


def test_pretrain_command_refuses_the_override_without_a_run_dir(tmp_path, capsys, monkeypatch):
    """On a machine of 8 MB (patched: a model that really exceeds this one's memory must not
    be tried without the check), hidden 256 x 8 layers (10.6 MB of parameters) is refused."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(model_size, "memory_bytes", lambda: 8 * 10 ** 6)
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert cli.main(["ingest", "domain=tabular", "input=t.csv", "output=s.zarr"]) == 0
    rc = cli.main(["pretrain", "domain=tabular", "data.store=s.zarr", "run.dir=r", "train.steps=1",
                   "model.hidden_size=256", "model.num_layers=8", "train.progress=false"])
    err = capsys.readouterr().err
    expected = _encoder_count(256, 8, 256)
    assert rc == 2 and f"{expected:,} parameters" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
