"""A fine-tuning run from a checkpoint draws no random initialisation of the encoder the
checkpoint replaces (session 53, helper L2).

The new task head's random draws followed the encoder's from the one generator the run seeds,
so a fine-tune from a checkpoint drew the whole encoder's initialisation (11 s of a ``base``
model's build on one CPU thread) only for the head to get its values. The head (classifier,
its dense layer, a contrastive projection) now draws from a generator of its own seeded from
``run.seed`` (``tasks.model.head_seed``); the pretrained part is built under
``modeling.loaded_part`` (initialisation skipped, the run's generator left as it was).

References: a plain build from scratch with the same head seed (its encoder saved as the
checkpoint: the loaded model must equal it bit for bit, so no parameter is left unfilled, with
whatever the memory held before), and torch's generator state around the build.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from encoderkit.core import EncoderConfig
from encoderkit.data.store import RecordStore
from encoderkit.registry import get_domain
from encoderkit.tasks import finetune, model as task_model
from encoderkit.tasks.model import TaskModel, head_seed, load_encoder_weights
from encoderkit.tasks.spec import TaskSpec
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain

from tests.test_call_costs_s51a2 import BUILT_IN, stores  # noqa: F401 (a fixture: each built-in's sample store)

pytestmark = pytest.mark.filterwarnings("ignore:sets with coordinates")

SPECS = {
    "classification": TaskSpec(type="classification", classes=["a", "b", "c"]),
    "regression": TaskSpec(type="regression", targets=["y"], mean=[1.0], std=[2.0], head="linear"),
    "contrastive": TaskSpec(type="contrastive", projection="mlp", mlm_weight=0.5),
}


def _config(domain) -> EncoderConfig:
    return EncoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                         rope_axes=domain.rope_axes, backend="sdpa")


def _dirty_memory(value: float) -> None:
    """Freed blocks of the allocator hold ``value``: an unfilled parameter may be given them."""
    blocks = [torch.full((n,), value) for n in (64, 2048, 32 * 64, 32 * 32, 3 * 32, 4096)]
    del blocks


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_build_from_a_checkpoint_is_the_plain_builds_model_and_draws_nothing(stores, name):
    domain = get_domain(name)(RecordStore(stores[name]).schema)
    config = _config(domain)
    for kind, spec in SPECS.items():
        torch.manual_seed(11)
        plain = TaskModel(domain, config, spec, seed=head_seed(4), learn_temperature=False)
        tensors = ckpt.model_state(plain)  # the checkpoint: the plain build's encoder (and MLM head)
        want = plain.state_dict()
        for garbage in (float("nan"), 7.0):
            _dirty_memory(garbage)
            state = torch.get_rng_state()
            model = TaskModel(domain, config, spec, seed=head_seed(4), learn_temperature=False,
                              pretrained=True)
            assert torch.equal(torch.get_rng_state(), state), kind  # the run's generator untouched
            load_encoder_weights(model, tensors, "ck")
            got = model.state_dict()
            assert list(got) == list(want)
            for key, t in want.items():  # the head drawn as from scratch, the rest loaded
                assert got[key].dtype == t.dtype and torch.equal(got[key], t), (kind, key)


def test_the_head_follows_run_seed_alone(stores):
    domain = get_domain("tabular")(RecordStore(stores["tabular"]).schema)
    config = _config(domain)
    for kind, spec in SPECS.items():
        torch.manual_seed(1)
        a = TaskModel(domain, config, spec, seed=head_seed(4))
        torch.manual_seed(2)  # another encoder initialisation before it: the same head
        b = TaskModel(domain, config, spec, seed=head_seed(4))
        c = TaskModel(domain, config, spec, seed=head_seed(5))
        new = [k for k in a.state_dict() if k.startswith(("classifier.", "projection.", "head.dense."))]
        new = [k for k in new if not (kind == "contrastive" and k.startswith("head."))]
        assert new, kind
        sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in new), kind
        assert all(not torch.equal(sa[k], sc[k]) for k in new if k.endswith("weight") and "norm" not in k), kind
        assert not torch.equal(sa["encoder.layers.0.attn.Wqkv.weight"], sb["encoder.layers.0.attn.Wqkv.weight"])
    assert head_seed(4) != head_seed(5) and head_seed(4) != 4


# ---------------------------------------------------------------- runs, end to end

@pytest.fixture(scope="module")
def start(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("runs")
    store = td.write_store(root / "store.zarr", n=48, seed=2)
    pretrain(td.tiny_overrides(store, str(root / "pre"), steps=2,
                               **{"train.eval_every": 0, "train.checkpoint_every": 2}))
    records = RecordStore(store)
    labels = root / "labels.csv"
    pd.DataFrame({"id": [records[i]["id"] for i in range(len(records))],
                  "label": [i % 3 for i in range(len(records))]}).to_csv(labels, index=False)
    extra = {"checkpoint": str(root / "pre"), "task.labels": str(labels), "task.ensemble": 1,
             "task.dropout": 0.3, "train.eval_every": 0, "train.checkpoint_every": 3}
    overrides = [o for o in td.tiny_overrides(store, "", steps=3)
                 if o.split("=", 1)[0] not in extra | {"run.dir": 0}
                 and not o.startswith(("model", "data.val_fraction"))]
    return {"root": root, "args": overrides + [f"{k}={v}" for k, v in extra.items()]}


def _tuned(start, name: str, seed: int, monkeypatch) -> tuple[dict, list]:
    """The final weights of a 3-step fine-tune from the checkpoint, and the generator's state
    before and after each real (not ``meta``) build of its model."""
    states: list = []
    real = TaskModel.__init__

    def watched(self, *args, **kwargs):
        before = torch.get_rng_state()
        real(self, *args, **kwargs)
        if not next(self.parameters()).is_meta:
            states.append((before, torch.get_rng_state()))

    with monkeypatch.context() as m:
        m.setattr(task_model.TaskModel, "__init__", watched)
        run = Path(start["root"]) / name
        finetune(start["args"] + [f"run.dir={run}", f"run.seed={seed}"])
    weights = load_file(str(max((run / "checkpoints").iterdir(), key=lambda p: int(p.name)) / ckpt.MODEL_FILE))
    return weights, states


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_fine_tune_from_a_checkpoint_draws_no_encoder_initialisation_and_repeats(start, monkeypatch):
    first, states = _tuned(start, "a", 3, monkeypatch)
    assert len(states) == 1
    before, after = states[0]
    assert torch.equal(before, after)  # the encoder's initialisation (and the head's) not drawn
    again, _ = _tuned(start, "b", 3, monkeypatch)
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
    other, _ = _tuned(start, "c", 4, monkeypatch)
    assert not torch.equal(first["classifier.weight"], other["classifier.weight"])
    # dropout and the order of batches follow the seed as ever: a run from the skipped build
    # trains as one whose encoder was drawn and replaced (the generator left as it was)
    from encoderkit import modeling

    with monkeypatch.context() as m:
        m.setattr(modeling, "_RandomInitSkipped", _Drawn)
        drawn, states = _tuned(start, "d", 3, monkeypatch)
    assert _Drawn.entered
    assert all(torch.equal(first[k], drawn[k]) for k in first)


class _Drawn:
    """``modeling._RandomInitSkipped`` switched off: the pretrained part's initialisation drawn."""

    entered = False

    def __enter__(self) -> None:
        _Drawn.entered = True

    def __exit__(self, *exc: object) -> None:
        return None
