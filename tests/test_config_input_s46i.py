"""Values from the user's hands never run an OmegaConf resolver, and a config group option
is a plain name: command-line overrides of pretrain / finetune / impute, and the model and
domain a finetune reads back from a run's state.json (encoderkit/train/config_guard.py)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from encoderkit import cli
from encoderkit.core import EncoderConfig
from encoderkit.errors import DataError
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import get_domain
from encoderkit.train import checkpoint as ckpt
from encoderkit.train.config import ConfigError, compose, compose_finetune

SECRET = "hunter2-s46i"
BASE = ["domain.name=traintest", "data.store=store.zarr"]
CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _secret_and_probe(monkeypatch):
    """A secret in the environment, and a resolver of our own that records each call:
    a refused value must never reach any resolver."""
    monkeypatch.setenv("EK_SECRET", SECRET)
    if not OmegaConf.has_resolver("s46i_probe"):
        OmegaConf.register_new_resolver("s46i_probe", lambda *a: CALLS.append("called") or SECRET)
    CALLS.clear()


@pytest.mark.parametrize("override", [
    "run.name=${oc.env:EK_SECRET}",
    "run.name='${oc.env:EK_SECRET}'",                 # quoted: Hydra still resolves it
    "train.steps=${oc.env:EK_SECRET}",                # a bad type printed the value
    "run.name=pre-${oc.env:EK_SECRET}-post",
    "model.hidden_size=${oc.decode:'64'}",
    "domain.opts='${oc.create:abc}'",
    "run.name='${oc.select:nope,${oc.env:EK_SECRET}}'",
    "domain.opts={k: ${oc.env:EK_SECRET}}",            # in a dict
    "run.name=${now:%Y}",
    "domain.drop_columns=[a,${s46i_probe:}]",         # any registered resolver, in a list
    "run.name=${s46i_probe:}",
    "run.name=x\\${oc.env:EK_SECRET}",                # escaped: live ${...} once resolved
])
def test_a_resolver_in_an_override_is_refused_naming_the_key(override):
    key = override.split("=", 1)[0]
    with pytest.raises(ConfigError) as e:
        compose([*BASE, override])
    message = str(e.value)
    assert key in message and SECRET not in message and "\n" not in message
    assert CALLS == []


def test_plain_interpolation_and_the_shipped_resolvers_still_work():
    cfg = compose([*BASE, "run.name=${domain.name}-x", "data.max_seqlen=${data.max_tokens}"])
    assert cfg.run.name == "traintest-x" and cfg.data.max_seqlen == cfg.data.max_tokens == 8192
    # the packaged default: ${oc.select:domain.name,run}-${now:%Y%m%d-%H%M%S}
    name = compose(BASE).run.name
    assert name.startswith("traintest-") and len(name) == len("traintest-20250101-000000")
    assert compose([*BASE, "model=small", "experiment=impute"]).model.preset == "small"


@pytest.fixture()
def secrets_yaml(tmp_path):
    (tmp_path / "secrets.yaml").write_text("db_password: s3cr3t-value\n")
    return tmp_path / "secrets.yaml"


@pytest.mark.parametrize("group", ["domain", "model", "experiment", "optim", "data", "schedule"])
def test_a_group_option_that_is_a_path_is_refused_before_any_file_is_read(secrets_yaml, group):
    from encoderkit.train.config import config_dir

    up = "/".join([".."] * (len(config_dir().resolve().parts) + 1))  # from configs/<group>/ to /
    for value in (f"{up}{secrets_yaml.with_suffix('')}", str(secrets_yaml.with_suffix("")), ".."):
        with pytest.raises(ConfigError) as e:
            compose([*BASE, f"{group}={value}"])
        assert f"{group}=" in str(e.value) and "db_password" not in str(e.value)
    with pytest.raises(ConfigError, match="model='../x'"):
        compose([*BASE, "model=[tiny,../x]"])


def test_a_searchpath_option_is_still_chosen_by_name(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text("preset: tiny\nhidden_size: 64\nnum_heads: 2\n")
    cfg = compose([*BASE, f"hydra.searchpath=[file://{tmp_path}]", "model=mine"])
    assert cfg.model.hidden_size == 64 and cfg.model.num_heads == 2
    # a searchpath yaml is the user's too: its resolvers do not run either
    (tmp_path / "model" / "env.yaml").write_text("preset: tiny\nnum_layers: ${oc.env:EK_SECRET}\n")
    with pytest.raises(ConfigError) as e:
        compose([*BASE, f"hydra.searchpath=[file://{tmp_path}]", "model=env"])
    assert "model.num_layers" in str(e.value) and SECRET not in str(e.value)


def test_pretrain_and_impute_commands_refuse_the_secret_without_writing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["pretrain", "domain=tabular", "data.store=s.zarr", "run.dir=r",
                   "run.name=${oc.env:EK_SECRET}"])
    err = capsys.readouterr().err
    assert rc == 2 and "run.name" in err and SECRET not in err and not (tmp_path / "r").exists()
    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},{i % 3 if i % 4 else ''}\n" for i in range(40)))
    rc = cli.main(["impute", "input=t.csv", "output=o.csv", "optim.lr=${oc.env:EK_SECRET}"])
    err = capsys.readouterr().err
    assert rc == 2 and "optim.lr" in err and SECRET not in err and not (tmp_path / "o.csv").exists()


def _saved_run(tmp_path, edit=None):
    """A genomic checkpoint as a run folder; ``edit(state)`` changes its state.json."""
    domain = get_domain("genomic")({})
    config = EncoderConfig.preset("tiny", hidden_size=32, num_heads=2, num_layers=2, intermediate_size=32)
    model = MaskedEncoderModel(domain, config)
    state = {"step": 0, "tokens": 0, "model_config": config.to_dict(), "domain": domain.describe()}
    if edit:
        edit(state)
    ckpt.save_checkpoint(tmp_path / "run" / "checkpoints", 0, ckpt.model_state(model), {}, [],
                         json.loads(json.dumps(state)), keep=0)
    return tmp_path / "run"


@pytest.mark.parametrize("entry,edit", [
    ("domain.mask_rate", lambda s: s["domain"].__setitem__("mask_rate", "${oc.env:EK_SECRET}")),
    ("model_config.hidden_size", lambda s: s["model_config"].__setitem__("hidden_size", "${s46i_probe:}")),
    ("domain.name", lambda s: s["domain"].__setitem__("name", "x\\${oc.env:EK_SECRET}")),
])
def test_finetune_refuses_an_interpolation_read_back_from_state_json(tmp_path, entry, edit):
    run = _saved_run(tmp_path, edit)
    with pytest.raises(DataError) as e:
        compose_finetune([f"checkpoint={run}", f"data.store={tmp_path / 's.zarr'}"])
    message = str(e.value)
    assert "state.json" in message and entry in message and SECRET not in message
    assert CALLS == []


def test_finetune_of_an_unedited_run_composes(tmp_path):
    run = _saved_run(tmp_path)
    cfg = compose_finetune([f"checkpoint={run}", f"data.store={tmp_path / 's.zarr'}"])
    assert cfg.domain.name == "genomic" and cfg.model.hidden_size == 32
