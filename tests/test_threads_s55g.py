"""Several runs served from one process by a thread pool (a web service's sync endpoints, a
notebook's ``ThreadPoolExecutor``): each call gives what it gives alone, and leaves the process
as it found it (session 55, helper g). Each test forces its interleaving with events, as
``test_fitted_cache_threads_s55`` does.

1. A run directory locked by one thread is refused to another thread, as to another process:
   ``flock`` is per process, so a finetune in a second thread entered the run.dir of an
   ensemble between its members, resumed its root run to other steps, and the first thread
   wrote an ``ensemble.json`` over a mix of the two runs.
2. ``Pretrained.infill(file, output=...)`` writes with what its own read found (line ends,
   byte-order mark, decimal mark, a Parquet file's index and schema): the run's domain kept
   them, shared by every thread, and another thread's read during the fill wrote this output
   with that file's line ends and without its byte-order mark.
3. The series domain reads a file with the decimal mark it found in it: another thread's read
   of a '.'-decimal file between finding it and using it refused this one's '0,5' cells.
4. No section swaps the process's warnings filters without the session lock: a bare
   ``warnings.catch_warnings()`` (evaluate's per-part scoring) and another thread's section
   that outlived it left ``('ignore', Warning)`` first in the filters for good.
"""

from __future__ import annotations

import re
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def _run_both(first, second) -> None:
    """``first`` in thread "A" and ``second`` in thread "B", both joined; their errors raised."""
    errors: list[BaseException] = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # raised below, in the test's thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=guarded(first), name="A"), threading.Thread(target=guarded(second), name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- 1. run directory locks

def test_a_run_dir_one_thread_holds_is_refused_to_another_thread(tmp_path):
    """Thread A holds ``run`` as an ensemble does between its members (``keep_run_dir_locks``);
    thread B's lock is refused with the message another process gets. A itself may take it
    again (its next member), and once A let go, B takes it."""
    from encoderkit.train.run_dir import _HELD, keep_run_dir_locks, lock_run_dir, unlock_run_dir

    run = tmp_path / "ft"
    run.mkdir()
    holding, b_done = threading.Event(), threading.Event()
    said: list[str] = []

    def a():
        with keep_run_dir_locks():
            unlock_run_dir(lock_run_dir(run))  # member 0's fit: locked and given back, kept by the scope
            holding.set()
            b_done.wait(timeout=10)
            unlock_run_dir(lock_run_dir(run))  # member 1's fit, in the thread that holds it

    def b():
        holding.wait(timeout=10)
        try:
            lock_run_dir(run)
        except DataError as e:
            said.append(str(e))
        b_done.set()

    _run_both(a, b)
    assert said and "is in use by another run" in said[0]
    assert str(run) in said[0]
    # A's scope gave it back (this run's entry only: a test of the same worker that builds a
    # Trainer without fit leaves its own) ...
    assert os.path.realpath(run) not in _HELD
    unlock_run_dir(lock_run_dir(run))  # ... and another thread (this one) takes it


# ---------------------------------------------------------------- 2. infill into a file

@pytest.fixture()
def table_model(tmp_path):
    """An untrained tiny model over a three-column table's store, and two copies of one holed
    table: ``a.csv`` with a byte-order mark and CRLF line ends, ``b.csv`` with neither."""
    import torch

    from domains.tabular.domain import TabularDomain
    from encoderkit.core import EncoderConfig
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore
    from encoderkit.infer.pretrained import Pretrained
    from encoderkit.modeling import MaskedEncoderModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40).round(3), "b": rng.integers(0, 5, 40),
                          "c": rng.choice(["x", "y"], 40)})
    frame.to_csv(tmp_path / "train.csv", index=False)
    ingest("tabular", [str(tmp_path / "train.csv")], str(tmp_path / "t.zarr"), progress=False, verbose=False)
    domain = TabularDomain(RecordStore(str(tmp_path / "t.zarr")).schema)
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, backend="sdpa",
                           rope_axes=domain.rope_axes)
    torch.manual_seed(0)
    model = Pretrained(MaskedEncoderModel(domain, config), domain, config, max_seqlen=64, max_tokens=512)
    holed = frame.iloc[:12].copy()
    holed.loc[[1, 4], "a"] = np.nan
    holed.loc[2, "c"] = np.nan
    text = holed.to_csv(index=False)
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (tmp_path / "b.csv").write_bytes(text.encode())
    return model


def test_infill_into_a_file_keeps_its_own_line_ends_while_another_thread_reads(table_model, tmp_path, monkeypatch):
    from domains.tabular.domain import TabularDomain

    model = table_model
    options = {"infill_blend": "none"}  # the model's fill alone: the file's form is the point
    alone = model.infill(str(tmp_path / "a.csv"), output=str(tmp_path / "alone.csv"), **options).read_bytes()
    assert alone.startswith(b"\xef\xbb\xbfa,b,c\r\n")  # the reference keeps the input's form

    # A pauses in its fill until B has read b.csv with the same loaded model (B's fill then
    # waits for A's: a fill holds the session lock, a read does not)
    filling, b_read = threading.Event(), threading.Event()
    fill, read = TabularDomain.infill_batched, TabularDomain.read_input

    def paused(self, *args, **kwargs):
        if threading.current_thread().name == "A":
            filling.set()
            b_read.wait(timeout=10)
        return fill(self, *args, **kwargs)

    def reading(self, *args, **kwargs):
        out = read(self, *args, **kwargs)
        if threading.current_thread().name == "B":
            b_read.set()
        return out

    monkeypatch.setattr(TabularDomain, "infill_batched", paused)
    monkeypatch.setattr(TabularDomain, "read_input", reading)

    def b():
        filling.wait(timeout=10)
        model.infill(str(tmp_path / "b.csv"), output=str(tmp_path / "b_out.csv"), **options)

    _run_both(lambda: model.infill(str(tmp_path / "a.csv"), output=str(tmp_path / "a_out.csv"), **options), b)
    assert (tmp_path / "a_out.csv").read_bytes() == alone
    assert (tmp_path / "b_out.csv").read_bytes() == alone[3:].replace(b"\r\n", b"\n")


