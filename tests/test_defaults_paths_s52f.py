"""Session 52, fixer f: a domain's documented defaults on every path (``pretrain domain.name=x``
and ``finetune checkpoint=none`` with the store's domain composed no yaml: tabular trained with
masker random / numeric_decode clip / infill_blend none, sets with model.global_every 3); a
``schedule.unit=tokens`` shorter than the run's tokens (its rest at lr 0) and a 1-step run in
tokens (lr 6e-4 x the peak); ``train.plot`` (impute's temporary runs drew a loss.png nobody sees).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from encoderkit import cli
from encoderkit.errors import UsageError
from encoderkit.train.checkpoint import MANIFEST_FILE, STATE_FILE, config_diff, file_digest
from encoderkit.train.config import ConfigError, compose, compose_finetune, config_dir
from encoderkit.train.metrics_log import read_metrics
from encoderkit.train.schedule import WSD, plan_wsd

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "data.max_tokens=256", "data.max_seqlen=8", "train.progress=false", "train.eval_every=0"]
YAMLS = sorted(p.stem for p in (config_dir() / "domain").glob("*.yaml"))


def _plain(cfg, *keys):
    return {k: OmegaConf.to_container(cfg[k]) for k in keys}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("s52f")
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=60).round(3), "b": rng.integers(0, 4, 60),
                  "c": rng.normal(size=60).round(3)}).to_csv(root / "t.csv", index=False)
    assert cli.main(["ingest", "domain=tabular", f"input={root / 't.csv'}", f"output={root / 's.zarr'}",
                     "progress=false"]) == 0
    return root / "s.zarr"


# ---------------------------------------------------------------- 1. the documented defaults
@pytest.mark.parametrize("name", YAMLS)
def test_domain_name_composes_what_domain_equals_composes(name):
    """``domain.name=x`` selected no yaml (the Python defaults: tabular's masker random,
    numeric_decode clip, infill_blend none; timeseries' baseline linear, patch 16; sets'
    model.global_every 3): the reference is ``domain=x``, the documented file."""
    assert set(YAMLS) >= {"tabular", "timeseries", "sets", "genomic"}
    got = compose([f"domain.name={name}", "data.store=s.zarr"])
    assert _plain(got, "domain", "model") == _plain(compose([f"domain={name}", "data.store=s.zarr"]),
                                                    "domain", "model")


def test_a_typed_domain_option_still_wins_and_a_plugin_keeps_its_own_defaults():
    cfg = compose(["domain.name=tabular", "domain.masker=column", "data.store=s.zarr"])
    assert (cfg.domain.masker, cfg.domain.numeric_decode, cfg.domain.infill_blend) == \
        ("column", "regression", "iterative+forest")  # the typed word, then the yaml's
    assert compose(["domain.name=sets", "model.global_every=3", "data.store=s.zarr"]).model.global_every == 3
    # a domain registered with no yaml (tests/conftest.py's traintest): its name alone, as before
    assert OmegaConf.to_container(compose(["domain.name=traintest", "data.store=s.zarr"]).domain) == \
        {"name": "traintest"}


def test_finetune_from_scratch_composes_the_stores_domain_with_its_yaml(store):
    words = [f"data.store={store}", "task=regression", "task.label_column=c"]
    got = compose_finetune(["checkpoint=none", *words])
    want = compose_finetune(["checkpoint=none", "domain=tabular", *words])
    assert OmegaConf.to_container(got.domain) == OmegaConf.to_container(want.domain)
    assert got.domain.infill_blend == "iterative+forest"
    typed = compose_finetune(["checkpoint=none", "domain.numeric_decode=clip", *words])
    assert (typed.domain.numeric_decode, typed.domain.infill_blend) == ("clip", "iterative+forest")


def test_a_two_step_domain_name_run_trains_and_saves_the_yaml_defaults(store, tmp_path):
    run = tmp_path / "run"
    assert cli.main(["pretrain", "domain.name=tabular", f"data.store={store}", f"run.dir={run}",
                     "train.steps=2", "train.plot=false", *SMALL]) == 0
    assert not (run / "loss.png").exists() and (run / "metrics.jsonl").is_file()  # train.plot=false
    saved = OmegaConf.load(run / "config.yaml").domain
    yaml = OmegaConf.load(config_dir() / "domain" / "tabular.yaml")
    for key in ("masker", "numeric_decode", "infill_blend"):
        assert saved[key] == yaml[key], key
    options = json.loads((run / "checkpoints" / "2" / STATE_FILE).read_text())["domain"]["options"]
    assert (options["masker"], options["numeric_decode"]) == ({"random": 0.7, "column": 0.3}, "regression")


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_run_composed_with_no_yaml_before_resumes_as_it_was(store, tmp_path):
    """A ``domain.name=tabular`` run of an earlier version (its config's domain is the name
    alone) resumed by the same words: as it was composed, not refused as another config."""
    run = tmp_path / "run"
    python = ["domain.masker=random", "domain.numeric_decode=clip", "domain.infill_blend=none"]
    assert cli.main(["pretrain", "domain.name=tabular", *python, f"data.store={store}", f"run.dir={run}",
                     "train.steps=2", *SMALL]) == 0
    checkpoint = run / "checkpoints" / "2"  # as the earlier version wrote it
    state = json.loads((checkpoint / STATE_FILE).read_text())
    state["config"]["domain"] = {"name": "tabular"}
    (checkpoint / STATE_FILE).write_text(json.dumps(state))
    manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
    manifest["files"][STATE_FILE] = file_digest(checkpoint / STATE_FILE)
    (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    config = OmegaConf.load(run / "config.yaml")
    config.domain = {"name": "tabular"}
    OmegaConf.save(config, run / "config.yaml")
    words = ["domain.name=tabular", f"data.store={store}", f"run.dir={run}", *SMALL]
    assert OmegaConf.to_container(compose([*words, "train.steps=3"]).domain) == {"name": "tabular"}
    assert cli.main(["pretrain", *words, "train.steps=3"]) == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2", "3"]
    resumed = json.loads((run / "checkpoints" / "3" / STATE_FILE).read_text())["domain"]["options"]
    assert (resumed["masker"], resumed["numeric_decode"]) == ("random", "clip")
    # a new run folder gets the documented ones
    assert compose([*words[:2], f"run.dir={tmp_path / 'new'}"]).domain.numeric_decode == "regression"


# ---------------------------------------------------------------- 2. schedule.unit=tokens
def test_a_token_schedule_is_refused_only_below_one_token_a_step():
    """In tokens the schedule counts real tokens, at most data.max_tokens a step (review r1 of
    session 52: ``train.steps x data.max_tokens`` is no lower bound); what the config knows for
    certain is one token a step. The trainer says the rest (tests/test_resume_compose_s52f2.py)."""
    base = ["domain=tabular", "data.store=s.zarr", "schedule.unit=tokens", "data.max_tokens=64",
            "data.max_seqlen=8"]
    # 20 steps hold at most 1280 tokens, at least 20: 1000 may be the run's real count
    assert compose([*base, "train.steps=20", "schedule.total=1000"]).schedule.total == 1000
    with pytest.raises(ConfigError, match=r"schedule.total=19 tokens is fewer than the 20 tokens train.steps=20"):
        compose([*base, "train.steps=20", "schedule.total=19"])
    assert compose([*base, "train.steps=20", "schedule.total=20"]).schedule.total == 20
    with pytest.raises(ConfigError, match=r"fewer than the 200 tokens train.steps=auto"):
        compose([*base, "train.steps=auto", "train.auto_min_steps=200", "schedule.total=199"])
    # a final_ratio > 0 is the documented low-rate tail, as in steps
    compose([*base, "train.steps=20", "schedule.total=10", "schedule.final_ratio=0.1"])
    # once resolved (auto, or a torchrun's tokens per step): the trainer's plan, the same rule
    cfg = compose([*base, "train.steps=auto", "schedule.total=300"])
    assert plan_wsd(cfg.schedule, 300, 64).total == 300
    with pytest.raises(UsageError, match=r"fewer than the 400 tokens the run's 400 steps"):
        plan_wsd(cfg.schedule, 400, 64)
    # warmup + decay over the run's tokens, where train.tokens_per_step fixes them: 1100 + 256 > 1280
    with pytest.raises(ConfigError, match=r"1280 tokens: schedule.total, or train.steps x train.tokens_per_step"):
        compose([*base, "train.steps=20", "train.tokens_per_step=64", "schedule.warmup=1100"])


def test_a_one_step_run_in_tokens_takes_its_step_at_the_peak_rate(store, tmp_path):
    cfg = compose(["domain=tabular", "data.store=s.zarr", "schedule.unit=tokens", "train.steps=1"])
    plan = plan_wsd(cfg.schedule, 1, 8192)
    assert plan(8192) == 1.0 and plan(8000) == 1.0  # was 0.0 and 6e-4: the decay's end
    # the reference: the same run in steps (session 51's rule)
    assert plan_wsd(compose(["domain=tabular", "data.store=s.zarr", "train.steps=1"]).schedule, 1, 8192)(1) == 1.0
    # a decay of whole steps' tokens is still a decay, to final_ratio at the end
    long = plan_wsd(compose(["domain=tabular", "data.store=s.zarr", "schedule.unit=tokens",
                             "train.steps=100"]).schedule, 100, 512)
    assert long(51200) == 0.0 and long(0.9 * 51200) == pytest.approx(1 - 0.5 ** 0.5)
    assert WSD(total=1024, decay=600, unit="tokens", per_step=512)(1000) < 0.3
    run = tmp_path / "one"
    assert cli.main(["pretrain", "domain=tabular", f"data.store={store}", f"run.dir={run}", "train.steps=1",
                     "schedule.unit=tokens", "optim.lr=1e-3", *SMALL]) == 0
    assert [r["lr"] for r in read_metrics(run / "metrics.jsonl") if "lr" in r] == [1e-3]
    assert (run / "loss.png").is_file()  # train.plot's default


# ---------------------------------------------------------------- 3. train.plot
def test_train_plot_is_a_documented_train_key_on_by_default():
    """Drawn or not by a real run: the two-step run above (false) and the one-step run (default)."""
    from encoderkit.train.config import help_text

    assert compose(["domain=tabular", "data.store=s.zarr"]).train.plot is True
    assert "  train.plot=true" in help_text().splitlines()
    assert "plot: true" in (config_dir() / "config.yaml").read_text()


def test_impute_and_encoderimputer_runs_turn_the_plot_off_unless_asked():
    from encoderkit.impute_models import pretrain_overrides

    assert compose(pretrain_overrides("tabular", "s.zarr", "r", 0, False)).train.plot is False
    assert compose(pretrain_overrides("tabular", "s.zarr", "r", 0, False, ["train.plot=true"])).train.plot is True


def test_a_run_saved_before_train_plot_existed_is_no_other_config():
    """train.plot is how a run is watched, not what it trains (as train.progress): a run saved
    before the key resumes, and turning it off does not change the config's hash. Needs
    ``train.plot`` in ``checkpoint_config.RESUMABLE_KEYS`` (outside fixer f's files)."""
    from encoderkit.train.checkpoint import config_hash

    saved = {"train": {"steps": 2, "progress": True}, "domain": {"name": "tabular"}}
    now = {"train": {"steps": 2, "progress": True, "plot": True}, "domain": {"name": "tabular"}}
    assert config_diff(saved, now) == []
    off = {"train": {**now["train"], "plot": False}, "domain": now["domain"]}
    assert config_hash(off) == config_hash(now) == config_hash(saved)
