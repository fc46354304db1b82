"""``embed pooling=none`` of a domain with a [CLS] in every window (session 45).

Properties checked, each against an independent reference (the model run on each window by
itself, float64, windows built here by hand and averaged where they overlap):
* a plug-in that prepends a [CLS] to every window (``cls_position`` 0, ``start`` the record
  position of a window's first token after it): one row per record token, [CLS] excluded,
  in order, overlaps averaged; before the fix the [CLS] was counted as a record token
  (rows shifted by one, or the record's length refused);
* ``mean`` of such a domain keeps counting the [CLS] as one of a window's tokens, as the
  fine-tuning head's ``task.pooling=mean`` does (documented);
* the built-in sets domain with ``pooling_token=true``, chunked: one row per element (no
  [CLS] row, which it had before), each the average of the chunks holding the element.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from domains.sets import SetsDomain
from domains.sets.ingest import ingest_objects
from encoderkit import registry
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.domain import Domain, Example, HeadOutput, IngestReport, window_bounds
from encoderkit.infer import Pretrained
from encoderkit.modeling import MaskedEncoderModel

VOCAB, CLS_ID = 30, 1
SIZE, OVERLAP = 12, 4  # window tokens ([CLS] included) and residues shared by neighbours
CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=3, intermediate_size=48, local_window=6,
                       global_every=2, backend="sdpa", rope_axes=1)


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


def _window(ids: np.ndarray) -> Example:
    """A [CLS] followed by ``ids``, positions 0.. (each window starts again at 0)."""
    ids = np.concatenate([[CLS_ID], ids]).astype(np.int64)
    return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])


class ClsEveryWindow(Domain):
    """A protein-like plug-in: [CLS] first in the record and in every window of it."""

    name = "s45-cls-every-window"
    rope_axes = 1
    cls_position = 0

    def featurize(self, record):
        return _window(np.asarray(record["ids"]))

    def windows(self, example, max_seqlen):
        if len(example) <= max_seqlen:
            return [example]
        body = example.fields["ids"][1:]
        out = []
        for w, (s, e) in enumerate(window_bounds(len(body), max_seqlen - 1, OVERLAP)):
            win = _window(body[s:e])
            win.record, win.window, win.start = example.record, w, s
            out.append(win)
        return out

    def embedder(self, config):
        return _Embedder(config.hidden_size)

    def head(self, config, embedder=None):
        return _Head(config.hidden_size)


@pytest.fixture
def pretrained(monkeypatch):
    monkeypatch.setitem(registry._local, ClsEveryWindow.name, ClsEveryWindow)
    torch.manual_seed(0)
    domain = ClsEveryWindow({})
    return Pretrained(MaskedEncoderModel(domain, CONFIG), domain, CONFIG, max_seqlen=SIZE)


def _alone(model: MaskedEncoderModel, example: Example) -> np.ndarray:
    """Hidden states of one window run by itself, float64."""
    with torch.no_grad():
        return model.eval().encode(collate([Domain.unmasked(None, example)])).double().numpy()


def _records(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [{"ids": rng.integers(2, VOCAB, size=n), "id": f"rec{i}"} for i, n in enumerate(lengths)]


def _reference(model, ids):
    """Per record token (no [CLS]): the mean of its states over the hand-cut windows holding
    it; and ``mean``: the sum over every window token ([CLS] included) / their count."""
    d = CONFIG.hidden_size
    if len(ids) + 1 <= SIZE:
        bounds = [(0, len(ids))]
    else:  # windows of SIZE - 1 residues, OVERLAP shared, the last ending at the record's end
        step = SIZE - 1 - OVERLAP
        starts = list(range(0, len(ids) - (SIZE - 1), step)) + [len(ids) - (SIZE - 1)]
        bounds = [(s, s + SIZE - 1) for s in starts]
    rows, count = np.zeros((len(ids), d)), np.zeros(len(ids))
    total, tokens = np.zeros(d), 0
    for s, e in bounds:
        h = _alone(model, _window(ids[s:e]))
        rows[s:e] += h[1:]
        count[s:e] += 1
        total += h.sum(0)
        tokens += len(h)
    assert count.min() >= 1
    return rows / count[:, None], total / tokens, len(bounds)


def test_none_gives_one_row_per_record_token_without_the_cls(pretrained):
    records = _records([40, 5, 11, 12, 27], seed=1)  # several windows, one, exactly full, one over
    none = pretrained.embed(records, pooling="none", max_tokens=30)  # a record's windows in several batches
    mean = pretrained.embed(records, pooling="mean", max_tokens=30)
    windows = 0
    for r, rows, m in zip(records, none, mean):
        ref_rows, ref_mean, k = _reference(pretrained.model, r["ids"])
        windows += k
        assert rows.shape == (len(r["ids"]), CONFIG.hidden_size)
        np.testing.assert_allclose(rows, ref_rows, atol=1e-5)
        # mean: a [CLS] is one of each window's tokens (as task.pooling=mean pools it)
        np.testing.assert_allclose(m, ref_mean, atol=1e-5)
    assert windows > len(records) + 3  # overlapping windows were exercised
    # the check has teeth: neighbouring tokens' rows differ
    assert np.abs(np.diff(none[0], axis=0)).mean() > 1e-3


class _ListWriter:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.records.append({**{k: np.asarray(v) for k, v in fields.items()}, "id": id})
        return len(self.records) - 1


@pytest.mark.parametrize("coords", [True, False])
def test_sets_with_a_pooling_token_give_one_row_per_element(coords):
    rng = np.random.default_rng(0)
    n = 53
    s = {"features": rng.normal(size=(n, 1))}
    if coords:
        s["coords"] = rng.uniform(0, 100, size=(n, 2))
    writer = _ListWriter()
    schema = ingest_objects([s], writer, IngestReport())
    domain = SetsDomain(schema, pooling_token=True)
    config = EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                  rope_axes=domain.rope_axes, global_every=1, backend="sdpa")
    torch.manual_seed(0)
    pt = Pretrained(MaskedEncoderModel(domain, config), domain, config, max_seqlen=16)
    rows = pt.embed(writer.records, pooling="none")[0]
    # reference: each chunk alone; its tokens after the [CLS] are the elements it names
    chunks = domain.windows(domain.featurize(writer.records[0]), 16)
    assert len(chunks) > 1
    ref, count = np.zeros((n, 32)), np.zeros(n)
    for c in chunks:
        with torch.no_grad():
            h = pt.model.eval().encode(collate([domain.unmasked(c)])).double().numpy()
        ref[c.context["elements"]] += h[1:]
        count[c.context["elements"]] += 1
    assert rows.shape == (n, 32)
    np.testing.assert_allclose(rows, ref / count[:, None], atol=1e-5)
