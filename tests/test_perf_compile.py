"""torch.compile on the packed path: no graph breaks, same numbers as eager, trainer runs.

``torch._dynamo.explain`` counts graph breaks; the references are the same modules run
eagerly on the same packed batches.
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from encoderkit.core import Encoder, EncoderConfig
from encoderkit.core.attention import get_backend
from encoderkit.core.layers import LayerContext

LENGTHS = [30, 40, 7, 9, 70, 100]  # grouped short ones, slices, a blocked local layer (window 32)


def _cfg(backend: str) -> EncoderConfig:
    return EncoderConfig.preset("tiny", backend=backend)  # layer 0 global, 1 local (window 32)


def _batch(lengths, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    pos = torch.cat([torch.arange(n) for n in lengths])[:, None].int()
    return torch.randn(sum(lengths), d, generator=g), pos, cu


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_sdpa_layer_dense_parts_have_no_graph_breaks():
    torch.manual_seed(0)
    enc = Encoder(_cfg("sdpa"))
    x, pos, cu = _batch(LENGTHS, enc.config.hidden_size)
    x.requires_grad_(True)
    tables = {k: enc.rotary[k](pos) for k in enc.rotary}
    for layer in enc.layers[:2]:
        assert layer.attn.kind == ("global" if layer is enc.layers[0] else "local")
        ex = torch._dynamo.explain(layer.pre_attention)(x, pos, tables[layer.attn.kind])
        assert (ex.graph_count, ex.graph_break_count) == (1, 0), ex.break_reasons
        q, _, _ = layer.pre_attention(x, pos, tables[layer.attn.kind])
        ex = torch._dynamo.explain(layer.post_attention)(x, q)
        assert (ex.graph_count, ex.graph_break_count) == (1, 0), ex.break_reasons


def test_flex_whole_layer_has_no_graph_breaks():
    """flex: the whole layer, attention included, is one graph (forward; CPU flex has no backward)."""
    torch.manual_seed(0)
    enc = Encoder(_cfg("flex"))
    x, pos, cu = _batch(LENGTHS, enc.config.hidden_size)
    backend = get_backend("flex")
    plan = backend.plan(cu, max(LENGTHS), cu)
    plan.prepare({layer.attn.window for layer in enc.layers})
    ctx = LayerContext(pos, {k: enc.rotary[k](pos) for k in enc.rotary}, backend, plan)
    with torch.no_grad():
        for layer in enc.layers[:2]:
            ex = torch._dynamo.explain(layer)(x, ctx)
            assert (ex.graph_count, ex.graph_break_count) == (1, 0), ex.break_reasons


def _fwd_bwd(enc, x, pos, cu):
    x = x.clone().requires_grad_(True)
    y = enc(x, pos, cu, int(torch.diff(cu).max()), cu.clone())
    (y.square().mean() + y[::7].sum()).backward()
    grads = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad(set_to_none=True)
    return y.detach(), x.grad, grads


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_compiled_sdpa_encoder_matches_eager():
    _compare_compiled_sdpa([LENGTHS])


@pytest.mark.slow
def test_compiled_sdpa_encoder_matches_eager_across_batches():
    """New packed lengths: the dense parts recompile once with a dynamic T, never per batch."""
    graphs = _compare_compiled_sdpa([LENGTHS, [12, 130, 1, 25], [64, 64, 3], [5, 300]])
    # graphs for the first T, then once more with T dynamic; later batches reuse them
    assert graphs[1] == graphs[2] == graphs[3], graphs


def _compare_compiled_sdpa(batches) -> list[int]:
    """Compiled vs eager on each batch; returns the number of graphs compiled after each."""
    from torch._dynamo.utils import counters

    graphs = []
    torch.manual_seed(0)
    eager = Encoder(_cfg("sdpa"))
    compiled = Encoder(_cfg("sdpa"))
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    assert all(layer.compiled_parts for layer in compiled.layers)
    for seed, lengths in enumerate(batches):  # a new T each time
        x, pos, cu = _batch(lengths, eager.config.hidden_size, seed)
        ref = _fwd_bwd(eager, x, pos, cu)
        got = _fwd_bwd(compiled, x, pos, cu)
        torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got[1], ref[1], atol=1e-5, rtol=1e-4)
        for g, r in zip(got[2], ref[2], strict=True):
            torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-4)
        graphs.append(counters["stats"]["unique_graphs"])
    return graphs


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_flex_whole_layer_graph_matches_eager_forward():
    """The captured whole-layer graph (dynamo + AOT, no inductor) computes what eager flex does.

    CPU inductor cannot lower flex here, so the captured graph is checked with the
    ``aot_eager`` backend; on CPU ``Encoder.compile`` therefore compiles only the dense parts.
    """
    torch.manual_seed(0)
    enc = Encoder(_cfg("flex")).eval()
    x, pos, cu = _batch(LENGTHS, enc.config.hidden_size)
    with torch.no_grad():
        ref = enc(x, pos, cu, max(LENGTHS), cu)
        for layer in enc.layers:
            layer.compile(backend="aot_eager", fullgraph=True)
        got = enc(x, pos, cu, max(LENGTHS), cu)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-4)
    enc.compile()  # CPU: dense parts only
    assert all(layer.compiled_parts for layer in enc.layers)


def test_trainer_with_compile_runs(tmp_path):
    import testdomain as td
    from encoderkit.train import pretrain

    store = td.write_store(tmp_path / "store.zarr", n=32)
    t = time.perf_counter()
    run = pretrain(td.tiny_overrides(store, str(tmp_path / "run"), steps=2, **{
        "run.compile": "true", "train.eval_every": 0, "train.checkpoint_every": 0}))
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) == 2 and all(map(lambda v: v == v and abs(v) < 1e3, losses))
    assert (run / "checkpoints").is_dir()
    print(f"2 compiled steps in {time.perf_counter() - t:.1f} s")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_flex_whole_layer_compile_matches_sdpa():
    """CUDA: Encoder.compile() compiles flex layers whole (attention in the graph); fwd + bwd
    agree with the eager sdpa encoder on the same weights."""
    torch.manual_seed(0)
    dev = torch.device("cuda")
    ref = Encoder(_cfg("sdpa")).to(dev)
    flex = Encoder(_cfg("flex")).to(dev)
    flex.load_state_dict(ref.state_dict())
    flex.compile()
    assert not any(layer.compiled_parts for layer in flex.layers)
    for seed, lengths in enumerate([LENGTHS, [12, 130, 1, 25]]):
        x, pos, cu = (t.to(dev) for t in _batch(lengths, ref.config.hidden_size, seed))
        want = _fwd_bwd(ref, x, pos, cu)
        got = _fwd_bwd(flex, x, pos, cu)
        torch.testing.assert_close(got[0], want[0], atol=2e-4, rtol=2e-3)
        for g, r in zip(got[2], want[2], strict=True):
            torch.testing.assert_close(g, r, atol=2e-4, rtol=2e-3)
