"""Loading a trained model draws no random initialisation (session 52, helper l).

``encoderkit.load`` (embed, infill, predict, evaluate, export-hf) built the model with its
random initialisation and then overwrote every tensor with the checkpoint's: torch 2.13's
``trunc_normal_`` draws a ``normal_`` and redraws at full size while any value lies outside
its bounds, and ``nn.Linear`` draws a kaiming_uniform_ first; 11 s of a 13 s ``base`` load
on one CPU thread. ``weights_fit.build_checked`` now builds under
``modeling.random_init_skipped``: the parameters' random fills are skipped (the weights
replace them: the check before the build found each in the file), everything else runs as
in a plain build.

References: the old path itself (a plain seeded build, then the weights loaded: state_dict,
every buffer, non-persistent ones included, ties, requires_grad, bit for bit), the run's
embeddings / predictions through the old path (``random_init_skipped`` switched off), and
torch's generator state (the new build draws nothing from it; the old drew the init).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import encoderkit
import testdomain as td
from encoderkit import modeling
from encoderkit.core import EncoderConfig
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.infer.load import load_weights
from encoderkit.infer.weights_fit import build_checked
from encoderkit.modeling import MaskedEncoderModel, random_init_skipped
from encoderkit.registry import get_domain
from encoderkit.tasks import finetune
from encoderkit.tasks.model import TaskModel
from encoderkit.tasks.spec import TaskSpec
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain

from tests.test_call_costs_s51a2 import BUILT_IN, stores  # noqa: F401 (a fixture: each built-in's sample store)

# the sets domain's note on window order (coordinates in input order) is no concern here
pytestmark = pytest.mark.filterwarnings("ignore:sets with coordinates")


def _builders(domain, mode: str) -> dict[str, object]:
    # a local layer too where there are positions (unordered inputs run every layer global)
    config = EncoderConfig(hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64,
                           global_every=2 if domain.rope_axes else None, rope_axes=domain.rope_axes,
                           rope_mode=mode, backend="sdpa")
    specs = {
        "classification": TaskSpec(type="classification", classes=["a", "b", "c"]),
        "regression": TaskSpec(type="regression", targets=["y"], mean=[1.0], std=[2.0], head="linear"),
        # the pretraining head rides along (genomic's decoder tied to the embedding), a fixed temperature
        "contrastive": TaskSpec(type="contrastive", projection="mlp", mlm_weight=0.5),
    }
    out = {"pretrained": (config, lambda: MaskedEncoderModel(domain, config))}
    for kind, spec in specs.items():
        out[kind] = (config, lambda spec=spec: TaskModel(domain, config, spec, learn_temperature=False))
    return out


def _saved(model: nn.Module, directory: Path) -> Path:
    """A checkpoint folder holding ``model``'s weights as a run saves them (tied tensors once)."""
    directory.mkdir(parents=True)
    save_file(ckpt.model_state(model), str(directory / ckpt.MODEL_FILE))
    return directory


def _ties(model: nn.Module) -> list[list[str]]:
    """The names of the state that share one tensor (the genomic head's decoder and embedding)."""
    groups: dict[int, list[str]] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(t), []).append(name)
    return sorted(g for g in groups.values() if len(g) > 1)


def _assert_same_model(got: nn.Module, want: nn.Module) -> None:
    """Every parameter and buffer (non-persistent ones too) bit for bit, ties and requires_grad."""
    a, b = got.state_dict(), want.state_dict()
    assert list(a) == list(b)
    for key in b:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    buffers, reference = dict(got.named_buffers()), dict(want.named_buffers())
    assert buffers.keys() == reference.keys()
    for key, t in reference.items():
        assert buffers[key].dtype == t.dtype and torch.equal(buffers[key], t), key
    assert {k: p.requires_grad for k, p in got.named_parameters()} == \
        {k: p.requires_grad for k, p in want.named_parameters()}
    assert _ties(got) == _ties(want)


