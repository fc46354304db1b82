"""Commands other than pretrain / finetune started as several torchrun processes are refused in
one line (exit 2) before they read or write anything: each rank would run the whole command and
write the same output at once (one rank's file won, the other failed with "another process
created it", or both wrote into one run_dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoderkit.cli import COMMANDS, SEVERAL_PROCESSES, main


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - set(SEVERAL_PROCESSES)))
def test_refused_under_several_processes(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "out.csv"
    code = main([command, f"input={tmp_path / 'in.csv'}", f"output={out}"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"encoderkit {command}: error: runs in one process, not under torchrun (WORLD_SIZE=2)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - set(SEVERAL_PROCESSES)))
def test_help_and_one_process_unchanged(command: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([command, "--help"]) == 0
    monkeypatch.setenv("WORLD_SIZE", "1")
    main([command, "input=/nonexistent/in.csv"])  # whatever it says, it is not the torchrun refusal
    assert "not under torchrun" not in capsys.readouterr().err
