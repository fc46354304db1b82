"""Shared test set-up: ``tests/`` on sys.path so test helpers import by name
(``import testdomain``), also in subprocesses started by tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# One BLAS / OpenMP thread per process, as torch's one intra-op thread below: numpy's and
# scipy's OpenBLAS start a thread per core, and two xdist workers spinning two threads each
# on CI's 2 cores made scikit-learn's fits (impute's classical imputers, the linear probes)
# several times slower (a LogisticRegressionCV probe test under load: 20 s, 1.9 s with one
# thread). The variables reach libraries loaded from now on and the subprocesses tests
# start; numpy is already loaded (by a pytest plugin), so its BLAS is limited in place.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
# tests/domains (the test package) shadows the repository's `domains` package, so
# `domains.<name>` fell through to the editable install (another checkout's code):
# point the shadowing package at this checkout's domain code too.
import domains as _domains  # noqa: E402

if str(TESTS.parent / "domains") not in _domains.__path__:
    _domains.__path__.append(str(TESTS.parent / "domains"))
# subprocesses (torchrun, crash tests) find the helpers too
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(TESTS), str(TESTS.parent)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))

# The CI machine has 2 cores and runs 2 xdist workers: one intra-op thread per worker
# avoids oversubscription (measured 5x slower training steps with the default threads).
import torch  # noqa: E402

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_member_unless_marked(request, monkeypatch):
    """``task.ensemble=auto`` trains 5 members on small labelled sets (every test set is
    small): a test gets one member unless it asks for the default (``@pytest.mark.ensemble``)
    or names ``task.ensemble`` itself. Runs in subprocesses pass ``task.ensemble=1``."""
    if request.node.get_closest_marker("ensemble") is None:
        monkeypatch.setattr("encoderkit.tasks.ensemble.AUTO_MEMBERS", 1)
