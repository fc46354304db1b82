"""What a resume says when its settings moved (audit s45 repro, findings 3 and 4).

``train.steps`` may change on resume, but a finished run extended silently re-planned its
learning-rate schedule (0 at its last step, the peak at the next), and a value below the
newest checkpoint exited 0 doing nothing while rewriting config.yaml to it. A resume after
ENCODERKIT_IN_MEMORY_MB moved the store across the in-memory threshold was refused blaming
the data ("re-ingested or appended to?") when the loader's reading mode had changed."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.train import pretrain
from encoderkit.train.config import ConfigError


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=48)


def _overrides(store: str, run: Path, steps: int, **extra) -> list[str]:
    return td.tiny_overrides(store, str(run), steps=steps, **{
        "train.eval_every": 0, "train.keep": 0, "train.checkpoint_every": 1, **extra})


@pytest.fixture(scope="module")
def finished(store, tmp_path_factory) -> Path:
    """A finished 4-step run, its decay 80% of the schedule (a rate that is no round number)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    pretrain(_overrides(store, run, 4, **{"schedule.decay_fraction": 0.8}))
    return run


def _metrics(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["lr"] for r in rows if "lr" in r}


def test_lowering_steps_below_the_newest_checkpoint_is_refused_and_nothing_is_rewritten(
        store, finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    files = {name: (run / name).read_bytes() for name in ("config.yaml", "metrics.jsonl")}
    with pytest.raises(ConfigError, match=r"train.steps=2 is below the step of checkpoint .*4 \(4\)"):
        pretrain(_overrides(store, run, 2, **{"schedule.decay_fraction": 0.8}))
    assert {name: (run / name).read_bytes() for name in files} == files
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir()) == [1, 2, 3, 4]


def test_extending_a_finished_run_says_that_its_schedule_is_replanned(store, finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    pretrain(_overrides(store, run, 10, **{"schedule.decay_fraction": 0.8}))
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("train.steps")]
    # WSD by hand: 10 steps, decay 8 (from step 2), 1-sqrt shape; lr 1e-2 (tiny_overrides)
    lr5 = 1e-2 * (1 - math.sqrt((5 - 2) / 8))
    assert said == [f"train.steps 4 -> 10: the run continues from step 4; the learning-rate schedule "
                    f"is re-planned for 10 steps (lr at step 5: {lr5:.3g}; at step 4: 0 as planned "
                    f"for 4)"]
    assert _metrics(run)[5] == pytest.approx(lr5, rel=1e-12)  # the rate it then trained with
    assert _metrics(run)[4] == 0.0


def test_a_schedule_of_fixed_length_is_said_to_be_unchanged(store, tmp_path, capsys):
    run = tmp_path / "run"
    fixed = {"schedule.total": 12, "schedule.decay_fraction": 0.8}
    pretrain(_overrides(store, run, 3, **fixed))
    capsys.readouterr()
    pretrain(_overrides(store, run, 5, **fixed))
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("train.steps")]
    assert said == ["train.steps 3 -> 5: the run continues from step 3 to step 5; the learning-rate "
                    "schedule is unchanged (schedule.total=12 steps)"]


def test_the_same_steps_again_say_nothing(store, finished, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    pretrain(_overrides(store, run, 4, **{"schedule.decay_fraction": 0.8}))
    assert "train.steps" not in capsys.readouterr().out


def test_a_resume_across_the_in_memory_threshold_names_the_reading_mode(store, tmp_path, monkeypatch):
    from encoderkit.data import loader as loader_module
    from encoderkit.data import store as store_module

    def threshold(mb: int) -> None:  # as ENCODERKIT_IN_MEMORY_MB sets them at import
        monkeypatch.setattr(store_module, "AUTO_IN_MEMORY_BYTES", mb * 2**20)
        monkeypatch.setattr(loader_module, "AUTO_IN_MEMORY_BYTES", mb * 2**20)

    run = tmp_path / "run"
    threshold(2048)  # the default, whatever the environment running the tests says
    pretrain(_overrides(store, run, 2))
    shutil.rmtree(run / "checkpoints" / "2")  # stopped after step 1
    state = json.loads((run / "checkpoints" / "1" / "state.json").read_text())
    assert state["reading"]["read"] == "records"  # a small store: in memory
    threshold(0)  # every store is read from disk
    with pytest.raises(DataError) as caught:
        pretrain(_overrides(store, run, 2))
    message = str(caught.value)
    assert "record by record, in memory then and chunk-aware from disk now" in message
    assert "ENCODERKIT_IN_MEMORY_MB" in message and "threshold of 2048 MB then and 0 MB now" in message
    assert "re-ingested" not in message  # the data is not to blame
