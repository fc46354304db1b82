"""A laptop's first run: running out of memory is one error line with what to make smaller
(not a traceback calling it a bug), and ``train.steps=auto`` says the budget it resolved,
by the rule's numbers, before step 1."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import BUG_LINE, main
from encoderkit.data.ingest import ingest


def _refused_allocation() -> MemoryError:
    """numpy's own error for an allocation the machine refuses (1 EiB: refused at once)."""
    try:
        np.empty((2**40, 2**20), dtype=np.uint8)
    except MemoryError as e:
        return e
    pytest.skip("this machine allocated 1 EiB")


@pytest.mark.parametrize(("command", "module", "key"), [
    ("pretrain", "encoderkit.train.cli", "data.max_tokens=N"),
    ("embed", "encoderkit.infer.cli", "max_tokens=N"),
])
def test_out_of_memory_is_one_line_with_advice(monkeypatch, capsys, command, module, key):
    import importlib

    error = _refused_allocation()

    def run(_command: str, _argv: list[str]) -> int:
        raise error

    monkeypatch.setattr(importlib.import_module(module), "run", run)
    assert main([command, "x=1"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"encoderkit {command}: error: out of memory: {str(error)};"), err
    assert "Unable to allocate 1.00 EiB" in lines[0] and key in lines[0] and "split long records" in lines[0]
    assert "Traceback" not in err and BUG_LINE not in err


def test_bare_memory_error_says_out_of_memory(monkeypatch, capsys):
    """``ulimit -v``: Python's MemoryError often has no message; the line still says what happened."""
    import encoderkit.train.cli as tcli

    def run(_command: str, _argv: list[str]) -> int:
        raise MemoryError()

    monkeypatch.setattr(tcli, "run", run)
    assert main(["pretrain", "x=1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("encoderkit pretrain: error: out of memory; try a smaller data.max_tokens=N"), err
    assert "\n" not in err


def test_torch_out_of_memory_is_one_line(monkeypatch, capsys):
    """A GPU (or torch's CPU allocator) out of memory mid-training: the same line, torch's words
    kept to their start (its CUDA message runs on for a paragraph)."""
    import torch

    import encoderkit.tasks.cli as fcli

    said = "CUDA out of memory. Tried to allocate 20.00 GiB. " + "GPU 0 has a total capacity of 79 GiB. " * 20
    for error in (torch.OutOfMemoryError(said),
                  RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 4000000 bytes. Error code 12 (Cannot allocate memory)")):
        def run(_command: str, _argv: list[str], error: Exception = error) -> int:
            raise error

        monkeypatch.setattr(fcli, "run", run)
        assert main(["finetune", "x=1"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"encoderkit finetune: error: out of memory: {str(error)[:40]}"), err
        assert "\n" not in err and len(err) < 500 and "data.max_seqlen=N" in err
    monkeypatch.setattr(fcli, "run", lambda _c, _a: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    assert main(["finetune", "x=1"]) == 1  # any other RuntimeError stays a bug
    assert BUG_LINE in capsys.readouterr().err


@pytest.fixture(scope="module")
def table_store(tmp_path_factory):
    """60 rows x 5 numeric columns: 300 model tokens (one a cell)."""
    tmp = tmp_path_factory.mktemp("auto")
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde")).to_csv(tmp / "t.csv", index=False)
    ingest("tabular", [str(tmp / "t.csv")], str(tmp / "t.zarr"), progress=False, verbose=False)
    return str(tmp / "t.zarr")


def _pretrain(store: str, run_dir: str, *extra: str) -> int:
    return main(["pretrain", "domain=tabular", f"data.store={store}", f"run.dir={run_dir}",
                 "data.val_fraction=1e-9", "data.max_tokens=256", "data.max_seqlen=64",
                 "train.eval_every=0", "train.progress=true", "train.log_every=1",
                 "model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
                 "model.intermediate_size=32", *extra])


def _budget_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "train.steps=auto" in line]


@pytest.mark.parametrize(("extra", "steps", "bound"), [
    # 4 epochs x 300 tokens / 256 tokens a step = 4.69 -> 5 steps, under the cap of 3
    (("train.auto_epochs=4", "train.auto_min_steps=1", "train.auto_max_steps=3"), 3,
     ", capped at train.auto_max_steps=3;"),
    # 2 epochs: 600 / 256 = 2.34 -> 3 steps, inside [1, 10]
    (("train.auto_epochs=2", "train.auto_min_steps=1", "train.auto_max_steps=10"), 3, ";"),
])
def test_auto_steps_said_once_before_training(table_store, tmp_path, capsys, extra, steps, bound):
    epochs = float(extra[0].split("=")[1])
    raw = math.ceil(epochs * 60 * 5 / 256)  # the documented rule, by hand
    assert _pretrain(table_store, str(tmp_path / "run"), "train.steps=auto", *extra) == 0
    lines = _budget_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"train.steps=auto resolved to {steps} steps: ceil({epochs:g} epochs "
                               f"(train.auto_epochs) x 300 training tokens / 256 tokens a step) = {raw}{bound}")
    assert "train.steps=N" in lines[0] and "train.auto_max_steps=N" in lines[0]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [str(steps)]


def test_given_steps_say_no_budget(table_store, tmp_path, capsys):
    assert _pretrain(table_store, str(tmp_path / "run"), "train.steps=2") == 0
    assert _budget_lines(capsys.readouterr().err) == []
