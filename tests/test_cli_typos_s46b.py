"""A misspelled key is a usage error (exit 2) that names it, suggests the closest valid key
and points at ``encoderkit <command> --help``, whichever command or domain refused it; an
error that is not about a typed key is left in the command's own words."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.errors import DataError, UsageError


def _err(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]  # the error line (a progress bar may come before it)


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30), "c": rng.choice(["x", "y"], 30)})
    frame.loc[[3, 7], "a"] = np.nan
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_typo_beside_a_missing_required_key_names_the_typo(tmp_path, table, capsys):
    # before: "missing output=..." (ingest), "impute: missing required parameter input=...":
    # the word typed was not named
    line = _err(capsys, ["ingest", "domain=tabular", f"input={table}", f"outptu={tmp_path / 'o.zarr'}"])
    assert "unknown parameter 'outptu' (did you mean 'output'?)" in line and "encoderkit ingest --help" in line
    line = _err(capsys, ["impute", f"inptu={table}", f"output={tmp_path / 'y.csv'}"])
    assert "'inptu' (did you mean 'input'?)" in line and "encoderkit impute --help" in line


def test_impute_refuses_a_misspelled_parameter_before_reading_the_file(tmp_path, table, capsys):
    # before: exit 1, "cannot read t.csv as tabular: unknown tabular ingest option(s) ['holdotu']"
    out = tmp_path / "y.csv"
    for word, meant in [("holdotu=0.1", "holdout"), ("n_model=2", "n_models"), ("selct=model", "select")]:
        line = _err(capsys, ["impute", f"input={tmp_path / 'absent.csv'}", f"output={out}", word])
        assert f"unknown parameter '{word.split('=')[0]}' (did you mean '{meant}'?)" in line
        assert "encoderkit impute --help" in line and not out.exists()


def test_impute_refuses_a_misspelled_pretraining_key_before_the_input_is_looked_at(tmp_path, capsys):
    # before: exit 1, "input file ... does not exist" (the typo was checked after the input)
    line = _err(capsys, ["impute", f"input={tmp_path / 'absent.csv'}", f"output={tmp_path / 'y.csv'}",
                         "train.stpes=5"])
    assert "'train.stpes' (did you mean 'train.steps'?)" in line and "encoderkit impute --help" in line


def test_a_key_the_domain_refuses_is_a_usage_error_with_the_closest_key(tmp_path, table, capsys):
    # before: exit 1 "cannot read t.csv as tabular: unknown tabular ingest option(s) ['sede']"
    line = _err(capsys, ["impute", f"input={table}", f"output={tmp_path / 'y.csv'}", "sede=1", "progress=false"])
    assert "['sede'] (did you mean 'seed'?)" in line and "encoderkit impute --help" in line
    # the timeseries domain's (once "must be among [...]. Got ['tiem_column'] instead.", now the
    # shared ``errors.unknown_options`` wording of every domain)
    series = tmp_path / "s.csv"
    pd.DataFrame({"date": pd.date_range("2000-01-01", periods=40, freq="D"),
                  "y": np.sin(np.arange(40.0))}).to_csv(series, index=False)
    line = _err(capsys, ["ingest", "domain=timeseries", f"input={series}", f"output={tmp_path / 's.zarr'}",
                         "tiem_column=date"])
    assert "unknown option(s) of the timeseries domain: ['tiem_column'] (did you mean 'time_column'?); allowed" in line
    assert line.endswith("; the options of ingest: encoderkit ingest --help")
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("word,meant", [("train.stpes=5", "train.steps"), ("optim.lrr=0.1", "optim.lr"),
                                        ("progres=false", "train.progress")])
def test_pretrain_suggests_the_closest_config_key(tmp_path, word, meant, capsys):
    line = _err(capsys, ["pretrain", "domain=tabular", f"data.store={tmp_path / 'none.zarr'}", word])
    assert f"'{word.split('=')[0]}' (did you mean '{meant}'?)" in line and "encoderkit pretrain --help" in line


def test_commands_without_a_list_of_keys_suggest_from_their_help(tmp_path, capsys):
    # export-hf's message lists no keys: the suggestion comes from its --help text
    line = _err(capsys, ["export-hf", str(tmp_path / "run"), str(tmp_path / "hf"), "overwirte=true"])
    assert "['overwirte'] (did you mean 'overwrite'?)" in line
    line = _err(capsys, ["probe", "embeddings=e.npy", "labels=l.csv", "fodls=3"])
    assert "'fodls' (did you mean 'folds'?)" in line and "encoderkit probe --help" in line


def test_import_hf_model_key_typo_is_usage_not_data(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    hf = tmp_path / "hf"
    config = transformers.ModernBertConfig(vocab_size=64, hidden_size=32, num_attention_heads=2,
                                           num_hidden_layers=1, intermediate_size=48, pad_token_id=0,
                                           bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
    transformers.ModernBertForMaskedLM(config).save_pretrained(hf)
    # before: exit 1, "hf/config.json: cannot build a model from it: ... unknown parameter(s) ['hiden_size']"
    line = _err(capsys, ["import-hf", str(hf), f"output={tmp_path / 'run'}", "domain=genomic",
                         "model.hiden_size=3"])
    assert "['hiden_size'] (did you mean 'model.hidden_size'?)" in line and "config.json" in line
    assert not (tmp_path / "run").exists()


def test_errors_about_a_valid_key_keep_the_commands_words(tmp_path, capsys):
    """A bad value of a key that exists: the line is the command's own error, unchanged."""
    from encoderkit.infer.cli import run as infer_run

    argv = ["embeddings=e.npy", "labels=l.csv", "folds=abc"]
    with pytest.raises(UsageError) as own:
        infer_run("probe", argv)
    assert _err(capsys, ["probe", *argv]) == f"encoderkit probe: error: {own.value}"
    from encoderkit.train.config import ConfigError, compose

    argv = ["domain=tabular", f"data.store={tmp_path / 'none.zarr'}", "train.steps=abc"]
    with pytest.raises(ConfigError) as own:
        compose(argv)
    assert _err(capsys, ["pretrain", *argv]) == f"encoderkit pretrain: error: {own.value}"


