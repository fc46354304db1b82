"""Task heads: output shapes, masking of unlabelled units, the InfoNCE / SupCon losses
against float64 references, ModernBERT's head structure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import testdomain as td
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.tasks import heads as H
from encoderkit.tasks.model import TaskModel
from encoderkit.tasks.spec import TaskSpec

CONFIG = EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                              local_window=16, backend="sdpa", rope_axes=1)


def _batch(lengths=(5, 9, 3), labels=None):
    domain = td.TrainTestDomain({"vocab": td.VOCAB})
    examples = []
    rng = np.random.default_rng(0)
    for i, n in enumerate(lengths):
        ex = domain.featurize({"ids": rng.integers(2, td.VOCAB, n)})
        m = domain.unmasked(ex)
        m.record = i
        if labels is not None:
            m.labels = labels(i, n)
        examples.append(m)
    return domain, collate(examples)


@pytest.mark.parametrize("kind,outputs,token", [
    ("classification", 3, False), ("multilabel", 4, False), ("regression", 2, False),
    ("token_classification", 5, True), ("token_regression", 1, True)])
def test_head_output_shapes(kind, outputs, token):
    spec = TaskSpec(type=kind, classes=[str(i) for i in range(outputs)] if "regression" not in kind else [],
                    targets=[f"t{i}" for i in range(outputs)] if "regression" in kind else [],
                    mean=[0.0] * outputs, std=[1.0] * outputs)
    domain, batch = _batch()
    torch.manual_seed(0)
    model = TaskModel(domain, CONFIG, spec)
    out = model(batch, with_targets=False)
    rows = batch.num_tokens if token else batch.num_sequences
    assert out.predictions["logits"].shape == (rows, outputs)
    assert out.loss is None
    # parameter names follow transformers' ModernBertForSequenceClassification
    names = {n for n, _ in model.named_parameters()}
    assert {"head.dense.weight", "head.norm.weight", "classifier.weight", "classifier.bias"} <= names


def test_unlabelled_units_do_not_change_the_loss_or_gradient():
    def labels(i, n):
        return {"y": np.asarray([i % 2]), "mask": np.asarray([i != 1])}

    domain, batch = _batch(labels=labels)
    spec = TaskSpec(type="classification", classes=["a", "b"])
    torch.manual_seed(0)
    model = TaskModel(domain, CONFIG, spec).eval()
    out = model(batch)
    logits = out.predictions["logits"].detach()
    ref = F.cross_entropy(logits[[0, 2]], torch.tensor([0, 0]))
    torch.testing.assert_close(out.loss, ref)
    # changing the label of the unlabelled sequence changes nothing
    batch.labels["y"][1] = 0
    torch.testing.assert_close(model(batch).loss, ref)


def test_class_weights_weight_each_unit():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    w = torch.tensor([0.5, 3.0])
    got = H.classification_loss(logits, y, torch.ones(3, dtype=torch.bool), w)
    ce = [-math.log(math.exp(2) / (math.exp(2) + 1)), -math.log(math.e / (1 + math.e)), math.log(2)]
    assert float(got) == pytest.approx((0.5 * ce[0] + 3.0 * ce[1] + 3.0 * ce[2]) / 3, rel=1e-6)


def test_regression_loss_skips_missing_targets():
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y = torch.tensor([[0.0, float("nan")], [1.0, 3.0]])
    got = H.regression_loss(pred, y, torch.ones(2, dtype=torch.bool))
    assert float(got) == pytest.approx((1.0 + (1.0 + 9.0) / 2) / 2)


def _info_nce_reference(a: np.ndarray, b: np.ndarray, scale: float, groups=None) -> float:
    """Written out in float64 loops: mean over both directions of -log softmax of the
    positive, over the positive and the rows of other groups (records)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = len(a)
    groups = list(range(n)) if groups is None else list(groups)
    total = 0.0
    for x, z in ((a, b), (b, a)):
        for i in range(n):
            s = [scale * float(np.dot(x[i], z[j])) for j in range(n) if j == i or groups[j] != groups[i]]
            pos = scale * float(np.dot(x[i], z[i]))
            total += -(pos - math.log(sum(math.exp(v) for v in s)))
    return total / (2 * n)


def test_info_nce_equals_float64_reference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    got = H.info_nce(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32),
                     torch.tensor(20.0))
    assert float(got) == pytest.approx(_info_nce_reference(a, b, 20.0), rel=1e-5)


def test_info_nce_leaves_other_copies_of_a_record_out_of_the_negatives():
    # pairs 0 and 2 are the same record (a batch larger than a small store holds it twice)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    groups = np.array([7, 1, 7, 4, 5])
    got = H.info_nce(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32),
                     torch.tensor(20.0), torch.tensor(groups))
    assert float(got) == pytest.approx(_info_nce_reference(a, b, 20.0, groups), rel=1e-5)
    assert float(got) != pytest.approx(_info_nce_reference(a, b, 20.0), rel=1e-3)
    # distinct records: the plain loss
    distinct = H.info_nce(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32),
                          torch.tensor(20.0), torch.arange(5))
    assert float(distinct) == pytest.approx(_info_nce_reference(a, b, 20.0), rel=1e-5)


