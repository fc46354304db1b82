"""A user's experiment and domain files in finetune and impute, Hydra's own settings, and
what composition errors say (README "Your own config groups"; encoderkit/train/config.py,
finetune_config.py, compose_errors.py, configs/finetune.yaml, encoderkit/impute_models.py,
encoderkit/cliutil.py).

finetune composed an experiment before configs/finetune.yaml's values and the task file, so
they overwrote it, and its ``override /task`` failed as "unknown config key 'task'"; from a
checkpoint it kept only the ``domain.*`` words typed, dropping a domain file's and an
experiment's options without a word. ``impute ... experiment=x`` replaced the imputer's own
experiment. ``hydra.run.dir=x`` and the like were accepted and ignored."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from encoderkit import cli
from encoderkit.train.config import ConfigError, compose, compose_finetune

TINY = ["model.hidden_size=32", "model.num_heads=2", "model.num_layers=2", "model.intermediate_size=48",
        "model.backend=sdpa", "train.steps=1", "train.eval_every=0", "train.checkpoint_every=0",
        "train.progress=false", "data.max_tokens=1024", "data.max_seqlen=128", "run.device=cpu"]
# an experiment of finetune: values of configs/finetune.yaml (lr 3e-4, warmup 0.1), of the
# task file (val_fraction 0.1) and a task group of its own
FT_EXPERIMENT = ("# @package _global_\ndefaults:\n  - override /task: regression\n"
                 "optim:\n  lr: 1.0e-4\nschedule:\n  warmup_fraction: 0.0\ntask:\n  val_fraction: 0.2\n"
                 "domain:\n  column_max_fraction: 0.25\n")
MYTAB = "name: tabular\nmask_rate: 0.6\nnumeric_decode: clip\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tabular store and a one-step run pretrained with domain.mask_rate=0.45 (not the
    shipped 0.3, so a checkpoint's option is told apart from the domain file's default)."""
    from encoderkit.data.ingest import ingest
    from encoderkit.train import pretrain

    root = tmp_path_factory.mktemp("ft")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(50, 10, 40).round(1), "bmi": rng.normal(25, 4, 40).round(2)})
    frame.to_csv(root / "t.csv", index=False)
    pd.DataFrame({"id": [f"row{i}" for i in range(40)], "y": rng.normal(size=40)}).to_csv(
        root / "labels.csv", index=False)
    ingest("tabular", [str(root / "t.csv")], str(root / "t.zarr"), progress=False, verbose=False)
    pretrain(["domain=tabular", f"data.store={root / 't.zarr'}", f"run.dir={root / 'run'}",
              "domain.mask_rate=0.45", *TINY])
    conf = root / "myconf"
    (conf / "experiment").mkdir(parents=True)
    (conf / "domain").mkdir()
    (conf / "experiment" / "ft2.yaml").write_text(FT_EXPERIMENT)
    (conf / "experiment" / "arch.yaml").write_text("# @package _global_\nmodel:\n  num_layers: 3\n")
    (conf / "domain" / "mytab.yaml").write_text(MYTAB)
    (conf / "domain" / "bogus.yaml").write_text("name: tabular\nnot_an_option: 1\n")
    return root


def _finetune(root: Path, *words: str):
    return compose_finetune([f"checkpoint={root / 'run'}", f"data.store={root / 't.zarr'}",
                             f"task.labels={root / 'labels.csv'}", f"hydra.searchpath=[{root / 'myconf'}]",
                             *words])


def test_a_finetune_experiment_wins_over_finetune_yaml_and_the_task_file(run):
    plain = _finetune(run)  # the documented defaults of finetune stay without an experiment
    assert (plain.optim.lr, plain.schedule.warmup_fraction, plain.task.val_fraction,
            plain.task.type) == (3e-4, 0.1, 0.1, "classification")
    cfg = _finetune(run, "experiment=ft2")
    expected = yaml.safe_load(FT_EXPERIMENT)
    assert cfg.optim.lr == expected["optim"]["lr"]
    assert cfg.schedule.warmup_fraction == expected["schedule"]["warmup_fraction"]
    assert cfg.task.val_fraction == expected["task"]["val_fraction"]
    assert cfg.task.type == "regression"  # its `override /task: regression`
    # the command line still wins over the experiment
    typed = _finetune(run, "experiment=ft2", "optim.lr=5e-4", "task=classification")
    assert (typed.optim.lr, typed.task.type, typed.task.val_fraction) == (5e-4, "classification", 0.2)


def test_a_domain_file_and_an_experiment_set_options_as_the_same_words_typed(run):
    from_file = _finetune(run, "domain=mytab", "experiment=ft2")
    typed = _finetune(run, "domain.mask_rate=0.6", "domain.numeric_decode=clip",
                      "domain.column_max_fraction=0.25")
    assert dict(from_file.domain) == dict(typed.domain)
    assert (from_file.domain.mask_rate, from_file.domain.numeric_decode) == (0.6, "clip")
    # a shipped domain file holds defaults: the checkpoint's own options stand for those
    assert _finetune(run, "domain=tabular").domain.mask_rate == 0.45 == _finetune(run).domain.mask_rate


