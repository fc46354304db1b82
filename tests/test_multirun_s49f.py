"""`pretrain -m` / `finetune -m`: every job composed and checked before any trains, a refused
sweep leaves nothing behind, multirun.yaml names each job's own folder and values, Hydra's
sweep forms and grammar errors are one line, and a finished run run again is left as it is."""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

import testdomain as td
from encoderkit.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=48)


def _args(store: str, run_dir: str, steps: int = 1) -> list[str]:
    """A one-step tiny run without run.dir (each test gives its own, quoted or swept)."""
    return [o for o in td.tiny_overrides(store, run_dir, steps=steps, **{"train.eval_every": 0})
            if not o.startswith(("run.dir=", "optim.lr="))]


def _files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its sha256 and modification time (a rewrite changes it)."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sweep(store, tmp_path_factory) -> Path:
    """A finished two-job sweep into a folder whose name needs quoting ('my sweep')."""
    folder = tmp_path_factory.mktemp("sw") / "my sweep"
    assert main(["pretrain", "-m", *_args(store, ""), f"run.dir='{folder}'", "optim.lr=1e-3,2e-3"]) == 0
    return folder


def test_multirun_yaml_names_each_jobs_folder_and_values(sweep):
    record = OmegaConf.to_container(OmegaConf.load(sweep / "multirun.yaml"))
    assert [job["dir"] for job in record["jobs"]] == [str(sweep / "0"), str(sweep / "1")]
    for i, job in enumerate(record["jobs"]):
        saved = OmegaConf.load(sweep / str(i) / "config.yaml")  # what the job really ran with
        words = dict(w.split("=", 1) for w in job["overrides"])
        assert float(words["optim.lr"]) == saved.optim.lr == [1e-3, 2e-3][i]
        assert saved.run.dir == str(sweep / str(i))  # the quoted folder, not "'my sweep'/0"
        assert words["run.dir"].strip("'\"") == saved.run.dir


def test_a_second_sweep_with_other_values_is_refused_before_anything(sweep, store, capsys):
    before = _files(sweep)
    rc = main(["pretrain", "-m", *_args(store, ""), f"run.dir='{sweep}'", "optim.lr=1e-2,2e-2"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "job 0 of 2 (optim.lr=0.01)" in err and "checkpoint 0.001" in err
    assert _files(sweep) == before  # multirun.yaml still describes the jobs in it


def test_a_job_that_fails_its_checks_refuses_the_sweep_before_any_trains(store, tmp_path, capsys):
    folder = tmp_path / "sw"
    rc = main(["pretrain", "-m", *_args(store, ""), f"run.dir={folder}", "optim.lr=1e-3,-1,2e-3"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "job 1 of 3 (optim.lr=-1)" in err and "Got -1.0" in err
    assert not folder.exists()  # job 0 did not train, and no record was written


def test_a_run_dir_that_differs_per_job_is_refused_with_nothing_made(store, tmp_path, capsys):
    for run_dir in (f"run.dir={tmp_path}/T_${{optim.lr}}", f"run.dir={tmp_path}/da,{tmp_path}/db"):
        rc = main(["pretrain", "-m", *_args(store, ""), run_dir, "optim.lr=1e-3,2e-3"])
        err = capsys.readouterr().err
        assert rc == 2 and "one folder for the whole sweep" in err and "--multirun" not in err
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("word, said", [
    ("optim.lr=[1,", "no viable alternative"),
    ("optim.lr=interval(0.1,0.2)", "the sweep forms of -m are"),
    ("train.steps=range(1,10,0)", "must not be zero"),
    ("model=glob(zz*)", "no option of the config group 'model' matches"),
])
def test_sweep_forms_and_grammar_errors_are_one_line(store, tmp_path, capsys, word, said):
    rc = main(["pretrain", "-m", *_args(store, ""), f"run.dir={tmp_path}/x", word])
    err = capsys.readouterr().err
    assert rc == 2 and said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_glob_sweeps_over_the_files_of_a_config_group():
    from encoderkit.train.cli import expand_sweep
    from encoderkit.train.config import config_dir

    names = sorted(p.stem for p in (config_dir() / "model").glob("*.yaml") if fnmatch.fnmatch(p.stem, "t*"))
    assert len(names) >= 2
    assert expand_sweep(["model=glob(t*)", "optim.lr=1,2"]) == [
        [f"model={n}", f"optim.lr={lr}"] for n in names for lr in (1, 2)]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_finetune_sweeps_with_m(store, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": [f"r{i}" for i in range(48)], "label": [i % 2 for i in range(48)]}).to_csv(labels, index=False)
    folder = tmp_path / "ft"
    args = [*_args(store, ""), "checkpoint=none", f"task.labels={labels}", "task.ensemble=1",
            f"run.dir={folder}", "optim.lr=1e-3,3e-3"]
    assert main(["finetune", *args]) == 2  # without -m: Hydra's "add --multirun", which finetune now takes
    assert "add --multirun" in capsys.readouterr().err
    assert main(["finetune", "-m", *args]) == 0
    assert [OmegaConf.load(folder / str(i) / "config.yaml").optim.lr for i in (0, 1)] == [1e-3, 3e-3]
    assert (folder / "multirun.yaml").is_file()


def test_a_finished_run_run_again_is_said_and_left_as_it_is(store, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["pretrain", *_args(store, "", steps=2), f"run.dir={run}", "optim.lr=1e-3"]
    assert main(args) == 0
    before = _files(run)
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"run {run} already finished at step 2" in err and "train.steps=4" in err
    assert _files(run) == before  # config.yaml, metrics.jsonl, loss.png: not rewritten
    # a larger train.steps still trains on from it
    assert main([*args, "train.steps=3"]) == 0
    assert (run / "checkpoints" / "3").is_dir() and _files(run)["config.yaml"] != before["config.yaml"]
