"""Shared set-up of the reliability tests: one untrained tiny run per registered domain
(weights need not be good to test error paths), and a CLI runner that checks the
error contract: exit code, exactly one ``encoderkit <command>: error:`` line, no
traceback."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from encoderkit.core import EncoderConfig
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import available_domains, get_domain
from encoderkit.train import checkpoint as ckpt


@dataclass
class Run:
    name: str
    dir: Path
    store: Path
    raw: list[Path]  # the domain's sample files (valid infill / embed input)


def make_run(name: str, root: Path, **domain_options) -> Run:
    """Ingest the domain's samples and save an untrained tiny model as checkpoint 1."""
    raw_dir = root / "raw"
    raw_dir.mkdir(parents=True)
    paths, options = get_domain(name).sample_sources(str(raw_dir))
    store = root / "store.zarr"
    ingest(name, paths, str(store), progress=False, verbose=False, **options)
    schema = RecordStore(str(store)).schema
    domain = get_domain(name)(schema, **{**options, **domain_options}) if _takes(name, options) \
        else get_domain(name)(schema, **domain_options)
    torch.manual_seed(0)
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                           local_window=8, rope_axes=domain.rope_axes)
    model = MaskedEncoderModel(domain, config)
    run = root / "run"
    state = {"step": 1, "model_config": config.to_dict(), "domain": domain.describe()}
    ckpt.save_checkpoint(run / "checkpoints", 1, ckpt.model_state(model), {}, [], state, keep=0)
    (run / "config.yaml").write_text("data:\n  max_seqlen: 64\n")
    return Run(name, run, store, [Path(p) for p in paths])


def _takes(name: str, options: dict) -> bool:
    """Whether the domain's constructor accepts its ingest options (one config group)."""
    try:
        get_domain(name)({}, **options)
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Run]:
    out = {}
    for name in available_domains():
        try:
            out[name] = make_run(name, tmp_path_factory.mktemp(f"run-{name}"))
        except NotImplementedError:
            continue
    return out


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with (size, mtime_ns): to show nothing was written or deleted."""
    out = {}
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = Path(root) / f
            st = p.stat()
            out[str(p.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return out


def run_cli(capsys, argv: list[str], code: int, *needles: str) -> str:
    """Run ``encoderkit <argv>``; check the exit code, a one-line error naming ``needles``,
    and no traceback. Returns stderr."""
    from encoderkit.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bug in encoderkit" not in err, err
    assert rc == code, f"exit {rc}, expected {code}: {err}"
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and lines[0].startswith(f"encoderkit {argv[0]}: error: "), err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def refuses_cleanly(capsys, path: Path, argv: list[str], code: int, *needles: str) -> str:
    """``run_cli`` and, on top, nothing under ``path`` written, replaced or deleted."""
    before = tree(path)
    line = run_cli(capsys, argv, code, *needles)
    assert tree(path) == before
    return line
