"""Review fixes (session 49, n): a sweep compares every swept key (train.steps, data.store
too) with each job folder's checkpoint before anything trains, and a refused sweep leaves
multirun.yaml as it was; boolean parameters whose default is None (``progress``) take only
true / false / null; an early-stopped fine-tune rerun is finished and left as it is; a finished
ensemble rerun keeps ensemble.json and says so once; ``input='{a}.csv'`` is a file name."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import testdomain as td
from encoderkit.cli import main
from encoderkit.errors import UsageError


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("stores")
    return (td.write_store(folder / "a.zarr", n=48), td.write_store(folder / "b.zarr", n=48, seed=1))


def _args(store: str | None, steps: int = 1) -> list[str]:
    """A tiny run's words without run.dir (and without data.store / train.steps when swept)."""
    return [o for o in td.tiny_overrides(store or "", "", steps=steps, **{"train.eval_every": 0})
            if not o.startswith(("run.dir=",) + (("data.store=",) if store is None else ()))]


def _files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its sha256 and modification time (a rewrite changes it)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _kept(folder: Path) -> dict[str, tuple[str, int]]:
    """``_files``: every file's content and modification time (split.json included: written only
    when it changes)."""
    return _files(folder)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_swept_train_steps_is_checked_against_each_job_folder_before_any_trains(stores, tmp_path, capsys):
    folder = tmp_path / "sw"
    base = [o for o in _args(stores[0]) if not o.startswith("train.steps=")]
    assert main(["pretrain", "-m", *base, f"run.dir={folder}", "train.steps=1,2"]) == 0
    before = _files(folder)
    capsys.readouterr()
    # the reverse: job 0 (a 1-step run) would be extended to 2 steps, job 1 refused after it
    assert main(["pretrain", "-m", *base, f"run.dir={folder}", "train.steps=2,1"]) == 2
    err = capsys.readouterr().err
    assert "job 0 of 2 (train.steps=2)" in err and "train.steps: checkpoint 1, this job 2" in err
    assert _files(folder) == before  # nothing trained, multirun.yaml as it was


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_swept_data_store_is_checked_against_each_job_folder(stores, tmp_path, capsys):
    folder = tmp_path / "st"
    a, b = stores
    base = _args(None)
    assert main(["pretrain", "-m", *base, f"run.dir={folder}", f"data.store={a},{b}"]) == 0
    before = _files(folder)
    capsys.readouterr()
    assert main(["pretrain", "-m", *base, f"run.dir={folder}", f"data.store={b},{a}"]) == 2
    err = capsys.readouterr().err
    assert "job 0 of 2" in err and f"data.store: checkpoint {str(Path(a).resolve())!r}" in err
    assert _files(folder) == before
    # the same sweep again: each folder holds its own store's run, finished and left as it is
    assert main(["pretrain", "-m", *base, f"run.dir={folder}", f"data.store={a},{b}"]) == 0
    assert _files(folder) == before


@pytest.mark.parametrize("earlier", [True, False])
def test_multirun_yaml_is_restored_when_a_later_job_is_refused(stores, tmp_path, earlier):
    from encoderkit.train.cli import multirun
    from encoderkit.train.config import ConfigError, compose

    folder = tmp_path / "rec"
    folder.mkdir()
    if earlier:
        (folder / "multirun.yaml").write_text("an earlier sweep's record\n")
    ran = []

    def run_job(job: list[str]) -> int:  # job 0 runs; job 1 meets a check made only at run time
        ran.append(job)
        if len(ran) == 2:
            raise ConfigError("refused at run time")
        return 0

    argv = [*_args(stores[0]), f"run.dir={folder}", "optim.lr=1e-3,2e-3"]
    with pytest.raises(ConfigError) as refused:
        multirun(argv, compose, run_job)
    assert len(ran) == 2
    record = folder / "multirun.yaml"
    if earlier:
        assert record.read_text() == "an earlier sweep's record\n"
    else:
        assert not record.exists()
    said = "job 1 of 2 (optim.lr=0.002): refused at run time; the sweep stopped after job 0"
    assert said in str(refused.value)


@pytest.mark.parametrize("command", ["embed", "predict"])
@pytest.mark.parametrize("value", ["no", "off", "yes", "~", "1"])
def test_progress_takes_only_true_false_or_null(command, value, tmp_path, capsys):
    rc = main([command, f"checkpoint={tmp_path}/none", f"input={tmp_path}/none.csv",
               f"output={tmp_path}/out.npy", f"progress={value}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert f"The 'progress' parameter of {command} must be true or false" in err


def test_parse_args_flags_take_true_false_null():
    from encoderkit.infer.pretrained import progress_bar
    from encoderkit.overrides import parse_args

    base = {"input": "", "progress": None}
    for typed, want in (("true", True), ("false", False), ("null", None)):
        assert parse_args([f"progress={typed}"], base, (), "embed", flags=("progress",))["progress"] is want
    with pytest.raises(UsageError, match="'progress' parameter of embed must be true or false"):
        progress_bar(3, "embed", "no")  # the Python API: "no" is truthy, and showed the bar


def test_a_file_name_opening_with_a_brace_or_bracket_is_text():
    from encoderkit.overrides import parse_args

    base = {"input": "", "progress": None}
    # a file name the shell unquoted, opening with a brace or a bracket: text, not a grammar error
    assert parse_args(["input={a}.csv"], base, (), "embed")["input"] == "{a}.csv"
    assert parse_args(["input=[1] b.csv"], base, (), "embed")["input"] == "[1] b.csv"
    with pytest.raises(UsageError, match="cannot parse"):  # a dict typed wrong stays the grammar's error
        parse_args(["input={a: 1"], base, (), "embed")


def _labels(tmp_path: Path) -> Path:
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(48)], "label": [i % 2 for i in range(48)]}).to_csv(
        labels, index=False)
    return labels


def test_an_early_stopped_finetune_rerun_is_finished_and_left_as_it_is(stores, tmp_path, capsys):
    run = tmp_path / "es"
    args = ["finetune", *_args(stores[0], steps=40), "checkpoint=none", f"task.labels={_labels(tmp_path)}",
            "task.ensemble=1", "task.patience=1", "optim.lr=1e-9", "train.eval_every=2",
            "train.checkpoint_every=2", f"run.dir={run}"]
    assert main(args) == 0
    steps = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert steps and steps[-1] < 40  # stopped early
    before = _kept(run)
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"run {run} already finished: it stopped early at step {steps[-1]} (patience" in err
    assert _kept(run) == before  # config.yaml (run.name), metrics.jsonl, loss.png: as they were


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_finished_ensemble_rerun_keeps_its_manifest_and_says_so_once(stores, tmp_path, capsys):
    run = tmp_path / "ens"
    args = ["finetune", *_args(stores[0], steps=2), "checkpoint=none", f"task.labels={_labels(tmp_path)}",
            "task.ensemble=2", f"run.dir={run}"]
    assert main(args) == 0
    before = _kept(run)
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert _kept(run) == before  # ensemble.json and the members' files not rewritten
    assert f"run {run / 'members' / '1'} already finished" not in err  # no line per member
    assert f"ensemble {run}: its other members (members/1) are finished too" in err
