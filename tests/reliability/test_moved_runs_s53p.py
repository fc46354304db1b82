"""Runs and checkpoints moved or copied away from their store and config (session 53, helper p).

A checkpoint copied without its run's config.yaml embedded with data.max_seqlen=1024 instead of
the window it trained on (its state.json records it); a stale store left at the absolute path
pretrain recorded won over the copy moved with the run; infill had no way to name the store.
References: the values written into the checkpoint here, the stores' own identities.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import UsageError
from encoderkit.infer import run_files
from encoderkit.infer.load import load, run_store
from encoderkit.train import checkpoint as ckpt
from encoderkit.train.checkpoint_safetensors import load_tensors

from .conftest import make_run


@pytest.fixture(scope="module")
def moved(tmp_path_factory) -> dict[str, Path]:
    """A tiny tabular run trained (as recorded) in <old>/ with run.dir=runs/pre and
    data.store=stores/t.zarr, moved to <new>/; a stale store of other rows left at <old>."""
    root = tmp_path_factory.mktemp("moved")
    base = make_run("tabular", root / "made")
    store = RecordStore(str(base.store))
    old, new = root / "old", root / "new"
    src = base.dir / "checkpoints" / "1"
    state = ckpt.read_state(src)
    state["config"] = {"data": {"store": "stores/t.zarr", "max_seqlen": 48}, "run": {"dir": "runs/pre"}}
    state["inputs"] = {"identity": store.identity, "records": len(store), "tokens": int(store.num_tokens),
                       "files": {}, "store": str(old / "stores" / "t.zarr")}
    run = new / "runs" / "pre"
    ckpt.save_checkpoint(run / "checkpoints", 1, load_tensors(src / ckpt.MODEL_FILE), {}, [], state, keep=0)
    (run / "config.yaml").write_text("data:\n  store: stores/t.zarr\n  max_seqlen: 48\nrun:\n  dir: runs/pre\n")
    (new / "stores").mkdir(parents=True)
    shutil.copytree(base.store, new / "stores" / "t.zarr")
    # the stale copy: other rows of the same table at the recorded absolute path
    table = pd.read_csv(base.raw[0])
    half = root / "half.csv"
    table.iloc[: len(table) // 2].to_csv(half, index=False)
    ingest("tabular", [str(half)], str(old / "stores" / "t.zarr"), progress=False, verbose=False)
    return {"run": run, "store": new / "stores" / "t.zarr", "stale": old / "stores" / "t.zarr",
            "raw": base.raw[0], "root": root}


def test_a_checkpoint_copied_alone_keeps_the_window_it_trained_on(moved, tmp_path):
    alone = tmp_path / "ck"
    shutil.copytree(moved["run"] / "checkpoints" / "1", alone)
    assert load(alone).max_seqlen == 48  # state.json's config; 1024 (the default) before
    value, file = run_files.run_setting(alone, "data.max_seqlen")
    assert (value, file) == (48, alone / ckpt.STATE_FILE)
    # in the run folder too, the checkpoint's recorded config is its truth (s53w)
    checkpoint = moved["run"] / "checkpoints" / "1"
    assert run_files.run_setting(checkpoint, "data.max_seqlen") == (48, checkpoint / ckpt.STATE_FILE)


def test_the_store_moved_with_the_run_wins_over_a_stale_one_at_the_recorded_path(moved):
    assert RecordStore(str(moved["stale"])).identity != RecordStore(str(moved["store"])).identity
    model = load(moved["run"])
    assert model.store == str(moved["store"])  # the stale one at the recorded path before
    # without the moved copy: the first candidate (the recorded path), for the fill to say why not
    checkpoint = moved["run"] / "checkpoints" / "1"
    inputs = json.loads((checkpoint / ckpt.STATE_FILE).read_text())["inputs"]
    assert run_store(checkpoint, {**inputs, "identity": "0" * 32}) == str(moved["stale"])


def test_infill_names_the_training_store_with_store_and_the_warning_says_how(moved, tmp_path, monkeypatch):
    model = load(moved["run"])
    holes = pd.read_csv(moved["raw"]).head(6)
    holes.iloc[0, 0] = None
    model.store = str(moved["stale"])  # as a run whose store was not found
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.infill(holes.copy(), infill_blend="iterative")
    said = [str(w.message) for w in caught if "training store" in str(w.message)]
    assert said and "pass store=" in said[0], said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.infill(holes.copy(), infill_blend="iterative", store=str(moved["store"]))
    assert not [w for w in caught if "training store" in str(w.message)]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="store='nowhere.zarr' does not exist"):
        model.infill(holes.copy(), store="nowhere.zarr")
