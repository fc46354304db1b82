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


# ---------------------------------------------------------------- data.max_tokens=auto
from encoderkit.train.budget import SplitSize, auto_max_tokens, split_size  # noqa: E402


def test_auto_batch_rule_hand_computed():
    # ArrowHead-like: 29 series of 16 tokens -> ceil(29 / 8) = 4 series a step = 64 tokens
    assert auto_max_tokens(SplitSize(29, 29, 464, 16)) == 64
    # a large split: 32 sequences of a mean 30 tokens; per rank on 2 ranks: 480
    assert auto_max_tokens(SplitSize(1000, 1000, 30_000, 30)) == 960
    assert auto_max_tokens(SplitSize(1000, 1000, 30_000, 30), world_size=2) == 480
    # 256 sequences is where the cap starts: 32 a step either way
    assert auto_max_tokens(SplitSize(256, 256, 2560, 10)) == 320
    assert auto_max_tokens(SplitSize(255, 255, 2550, 10)) == 320  # ceil(255 / 8) = 32
    assert auto_max_tokens(SplitSize(100, 100, 1000, 10)) == 130  # ceil(100 / 8) = 13
    # the longest sequence has to fit one micro-batch: 2 x 10 = 20 < 60
    assert auto_max_tokens(SplitSize(10, 10, 100, 60)) == 60
    # non-integer mean: ceil(13 x 1001 / 100) = ceil(130.13) = 131
    assert auto_max_tokens(SplitSize(100, 100, 1001, 11)) == 131
    assert auto_max_tokens(SplitSize(0, 0, 0, 0)) == 1


def _traintest_store(tmp_path, lengths: list[int]) -> tuple[RecordStore, object]:
    from encoderkit.data.store import StoreWriter

    import testdomain as td

    path = tmp_path / "tt.zarr"
    with StoreWriter(path, td.NAME) as w:
        for i, n in enumerate(lengths):
            w.append({"ids": (2 + np.arange(n) % 20).astype(np.int16)}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    s = RecordStore(str(path))
    return s, get_domain(td.NAME)(s.schema)


def test_split_size_counts_windows_like_a_full_pass(tmp_path):
    """Records longer than max_seqlen count as their windows (contiguous, the last one
    ending at the last token): 8..40 tokens cut at 16, every record in the sample."""
    lengths = [int(n) for n in np.random.default_rng(0).integers(8, 41, 50)]
    s, domain = _traintest_store(tmp_path, lengths)
    idx = np.arange(0, 50, 2)
    size = split_size(s, domain, idx, max_seqlen=16)
    windows = [w for i in idx for w in domain.windows(domain.featurize(s[int(i)]), 16)]
    assert size.records == 25
    assert size.sequences == sum(math.ceil(lengths[i] / 16) for i in idx) == len(windows)
    assert size.tokens == sum(len(w) for w in windows)
    assert size.longest == 16
    assert split_size(s, domain, idx, max_seqlen=64).longest == max(lengths[i] for i in idx)


def test_split_size_finds_a_long_record_outside_the_sample(tmp_path):
    """300 records: the spread sample of 256 skips some; the longest stored one is read too."""
    from encoderkit.train.budget import SAMPLE

    idx = np.arange(300)
    sample = set(np.unique(np.linspace(0, 299, SAMPLE).astype(np.int64)).tolist())
    outside = next(i for i in range(300) if i not in sample)
    lengths = [10] * 300
    lengths[outside] = 57
    s, domain = _traintest_store(tmp_path, lengths)
    size = split_size(s, domain, idx, max_seqlen=1024)
    assert size.longest == 57
    assert size.sequences == 300
    assert size.tokens == pytest.approx(sum(lengths), rel=0.02)  # scaled from the sample


def test_max_tokens_auto_is_validated():
    from encoderkit.train.config import compose_finetune

    with pytest.raises(ConfigError, match="'data.max_tokens' parameter .* in encoderkit pretrain"):
        compose(["domain=tabular", "data.store=x", "data.max_tokens=auto"])
    for bad in ("0", "soon", "1.5"):
        with pytest.raises(ConfigError, match=r"'data.max_tokens' parameter must be an int .* or 'auto'"):
            compose_finetune(["checkpoint=none", "domain=tabular", "data.store=x", f"data.max_tokens={bad}"])
    assert compose_finetune(["checkpoint=none", "domain=tabular", "data.store=x"]).data.max_tokens == "auto"
    given = compose_finetune(["checkpoint=none", "domain=tabular", "data.store=x", "data.max_tokens=2048"])
    assert given.data.max_tokens == 2048