def test_view_groups_are_record_and_window_pairs():
    from types import SimpleNamespace

    # views adjacent: pairs (rec 3, win 0), (rec 3, win 1), (rec 5, win 0), (rec 3, win 0)
    batch = SimpleNamespace(record=torch.tensor([3, 3, 3, 3, 5, 5, 3, 3]),
                            window=torch.tensor([0, 0, 1, 1, 0, 0, 0, 0]))
    g = H.view_groups(batch).tolist()
    assert g[0] == g[3] and len({g[0], g[1], g[2]}) == 3  # same window again; other windows differ
    assert H.view_groups(SimpleNamespace(record=None, window=None)) is None


def test_supervised_contrastive_equals_float64_reference():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 4))
    y = np.asarray([0, 1, 0, 2, 1, 0])  # record 3 has no positive: skipped
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    scale, losses = 10.0, []
    for i in range(6):
        pos = [j for j in range(6) if j != i and y[j] == y[i]]
        if not pos:
            continue
        denom = sum(math.exp(scale * zn[i] @ zn[k]) for k in range(6) if k != i)
        losses.append(-sum(scale * zn[i] @ zn[p] - math.log(denom) for p in pos) / len(pos))
    got = H.supervised_contrastive(torch.tensor(z, dtype=torch.float32), torch.tensor(y), torch.tensor(scale))
    assert float(got) == pytest.approx(np.mean(losses), rel=1e-5)


def test_contrastive_model_pairs_adjacent_views():
    domain, batch = _batch(lengths=(4, 4, 6, 6))  # views (0, 1) and (2, 3)
    torch.manual_seed(0)
    model = TaskModel(domain, CONFIG, TaskSpec(type="contrastive"), temperature=0.1)
    out = model(batch)
    z = out.predictions["pooled"].detach().double().numpy()
    assert float(out.loss.detach()) == pytest.approx(_info_nce_reference(z[0::2], z[1::2], 10.0), rel=1e-4)
    out.loss.backward()
    assert model.logit_scale.grad is not None  # the temperature is learned


def test_contrastive_projection_feeds_the_loss_not_the_embedding():
    """``projection=mlp``: the loss is InfoNCE of g(pooled) with g = dense -> GELU ->
    LayerNorm -> linear, recomputed here in float64 from the weights; the embedding the
    model hands out is the pooled state itself (g is dropped)."""
    domain, batch = _batch(lengths=(4, 4, 6, 6))
    torch.manual_seed(0)
    model = TaskModel(domain, CONFIG, TaskSpec(type="contrastive", projection="mlp"), temperature=0.1).eval()
    out = model(batch)
    z = out.predictions["pooled"].detach().double().numpy()
    hidden = model.encode(batch)
    assert np.allclose(z, H.pool(hidden, batch, "mean").detach().double().numpy(), atol=1e-6)
    g = model.projection
    h = z @ g[0].dense.weight.detach().double().numpy().T
    h = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))  # exact GELU
    h = (h - h.mean(1, keepdims=True)) / np.sqrt(h.var(1, keepdims=True) + CONFIG.norm_eps)
    h = h * g[0].norm.weight.detach().double().numpy()
    p = h @ g[1].weight.detach().double().numpy().T + g[1].bias.detach().double().numpy()
    assert float(out.loss.detach()) == pytest.approx(_info_nce_reference(p[0::2], p[1::2], 10.0), rel=1e-4)
    assert float(out.loss.detach()) != pytest.approx(_info_nce_reference(z[0::2], z[1::2], 10.0), rel=1e-3)
    with_none = TaskModel(domain, CONFIG, TaskSpec(type="contrastive", projection="none"), temperature=0.1)
    assert not any(k.startswith("projection.") for k in with_none.state_dict())


def test_mean_and_cls_pooling():
    domain, batch = _batch(lengths=(2, 3))
    hidden = torch.arange(10, dtype=torch.float32).reshape(5, 2)
    torch.testing.assert_close(H.pool(hidden, batch, "mean"), torch.tensor([[1.0, 2.0], [6.0, 7.0]]))
    torch.testing.assert_close(H.pool(hidden, batch, "cls", 0), torch.tensor([[0.0, 1.0], [4.0, 5.0]]))


def test_mean_std_pooling_equals_numpy_and_has_a_finite_gradient():
    domain, batch = _batch(lengths=(1, 3, 4))
    rng = np.random.default_rng(0)
    # a large shared part, as pretrained states have: E[x^2] - E[x]^2 would lose the spread
    states = 1e3 + rng.normal(size=(8, 2))
    hidden = torch.tensor(states, dtype=torch.float64, requires_grad=True)
    pooled = H.pool(hidden, batch, "mean_std")
    bounds = [(0, 1), (1, 4), (4, 8)]
    ref = np.stack([np.concatenate([states[a:b].mean(0), np.sqrt(states[a:b].var(0) + H.SPREAD_EPS)])
                    for a, b in bounds])
    np.testing.assert_allclose(pooled.detach().numpy(), ref, rtol=1e-9)
    pooled.sum().backward()
    assert torch.isfinite(hidden.grad).all()


def test_mean_std_pooling_doubles_the_head_input():
    domain, batch = _batch(lengths=(2, 3))
    for head in ("mlp", "linear"):
        model = TaskModel(domain, CONFIG, TaskSpec(type="classification", classes=["a", "b", "c"],
                                                   pooling="mean_std", head=head))
        out = model(batch)
        assert out.predictions["logits"].shape == (2, 3)
        assert out.predictions["pooled"].shape == (2, 2 * CONFIG.hidden_size)