def test_the_typed_key_is_told_from_the_allowed_ones_in_a_message():
    from encoderkit.cliutil import explain_key_error

    usage = lambda: "usage: encoderkit x checkpoint=<run> input=<file> output=<file>"  # noqa: E731
    argv = ["checkpoint=run", "input=a.csv", "colour=red", "hydra.job.name=x", "+output=b.csv"]
    error = UsageError("unknown parameter 'colour'; allowed: ['checkpoint', 'input', 'output']", key="colour")
    got = explain_key_error("x", argv, error, usage)
    assert (type(got), got.key, got.exit_code) == (UsageError, "colour", 2)
    assert str(got) == ("unknown parameter 'colour'; allowed: ['checkpoint', 'input', 'output']; "
                        "the options of x: encoderkit x --help")  # nothing near colour
    error = DataError("cannot read a.csv: unknown option(s) ['outptu']", file="a.csv")
    got = explain_key_error("x", ["outptu=1"], error, usage)
    assert str(got).startswith("a.csv: cannot read a.csv: unknown option(s) ['outptu'] (did you mean 'output'?)") \
        or str(got).startswith("cannot read a.csv: unknown option(s) ['outptu'] (did you mean 'output'?)")
    assert got.exit_code == 2
    # an error naming no typed key, and one about a file, are returned as they are
    for error in (UsageError("unknown domain 'nosuch'; available: ['genomic']", key="domain"),
                  DataError("record 3 is empty", file="a.csv")):
        assert explain_key_error("x", ["domain=nosuch"], error, usage) is error


def test_the_suggestion_is_difflibs_closest_key():
    import difflib

    from encoderkit.cliutil import explain_key_error

    keys = json.loads('["checkpoint", "device", "input", "max_seqlen", "max_tokens", "output", "pooling"]')
    error = UsageError(f"unknown parameter 'max_token'; allowed: {keys}", key="max_token")
    got = explain_key_error("embed", ["max_token=5"], error, lambda: "")
    assert f"(did you mean '{difflib.get_close_matches('max_token', keys, n=1)[0]}'?)" in str(got)
