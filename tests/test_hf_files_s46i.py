"""`import-hf` of an uploaded directory: shards are plain file names inside it, and
config.json must agree with the safetensors headers before a model is built
(encoderkit/interop/hf_files.py)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from encoderkit import cli
from encoderkit.core import EncoderConfig
from encoderkit.infer import load
from encoderkit.interop.hf import HFInteropError, export_hf, init_from_hf
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import get_domain
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import model_size

CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=3, intermediate_size=48, local_window=8,
                       global_every=2, backend="sdpa")


@pytest.fixture()
def exported(tmp_path):
    """An HF directory exported from a genomic model, and that model."""
    domain = get_domain("genomic")({})
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, CONFIG)
    state = {"step": 0, "tokens": 0, "model_config": CONFIG.to_dict(), "domain": domain.describe()}
    ckpt.save_checkpoint(tmp_path / "src" / "checkpoints", 0, ckpt.model_state(model), {}, [],
                         json.loads(json.dumps(state)), keep=0)
    export_hf(tmp_path / "src", tmp_path / "hf")
    return tmp_path / "hf", model


def _import(hf, out, capsys):
    rc = cli.main(["import-hf", str(hf), f"output={out}", "domain=genomic"])
    return rc, capsys.readouterr().err


def _shard(hf, dest, names):
    """``hf``'s weights split in two shards at ``dest`` with an index naming them ``names``."""
    tensors = load_file(str(hf / "model.safetensors"))
    keys = sorted(tensors)
    dest.mkdir(exist_ok=True)
    (dest / "config.json").write_text((hf / "config.json").read_text())
    halves = (keys[: len(keys) // 2], keys[len(keys) // 2:])
    for part, name in zip(halves, ("a.safetensors", "b.safetensors")):
        save_file({k: tensors[k].contiguous() for k in part}, str(dest / name))
    weight_map = {k: names[i] for i, part in enumerate(halves) for k in part}
    (dest / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return dest


def test_a_sharded_directory_with_plain_names_imports(exported, tmp_path, capsys):
    hf, model = exported
    sharded = _shard(hf, tmp_path / "sharded", ["a.safetensors", "b.safetensors"])
    rc, err = _import(sharded, tmp_path / "run", capsys)
    assert rc == 0, err
    torch.testing.assert_close(load(tmp_path / "run").model.encoder.layers[2].mlp.Wi.weight,
                               model.encoder.layers[2].mlp.Wi.weight)


@pytest.mark.parametrize("kind", ["absolute", "parent", "missing"])
def test_an_index_naming_a_file_outside_the_directory_is_refused(exported, tmp_path, capsys, kind):
    hf, _ = exported
    other = _shard(hf, tmp_path / "tenant_b", ["a.safetensors", "b.safetensors"])  # another's files
    upload = tmp_path / "uploads" / "evil"
    upload.mkdir(parents=True)
    names = {"absolute": [str(other / "a.safetensors"), str(other / "b.safetensors")],
             "parent": ["../../tenant_b/a.safetensors", "../../tenant_b/b.safetensors"],
             "missing": ["a.safetensors", "b.safetensors"]}[kind]
    (upload / "config.json").write_text((hf / "config.json").read_text())
    index = json.loads((other / "model.safetensors.index.json").read_text())
    index["weight_map"] = {k: names[0] if v == "a.safetensors" else names[1] for k, v in index["weight_map"].items()}
    (upload / "model.safetensors.index.json").write_text(json.dumps(index))
    rc, err = _import(upload, tmp_path / "run", capsys)
    assert rc == 1 and "weight_map entry" in err and "model.safetensors.index.json" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
    # the trainer's run.init_from reads the directory through the same check
    model = MaskedEncoderModel(get_domain("genomic")({}), CONFIG)
    with pytest.raises(HFInteropError, match="weight_map entry"):
        init_from_hf(model, upload)


def _edit(hf, dest, config=None, tensors=None):
    """A copy of ``hf`` with config.json keys ``config`` and tensors ``tensors`` replaced
    (a value None drops the tensor)."""
    dest.mkdir()
    weights = load_file(str(hf / "model.safetensors"))
    for k, v in (tensors or {}).items():
        if v is None:
            del weights[k]
        else:
            weights[k] = v
    save_file(weights, str(dest / "model.safetensors"))
    (dest / "config.json").write_text(json.dumps({**json.loads((hf / "config.json").read_text()), **(config or {})}))
    return dest


def test_a_config_claiming_another_model_is_refused_before_building_it(exported, tmp_path, capsys, monkeypatch):
    hf, _ = exported
    built = []  # the device each model is built on: meta allocates nothing
    original = MaskedEncoderModel.__init__

    def recording(self, domain, config):
        built.append((torch.empty(0).device.type, config.hidden_size))
        original(self, domain, config)
    monkeypatch.setattr(MaskedEncoderModel, "__init__", recording)
    cases = {  # what the upload claims or holds -> what the one line says
        # 512 wide, not 16384: without the check this test itself builds the claimed model
        "wide": ({"hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 768}, {},
                 "gives hidden_size=512, the weights hold hidden_size=32"),
        "deep": ({"num_hidden_layers": 96}, {}, "gives num_layers=96, the weights hold num_layers=3"),
        "reshaped": ({}, {"model.layers.1.attn.Wo.weight": torch.zeros(32, 16)},
                     "tensor model.layers.1.attn.Wo.weight as (32, 32), the weights hold (32, 16)"),
        "holed": ({}, {"model.layers.1.mlp.Wo.weight": None}, "lack 1 of their tensors"),
    }
    for name, (config, tensors, needle) in cases.items():
        rc, err = _import(_edit(hf, tmp_path / name, config, tensors), tmp_path / f"run_{name}", capsys)
        assert rc == 1 and needle in err and len(err.strip().splitlines()) == 1, (name, err)
        assert not (tmp_path / f"run_{name}").exists()
    assert [b for b in built if b[0] != "meta"] == []  # no model of a claimed size was built
    rc, err = _import(hf, tmp_path / "ok", capsys)  # the untouched export still imports
    assert rc == 0 and built[-1] == ("cpu", 32)
    # run.init_from (the trainer's path) reads config.json against the headers the same way
    model = MaskedEncoderModel(get_domain("genomic")({}), CONFIG)
    with pytest.raises(HFInteropError, match="num_layers=96"):
        init_from_hf(model, tmp_path / "deep")


def test_a_model_larger_than_memory_is_refused_with_its_size(exported, tmp_path, capsys, monkeypatch):
    hf, model = exported
    monkeypatch.setattr(model_size, "memory_bytes", lambda: 1000)
    rc, err = _import(hf, tmp_path / "run", capsys)
    count = sum(p.numel() for p in model.parameters())
    assert rc == 1 and f"{count:,} parameters" in err and "config.json" in err
    assert not (tmp_path / "run").exists()
