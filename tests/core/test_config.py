"""EncoderConfig: presets, validation messages that name the field, serialisation."""

from __future__ import annotations

import json
import warnings

import pytest

from encoderkit.core import EncoderConfig


@pytest.mark.parametrize("overrides,field", [
    (dict(hidden_size=100, num_heads=12), "hidden_size"),  # not divisible by heads
    (dict(hidden_size=36, num_heads=4), "num_heads"),  # head dim 9 is odd
    (dict(rope_axes=2, rope_split=(10, 10)), "rope_split"),  # 20 pairs != head_dim/2 = 32
    (dict(rope_axes=2, rope_split=(32,)), "rope_split"),  # one entry for two axes
    (dict(rope_axes=2, rope_split=(32, 0)), "rope_split"),  # an axis without a pair
    (dict(local_window=127), "local_window"),  # odd
    (dict(local_window=-2), "local_window"),  # negative
    (dict(local_window=0), "local_window"),
    (dict(global_every=0), "global_every"),
    (dict(backend="cuda"), "backend"),
    (dict(rope_mode="spiral"), "rope_mode"),
    (dict(rope_axes=-1), "rope_axes"),
    (dict(rope_axes=33), "rope_axes"),  # more axes than the 32 frequency pairs
    (dict(rope_theta_global=1.0), "rope_theta_global"),
    (dict(rope_axes=2, rope_theta_local=(1e4,)), "rope_theta_local"),  # one theta, two axes
    (dict(num_layers=0), "num_layers"),
    (dict(intermediate_size=2.5), "intermediate_size"),
    (dict(norm_eps=0.0), "norm_eps"),
    (dict(attention_dropout=1.0), "attention_dropout"),
    (dict(mlp_dropout=-0.1), "mlp_dropout"),
    (dict(rope_axes=0, rope_mode="mixed"), "rope_mode"),
])
def test_invalid_config_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=f"'{field}'"):
        EncoderConfig.preset("base", **overrides)


def test_unknown_field_is_refused():
    with pytest.raises(ValueError, match="hidden"):
        EncoderConfig.from_dict({"hiden_size": 64})
    with pytest.raises(ValueError, match="'name'"):
        EncoderConfig.preset("huge")


def test_presets_have_the_documented_shapes():
    base = EncoderConfig.preset("base")
    assert (base.num_layers, base.hidden_size, base.num_heads, base.intermediate_size) == \
        (22, 768, 12, 1152)
    assert (base.local_window, base.global_every) == (128, 3)
    assert (base.rope_theta_global, base.rope_theta_local) == (160000.0, 10000.0)
    large = EncoderConfig.preset("large")
    assert (large.num_layers, large.hidden_size, large.num_heads, large.intermediate_size) == \
        (28, 1024, 16, 2624)
    for name in ("tiny", "small"):
        cfg = EncoderConfig.preset(name)
        assert cfg.has_local_layers and cfg.local_window < 128  # windows matter at CPU lengths
    assert EncoderConfig.preset("tiny", hidden_size=64, num_heads=2).head_dim == 32


def test_global_every_auto_depends_on_positions():
    assert EncoderConfig.preset("tiny").global_every == 3
    assert EncoderConfig.preset("tiny", rope_axes=0).global_every == 1  # sets: all global
    assert [EncoderConfig.preset("tiny").is_global(i) for i in range(4)] == [True, False, False, True]


def test_local_layers_without_positions_warn():
    with pytest.warns(UserWarning, match="token order"):
        EncoderConfig.preset("tiny", rope_axes=0, global_every=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EncoderConfig.preset("tiny", rope_axes=0, global_every=1)  # explicit but all global


def test_rope_split_default_and_override():
    cfg = EncoderConfig.preset("tiny", rope_axes=3)  # head_dim 32 -> 16 pairs
    assert cfg.axis_split() == (6, 5, 5)
    cfg = EncoderConfig.preset("tiny", rope_axes=2, rope_split=[12, 4])  # list from JSON/Hydra
    assert cfg.axis_split() == (12, 4)
    assert cfg.axis_thetas("local") == (10000.0, 10000.0)


def test_dict_round_trip_through_json():
    cfg = EncoderConfig.preset("small", rope_axes=2, rope_split=(20, 12), backend="sdpa",
                               rope_theta_global=(1e5, 2e4))
    again = EncoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
