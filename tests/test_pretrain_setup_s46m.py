"""Pretraining's set-up: a failed model allocation is one line (encoderkit/train/objective.py),
and ``domain=<name>`` takes a ``<folder>/domain/<name>.yaml`` of ``hydra.searchpath``
(encoderkit/train/config.py, searchpath.py; README "Your own config groups")."""

from __future__ import annotations

import pytest
import torch
import yaml

from encoderkit import cli
from encoderkit.train.config import ConfigError, compose, encoder_config
from encoderkit.train.model_size import encoder_parameters

DOMAIN = "name: tabular\nmask_rate: 0.45\ncolumn_max_fraction: 0.25\n"


@pytest.fixture()
def conf(tmp_path):
    folder = tmp_path / "myconf"
    (folder / "domain").mkdir(parents=True)
    (folder / "domain" / "mytab.yaml").write_text(DOMAIN)
    return folder


def test_an_out_of_memory_model_build_is_one_line(tmp_path, capsys, monkeypatch):
    """The device runs out of memory while the model moves to it: exit 2, the model's size,
    no traceback, no run folder left."""
    from encoderkit.modeling import MaskedEncoderModel

    def no_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert cli.main(["ingest", "domain=tabular", "input=t.csv", "output=s.zarr"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(MaskedEncoderModel, "to", no_memory)
    rc = cli.main(["pretrain", "domain=tabular", "data.store=s.zarr", "run.dir=r", "train.steps=1",
                   "train.progress=false"])
    err = capsys.readouterr().err
    count = encoder_parameters(encoder_config({"preset": "tiny"}, rope_axes=0))
    assert rc == 2 and "Traceback" not in err
    assert f"building the model ({count:,} parameters" in err and "Tried to allocate 20.00 GiB" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("form", ["file://{}", "{}"])
def test_a_domain_file_on_the_search_path_is_a_domain_option(conf, form):
    cfg = compose(["domain=mytab", "data.store=s.zarr", f"hydra.searchpath=[{form.format(conf)}]"])
    assert dict(cfg.domain) == yaml.safe_load(DOMAIN)
    # the shipped domains and their yaml stay as they were beside it
    shipped = compose(["domain=tabular", "data.store=s.zarr", f"hydra.searchpath=[{conf}]"])
    assert shipped.domain.mask_rate == 0.3 and "column_max_fraction" in shipped.domain


def test_a_relative_search_path_is_read_from_the_working_directory(conf, monkeypatch):
    monkeypatch.chdir(conf.parent)
    cfg = compose(["domain=mytab", "data.store=s.zarr", "hydra.searchpath=[file://myconf]"])
    assert cfg.domain.mask_rate == 0.45


def test_an_unknown_domain_lists_the_search_path_options(conf):
    # (the list also holds whatever test domains this process registered: only membership counts)
    with pytest.raises(ConfigError, match=r"unknown domain 'mytabb'; available: \[[^]]*'mytab'"):
        compose(["domain=mytabb", "data.store=s.zarr", f"hydra.searchpath=[{conf}]"])
    with pytest.raises(ConfigError, match="unknown domain 'mytab'"):  # without the search path
        compose(["domain=mytab", "data.store=s.zarr"])


def test_pretrain_runs_on_the_users_domain_file(conf, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    assert cli.main(["ingest", "domain=tabular", "input=t.csv", "output=s.zarr"]) == 0
    rc = cli.main(["pretrain", "domain=mytab", "data.store=s.zarr", "run.dir=r", "train.steps=1",
                   "train.progress=false", "train.eval_every=0", f"hydra.searchpath=[{conf}]"])
    assert rc == 0, capsys.readouterr().err
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["domain"]["mask_rate"] == 0.45 and saved["domain"]["column_max_fraction"] == 0.25