def test_an_option_the_domain_refuses_is_refused_from_a_file_as_typed(run, tmp_path, capsys):
    said = []
    for word in ("domain.not_an_option=1", "domain=bogus"):
        argv = ["finetune", f"checkpoint={run / 'run'}", f"data.store={run / 't.zarr'}", "task=regression",
                f"task.labels={run / 'labels.csv'}", f"hydra.searchpath=[{run / 'myconf'}]", "task.ensemble=1",
                "train.steps=1", "train.progress=false", f"run.dir={tmp_path / word}", word]
        assert cli.main(argv) == 2, word
        line = capsys.readouterr().err.strip().splitlines()[-1]
        # the domain's own refusal (the typed word also gets a "did you mean" of the command line)
        said.append(line.split(" (did you mean")[0].split("; allowed")[0])
    assert "unknown option(s) of the tabular domain: ['not_an_option']" in said[0] and said[1] == said[0]
    assert not any(tmp_path.iterdir())  # refused before a run directory


@pytest.mark.parametrize("words", [["domain=genomic"], ["domain.name=genomic"], ["experiment=genomic_demo"]])
def test_a_domain_other_than_the_checkpoints_is_refused(run, words):
    with pytest.raises(ConfigError, match="'genomic' was asked for.*holds a 'tabular' encoder"):
        _finetune(run, *words)


def test_an_experiments_model_setting_beside_a_checkpoint_is_warned(run):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cfg = _finetune(run, "experiment=arch")
    assert cfg.model.num_layers == 2  # the checkpoint's architecture
    assert any("model.num_layers (experiment=arch) ignored" in str(w.message) for w in seen)


def test_impute_applies_the_users_experiment_on_top_of_its_own(tmp_path):
    from encoderkit.impute_models import pretrain_overrides

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "small2.yaml").write_text("# @package _global_\nmodel:\n  num_layers: 2\n"
                                                         "optim:\n  lr: 5.0e-3\n")
    search = f"hydra.searchpath=[{tmp_path}]"
    own = compose(pretrain_overrides("tabular", "s.zarr", "r", 0, False, [search]))
    cfg = compose(pretrain_overrides("tabular", "s.zarr", "r", 0, False, [search, "experiment=small2"]))
    assert (cfg.model.num_layers, cfg.optim.lr) == (2, 5e-3)  # the user's keys win
    for key in ("model.hidden_size", "data.val_fraction", "data.max_tokens", "train.eval_every",
                "train.auto_max_steps", "run.resume", "domain.numeric_decode"):  # the imputer's stay
        assert _select(cfg, key) == _select(own, key), key
    assert (own.model.hidden_size, own.data.max_tokens, own.run.resume) == (64, 2048, "never")


def _select(cfg, key):
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, key)


HYDRA_WORDS = ["hydra.run.dir=wanted", "hydra.sweep.dir=wanted", "hydra.job.chdir=true",
               "hydra.mode=MULTIRUN", "hydra/job_logging=disabled"]


@pytest.mark.parametrize("word", HYDRA_WORDS)
def test_a_hydra_setting_is_refused_in_one_line_that_says_what_to_use(word, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["pretrain", "domain=tabular", "data.store=s.zarr", word]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and word.split("=")[0] in err[0], err
    assert any(hint in err[0] for hint in ("run.dir=<dir>", "-m", "working directory", "metrics.jsonl")), err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("word", ["hydra.run.dir=wanted", "hydra/job_logging=disabled"])
def test_every_command_refuses_a_hydra_setting(run, word, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"age": [50.0, None, 40.0], "bmi": [20.0, 22.0, None]}).to_csv("t.csv", index=False)
    commands = [["finetune", "checkpoint=none", "domain=tabular", "data.store=s.zarr", "task.labels=l.csv"],
                ["impute", "input=t.csv", "output=o.csv"],
                ["ingest", "domain=tabular", "input=t.csv", "output=s.zarr"],
                ["embed", f"checkpoint={run / 'run'}", "input=t.csv", "output=e.npy"]]
    for argv in commands:
        assert cli.main([*argv, word]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert word.split("=")[0] in err and "unknown" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # nothing written


def test_hydra_searchpath_is_still_taken(run):
    assert _finetune(run, "domain=mytab").domain.numeric_decode == "clip"


BASE = ["domain=tabular", "data.store=s.zarr"]


@pytest.mark.parametrize("words, says, never", [
    (["domain={name: tabular, mask_rate: 0.5}"], "domain=<name> domain.", "unknown"),
    (["domain={name: tabular}"], "domain=<name> domain.", "unknown"),
    (["~run.dir"], "run.dir is null already", "does not exist"),
    (["model=null"], "leave model= out", "Config group override"),
    (["train=x"], "train.<key>=<value>", "config key ''"),
    (["~run.nope"], "unknown config key 'run.nope'", "does not exist"),
])
def test_a_composition_error_says_what_is_wrong(words, says, never):
    with pytest.raises(ConfigError) as e:
        compose([*BASE, *words])
    assert says in str(e.value) and never not in str(e.value), str(e.value)


def test_an_experiments_task_group_in_pretrain_is_named_as_a_group(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "ft.yaml").write_text("# @package _global_\ndefaults:\n  - override /task: regression\n")
    with pytest.raises(ConfigError) as e:
        compose([*BASE, f"hydra.searchpath=[{tmp_path}]", "experiment=ft"])
    said = str(e.value)
    assert "experiment/ft.yaml" in said and "override /task" in said and "finetune" in said
    assert "unknown" not in said, said
