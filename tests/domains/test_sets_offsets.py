"""The sets embedder's offset features: each element's place relative to its set's
centroid and RMS radius (``relative_positions``), as Fourier features in the embedding
(``offset_bands``). Checked against hand-computed cases and a float64 reference, under
translation / scale / chunking / augmentation / views, and for runs saved before the
option existed."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from domains.sets import SetsDomain
from domains.sets.digits import load_digit_sets
from domains.sets.views import relative_positions
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import build_domain

from .test_sets import encode as encode_batch
from .test_sets import ingest_memory as ingest_sets_in_memory
from .test_sets import sharpen


def ingest_memory(sets, **options):
    schema, records, _ = ingest_sets_in_memory(sets, **options)
    return schema, records


def tiny(rope_axes: int) -> EncoderConfig:
    return EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, rope_axes=rope_axes, global_every=1,
                                backend="sdpa")


def encode(model, domain, records) -> torch.Tensor:
    return encode_batch(model, domain, records)[0]


def test_relative_positions_hand_computed():
    pos = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 3.0]])
    # centroid (1, 1); offsets (-1, -1), (1, -1), (0, 2); mean squared radius 8 / 3
    want = np.array([[-1.0, -1.0], [1.0, -1.0], [0.0, 2.0]]) / math.sqrt(8.0 / 3.0)
    np.testing.assert_allclose(relative_positions(pos), want, rtol=1e-6)
    np.testing.assert_array_equal(relative_positions(np.array([[5.0, 7.0]])), [[0.0, 0.0]])
    assert relative_positions(np.zeros((0, 3))).shape == (0, 3)
    # unit-free: translation and a uniform scale change nothing
    rng = np.random.default_rng(0)
    p = rng.normal(size=(20, 3))
    np.testing.assert_allclose(relative_positions(7.5 * p + [1e4, -3.0, 2.0]),
                               relative_positions(p), atol=1e-5)


def test_embedder_offset_term_matches_a_float64_reference():
    sets, _ = load_digit_sets(limit=2)
    schema, records = ingest_memory(sets)
    domain = SetsDomain(schema, offset_bands=3)
    torch.manual_seed(0)
    emb = domain.embedder(tiny(2)).double()
    example = domain.featurize(records[0])
    inputs = {k: torch.as_tensor(v) for k, v in example.fields.items()}
    got = emb(inputs) - emb({**inputs, "rel_pos": torch.zeros_like(inputs["rel_pos"])})
    x = example.fields["rel_pos"].astype(np.float64)  # [n, 2]
    parts = [x]
    for fn in (np.sin, np.cos):
        parts.append(np.stack([fn(np.pi * 2.0 ** k * x[:, d]) for d in range(2) for k in range(3)],
                              axis=1))
    zero = np.concatenate([np.zeros_like(x), np.zeros((len(x), 6)), np.ones((len(x), 6))], axis=1)
    w = emb.offset_proj.weight.detach().numpy()  # [d, 2 * (2 * 3 + 1)]
    want = np.concatenate(parts, axis=1) @ w.T - zero @ w.T
    # float32 frequencies (pi * 2**k rounded once); everything else in float64
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-6, atol=1e-7)


def test_model_is_translation_invariant_and_unit_free():
    """Shifting the coordinates changes nothing; scaling them with ``unit`` scaled alike
    changes nothing (rotary steps and offsets both stay the same)."""
    rng = np.random.default_rng(1)
    sets = [{"coords": rng.uniform(0, 5, size=(15, 2)), "features": rng.normal(size=(15, 1))}
            for _ in range(3)]
    moved = [dict(s, coords=s["coords"] * 40.0 + [1e3, -250.0]) for s in sets]
    schema, records = ingest_memory(sets)
    schema_m, records_m = ingest_memory(moved)
    a, b = SetsDomain(schema), SetsDomain(schema_m, unit=40.0)
    torch.manual_seed(2)
    model = sharpen(MaskedEncoderModel(a, tiny(2)).eval())
    twin = MaskedEncoderModel(b, tiny(2)).eval()
    twin.load_state_dict(model.state_dict())
    torch.testing.assert_close(encode(twin, b, records_m), encode(model, a, records),
                               rtol=1e-4, atol=1e-4)


def test_offsets_change_the_model_output_and_zero_bands_is_rotary_only():
    sets, _ = load_digit_sets(limit=3)
    schema, records = ingest_memory(sets)
    with_bands, without = SetsDomain(schema), SetsDomain(schema, offset_bands=0)
    assert with_bands.options["offset_bands"] == 6
    assert "rel_pos" not in without.featurize(records[0]).fields
    assert not hasattr(without.embedder(tiny(2)), "offset_proj")
    torch.manual_seed(3)
    model = sharpen(MaskedEncoderModel(with_bands, tiny(2)).eval())
    # the element order of a set does not matter to the offsets (every layer global)
    ex = with_bands.featurize(records[0])
    flipped = {k: v[::-1].copy() for k, v in records[0].items() if isinstance(v, np.ndarray)}
    out = encode(model, with_bands, [records[0]])
    back = encode(model, with_bands, [{**records[0], **flipped}])
    torch.testing.assert_close(back.flip(0), out, rtol=1e-4, atol=1e-4)
    # and they matter: the same set with its offsets zeroed encodes differently
    batch = collate([with_bands.unmasked(ex)])
    batch.inputs["rel_pos"] = torch.zeros_like(batch.inputs["rel_pos"])
    with torch.no_grad():
        assert (model.encode(batch) - out).abs().max() > 1e-3


def test_chunks_augmentation_views_and_masks_carry_consistent_offsets():
    sets, _ = load_digit_sets(limit=2)
    schema, records = ingest_memory(sets)
    domain = SetsDomain(schema, pooling_token=True, random_rotation=True)
    ex = domain.featurize(records[1])
    np.testing.assert_array_equal(ex.fields["rel_pos"][0], [0.0, 0.0])  # [CLS] at the centroid
    np.testing.assert_allclose(ex.fields["rel_pos"][1:], relative_positions(ex.positions[1:]),
                               atol=1e-6)
    # a chunk keeps its whole set's offsets: it knows where in the set it lies
    chunks = domain.windows(ex, 12)
    assert len(chunks) > 1
    for chunk in chunks:
        rows = chunk.context["elements"]
        np.testing.assert_array_equal(chunk.fields["rel_pos"][1:], ex.fields["rel_pos"][1 + rows])
    # views: a subset moved rigidly gets the offsets of what it now is
    rng = np.random.default_rng(0)
    for view in domain.views(ex, rng):
        np.testing.assert_allclose(view.fields["rel_pos"][1:],
                                   relative_positions(view.positions[1:]), atol=1e-5)
        np.testing.assert_array_equal(view.fields["rel_pos"][0], [0.0, 0.0])
    # masking hides what an element is, never where: offsets stay in the inputs
    for masker in (domain.mask_elements, domain.mask_features):
        masked = masker(ex, np.random.default_rng(1))
        assert masked.predict.any()
        np.testing.assert_array_equal(masked.inputs["rel_pos"], ex.fields["rel_pos"])


@pytest.mark.parametrize("bad", [-1, 17, 2.5, True, "6"])
def test_bad_offset_bands_is_a_clear_error(bad):
    schema, _ = ingest_memory(load_digit_sets(limit=1)[0])
    with pytest.raises(ValueError, match="offset_bands"):
        SetsDomain(schema, offset_bands=bad)


def _drop_option_from_checkpoint(checkpoint, option: str) -> None:
    """Rewrite a checkpoint as a version without ``option`` would have saved it."""
    state_path = checkpoint / "state.json"
    state = json.loads(state_path.read_text())
    del state["domain"]["options"][option]
    state_path.write_text(json.dumps(state))
    manifest_path = checkpoint / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    data = state_path.read_bytes()
    manifest["files"]["state.json"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest))


def test_runs_saved_before_offsets_existed_load_and_finetune_as_trained(tmp_path):
    from domains.sets import ingest_sets
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain
    from encoderkit.train.config import compose_finetune

    sets, _ = load_digit_sets(limit=40)
    store = tmp_path / "store"
    ingest_sets(sets, str(store), feature_names=["intensity"])
    run = pretrain(["domain=sets", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=2", "train.progress=false", "train.eval_every=0",
                    "data.max_seqlen=64", "data.max_tokens=256", "domain.offset_bands=0",
                    "model.hidden_size=32", "model.num_layers=1", "model.num_heads=2",
                    "model.intermediate_size=64"])
    checkpoints = sorted((run / "checkpoints").iterdir())
    before = load(run).embed(sets[:4])
    for checkpoint in checkpoints:
        _drop_option_from_checkpoint(checkpoint, "offset_bands")
    old = load(run)  # the new default (6 bands) would ask for weights the run lacks
    assert old.domain.options["offset_bands"] == 0
    np.testing.assert_array_equal(old.embed(sets[:4]), before)
    description = json.loads((checkpoints[-1] / "state.json").read_text())["domain"]
    assert build_domain(description).options["offset_bands"] == 0
    cfg = compose_finetune([f"checkpoint={run}", f"data.store={store}", "task=classification",
                            f"run.dir={tmp_path / 'ft'}"])
    assert cfg.domain.offset_bands == 0
    cfg = compose_finetune([f"checkpoint={run}", f"data.store={store}", "task=classification",
                            f"run.dir={tmp_path / 'ft'}", "domain.offset_bands=4"])
    assert cfg.domain.offset_bands == 4  # the user's override still wins