# ---------------------------------------------------------------- 3. a series file's decimal mark

def test_a_series_file_is_read_with_its_own_decimal_mark_while_another_thread_reads(tmp_path, monkeypatch):
    from domains.timeseries import files
    from domains.timeseries.domain import TimeSeriesDomain
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    dot = ["t;x;y"] + [f"{i};{i}.5;{2 * i}.25" for i in range(20)]
    (tmp_path / "dot.csv").write_text("\n".join(dot) + "\n")
    comma = ["t;x;y"] + [f"{i};{'-' if i == 3 else f'{i},5'};{2 * i},25" for i in range(20)]
    (tmp_path / "comma.csv").write_text("\n".join(comma) + "\n")
    ingest("timeseries", [str(tmp_path / "dot.csv")], str(tmp_path / "s.zarr"), progress=False,
           verbose=False, delimiter=";", time_column="t")
    domain = TimeSeriesDomain(RecordStore(str(tmp_path / "s.zarr")).schema)
    assert domain.options["decimal"] == "auto"  # each file's own mark, found when it is read
    alone = domain.read_input(str(tmp_path / "comma.csv"))
    # an independent reference: the file's numbers with ',' as decimal mark, '-' missing
    want = [np.nan if i == 3 else i + 0.5 for i in range(20)]
    np.testing.assert_array_equal(alone["x"].astype(float).to_numpy(), want)

    parsed, b_done = threading.Event(), threading.Event()
    read_frame = files.tsio.read_frame

    def paused(*args, **kwargs):  # A, after parsing its file, waits for B's whole read
        out = read_frame(*args, **kwargs)
        if threading.current_thread().name == "A":
            parsed.set()
            b_done.wait(timeout=10)
        return out

    monkeypatch.setattr(files.tsio, "read_frame", paused)
    got = {}

    def b():
        parsed.wait(timeout=10)
        domain.read_input(str(tmp_path / "dot.csv"))
        b_done.set()

    _run_both(lambda: got.setdefault("a", domain.read_input(str(tmp_path / "comma.csv"))), b)
    pd.testing.assert_frame_equal(got["a"], alone)


# ---------------------------------------------------------------- 4. warnings filters

def test_evaluates_per_part_scoring_leaves_the_filters_while_another_thread_quiets_its_own():
    """A: evaluate's per-part scoring (``split_metrics``) pauses in its scoring; B enters an
    encoderkit section (``warnings_kept``: a table fill, an imputer fit) and leaves after A.
    Unguarded, B restored the filter list it saved, A's ``('ignore', Warning)`` in it; guarded,
    B waits for A's section (A's pause times out)."""
    from encoderkit.session_state import warnings_kept
    from encoderkit.tasks.evaluate_split import Evaluation, RunRecords, split_metrics

    ids = [f"r{i}" for i in range(6)]
    known = RunRecords(run=Path("."), split={"train": frozenset(ids[:2]), "val": frozenset(ids[2:4]),
                                             "test": frozenset(ids[4:])},
                       trained=frozenset(ids[:2]), extra=(), count=6, what="{run}")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def score(mask):
        if threading.current_thread().name == "A":
            a_in.set()
            b_in.wait(timeout=0.5)
        return {"accuracy": 1.0, "records": int(mask.sum())}

    def a():
        result = Evaluation({})
        split_metrics(result, known, ids, np.ones(6, dtype=bool), score, "the run's store", verbose=False)
        assert result.held_out == "test"
        a_out.set()

    def b():
        a_in.wait(timeout=10)
        with warnings_kept():
            b_in.set()
            a_out.wait(timeout=10)

    # pytest.warns's own filters, put back when it ends (so compared inside it): whatever the
    # threads leave is undone then
    with pytest.warns(UserWarning, match="trained"):  # A's own word on the trained-on records
        before = list(warnings.filters)
        _run_both(a, b)
        after = list(warnings.filters)
    assert after == before


# what may still set the process's warnings filters without the session lock: the command
# line's entry (one command, the process's main thread), and session_state itself
_BARE_ALLOWED = {"encoderkit/session_state.py", "encoderkit/cli.py"}


def test_no_section_swaps_the_warnings_filters_without_the_session_lock():
    """Every ``warnings.catch_warnings()`` of the library is ``session_state.warnings_kept()``
    (Python before 3.14 keeps one filter list per process; see test 4)."""
    bare = []
    for folder in ("encoderkit", "domains"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"\bcatch_warnings\s*\(", code) and name not in _BARE_ALLOWED:
                    bare.append(f"{name}:{n}: {line.strip()}")
    assert bare == []
