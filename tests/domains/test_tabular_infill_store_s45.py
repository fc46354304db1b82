"""A trained tabular run fills the same way whatever happened around it (audit s45 repro,
findings 1 and 2). Its ``infill`` blends the encoder with classical imputers fitted on the
run's training store; after ``ingest ... append=true`` to that store they were refitted on
every row it now held (36 of 74 fills moved, no message), and a relative ``data.store``
was looked up from the current directory (from another one: a warning, and 371 of 969
fills differed). Now the imputers read the store up to the run's own records, found at the
absolute location pretrain recorded. Real data: scikit-learn's wine; a tiny model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore

from .sample_store import TINY_MODEL


def wine_with_holes() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.drop(columns="target")
    rng = np.random.default_rng(45)
    return frame.mask(rng.random(frame.shape) < 0.12)


def _parts(root: Path) -> list[str]:
    """The wine table in three CSV parts of 100, 40 and 38 rows."""
    data = wine_with_holes()
    paths = []
    for i, (lo, hi) in enumerate([(0, 100), (100, 140), (140, len(data))]):
        path = root / f"part{i}.csv"
        data.iloc[lo:hi].to_csv(path, index=False)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run pretrained from its own folder on ``store.zarr`` given as a relative path."""
    import os

    from encoderkit.train import pretrain

    root = tmp_path_factory.mktemp("wine_s45")
    parts = _parts(root)
    ingest("tabular", [parts[0]], str(root / "store.zarr"), progress=False, verbose=False)
    here = os.getcwd()
    os.chdir(root)
    try:
        run = pretrain(["domain=tabular", "data.store=store.zarr", "run.dir=run", "train.steps=6",
                        "train.progress=false", "train.eval_every=0", "data.max_tokens=512",
                        "data.max_seqlen=64", *TINY_MODEL])
    finally:
        os.chdir(here)
    return root, root / run, parts


def _fill(run: Path, data: pd.DataFrame) -> pd.DataFrame:
    """``infill`` of a freshly loaded run, failing on any warning about its training store."""
    from encoderkit.infer.load import load

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*training store.*")
        return load(run).infill(data)


def test_the_run_records_its_store_at_an_absolute_location_and_config_keeps_the_path_given(trained):
    root, run, _ = trained
    state = json.loads((run / "checkpoints" / "6" / "state.json").read_text())
    assert state["inputs"]["store"] == str(root / "store.zarr")
    assert "store: store.zarr" in (run / "config.yaml").read_text()


def test_a_relative_store_is_found_from_any_directory(trained, tmp_path, monkeypatch):
    root, run, _ = trained
    data = wine_with_holes().iloc[:60]
    monkeypatch.chdir(root)
    here = _fill(run, data)
    monkeypatch.chdir(tmp_path)  # store.zarr is no relative path from here
    assert not (tmp_path / "store.zarr").exists()
    pd.testing.assert_frame_equal(_fill(run, data), here)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_appending_to_the_training_store_leaves_the_runs_fills_as_they_were(tmp_path):
    from encoderkit.train import pretrain

    parts = _parts(tmp_path)
    store = str(tmp_path / "store.zarr")
    ingest("tabular", [parts[0]], store, progress=False, verbose=False)
    run = pretrain(["domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=4", "train.progress=false", "train.eval_every=0",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    data = wine_with_holes().iloc[:60]
    before = _fill(run, data)
    ingest("tabular", [parts[1]], store, append=True, progress=False, verbose=False)
    ingest("tabular", [parts[2]], store, append=True, progress=False, verbose=False)
    assert len(RecordStore(store)) == 178  # every row, the run's 100 first
    pd.testing.assert_frame_equal(_fill(run, data), before)


def test_a_store_with_other_rows_under_the_same_columns_is_said(trained):
    from encoderkit.infer.load import load

    _, run, _ = trained
    model = load(run)
    model.store_inputs = {**model.store_inputs, "identity": "0" * 32}  # as if re-ingested from other rows
    with pytest.warns(UserWarning, match=r"holds other rows than the run was trained on \(100 then, 100 now"):
        model.infill(wine_with_holes().iloc[:10])


def test_run_records_counts_the_first_records_that_are_the_runs(tmp_path):
    """Against the stores' own identities (what a checkpoint records): the store itself, the
    store after one and after two appends, and a store re-ingested from other files."""
    from encoderkit.data.ingest import run_records

    parts = _parts(tmp_path)
    store = str(tmp_path / "s.zarr")
    ingest("tabular", [parts[0]], store, progress=False, verbose=False)
    first = {"identity": RecordStore(store).identity, "records": 100}
    assert run_records(RecordStore(store), first) == 100
    ingest("tabular", [parts[1]], store, append=True, progress=False, verbose=False)
    second = {"identity": RecordStore(store).identity, "records": 140}
    assert second["identity"] != first["identity"]
    assert run_records(RecordStore(store), first) == 100
    ingest("tabular", [parts[2]], store, append=True, progress=False, verbose=False)
    grown = RecordStore(store)
    assert (run_records(grown, first), run_records(grown, second)) == (100, 140)
    assert run_records(grown, None) == 178  # a checkpoint without an identity: every record
    assert run_records(grown, {**first, "records": 99}) is None  # a count that is not the run's
    other = str(tmp_path / "other.zarr")  # the same first file's rows, and others appended
    ingest("tabular", [parts[1]], other, progress=False, verbose=False)
    ingest("tabular", [parts[0]], other, append=True, progress=False, verbose=False)
    assert run_records(RecordStore(other), first) is None


def test_a_run_directory_whose_recorded_store_is_gone_reads_the_configs_path(tmp_path):
    from encoderkit.infer.load import run_store

    ckpt = tmp_path / "run" / "checkpoints" / "3"
    ckpt.mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text("data:\n  store: stores/t.zarr\n")
    # nothing exists: the recorded location, for the reader's warning to name (session 53:
    # the candidates are tried in order, recorded first; before, the config's path was named)
    gone = run_store(ckpt, {"store": str(tmp_path / "elsewhere.zarr")})
    assert gone == str(tmp_path / "elsewhere.zarr")
    (tmp_path / "run" / "stores" / "t.zarr").mkdir(parents=True)  # the config's path, beside the run
    assert run_store(ckpt, {"store": str(tmp_path / "elsewhere.zarr")}) == str(tmp_path / "run" / "stores" / "t.zarr")
    (tmp_path / "elsewhere.zarr").mkdir()
    assert run_store(ckpt, {"store": str(tmp_path / "elsewhere.zarr")}) == str(tmp_path / "elsewhere.zarr")
    # checkpoints from before the location was recorded: the config's path
    assert run_store(ckpt, None) == str(tmp_path / "run" / "stores" / "t.zarr")
