"""Embedding, prediction and loading, checked against direct single-sequence forwards.

The token domain is defined here (independent of the built-in domains): ids with
1-D positions, contiguous windows with an optional overlap (the Domain default).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.domain import Domain, Example, HeadOutput, window_bounds
from encoderkit.infer import Pretrained, load
from encoderkit.infer.probe import read_embeddings
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import register_domain
from encoderkit.train import checkpoint as ckpt

VOCAB = 30


class _Embedder(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, d)

    def forward(self, inputs):
        return self.tok_embeddings(inputs["ids"].long())


class _Head(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.decoder = nn.Linear(d, VOCAB)

    def forward(self, hidden, targets=None, weights=None):
        return HeadOutput(predictions={"logits": self.decoder(hidden)})


@register_domain
class InferTokens(Domain):
    name = "infer-test-tokens"
    rope_axes = 1
    cls_position = 0  # the first token pools (embed pooling="cls" needs a cls_position)

    def token_positions(self, window):
        # that first token is a record token too (no [CLS] is added), so every token is one
        return np.arange(len(window), dtype=np.int64) + int(window.start)

    def featurize(self, record):
        ids = np.asarray(record["ids"], dtype=np.int64)
        return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])

    def embedder(self, config):
        return _Embedder(config.hidden_size)

    def head(self, config, embedder=None):
        return _Head(config.hidden_size)

    def infill(self, data, predict):
        """Fill id 0 ("missing") with the argmax of the head."""
        examples = []
        for ids in data:
            ids = np.asarray(ids)
            ex = self.unmasked(self.featurize({"ids": ids}))
            ex.predict = ids == 0
            examples.append(ex)
        out = []
        for ex, p in zip(examples, predict(examples)):
            filled = ex.inputs["ids"].copy()
            filled[ex.predict] = p["logits"].argmax(-1)
            out.append(filled)
        return out


CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=3, intermediate_size=48, local_window=6,
                       global_every=2, backend="sdpa")


def _pretrained(overlap: int = 0, max_seqlen: int = 64) -> Pretrained:
    torch.manual_seed(0)
    domain = InferTokens({}, window_overlap=overlap)
    return Pretrained(MaskedEncoderModel(domain, CONFIG), domain, CONFIG, max_seqlen=max_seqlen)


def _records(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [{"ids": rng.integers(1, VOCAB, size=n), "id": f"rec{i}"} for i, n in enumerate(lengths)]


def _alone(model: MaskedEncoderModel, ids: np.ndarray) -> np.ndarray:
    """Reference: hidden states of one sequence run by itself, float64."""
    ex = InferTokens({}).unmasked(InferTokens({}).featurize({"ids": ids}))
    with torch.no_grad():
        return model.eval().encode(collate([ex])).double().numpy()


def test_record_alone_equals_record_inside_large_packed_batch():
    pt = _pretrained()
    records = _records([5, 40, 17, 33, 2, 60, 9] * 6)
    packed = pt.embed(records, max_tokens=4096)  # everything in one or two batches
    alone = np.stack([pt.embed([r], max_tokens=64)[0] for r in records[:7]])
    np.testing.assert_allclose(packed[:7], alone, atol=1e-5)
    ref = np.stack([_alone(pt.model, r["ids"]).mean(0) for r in records[:7]])
    np.testing.assert_allclose(packed[:7], ref, atol=1e-5)
    cls = pt.embed(records[:7], pooling="cls")
    np.testing.assert_allclose(cls, np.stack([_alone(pt.model, r["ids"])[0] for r in records[:7]]), atol=1e-5)


@pytest.mark.parametrize("overlap", [0, 5])
def test_long_records_are_windowed_and_pooled_by_window_tokens(overlap):
    pt = _pretrained(overlap=overlap, max_seqlen=16)
    records = _records([50, 7, 16, 41], seed=1)
    mean = pt.embed(records, max_tokens=40)  # windows of one record land in different batches
    none = pt.embed(records, pooling="none", max_tokens=40)
    cls = pt.embed(records, pooling="cls", max_tokens=40)
    mean_std = pt.embed(records, pooling="mean_std", max_tokens=40)
    assert mean_std.shape == (len(records), 2 * CONFIG.hidden_size)
    for r, m, tokens, c, ms in zip(records, mean, none, cls, mean_std):
        ids = r["ids"]
        window_states = []
        total = np.zeros(CONFIG.hidden_size)
        first = np.zeros(CONFIG.hidden_size)
        per_token = np.zeros((len(ids), CONFIG.hidden_size))
        count = np.zeros(len(ids))
        bounds = window_bounds(len(ids), 16, overlap)
        for s, e in bounds:
            h = _alone(pt.model, ids[s:e])  # windows start again at position 0
            window_states.append(h)
            total += h.sum(0)
            first += h[0] * (e - s)
            per_token[s:e] += h
            count[s:e] += 1
        n_window_tokens = sum(e - s for s, e in bounds)
        np.testing.assert_allclose(m, total / n_window_tokens, atol=1e-5)
        np.testing.assert_allclose(c, first / n_window_tokens, atol=1e-5)
        np.testing.assert_allclose(tokens, per_token / count[:, None], atol=1e-5)
        # mean_std: numpy's mean and population std over every window token at once (an
        # overlapped token counts once per window, as in mean pooling)
        every = np.concatenate(window_states)
        np.testing.assert_allclose(ms[:CONFIG.hidden_size], m, atol=1e-5)
        np.testing.assert_allclose(ms[CONFIG.hidden_size:], every.std(0), atol=1e-5)


def test_streamed_outputs_equal_in_memory_result(tmp_path):
    import zarr

    pt = _pretrained(max_seqlen=16)
    records = _records([9, 32, 4, 16, 25], seed=2)  # 32 = two whole windows: no overlap
    expected = pt.embed(records)
    path = pt.embed(records, out=tmp_path / "e.zarr")
    group = zarr.open_group(str(path), mode="r")
    np.testing.assert_allclose(group["embeddings"][:], expected, atol=1e-6)
    assert list(group["ids"][:]) == [r["id"] for r in records]
    X, ids = read_embeddings(path)  # what `encoderkit probe` reads
    np.testing.assert_array_equal(X, group["embeddings"][:])
    assert ids.tolist() == [r["id"] for r in records]
    pt.embed(records, out=tmp_path / "e.npy")
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, atol=1e-6)
    ms = pt.embed(records, pooling="mean_std", out=tmp_path / "ms.npy")
    np.testing.assert_allclose(np.load(ms), pt.embed(records, pooling="mean_std"), atol=1e-6)
    ms.unlink(), (tmp_path / "ms.ids.npy").unlink()
    assert list(np.load(tmp_path / "e.ids.npy")) == [r["id"] for r in records]
    tok = zarr.open_group(str(pt.embed(records, pooling="none", out=tmp_path / "t.zarr")), mode="r")
    offsets = tok["offsets"][:]
    assert offsets.tolist() == [0, 9, 41, 45, 61, 86]
    np.testing.assert_allclose(tok["embeddings"][offsets[1]:offsets[2]].mean(0), expected[1], atol=1e-5)
    with pytest.raises(FileExistsError, match="overwrite"):
        pt.embed(records, out=tmp_path / "e.npy")
    with pytest.raises(ValueError, match=r"\.zarr output"):
        pt.embed(records, pooling="none", out=tmp_path / "x.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.ids.npy", "e.npy", "e.zarr", "t.zarr"]


def test_bad_inputs_name_the_problem(tmp_path):
    from encoderkit.data.store import StoreWriter

    pt = _pretrained()
    with pytest.raises(ValueError, match="empty input"):
        pt.embed([])
    with pytest.raises(ValueError, match=r"record 1 \(id 'b'\).*KeyError.*'ids'"):
        pt.embed([{"ids": [1, 2], "id": "a"}, {"values": [1.0], "id": "b"}])
    with pytest.raises(ValueError, match="'pooling' parameter"):
        pt.embed(_records([3]), pooling="max")
    with StoreWriter(tmp_path / "s.zarr", "some-other-domain") as w:
        w.append({"ids": np.arange(3)})
        w.finalize({}, {})
    with pytest.raises(ValueError, match="'some-other-domain' records but this model was trained on "
                                         "the 'infer-test-tokens'"):
        pt.embed(str(tmp_path / "s.zarr"))


def test_predict_and_infill_use_head_at_predicted_tokens_only():
    pt = _pretrained()
    data = [np.array([3, 0, 5, 7, 0, 9]), np.array([4, 4, 4]), np.array([0, 1])]
    filled = pt.infill(data)
    for ids, out in zip(data, filled):
        observed = ids != 0
        np.testing.assert_array_equal(out[observed], ids[observed])  # observed values unchanged
        h = torch.from_numpy(_alone(pt.model, ids)).float()  # nothing masked: ids go in as given
        with torch.no_grad():
            expected = pt.model.head(h).predictions["logits"].argmax(-1).numpy()
        np.testing.assert_array_equal(out[~observed], expected[~observed])
    with pytest.raises(ValueError, match="empty input"):
        pt.infill([])


def _save(run_dir, pt: Pretrained, step: int, **extra) -> None:
    state = {"step": step, "model_config": pt.config.to_dict(), "domain": pt.domain.describe(), **extra}
    ckpt.save_checkpoint(run_dir / "checkpoints", step, ckpt.model_state(pt.model), {}, [], state, keep=0)


def test_load_rebuilds_the_model_from_the_newest_checkpoint(tmp_path):
    pt = _pretrained(max_seqlen=16)
    other = _pretrained()
    with torch.no_grad():
        for p in other.model.parameters():
            p.add_(0.1)
    _save(tmp_path, other, 5)
    _save(tmp_path, pt, 10)  # newest
    (tmp_path / "config.yaml").write_text("data:\n  max_seqlen: 16\n")
    loaded = load(tmp_path)
    assert loaded.step == 10 and loaded.max_seqlen == 16 and loaded.domain.options == {"window_overlap": 0}
    records = _records([40, 3], seed=4)
    np.testing.assert_array_equal(loaded.embed(records), pt.embed(records))
    assert load(tmp_path / "checkpoints" / "5").step == 5


def test_load_refuses_newer_format_missing_and_mismatched_files(tmp_path):
    pt = _pretrained()
    _save(tmp_path, pt, 1)
    # the checkpoint directory itself: a run directory would skip the edited (so no longer
    # verifying) checkpoint, see tests/reliability/test_resume.py
    one = tmp_path / "checkpoints" / "1"
    state_file = one / "state.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "format_version": ckpt.FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="newer than this encoderkit reads"):
        load(one)
    # without its manifest (an older checkpoint) the edit is caught where the weights load;
    # with it, verification names the changed state.json first (tests/train/test_damaged_checkpoints_s40.py)
    (one / "manifest.json").unlink()
    state_file.write_text(json.dumps({**state, "model_config": {**state["model_config"], "hidden_size": 64}}))
    with pytest.raises(ValueError, match="model.safetensors: does not match"):
        load(one)
    state_file.write_text(json.dumps(state))
    (one / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load(one)
    with pytest.raises(FileNotFoundError, match="neither a checkpoint directory"):
        load(tmp_path / "checkpoints")
