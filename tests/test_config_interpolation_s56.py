"""A value whose ``${...}`` names no config key (a path such as ``st_${x}.zarr``): OmegaConf's
error named no key ("config key None: Interpolation key 'x' not found"); now the key whose
value holds it, and why a literal ``${`` cannot be given (session 56, helper d's finding)."""

from __future__ import annotations


def test_a_failed_interpolation_names_its_key(tmp_path, capsys):
    from encoderkit.cli import main

    run = tmp_path / "run"
    assert main(["pretrain", "domain=tabular", "data.store=st_${x}.zarr", f"run.dir={run}", "train.steps=1"]) != 0
    err = capsys.readouterr().err
    assert "config key 'data.store'" in err and "Interpolation key 'x' not found" in err
    assert "None" not in err
    assert not run.exists()


def test_a_working_interpolation_of_another_key_still_resolves():
    from encoderkit.train.config import compose

    cfg = compose(["domain=tabular", "data.store=/data/s.zarr", "run.dir=${data.store}_run"])
    assert cfg.run.dir == "/data/s.zarr_run"
