"""A user's own config group options (README "Your own config groups"): a folder laid out like
configs/ on ``hydra.searchpath`` gives ``model=<its file>`` and ``experiment=<its file>``
to pretrain, finetune and impute, next to the shipped options."""

from __future__ import annotations

import pytest
import yaml

from encoderkit.train.config import ConfigError, compose

MODEL = "preset: tiny\nhidden_size: 24\nnum_heads: 2\nnum_layers: 1\nintermediate_size: 48\n"
EXPERIMENT = "# @package _global_\ndefaults:\n  - override /model: mymodel\ntrain:\n  steps: 7\n"


@pytest.fixture()
def conf(tmp_path):
    folder = tmp_path / "myconf"
    (folder / "model").mkdir(parents=True)
    (folder / "experiment").mkdir()
    (folder / "model" / "mymodel.yaml").write_text(MODEL)
    (folder / "experiment" / "x.yaml").write_text(EXPERIMENT)
    return folder


BASE = ["domain=tabular", "data.store=store.zarr"]


@pytest.mark.parametrize("form", ["file://{}", "{}"])
def test_a_model_file_on_the_search_path_is_a_model_option(conf, form):
    cfg = compose([*BASE, f"hydra.searchpath=[{form.format(conf)}]", "model=mymodel"])
    assert dict(cfg.model) == yaml.safe_load(MODEL)


def test_an_experiment_file_on_the_search_path_selects_the_users_model(conf):
    cfg = compose([*BASE, f"hydra.searchpath=[{conf}]", "experiment=x"])
    assert dict(cfg.model) == yaml.safe_load(MODEL) and cfg.train.steps == 7
    # the shipped options stay available beside the user's
    assert compose([*BASE, f"hydra.searchpath=[{conf}]", "model=small"]).model.preset == "small"


def test_without_the_search_path_the_option_is_refused(conf):
    with pytest.raises(ConfigError, match="mymodel"):
        compose([*BASE, "model=mymodel"])


def test_impute_passes_the_search_path_to_its_pretraining(conf, tmp_path):
    from encoderkit.impute import parse, pretrain_overrides

    own, passed, ingest_options = parse([f"input={tmp_path / 'a.csv'}", f"output={tmp_path / 'b.csv'}",
                                         f"hydra.searchpath=[{conf}]", "model=mymodel"])
    assert ingest_options == {} and own["input"] == str(tmp_path / "a.csv")
    cfg = compose(pretrain_overrides("tabular", "store.zarr", str(tmp_path / "run"), 0, False, passed))
    assert dict(cfg.model) == yaml.safe_load(MODEL)
