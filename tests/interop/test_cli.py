"""`encoderkit export-hf` / `import-hf` on the genomic domain (token ids, 1-D positions),
checked against transformers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from encoderkit import cli
from encoderkit.core import EncoderConfig
from encoderkit.infer import load
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import available_domains, get_domain
from encoderkit.train import checkpoint as ckpt

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.skipif("genomic" not in available_domains(), reason="genomic domain not registered")

CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=3, intermediate_size=48, local_window=8,
                       global_every=2, backend="sdpa")


def test_export_hf_cli_on_a_genomic_run_matches_transformers(tmp_path, capsys):
    domain = get_domain("genomic")({})
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, CONFIG)
    with torch.no_grad():
        model.head.decoder.bias.normal_()  # non-zero, so a dropped bias would show
    state = {"step": 7, "model_config": CONFIG.to_dict(), "domain": domain.describe()}
    ckpt.save_checkpoint(tmp_path / "run" / "checkpoints", 7, ckpt.model_state(model), {}, [], state, keep=0)

    assert cli.main(["export-hf", str(tmp_path / "run"), str(tmp_path / "hf")]) == 0
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (config["vocab_size"], config["pad_token_id"], config["mask_token_id"]) == (64, 0, 3)
    hf = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "hf", attn_implementation="sdpa")
    pt = load(tmp_path / "run")
    seq = "ACGTTGCAAGGCTTACNNACGTAGCTAGCTAGGATCCA"
    example = domain.unmasked(domain.featurize(domain.to_records([seq])[0]))
    ids = torch.from_numpy(example.inputs["ids"]).long()[None]
    example.predict[:] = True
    ours = pt.predict([example])[0]["logits"]
    with torch.no_grad():
        theirs = hf(input_ids=ids).logits[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    assert cli.main(["export-hf", str(tmp_path / "run"), str(tmp_path / "hf")]) == 1
    assert "already exists; pass overwrite=true" in capsys.readouterr().err


def test_import_hf_cli_writes_a_loadable_run_and_reports_the_resize(tmp_path, capsys):
    hf_config = transformers.ModernBertConfig(
        vocab_size=100, hidden_size=32, num_attention_heads=2, num_hidden_layers=3, intermediate_size=48,
        local_attention=8, global_attn_every_n_layers=2, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        cls_token_id=1, sep_token_id=2)
    torch.manual_seed(0)
    hf = transformers.ModernBertForMaskedLM(hf_config)
    hf.save_pretrained(tmp_path / "hf")
    assert cli.main(["import-hf", str(tmp_path / "hf"), f"output={tmp_path / 'run'}", "domain=genomic"]) == 0
    assert "vocabulary resized 100 -> 64: kept rows 0..63" in capsys.readouterr().out
    pt = load(tmp_path / "run")
    assert pt.step == 0 and pt.domain.name == "genomic"
    torch.testing.assert_close(pt.model.encoder.layers[1].attn.Wqkv.weight, hf.model.layers[1].attn.Wqkv.weight)
    assert pt.embed(["ACGTACGTAC", "GGGCCC"]).shape == (2, 32)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    assert cli.main(["import-hf", str(tmp_path / "bad"), f"output={tmp_path / 'r2'}", "domain=genomic"]) == 1
    assert "'bert' model" in capsys.readouterr().err
