"""The fine-tuning harness (``examples/finetune_common.py``, run by ``benchmarks.finetune_tasks``)
keeps the thread count it promises after a classical anchor: aeon's ROCKET sets numba's
thread count, which on numba's OpenMP layer is the OpenMP count torch reads, and the
pretraining after it ran on 2 threads (``torch.get_num_threads()`` 2 after ``one_thread()``).
Also: every result a benchmark writes records its BLAS / OpenMP kernel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import finetune_common as common  # noqa: E402


def _task(anchor) -> common.Task:
    labels = np.array(["a", "b"] * 5)
    test = np.zeros(10, dtype=bool)
    test[-4:] = True
    return common.Task(name="t", domain="tabular", store="unused", ids=np.arange(10).astype(str),
                       labels=labels, test=test, pretrain_store="unused", anchors={"anchor": anchor})


def test_compare_puts_torchs_thread_count_back_after_an_anchor_that_changes_it(tmp_path):
    before = torch.get_num_threads()

    def greedy(train, test, seed):  # what ROCKET did to the count torch reads
        torch.set_num_threads(before + 1)
        return np.array(["a", "b", "a", "b"])

    scores = common.compare(_task(greedy), tmp_path, seeds=(0,), methods=(), log=lambda s: None)
    assert scores["anchor"] == [1.0]
    assert torch.get_num_threads() == before


def test_kept_threads_restores_the_count_when_the_anchor_fails():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with common.kept_threads():
            torch.set_num_threads(before + 1)
            raise RuntimeError("anchor failed")
    assert torch.get_num_threads() == before


@pytest.mark.slow  # numba compiles ROCKET: ~15 s on 2 shared cores
def test_rocket_leaves_the_harness_on_one_torch_thread(tmp_path):
    """The real anchor, in a process of its own (thread counts are process-wide); numba's own
    count left at 2 (NUMBA_NUM_THREADS), as on a machine where the user set it."""
    pytest.importorskip("aeon")
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT / 'examples')!r})
        import numpy as np, torch
        import finetune_common as common

        def rocket(train, test, seed):  # few kernels: the count, not the score, is the point
            from aeon.classification.convolution_based import RocketClassifier
            model = RocketClassifier(n_kernels=100, random_state=seed, n_jobs=1)
            return model.fit(X[train], y[train]).predict(X[test])

        common.one_thread()
        # read once before the anchor, as the harness's log does (without this read the
        # anchor's change did not show, torch's pool not yet started)
        assert torch.get_num_threads() == 1
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(20, 1, 40)), np.array(["a", "b"] * 10)
        task = common.Task(name="r", domain="timeseries", store="unused", ids=np.arange(20).astype(str),
                           labels=y, test=np.arange(20) >= 14, pretrain_store="unused",
                           anchors={{"rocket": rocket}})
        common.compare(task, Path({str(tmp_path)!r}), seeds=(0,), methods=(), log=lambda s: None)
        print("threads", torch.get_num_threads())
    """)
    env = {**os.environ, "NUMBA_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "1"


def test_a_results_record_names_the_blas_kernel_and_threads():
    """``benchmarks/environment.py``: threadpoolctl's report of the libraries loaded (the
    kernel OpenBLAS picked for this CPU), torch's threads."""
    from threadpoolctl import threadpool_info

    from benchmarks.environment import describe, environment, stamped

    env = environment()
    blas = [i for i in threadpool_info() if i["internal_api"] == "openblas"]
    recorded = [p for p in env["threadpools"] if p["internal_api"] == "openblas"]
    assert {(i["version"], i["architecture"], i["num_threads"]) for i in blas} == \
        {(p["version"], p["architecture"], p["num_threads"]) for p in recorded}
    assert env["torch"] == torch.__version__ and env["torch_threads"] == torch.get_num_threads()
    import scipy
    import sklearn
    import statsmodels

    # the baselines' own libraries (statsmodels' Kalman fits moved between releases)
    assert (env["scipy"], env["scikit-learn"], env["statsmodels"]) == \
        (scipy.__version__, sklearn.__version__, statsmodels.__version__)
    for p in recorded:
        assert p["architecture"] in describe(env)
    assert [r["environment"] for r in stamped([{"a": 1}, {"a": 2}])] == [env, env]
