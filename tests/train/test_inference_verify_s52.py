"""Loading a model for inference does not hash the optimizer file it never reads (two thirds
of a base model's load was that sha256); resuming still does, and a damaged weights file is
still refused by both (session 52)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.infer.load import load, resolve_checkpoint
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[str, Path]:
    store = td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=48)
    run = tmp_path_factory.mktemp("ref") / "run"
    pretrain(td.tiny_overrides(store, str(run), steps=2, **{"train.eval_every": 0, "train.keep": 0,
                                                              "train.checkpoint_every": 1}))
    return store, run


def _flip(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-3] ^= 0xFF  # the size kept: only the checksum sees it
    file.write_bytes(bytes(data))


def test_inference_reads_past_a_damaged_optimizer_file_and_resume_does_not(reference, tmp_path):
    store, ref = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    newest = run / "checkpoints" / "2"
    _flip(newest / ckpt.OPTIMIZER_FILE)
    assert resolve_checkpoint(run) == newest  # the weights are intact: the newest loads
    load(newest)
    with pytest.raises(DataError, match="optimizer.safetensors: its sha256 differs"):
        ckpt.verify_checkpoint(newest)  # what a resume verifies
    with pytest.warns(UserWarning, match=r"skipping damaged checkpoint .*checkpoints/2"):
        assert ckpt.newest_valid_checkpoint(run / "checkpoints") == run / "checkpoints" / "1"


def test_inference_still_refuses_damaged_weights_and_a_cut_optimizer_file(reference, tmp_path):
    _, ref = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    one, two = run / "checkpoints" / "1", run / "checkpoints" / "2"
    _flip(two / ckpt.MODEL_FILE)
    with pytest.raises(DataError, match="model.safetensors: its sha256 differs"):
        load(two)
    data = (one / ckpt.OPTIMIZER_FILE).read_bytes()
    (one / ckpt.OPTIMIZER_FILE).write_bytes(data[:-8])
    with pytest.raises(DataError, match="optimizer.safetensors: has .* bytes"):
        load(one)
