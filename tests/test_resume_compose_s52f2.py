"""Session 52, fixer f2 (review r1 of commit 91c0499): a run composed before ``domain.name=x``
read the domain's yaml resumes as it was composed also with a ``domain.<option>=`` word, with
``run.resume=<checkpoint>`` and from ``finetune checkpoint=none``; ``schedule.unit=tokens``
refuses only a total the run certainly passes (its real tokens are at most ``data.max_tokens``
a step, not at least), and the trainer says when the real count reaches it with steps left.

Runs "of an earlier version" are written by this one with the Python defaults typed, then
their config's domain set to the words typed then (what the earlier version saved), as
tests/test_defaults_paths_s52f.py does.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from domains.tabular.runtime_options import OPTION_DEFAULTS
from encoderkit import cli
from encoderkit.train.checkpoint import MANIFEST_FILE, STATE_FILE, file_digest
from encoderkit.train.config import compose, compose_finetune
from encoderkit.train.metrics_log import read_metrics
from tests.test_defaults_paths_s52f import store  # noqa: F401 (a fixture: a 60-row tabular store)

SMALL = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
         "data.max_tokens=64", "data.max_seqlen=8", "train.progress=false", "train.eval_every=0",
         "train.plot=false"]
# the tabular domain's Python defaults where its yaml says otherwise (what domain.name= composed)
PYTHON = [f"domain.{k}={OPTION_DEFAULTS[k]}" for k in ("masker", "numeric_decode", "infill_blend")]


def _as_earlier(run: Path, domain: dict) -> None:
    """The run's checkpoints and config.yaml as the earlier version wrote them: ``domain``."""
    for checkpoint in (run / "checkpoints").iterdir():
        state = json.loads((checkpoint / STATE_FILE).read_text())
        state["config"]["domain"] = domain
        (checkpoint / STATE_FILE).write_text(json.dumps(state))
        manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
        manifest["files"][STATE_FILE] = file_digest(checkpoint / STATE_FILE)
        (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    config = OmegaConf.load(run / "config.yaml")
    config.domain = domain
    OmegaConf.save(config, run / "config.yaml")


def _saved_domain(run: Path, step: int) -> dict:
    return json.loads((run / "checkpoints" / str(step) / STATE_FILE).read_text())["config"]["domain"]


@pytest.fixture(scope="module")
def earlier(store, tmp_path_factory) -> Path:
    """``pretrain domain.name=tabular domain.mask_rate=0.2 train.steps=2`` of the earlier version."""
    run = tmp_path_factory.mktemp("runs") / "earlier"
    assert cli.main(["pretrain", "domain.name=tabular", "domain.mask_rate=0.2", *PYTHON, f"data.store={store}",
                     f"run.dir={run}", "train.steps=2", *SMALL]) == 0
    _as_earlier(run, {"name": "tabular", "mask_rate": 0.2})
    return run


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_an_earlier_run_with_a_domain_option_composes_as_it_was(earlier, store):
    words = ["domain.name=tabular", "domain.mask_rate=0.2", f"data.store={store}", *SMALL]
    resumed = compose([*words, f"run.dir={earlier}", "train.steps=3"])
    assert OmegaConf.to_container(resumed.domain) == _saved_domain(earlier, 2)
    # run.resume=<checkpoint>: that checkpoint's config, whatever run.dir is
    named = compose([*words, f"run.resume={earlier / 'checkpoints' / '2'}", f"run.dir={earlier.parent / 'x'}"])
    assert OmegaConf.to_container(named.domain) == {"name": "tabular", "mask_rate": 0.2}
    # a new run folder, and run.resume=never, get the documented defaults of the yaml
    for extra in ([f"run.dir={earlier.parent / 'new'}"], [f"run.dir={earlier}", "run.resume=never"]):
        assert compose([*words, *extra]).domain.numeric_decode == "regression"


def test_an_option_changed_on_resume_is_the_one_difference_named(earlier, store, capsys):
    assert cli.main(["pretrain", "domain.name=tabular", "domain.mask_rate=0.25", f"data.store={store}",
                     f"run.dir={earlier}", "train.steps=3", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "domain.mask_rate: checkpoint 0.2, now 0.25" in err
    assert "cat_weight" not in err and "numeric_decode" not in err  # not every key of the yaml


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_an_earlier_run_resumes_by_auto_and_by_its_checkpoint(store, tmp_path):
    run = tmp_path / "run"
    assert cli.main(["pretrain", "domain.name=tabular", "domain.mask_rate=0.2", *PYTHON, f"data.store={store}",
                     f"run.dir={run}", "train.steps=2", *SMALL]) == 0
    _as_earlier(run, {"name": "tabular", "mask_rate": 0.2})
    words = ["pretrain", "domain.name=tabular", "domain.mask_rate=0.2", f"data.store={store}", f"run.dir={run}",
             *SMALL]
    assert cli.main([*words, "train.steps=3"]) == 0  # exit 2 before: "different config"
    assert cli.main([*words, "train.steps=4", f"run.resume={run / 'checkpoints' / '3'}"]) == 0
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir())[-2:] == [3, 4]
    assert _saved_domain(run, 4) == {"name": "tabular", "mask_rate": 0.2}
    options = json.loads((run / "checkpoints" / "4" / STATE_FILE).read_text())["domain"]["options"]
    assert {k: options[k] for k in ("masker", "numeric_decode", "infill_blend")} == \
        {k: OPTION_DEFAULTS[k] for k in ("masker", "numeric_decode", "infill_blend")}


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_an_earlier_finetune_from_scratch_resumes_as_it_was_composed(store, tmp_path):
    run = tmp_path / "ft"
    task = ["task=regression", "task.label_column=c", "task.ensemble=1", f"data.store={store}", f"run.dir={run}"]
    assert cli.main(["finetune", "checkpoint=none", "domain.mask_rate=0.5", *PYTHON, *task, "train.steps=2",
                     *SMALL]) == 0
    _as_earlier(run, {"mask_rate": 0.5, "name": "tabular"})
    words = ["checkpoint=none", "domain.mask_rate=0.5", *task, *SMALL]
    assert OmegaConf.to_container(compose_finetune([*words, "train.steps=3"]).domain) == \
        {"mask_rate": 0.5, "name": "tabular"}
    assert cli.main(["finetune", *words, "train.steps=3"]) == 0  # exit 2 before
    assert _saved_domain(run, 3) == {"mask_rate": 0.5, "name": "tabular"}
    # a new folder: the yaml's
    other = [w if not w.startswith("run.dir=") else f"run.dir={tmp_path / 'new'}" for w in words]
    assert compose_finetune(other).domain.infill_blend == "iterative+forest"


# ---------------------------------------------------------------- schedule.unit=tokens
def test_a_token_total_below_the_runs_upper_bound_trains_and_the_overrun_is_said(store, tmp_path):
    """Review r1: ``train.steps=20 data.max_tokens=384 schedule.total=5120`` was refused as
    "shorter than the 7680 tokens", though a step holds at most 384 real tokens. The run
    composes; where the real count reaches the total with steps left, one warning names the
    step, read here from metrics.jsonl's tokens (the reference)."""
    run = tmp_path / "tok"
    words = ["pretrain", "domain=tabular", f"data.store={store}", "train.steps=6", "schedule.unit=tokens",
             "train.log_every=1", *SMALL]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # 6 steps of at most 64 tokens: refused before as "shorter than the 384 tokens"
        assert cli.main([*words, f"run.dir={run}", "schedule.total=100"]) == 0
    rows = [r for r in read_metrics(run / "metrics.jsonl") if "lr" in r]
    assert len(rows) == 6
    reached = next(r["step"] for r in rows if r["tokens"] >= 100)
    assert 1 <= reached < 6  # the case: steps are left
    said = [str(w.message) for w in caught if "schedule's 100 tokens" in str(w.message)]
    assert len(said) == 1 and f"reached at step {reached} of train.steps=6" in said[0]
    assert f"the {6 - reached} steps left train at schedule.final_ratio=0" in said[0]
    assert all(r["lr"] == 0 for r in rows if r["step"] > reached)
    assert all(r["lr"] > 0 for r in rows if r["step"] < reached)
    # a total the real tokens never reach: nothing said
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main([*words, f"run.dir={tmp_path / 'long'}", "schedule.total=100000"]) == 0
    assert not [w for w in caught if "schedule's" in str(w.message)]
