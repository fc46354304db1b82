"""Config composition: packaged tree, one-line errors naming the key, help, open groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoderkit.train.config import ConfigError, compose, config_dir, encoder_config, help_text


def test_config_tree_found_and_packaged_path():
    root = config_dir()
    assert (root / "config.yaml").is_file()
    for group in ("model", "optim", "schedule", "data"):
        assert any((root / group).glob("*.yaml")), group
    # the package-relative path (what a non-editable wheel contains) resolves to the same tree
    import encoderkit.train

    packaged = Path(encoderkit.train.__file__).parent / "configs" / "config.yaml"
    assert packaged.is_file()


def test_compose_open_domain_and_model_keys(tmp_path):
    cfg = compose(["domain.name=traintest", "domain.rate=0.25", f"data.store={tmp_path}",
                   "model=small", "model.num_layers=3", "train.steps=7"])
    assert cfg.domain.name == "traintest" and cfg.domain.rate == 0.25
    assert cfg.model.preset == "small" and cfg.model.num_layers == 3
    assert cfg.train.steps == 7 and cfg.optim.lr == pytest.approx(8e-4)
    enc = encoder_config(dict(cfg.model), rope_axes=1)
    assert enc.num_layers == 3 and enc.hidden_size == 384 and enc.rope_axes == 1


@pytest.mark.parametrize("override,needle", [
    ("train.foo=1", "unknown config key 'train.foo'"),
    ("run.precision=fp16", "'run.precision' parameter must be one of"),
    ("schedule.shape=exp", "'schedule.shape' parameter must be one of"),
    ("train.steps=abc", "train.steps"),
    ("data.max_seqlen=100000", "'data.max_seqlen' parameter must be <="),
])
def test_bad_config_is_one_line_error_naming_the_key(tmp_path, override, needle):
    with pytest.raises(ConfigError) as e:
        compose(["domain.name=traintest", f"data.store={tmp_path}", override])
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_domain_and_store_are_named():
    with pytest.raises(ConfigError, match="domain"):
        compose(["train.steps=1"])
    with pytest.raises(ConfigError, match="data.store"):
        compose(["domain.name=traintest"])


def test_unknown_model_field_is_named():
    with pytest.raises(ConfigError, match="model.hidden"):
        encoder_config({"preset": "tiny", "hidden": 3}, rope_axes=1)


def test_help_lists_groups_and_options():
    text = help_text()
    for needle in ("model: base, impute, large, small, tiny", "optim: stableadamw", "schedule: wsd",
                   "data: default", "train.steps=", "run.resume=", "experiment:"):
        assert needle in text


def test_experiment_preset_selects_domain_and_overrides(tmp_path):
    cfg = compose(["experiment=genomic_demo", f"data.store={tmp_path}", "domain.mask_rate=0.2"])
    assert cfg.domain.name == "genomic" and cfg.domain.mask_rate == 0.2
    assert cfg.train.steps == 1600 and cfg.data.max_seqlen == 512 and cfg.run.name == "genomic-demo"


@pytest.mark.slow
def test_configs_found_from_a_non_editable_wheel(tmp_path):
    """Build the wheel, unpack it elsewhere, and compose from the packaged tree only."""
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parents[2]
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        target = src / f
        target.parent.mkdir(parents=True, exist_ok=True)
        if (repo / f).is_symlink():
            target.symlink_to(Path(repo / f).readlink())
        elif (repo / f).is_file():
            shutil.copy2(repo / f, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(src), "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import encoderkit, encoderkit.train.config as c; "
            "assert encoderkit.__file__.startswith(%r), encoderkit.__file__; "
            "cfg = c.compose(['domain=genomic', 'data.store=x', 'model=base']); "
            "assert str(c.config_dir()).startswith(%r); print(cfg.model.preset)") % (str(site), str(site))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "base"
