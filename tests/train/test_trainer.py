"""Trainer end to end on the in-process test domain: CLI run, loss goes down, exact
resume, accumulation against a hand-written reference loop, NaN stop, multirun."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from encoderkit.train import pretrain
from encoderkit.train.config import ConfigError


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=64)


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_cli_pretrain_end_to_end_loss_goes_down(store, tmp_path):
    from encoderkit.cli import main

    run = tmp_path / "run"
    rc = main(["pretrain", *td.tiny_overrides(store, str(run), steps=30, **{
        "train.eval_every": 10, "train.checkpoint_every": 10, "train.keep": 2,
        "data.max_tokens": 256, "optim.lr": 5e-3})])
    assert rc == 0
    assert (run / "config.yaml").is_file() and (run / "loss.png").stat().st_size > 1000
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["20", "30"]
    rows = read_metrics(run)
    train = [r["loss"] for r in rows if "loss" in r]
    val = [r["val_loss"] for r in rows if "val_loss" in r]
    assert len(train) == 30 and len(val) == 3
    # uniform guessing over the vocabulary costs ln(24) = 3.18 nats
    assert np.mean(train[:5]) > 2.9
    assert np.mean(train[-10:]) < np.mean(train[:5]) - 0.3
    assert val[-1] < val[0]
    last = rows[-2] if "val_loss" in rows[-1] else rows[-1]
    for key in ("step", "tokens", "loss", "loss_ids", "accuracy", "lr", "tokens_per_s",
                "grad_norm", "fill"):
        assert key in last, key
    assert last["tokens"] == sum(r["step_tokens"] for r in rows if "loss" in r)


def test_state_json_rebuilds_domain_and_model(store, tmp_path):
    from encoderkit.core import EncoderConfig
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.registry import build_domain

    run = pretrain(td.tiny_overrides(store, str(tmp_path / "r"), steps=3, **{"domain.rate": 0.25}))
    ck = run / "checkpoints" / "3"
    state = json.loads((ck / "state.json").read_text())
    for key in ("format_version", "step", "tokens", "config", "config_hash", "model_config",
                "domain", "loader", "rng", "schedule"):
        assert key in state, key
    assert state["step"] == 3 and state["domain"]["options"] == {"rate": 0.25}
    domain = build_domain(state["domain"])  # no store needed
    model = MaskedEncoderModel(domain, EncoderConfig.from_dict(state["model_config"]))
    missing, unexpected = model.load_state_dict(load_file(str(ck / "model.safetensors")), strict=False)
    assert not missing and not unexpected


def _final_weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / str(step) / "model.safetensors"))


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_exact_resume_is_bitwise(store, tmp_path):
    common = {"schedule.total": 4, "train.checkpoint_every": 2, "train.eval_every": 2}
    a = pretrain(td.tiny_overrides(store, str(tmp_path / "a"), steps=4, **common))
    b = tmp_path / "b"
    pretrain(td.tiny_overrides(store, str(b), steps=2, **common))
    assert not (b / "checkpoints" / "4").exists()
    pretrain(td.tiny_overrides(store, str(b), steps=4, **common))  # resume=auto from step 2
    wa, wb = _final_weights(a, 4), _final_weights(b, 4)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    oa = load_file(str(a / "checkpoints/4/optimizer.safetensors"))
    ob = load_file(str(b / "checkpoints/4/optimizer.safetensors"))
    assert all(torch.equal(oa[k], ob[k]) for k in oa)
    assert [r["loss"] for r in read_metrics(a) if "loss" in r] == \
        [r["loss"] for r in read_metrics(b) if "loss" in r]
    # a changed training config refuses to resume and says what differs
    with pytest.raises(ConfigError, match="optim.lr: checkpoint 0.01, now 0.001"):
        pretrain(td.tiny_overrides(store, str(b), steps=6, **{**common, "schedule.total": 6, "optim.lr": 1e-3}))


def reference_training(store: str, steps: int, micro: list, lr: float, rate: float = 0.3):
    """Hand-written loop: per step, the mean loss over every predicted token of the
    micro-batches drawn from ``micro`` (a list of batch iterators), one StableAdamW step."""
    from encoderkit.core import EncoderConfig
    from encoderkit.data.store import RecordStore
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.train.optim import StableAdamW, param_groups
    from encoderkit.train.schedule import WSD

    domain = td.TrainTestDomain(RecordStore(store).schema, rate=rate)
    cfg = EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2,
                               intermediate_size=64, local_window=16, backend="sdpa", rope_axes=1)
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, cfg)
    opt = StableAdamW(param_groups(model, 1e-5), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    sched = WSD(total=steps, warmup=0.05 * steps, decay=0.2 * steps, shape="1-sqrt")
    for step in range(steps):
        batches = [next(it) for it in micro]
        total = sum(b.num_predicted for b in batches)
        loss = sum(model(b).loss * (b.num_predicted / total) for b in batches)
        for g in opt.param_groups:
            g["lr"] = lr * sched(step + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in model.state_dict().items()}


def loaders(store: str, world: int, rate: float = 0.3):
    from encoderkit.data.loader import PackedLoader
    from encoderkit.data.store import RecordStore

    s = RecordStore(store)
    domain = td.TrainTestDomain(s.schema, rate=rate)
    train = s.split("train", fraction=0.2, seed=0)
    return [PackedLoader(s, domain, indices=train, max_tokens=128, max_seqlen=64, seed=0, rank=r,
                         world_size=world) for r in range(world)]


def assert_weights_close(run: Path, step: int, ref: dict[str, torch.Tensor], atol: float) -> None:
    got = _final_weights(run, step)
    for k, v in got.items():
        torch.testing.assert_close(v, ref[k], rtol=0, atol=atol, msg=k)


def test_gradient_accumulation_matches_reference_loop(store, tmp_path):
    """tokens_per_step = 2 micro-batches: weights equal a hand-written loop that averages
    the loss over all predicted tokens of both micro-batches."""
    run = pretrain(td.tiny_overrides(store, str(tmp_path / "acc"), steps=3,
                                     **{"train.tokens_per_step": 256, "train.eval_every": 0}))
    (loader,) = loaders(store, 1)
    it = iter(loader)
    ref = reference_training(store, 3, [it, it], lr=1e-2)
    assert read_metrics(run)[0]["micro_batches"] == 2
    assert_weights_close(run, 3, ref, atol=1e-6)


class _NaNHead(torch.nn.Module):
    def __init__(self, inner, after):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, hidden, targets, weights):
        out = self.inner(hidden, targets, weights)
        if targets is not None and self.training:
            self.calls += 1
            if self.calls > self.after:
                out.loss = out.loss * float("nan")
        return out


class NaNDomain(td.TrainTestDomain):
    name = "traintest_nan"

    def head(self, config, embedder=None):
        return _NaNHead(super().head(config, embedder), after=4)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(store, tmp_path):
    from encoderkit.registry import register_domain
    from encoderkit.train.trainer import NonFiniteLossError

    register_domain(NaNDomain)
    run = tmp_path / "nan"
    overrides = td.tiny_overrides(store, str(run), steps=8, **{
        "train.checkpoint_every": 2, "train.eval_every": 0})
    overrides = [o for o in overrides if not o.startswith("domain.name")] + ["domain.name=traintest_nan"]
    # a store records its domain's name, so this domain gets its own store
    nan_store = tmp_path / "nan.zarr"
    from encoderkit.data.store import StoreWriter

    with StoreWriter(nan_store, "traintest_nan") as w:
        for i, ids in enumerate(td.make_records(32)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    overrides = [o for o in overrides if not o.startswith("data.store")] + [f"data.store={nan_store}"]
    with pytest.raises(NonFiniteLossError, match="step 5.*checkpoints/4"):
        pretrain(overrides)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2", "4"]
    assert max(r["step"] for r in read_metrics(run)) == 4


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_multirun_gives_each_job_its_own_directory(store, tmp_path):
    from encoderkit.cli import main

    sweep = tmp_path / "sweep"
    args = [o for o in td.tiny_overrides(store, str(sweep), steps=1, **{"train.eval_every": 0})]
    rc = main(["pretrain", "-m", *args, "domain.rate=0.2,0.4"])
    assert rc == 0
    from omegaconf import OmegaConf

    rates = [OmegaConf.load(sweep / str(i) / "config.yaml").domain.rate for i in (0, 1)]
    assert rates == [0.2, 0.4]
    assert (sweep / "multirun.yaml").is_file()


def test_batch_size_warmup_ramps_micro_batches(store, tmp_path):
    from encoderkit.train.schedule import BatchWarmup

    run = pretrain(td.tiny_overrides(store, str(tmp_path / "bw"), steps=4, **{
        "train.tokens_per_step": 512, "schedule.batch_warmup_tokens": 600,
        "schedule.batch_warmup_start": 128, "train.eval_every": 0}))
    rows = [r for r in read_metrics(run) if "loss" in r]
    ramp = BatchWarmup(target=512, start=128, tokens=600, multiple=128)
    seen, expected = 0, []
    for r in rows:  # the micro-batch count follows the ramp at the tokens seen so far
        expected.append(-(-ramp(seen) // 128))
        seen += r["step_tokens"]
    assert [r["micro_batches"] for r in rows] == expected
    assert expected[0] == 1 and expected[-1] >= 3 and expected == sorted(expected)


def test_training_starts_from_a_weights_only_checkpoint(store, tmp_path):
    """A checkpoint without loader/optimizer state (as `encoderkit import-hf` writes) is
    an initialisation: training starts at step 0 from exactly those weights."""
    from encoderkit.train import checkpoint as ckpt

    src = pretrain(td.tiny_overrides(store, str(tmp_path / "src"), steps=2, **{"train.eval_every": 0}))
    state = json.loads((src / "checkpoints/2/state.json").read_text())
    weights = _final_weights(src, 2)
    run = tmp_path / "init"
    ckpt.save_checkpoint(run / "checkpoints", 0, weights, {}, [],
                         {"step": 0, "tokens": 0, "model_config": state["model_config"],
                          "domain": state["domain"]}, keep=0)
    pretrain(td.tiny_overrides(store, str(run), steps=1, **{"train.eval_every": 0,
                                                               "optim.lr": 1e-12, "optim.weight_decay": 0.0}))
    after = _final_weights(run, 1)
    # with a vanishing learning rate the weights stay those of the initial checkpoint
    for k, v in weights.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=1e-9)
    assert read_metrics(run)[0]["step"] == 1


def test_token_schedule_sets_lr_from_tokens_seen(store, tmp_path):
    from encoderkit.train.schedule import WSD

    run = pretrain(td.tiny_overrides(store, str(tmp_path / "tok"), steps=4, **{
        "schedule.unit": "tokens", "schedule.total": 512, "schedule.warmup": 200,
        "schedule.decay": 200, "schedule.shape": "cosine", "schedule.final_ratio": 0.1,
        "train.eval_every": 0}))
    sched = WSD(total=512, warmup=200, decay=200, shape="cosine", final_ratio=0.1, unit="tokens")
    rows = [r for r in read_metrics(run) if "loss" in r]
    # the lr of a step is the schedule at the tokens seen once that step is done
    assert [r["lr"] for r in rows] == pytest.approx([1e-2 * sched(r["tokens"]) for r in rows])
    with pytest.raises(ConfigError, match="run.resume=never"):
        pretrain(td.tiny_overrides(store, str(tmp_path / "tok"), steps=5, **{"run.resume": "never"}))
