"""A sets run reads a raw file back as its store was ingested, and an ingest option given
again is accepted when it is the run's (audit s45 repro, finding 6): ``embed ...
input=digits.csv set_column=set`` was refused as an unknown parameter, though the README
says an option given again must only be the one the run used."""

from __future__ import annotations

import numpy as np
import pytest

from domains.sets.digits import CSV_OPTIONS
from encoderkit.errors import UsageError

from .conftest import make_run, run_cli


@pytest.fixture(scope="module")
def sets_run(tmp_path_factory):
    return make_run("sets", tmp_path_factory.mktemp("sets_s45"))


def test_the_runs_own_ingest_options_are_accepted_and_change_nothing(sets_run):
    from encoderkit.infer import load

    model = load(sets_run.dir)
    raw = str(sets_run.raw[0])
    plain = model.embed(raw, progress=False)
    assert model.domain.read_options() == CSV_OPTIONS  # those the sample was ingested with
    for key, value in CSV_OPTIONS.items():
        np.testing.assert_array_equal(model.embed(raw, progress=False, **{key: value}), plain)
    np.testing.assert_array_equal(model.embed(raw, progress=False, **CSV_OPTIONS), plain)


@pytest.mark.parametrize("key, value", [("set_column", "x"), ("coord_columns", ["y", "x"]),
                                        ("feature_columns", ["x"])])
def test_another_value_is_refused_naming_the_runs(sets_run, key, value):
    from encoderkit.infer import load

    with pytest.raises(UsageError, match=f"contradicts the run: its store was ingested with {key}="):
        load(sets_run.dir).embed(str(sets_run.raw[0]), progress=False, **{key: value})


def test_the_cli_accepts_the_option_given_again(sets_run, tmp_path, capsys):
    from encoderkit.cli import main

    out = tmp_path / "e.npy"
    assert main(["embed", f"checkpoint={sets_run.dir}", f"input={sets_run.raw[0]}", "set_column=set",
                 f"output={out}", "progress=false"]) == 0
    assert np.load(out).shape[0] == 12  # the sample's 12 digits
    run_cli(capsys, ["embed", f"checkpoint={sets_run.dir}", f"input={sets_run.raw[0]}", "set_column=x",
                     f"output={tmp_path / 'f.npy'}"], 2, "set_column=x contradicts the run")