@pytest.mark.parametrize("mode", ["axial", "mixed"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_a_checked_build_draws_no_initialisation_and_loads_to_the_old_paths_model(stores, tmp_path, name, mode):
    domain = get_domain(name)(RecordStore(stores[name]).schema)
    if mode == "mixed" and domain.rope_axes == 0:
        pytest.skip("no rotary frequencies to learn without positions")
    for kind, (config, build) in _builders(domain, mode).items():
        torch.manual_seed(5)
        plain = build()  # the old path: a random initialisation ...
        folder = _saved(plain, tmp_path / kind)
        reference = build()
        load_weights(reference, folder / ckpt.MODEL_FILE)  # ... which the weights replace
        _assert_same_model(reference, plain)
        state = torch.get_rng_state()
        model = build_checked(build, config.num_layers, folder)
        assert torch.equal(torch.get_rng_state(), state), kind  # nothing drawn: the init was skipped
        load_weights(model, folder / ckpt.MODEL_FILE)
        _assert_same_model(model, reference)


class _Bounded(nn.Module):
    """Parameters whose storage holds values outside a truncated normal's bounds, as reused
    memory may, filled by torch's own ``nn.init`` functions (not torch functions in 2.13)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((4096,), 7.0))
        nn.init.trunc_normal_(self.w, std=0.02, a=-0.04, b=0.04)
        self.v = nn.Parameter(torch.full((64, 32), 7.0))
        nn.init.xavier_normal_(self.v)
        self.register_buffer("steps", torch.arange(5.0) ** 2, persistent=False)


def test_a_fill_reached_inside_an_init_function_draws_nothing_and_buffers_are_computed():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    with random_init_skipped():
        model = _Bounded()
    # trunc_normal_'s redraws of out-of-bounds values (7.0) would have drawn
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model.steps, torch.arange(5.0) ** 2)
    plain = _Bounded()  # outside the section: torch's initialisation as ever
    assert plain.w.abs().max() <= 0.04 and not torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------- runs, end to end

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A pretrained run and a fine-tuned (classification) run of the test domain."""
    root = tmp_path_factory.mktemp("runs")
    store = td.write_store(root / "store.zarr", n=48, seed=2)
    pretrain(td.tiny_overrides(store, str(root / "pre"), steps=2,
                               **{"train.eval_every": 0, "train.checkpoint_every": 2}))
    records = RecordStore(store)
    labels = root / "labels.csv"
    pd.DataFrame({"id": [records[i]["id"] for i in range(len(records))],
                  "label": [i % 3 for i in range(len(records))]}).to_csv(labels, index=False)
    extra = {"checkpoint": str(root / "pre"), "task.labels": str(labels), "task.ensemble": 1,
             "train.eval_every": 0, "train.checkpoint_every": 2}
    # the architecture is the checkpoint's; validation is the task's
    overrides = [o for o in td.tiny_overrides(store, str(root / "tuned"), steps=2)
                 if o.split("=", 1)[0] not in extra and not o.startswith(("model", "data.val_fraction"))]
    finetune(overrides + [f"{k}={v}" for k, v in extra.items()])
    return {"pre": root / "pre", "tuned": root / "tuned", "store": Path(store)}


@contextlib.contextmanager
def _old_path(monkeypatch):
    """``encoderkit.load`` as it was: the build draws its random initialisation."""
    with monkeypatch.context() as m:
        m.setattr(modeling, "random_init_skipped", contextlib.nullcontext)
        yield


def test_a_loaded_runs_model_embeddings_and_predictions_are_the_old_paths(runs, monkeypatch):
    store = str(runs["store"])
    for run in ("pre", "tuned"):
        new = encoderkit.load(runs[run])
        with _old_path(monkeypatch):
            old = encoderkit.load(runs[run])
        assert type(new) is type(old)
        _assert_same_model(new.model, old.model)
        weights = load_file(str(new.path / ckpt.MODEL_FILE))
        state = new.model.state_dict()
        assert all(torch.equal(state[k], t) for k, t in weights.items())
        np.testing.assert_array_equal(new.embed(store, progress=False), old.embed(store, progress=False))
        if run == "tuned":
            got, want = new.predict(store, progress=False), old.predict(store, progress=False)
            pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_a_checkpoint_missing_a_tensor_is_still_refused_naming_it(runs, tmp_path):
    folder = tmp_path / "ck"
    shutil.copytree(max((runs["pre"] / "checkpoints").iterdir(), key=lambda p: int(p.name)), folder)
    (folder / ckpt.MANIFEST_FILE).unlink(missing_ok=True)  # an edited upload carries no manifest
    weights = load_file(str(folder / ckpt.MODEL_FILE))
    gone = "encoder.layers.1.mlp.Wo.weight"
    save_file({k: v for k, v in weights.items() if k != gone}, str(folder / ckpt.MODEL_FILE))
    with pytest.raises(DataError, match=rf"model\.safetensors: does not match the model its state\.json "
                                        rf"describes: it describes 1 tensor\(s\) the weights lack \(e\.g\. {gone}"):
        encoderkit.load(folder)


def test_tied_weights_stored_under_either_name_load_tied(stores, tmp_path):
    domain = get_domain("genomic")(RecordStore(stores["genomic"]).schema)
    config, build = _builders(domain, "axial")["pretrained"]
    torch.manual_seed(1)
    plain = build()
    state = ckpt.model_state(plain)
    twin = "head.decoder.weight"
    assert twin not in state  # stored once, under the embedding's name
    state[twin] = state.pop("embedder.tok_embeddings.weight")
    folder = tmp_path / "ck"
    folder.mkdir()
    save_file(state, str(folder / ckpt.MODEL_FILE))
    model = build_checked(build, config.num_layers, folder)
    load_weights(model, folder / ckpt.MODEL_FILE)
    assert model.head.decoder.weight is model.embedder.tok_embeddings.weight
    _assert_same_model(model, plain)
