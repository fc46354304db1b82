"""Where personal data goes (audit p of session 50, fixer t).

Before: a column of e-mail addresses with one repeated value (239 distinct of 240) was kept as
categories at ingest, every address stored in plain JSON in the store's ``zarr.json`` (and in
every checkpoint), without a word, while ``EncoderImputer`` called the same column "an
identifier (each of its 239 values occurs once)"; a killed large-table read's work folder
(every cell) waited for the next large-table read; ``as_created`` set the process umask to 0 for
a moment; ``export-hf`` wrote the run's absolute path into a file meant to be published; the
impute help did not say that ``run_dir`` keeps a full copy of the input. References: counts
made by hand, the store's own JSON, a process that has exited, ``/proc``'s own umask.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit import outputs
from encoderkit.outputs import WORK_MARKER, make_work_dir


def people(n: int = 240) -> pd.DataFrame:
    """``n`` people whose e-mail column repeats one address (row 7 holds row 3's)."""
    rng = np.random.default_rng(0)
    email = [f"pii.user{i:03d}@secretmail.example" for i in range(n)]
    email[7] = email[3]
    return pd.DataFrame({"email": email, "city": rng.choice(["Gdansk", "Lyon", "Porto"], n),
                         "salary": rng.normal(40_000, 5_000, n).round(2)})


# ---- 1: one rule for near-unique text columns, said with its share ----

def test_a_near_unique_email_column_is_an_identifier_said_with_its_share(tmp_path):
    from domains.tabular.frames import ingest_frame
    from domains.tabular.schema import infer_schema

    frame = people()
    schema, said = infer_schema(frame, np.ones(len(frame), dtype=bool))
    assert [c["name"] for c in schema["columns"]] == ["city", "salary"]
    # by hand: 239 distinct values in 240 cells, 99.58% rounded down (never "100%")
    message = next(m for m in said if "'email'" in m)
    assert "is an identifier (239 distinct values in its 240 cells, 99.5%" in message
    assert "occurs once)" not in message.split("nearly")[0]  # not "each of its ... occurs once"
    assert "239 distinct values in its 240 cells" in schema["dropped"]["email"]
    # before: every address in plain JSON in the store's zarr.json
    ingest_frame(frame, str(tmp_path / "p.zarr"), verbose=False)
    assert "secretmail" not in (tmp_path / "p.zarr" / "zarr.json").read_text()
    # a small table's real categories keep their kind: 11 regions in 12 rows, 19 of 20 cities
    small = pd.DataFrame({"region": [f"r{i % 11}" for i in range(12)], "x": np.arange(12.0)})
    assert [c["kind"] for c in infer_schema(small, np.ones(12, dtype=bool))[0]["columns"]] == \
        ["categorical", "numeric"]
    twenty = pd.DataFrame({"city": [f"c{i}" for i in range(19)] + ["c0"], "x": np.arange(20.0)})
    kept, said = infer_schema(twenty, np.ones(20, dtype=bool))
    assert kept["dropped"]["city"].startswith("it is an identifier (19 distinct")
    # ...and every value distinct says what it always said
    ids = pd.DataFrame({"pid": [f"H{i}" for i in range(12)], "x": np.arange(12.0)})
    assert any("is an identifier (each of its 12 values occurs once)" in m
               for m in infer_schema(ids, np.ones(12, dtype=bool))[1])


def test_encoder_imputer_and_ingest_say_the_same_of_a_near_unique_column():
    from domains.tabular.schema import infer_schema
    from encoderkit.sklearn import EncoderImputer

    frame = people(40)  # 39 distinct addresses in 40 cells
    frame.loc[[5, 11], "salary"] = np.nan
    ingest_said = next(m for m in infer_schema(frame, np.ones(40, dtype=bool))[1] if "'email'" in m)
    assert "39 distinct values in its 40 cells, 97.5%" in ingest_said
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = EncoderImputer(model="tiny", steps=2, select="model", blend="none", random_state=0,
                             overrides=("run.device=cpu",)).fit_transform(frame)
    assert [str(w.message) for w in said if "'email'" in str(w.message)] == [ingest_said]
    assert out["email"].tolist() == frame["email"].tolist()  # kept as written


# ---- 3: any work folder removes the dead ones of every encoderkit prefix ----

def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def fake_work_dir(root: Path, prefix: str, pid: int, started: int | None = None) -> Path:
    """A work folder as ``make_work_dir`` of process ``pid`` of this host would have left it."""
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{pid}-", dir=root))
    (path / "cells.parquet").write_bytes(b"SSN-455-0000" * 100)
    marker = {"pid": pid, "host": outputs._host(), "started": started, "prefix": prefix,
              "pidns": outputs._pid_namespace()}
    (path / WORK_MARKER).write_text(json.dumps(marker))
    return path


def test_a_work_folder_of_any_prefix_a_dead_process_left_is_removed_by_the_next_one(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        table = fake_work_dir(tmp_path, "encoderkit-table-", dead_pid())  # a killed large-table read
        ingest = fake_work_dir(tmp_path, "encoderkit-ingest-", dead_pid())
        live = fake_work_dir(tmp_path, "encoderkit-table-", sleeper.pid, outputs._start_time(sleeper.pid))
        user = Path(tempfile.mkdtemp(prefix="encoderkit-table-", dir=tmp_path))  # no marker: a user's
        mine = make_work_dir("encoderkit-impute-", dir=tmp_path)
        assert not table.exists() and not ingest.exists()  # before: kept until a read of their own kind
        assert live.exists() and user.exists() and mine.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# ---- 4: the umask is read, never set ----

def test_as_created_reads_the_umask_without_setting_it(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o022)
    with open("/proc/self/status") as fh:  # the kernel's own word for this process's umask
        mask = int(next(line for line in fh if line.startswith("Umask:")).split()[1], 8)
    f = tmp_path / "out.csv"
    f.write_text("a\n")
    os.chmod(f, 0o600)
    outputs.as_created(f)
    assert calls == []  # before: os.umask(0) then os.umask(mask), the process mask 0 in between
    assert f.stat().st_mode & 0o777 == 0o666 & ~mask


# ---- 5: export-hf names the run folder, not where it lies ----

def test_export_hf_names_the_run_folder_only(tmp_path):
    pytest.importorskip("transformers")
    import torch

    from encoderkit.core import EncoderConfig
    from encoderkit.interop.hf import TOKENIZER_FILE, export_hf
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.registry import get_domain
    from encoderkit.train import checkpoint as ckpt

    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                           global_every=2, backend="sdpa")
    domain = get_domain("genomic")({})
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, config)
    state = {"step": 1, "model_config": config.to_dict(), "domain": domain.describe()}
    run = tmp_path / "secret-home" / "myrun"
    ckpt.save_checkpoint(run / "checkpoints", 1, ckpt.model_state(model), {}, [], state, keep=0)
    export_hf(str(run), tmp_path / "hf")
    text = (tmp_path / "hf" / TOKENIZER_FILE).read_text()
    (step,) = [p.name for p in (run / "checkpoints").iterdir() if p.is_dir()]
    assert json.loads(text)["run"] == f"myrun/checkpoints/{step}"  # before: the absolute path
    assert "secret-home" not in text and str(tmp_path) not in text


# ---- 2: impute's help says what run_dir keeps ----

def test_impute_help_says_run_dir_keeps_a_copy_of_the_input():
    from encoderkit.impute_cli import USAGE

    at = USAGE.index("  run_dir ")
    assert "holed.<kind>, a full copy of the input" in " ".join(USAGE[at:at + 400].split())
