"""train.steps=auto: the rule (hand-computed cases), the model-token count against a full
featurize pass, and a run that resolves `auto` to the expected int before training."""

from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.registry import get_domain
from encoderkit.train.budget import auto_steps, train_tokens
from encoderkit.train.config import ConfigError, compose


def test_rule_clamps_epochs_to_bounds():
    assert auto_steps(10_000, 1000, epochs=3, min_steps=1, max_steps=100) == 30
    assert auto_steps(10_001, 1000, epochs=3, min_steps=1, max_steps=100) == 31  # ceil
    assert auto_steps(100, 1000, epochs=3, min_steps=20, max_steps=100) == 20
    assert auto_steps(10**9, 1000, epochs=3, min_steps=20, max_steps=100) == 100


def test_model_tokens_of_a_series_store_are_patches(tmp_path):
    """Series store samples; the model reads patches: the count matches featurize exactly
    (every record is in the sample when the split is small)."""
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(int(c), int(n))) for c, n in zip(rng.integers(1, 4, 30), rng.integers(5, 90, 30))]
    np.savez(tmp_path / "s.npz", **{f"a{i}": a for i, a in enumerate(arrays)})
    store = str(tmp_path / "s.zarr")
    ingest("timeseries", [str(tmp_path / "s.npz")], store, progress=False, verbose=False)
    s = RecordStore(store)
    domain = get_domain("timeseries")(s.schema, patch=8)
    idx = np.arange(len(s))
    exact = sum(len(domain.featurize(s[i])) for i in idx)
    assert exact == sum(a.shape[0] * math.ceil(a.shape[1] / 8) for a in arrays)
    assert train_tokens(s, domain, idx) == exact
    assert train_tokens(s, domain, idx[:0]) == 0


def test_auto_is_validated():
    with pytest.raises(ConfigError, match="'train.steps' parameter"):
        compose(["domain=tabular", "data.store=x", "train.steps=soon"])
    with pytest.raises(ConfigError, match="'train.auto_min_steps' parameter"):
        compose(["domain=tabular", "data.store=x", "train.steps=auto", "train.auto_min_steps=50",
                 "train.auto_max_steps=10"])


def test_pretrain_resolves_auto_before_training(tmp_path):
    """60 rows x 5 columns = 300 tokens; 4 epochs of 256-token steps -> ceil(4.69) = 5 steps."""
    import pandas as pd

    from encoderkit.train import pretrain

    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde")).to_csv(tmp_path / "t.csv", index=False)
    store = str(tmp_path / "t.zarr")
    ingest("tabular", [str(tmp_path / "t.csv")], store, progress=False, verbose=False)
    run = pretrain(["domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'run'}",
                    "train.steps=auto", "train.auto_epochs=4", "train.auto_min_steps=1",
                    "data.val_fraction=1e-9", "data.max_tokens=256", "data.max_seqlen=64",
                    "train.eval_every=0", "train.progress=false", "train.log_every=1",
                    "model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
                    "model.intermediate_size=32"])
    assert OmegaConf.load(run / "config.yaml").train.steps == 5
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["5"]
