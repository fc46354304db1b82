"""encoderkit in a host program leaves the host's process as it found it (audit d of session 52):

1. a host's ``torch.autocast("cpu", dtype=torch.bfloat16)`` around a call no longer reaches
   encoderkit's forwards (``session_state.forward_precision``): a fit trains the weights it
   trains without it, embed and predict give the same numbers;
2. a progress bar leaves ``multiprocessing``'s start method unset and starts no thread;
3. a fit leaves ``TORCHINDUCTOR_CACHE_DIR`` and ``$TMPDIR`` as they were;
4. a run folder whose name a C locale could not decode still gets its ``loss.png``;
5. ``train.steps=auto``/``data.max_tokens=auto`` and the first-record check read a long
   genomic record by the slice, with the numbers of the whole record.

References: the same call without the host's setting, hand-computed names, the whole
record's numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import zarr
from safetensors.torch import load_file

import testdomain as td
from encoderkit import session_state
from encoderkit.train import pretrain

TESTS = Path(__file__).resolve().parent
HOST_AUTOCAST = dict(device_type="cpu", dtype=torch.bfloat16)


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (process-wide state the test session already changed)."""
    full = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)]), **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={k: v for k, v in full.items() if v is not None}, timeout=120)


# ------------------------------------------------------------------ 1. autocast


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=32)


@pytest.fixture(scope="module")
def plain_run(store, tmp_path_factory) -> Path:
    return pretrain(td.tiny_overrides(store, str(tmp_path_factory.mktemp("plain") / "run"), steps=3))


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / "3" / "model.safetensors"))


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in ("tokens_per_s", "time")}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_forward_precision_turns_a_hosts_autocast_off_and_gives_it_back():
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with torch.autocast(**HOST_AUTOCAST):
        assert lin(x).dtype == torch.bfloat16  # what the host's setting does to a forward
        torch.set_autocast_enabled("cuda", True)  # a host's CUDA autocast, set as its flag
        try:
            with session_state.forward_precision("cpu"):
                assert lin(x).dtype == torch.float32
                assert torch.equal(lin(x), torch.nn.functional.linear(x, lin.weight, lin.bias))
                assert not torch.is_autocast_enabled("cpu") and not torch.is_autocast_enabled("cuda")
            with session_state.forward_precision("cpu", bf16=True):  # run.precision=bf16 on CPU
                assert lin(x).dtype == torch.bfloat16 and not torch.is_autocast_enabled("cuda")
            assert torch.is_autocast_enabled("cuda")
        finally:
            torch.set_autocast_enabled("cuda", False)
        assert lin(x).dtype == torch.bfloat16 and torch.is_autocast_enabled("cpu")


