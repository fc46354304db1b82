"""A damaged checkpoint is refused however it is named: given by its own directory (load,
embed, ``run.resume=<checkpoint>``) or as a fine-tuned run's ``best/``, it is verified against
its manifest like the newest checkpoint of a run directory. A ``state.json`` that verifies
but whose resume entries (config, step, loader, rng) are not what the trainer wrote is one
``DataError`` naming the file and the entry, never a traceback."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.infer.load import load, resolve_checkpoint
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain
from tests.reliability.conftest import run_cli


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=48)


def _overrides(store: str, run: Path, steps: int, **extra) -> list[str]:
    return td.tiny_overrides(store, str(run), steps=steps, **{"train.eval_every": 0, "train.keep": 0,
                                                              "train.checkpoint_every": 1, **extra})


@pytest.fixture(scope="module")
def reference(store, tmp_path_factory) -> Path:
    """A 2-step run with checkpoints 1 and 2."""
    run = tmp_path_factory.mktemp("ref") / "run"
    pretrain(_overrides(store, run, 2))
    return run


@pytest.fixture
def run(reference, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    return out


def _flip(file: Path) -> None:
    """One byte near the end changed, the size kept: only the checksum sees it."""
    data = bytearray(file.read_bytes())
    data[-3] ^= 0xFF
    file.write_bytes(bytes(data))


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()} \
        if path.exists() else {}


# ---------------------------------------------------------------- A: a damaged checkpoint named directly
def test_load_refuses_a_damaged_checkpoint_named_directly(run):
    one = run / "checkpoints" / "2"
    _flip(one / ckpt.MODEL_FILE)
    for call in (resolve_checkpoint, load):
        with pytest.raises(DataError, match=r"checkpoints/2/model.safetensors: its sha256 differs.*damaged"):
            call(one)


def test_embed_refuses_a_damaged_checkpoint_named_directly(run, store, tmp_path, capsys):
    one = run / "checkpoints" / "2"
    _flip(one / ckpt.MODEL_FILE)
    out = tmp_path / "emb.npy"
    run_cli(capsys, ["embed", f"checkpoint={one}", f"input={store}", f"output={out}"], 1,
         "model.safetensors", "damaged")
    assert not out.exists()


def test_load_refuses_a_damaged_best_checkpoint(run):
    from safetensors.torch import load_file

    from encoderkit.train.objective import write_weights_checkpoint

    two = run / "checkpoints" / "2"
    state = ckpt.read_state(two)
    kept = {k: state[k] for k in ("step", "tokens", "config", "model_config", "domain")}
    write_weights_checkpoint(run / "best", load_file(str(two / ckpt.MODEL_FILE)), kept)
    assert resolve_checkpoint(run) == run / "best"  # intact: the run's best/ is what loads
    _flip(run / "best" / ckpt.MODEL_FILE)
    for call in (resolve_checkpoint, load):
        with pytest.raises(DataError, match=r"best/model.safetensors: its sha256 differs.*damaged"):
            call(run)


def test_resume_refuses_a_damaged_checkpoint_named_directly(run, store, tmp_path, capsys):
    two = run / "checkpoints" / "2"
    _flip(two / ckpt.MODEL_FILE)
    other = tmp_path / "other"
    run_cli(capsys, ["pretrain", *_overrides(store, other, 3), f"run.resume={two}"], 1,
         "checkpoints/2/model.safetensors", "damaged")
    assert not (other / "checkpoints").exists() or not any((other / "checkpoints").iterdir())


def test_a_checkpoint_without_manifest_loads_and_resumes_as_with_resume_auto(run, store, tmp_path):
    two = run / "checkpoints" / "2"
    (two / ckpt.MANIFEST_FILE).unlink()  # written before checkpoints had manifests
    ckpt.verify_checkpoint(two)  # what resume=auto accepts
    assert load(two).step == 2
    out = pretrain(_overrides(store, tmp_path / "other", 3, **{"run.resume": str(two)}))
    assert (out / "checkpoints" / "3").is_dir()


# ---------------------------------------------------------------- B: state.json valid JSON, wrong structure
def _rewrite_state(ck: Path, edit) -> None:
    """Edit state.json and re-record it in the manifest, so it verifies: what a writer with
    a bug (or a hand edit followed by a manifest update) leaves."""
    state = json.loads((ck / ckpt.STATE_FILE).read_text())
    edit(state)
    (ck / ckpt.STATE_FILE).write_text(json.dumps(state))
    manifest = json.loads((ck / ckpt.MANIFEST_FILE).read_text())
    manifest["files"][ckpt.STATE_FILE] = ckpt.file_digest(ck / ckpt.STATE_FILE)
    (ck / ckpt.MANIFEST_FILE).write_text(json.dumps(manifest))


def _set(key, value):
    def edit(state):
        state[key] = value
    return edit


def _del(key):
    def edit(state):
        del state[key]
    return edit


def _loader0(key, value):
    def edit(state):
        state["loader"][0][key] = value
    return edit


def _rng0(key, value):
    def edit(state):
        state["rng"][0][key] = value
    return edit


SHORT_TORCH = base64.b64encode(b"\x00" * 10).decode()
BROKEN = {
    "loader-string": (_set("loader", "x"), "loader"),
    "loader-none-entry": (_set("loader", [None]), "loader[0]"),
    "loader-open-int": (_loader0("open", 5), "loader[0].open"),
    "loader-only-version": (_set("loader", [{"version": 1}]), "loader[0]"),
    "loader-next-chunk-text": (_loader0("next_chunk", "three"), "loader[0].next_chunk"),
    "rng-missing": (_del("rng"), "rng"),
    "rng-torch-short": (_rng0("torch", SHORT_TORCH), "rng[0]"),
    "rng-numpy-short": (_rng0("numpy", ["MT19937", [1, 2, 3], 0, 0, 0.0]), "rng[0]"),
    "rng-not-base64": (_rng0("torch", "@@@"), "rng[0]"),
    "step-text": (_set("step", "four"), "step"),
    "tokens-none": (_set("tokens", None), "tokens"),
    "config-missing": (_del("config"), "config"),
    "config-none": (_set("config", None), "config"),
    "inputs-text": (_set("inputs", "x"), "inputs"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_resume_from_a_structurally_damaged_state_is_one_clean_error(run, store, tmp_path, capsys, case):
    edit, key = BROKEN[case]
    two = run / "checkpoints" / "2"
    _rewrite_state(two, edit)
    other = tmp_path / "other"
    line = run_cli(capsys, ["pretrain", *_overrides(store, other, 3), f"run.resume={two}"], 1,
                f"checkpoints/2/{ckpt.STATE_FILE}", key)
    assert "re-ingested" not in line  # the checkpoint is at fault, not the store
    assert not (other / "checkpoints").exists() or not any((other / "checkpoints").iterdir())


def test_resume_auto_from_a_structurally_damaged_state_is_one_clean_error(run, store, capsys):
    _rewrite_state(run / "checkpoints" / "2", _set("loader", [None]))
    before = _tree(run / "checkpoints")
    run_cli(capsys, ["pretrain", *_overrides(store, run, 3)], 1, ckpt.STATE_FILE, "loader[0]")
    assert _tree(run / "checkpoints") == before


def test_rng_state_checked_before_anything_is_restored():
    import torch

    good = ckpt.rng_state()
    before = torch.get_rng_state()
    with pytest.raises(DataError, match="rng"):
        ckpt.set_rng_state({**good, "torch": SHORT_TORCH}, file="x/state.json")
    assert torch.equal(torch.get_rng_state(), before)