def test_fit_under_a_hosts_autocast_trains_as_without_it(store, plain_run, tmp_path):
    with torch.autocast(**HOST_AUTOCAST):
        run = pretrain(td.tiny_overrides(store, str(tmp_path / "run"), steps=3))
        assert torch.is_autocast_enabled("cpu")  # the host's setting is back
    a, b = _weights(run), _weights(plain_run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(run) == _metrics(plain_run)  # training and validation losses alike


def test_a_bf16_fit_under_a_hosts_autocast_trains_on_each_steps_weights(store, tmp_path):
    """torch empties its cache of bf16 weight copies when the outermost autocast ends: the
    host's, around the fit, kept step 1's copies for every later forward."""
    bf16 = {"run.precision": "bf16", "train.eval_every": 0}
    alone = pretrain(td.tiny_overrides(store, str(tmp_path / "alone"), steps=3, **bf16))
    with torch.autocast(**HOST_AUTOCAST):
        hosted = pretrain(td.tiny_overrides(store, str(tmp_path / "hosted"), steps=3, **bf16))
    assert td.train_losses(hosted) == td.train_losses(alone)
    a, b = _weights(hosted), _weights(alone)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_embed_and_predict_under_a_hosts_autocast_are_fp32(plain_run):
    from encoderkit.infer import load

    model = load(plain_run)
    records = [{"ids": ids} for ids in td.make_records(12, seed=3)]
    domain = model.domain
    rng = np.random.default_rng(0)
    examples = [domain.maskers["random"](domain.featurize(r), rng) for r in records]
    embedded, predicted = model.embed(records), model.predict(examples)
    with torch.autocast(**HOST_AUTOCAST):
        assert np.array_equal(model.embed(records), embedded)
        got = model.predict(examples)
    assert all(np.array_equal(g["ids"], p["ids"]) for g, p in zip(got, predicted))


# ------------------------------------------------------------------ 2. progress bars


def test_bars_leave_the_start_method_unset_and_no_thread_behind():
    done = _run("""
        import io, multiprocessing, threading
        from encoderkit.cliutil import clear_bars, progress_bar

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        log, tty = io.StringIO(), Terminal()
        for file in (log, tty, None):  # a log's bar, tqdm's own on a terminal, no stream at all
            with progress_bar(total=3, desc="work", file=file) as bar:
                bar.update(3)
        clear_bars(tty)
        assert "work: 100%" in log.getvalue() and "3/3" in tty.getvalue(), (log.getvalue(), tty.getvalue())
        assert multiprocessing.get_start_method(allow_none=True) is None
        assert [t.name for t in threading.enumerate()] == ["MainThread"], threading.enumerate()
        multiprocessing.set_start_method("spawn")  # the host chooses, after encoderkit drew bars
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# ------------------------------------------------------------------ 3. torch's compiler cache


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_fit_leaves_the_inductor_cache_key_and_tmpdir_as_they_were(store, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = _run(f"""
        import os, sys
        import testdomain as td
        from encoderkit.train import pretrain
        assert "torch._dynamo" not in sys.modules
        pretrain(td.tiny_overrides({store!r}, {str(tmp_path / 'run')!r}, steps=1, **{{"train.plot": False}}))
        assert "torch._dynamo" in sys.modules  # the optimizer imported torch's compiler stack
        print(os.environ.get("TORCHINDUCTOR_CACHE_DIR"), sorted(os.listdir({str(tmp)!r})))
    """, env={"TMPDIR": str(tmp), "TORCHINDUCTOR_CACHE_DIR": None})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "None []"


def test_inductor_cache_kept_restores_a_hosts_value_and_keeps_a_used_folder(tmp_path, monkeypatch):
    key = session_state.INDUCTOR_CACHE_KEY
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(key, "cache")  # relative: torch sets it absolute
    with session_state.inductor_cache_kept():
        os.environ[key] = str(tmp_path / "cache")
        (tmp_path / "cache").mkdir()
    assert os.environ[key] == "cache"
    assert not (tmp_path / "cache").exists()  # made by the section, left empty
    monkeypatch.setenv(key, str(tmp_path / "used"))
    with session_state.inductor_cache_kept():
        (tmp_path / "used").mkdir()
        (tmp_path / "used" / "entry").write_text("compiled")
    assert (tmp_path / "used" / "entry").read_text() == "compiled"


# ------------------------------------------------------------------ 4. loss.png under a C locale


def test_a_run_folder_named_under_a_c_locale_gets_its_loss_png(tmp_path):
    from encoderkit.train.trainer_outputs import TrainerOutputs, displayable_name

    if sys.getfilesystemencoding() != "utf-8":
        pytest.skip("the names below are the surrogate escapes of a UTF-8 file system")
    escaped = "lauf_\udcc3\udcbc"  # 'lauf_ü' as LC_ALL=C PYTHONUTF8=0 reads it from argv
    assert displayable_name(escaped) == "lauf_ü"
    assert displayable_name("lauf_ü") == "lauf_ü" and displayable_name("a\udcff") == "a\ufffd"
    run = tmp_path / escaped
    run.mkdir()
    trainer = SimpleNamespace(cfg=SimpleNamespace(train=SimpleNamespace(plot=True)), run_dir=run,
                              domain=SimpleNamespace(name="tabular"),
                              history=[{"tokens": 10, "loss": 2.0}, {"tokens": 20, "loss": 1.5}])
    TrainerOutputs._plot(trainer)
    assert (tmp_path / "lauf_ü" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ 5. long genomic records


def test_budget_and_first_record_read_a_long_record_by_the_slice(monkeypatch):
    import encoderkit.train.budget as budget
    import encoderkit.train.trainer as trainer_module
    from domains.genomic.domain import GenomicDomain
    from encoderkit.data.store_views import FieldView
    from tests.test_genomic_long_s51g import dense_record, genomic_store

    rng = np.random.default_rng(4)
    lengths = (20_000, 300, 9_000, 50)
    store = genomic_store(zarr.storage.MemoryStore(), [dense_record(n, rng) for n in lengths])
    domain = GenomicDomain(tokens="kmer", k=3)
    indices = np.arange(len(lengths))
    # the reference: each record whole (the in-memory copy), featurised once
    whole = [store.to_memory()[i] for i in indices]
    windows = [[len(w) for w in domain.windows(domain.featurize(r), 64)] for r in whole]
    tokens = sum(domain.count_tokens(r) for r in whole)

    seen: list[type] = []
    count, featurize = GenomicDomain.count_tokens, GenomicDomain.featurize_windows
    monkeypatch.setattr(GenomicDomain, "count_tokens", lambda self, r: seen.append(type(r["ids"])) or count(self, r))
    monkeypatch.setattr(GenomicDomain, "featurize_windows",
                        lambda self, r, *a: seen.append(type(r["ids"])) or featurize(self, r, *a))
    monkeypatch.setattr(budget, "VIEW_TOKENS", 1000)  # records above 1000 tokens: views
    monkeypatch.setattr(trainer_module, "VIEW_TOKENS", 1000)

    assert budget.train_tokens(store, domain, indices) == tokens
    size = budget.split_size(store, domain, indices, 64)
    assert (size.records, size.sequences, size.tokens, size.longest) == \
        (4, sum(map(len, windows)), sum(map(sum, windows)), max(map(max, windows)))
    first = trainer_module.first_record(store, domain)
    assert isinstance(first["ids"], FieldView) and np.array_equal(np.asarray(first["ids"]), whole[0]["ids"])
    got = domain.featurize_windows(first, 64, 0)
    assert len(got) == len(windows[0]) and np.array_equal(got[0].fields["ids"], domain.windows(domain.featurize(whole[0]), 64)[0].fields["ids"])
    # train_tokens, then split_size: the two long records as views, the short ones as arrays
    assert seen == [FieldView, np.ndarray, FieldView, np.ndarray] * 2 + [FieldView]
