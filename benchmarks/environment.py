"""The numeric environment a benchmark figure was measured in, for its record.

Figures that go through BLAS (statsmodels' Kalman fits, scikit-learn's logistic probes and
imputers) move in the last digits with OpenBLAS's kernel (``architecture``: Haswell,
SkylakeX, ...), which OpenBLAS picks per CPU at load time; torch's thread count moves
timings. Every harness that writes results adds ``environment()`` to them, so two records
that disagree can be told apart by kernel rather than by guesswork. The kernel is recorded,
never pinned (``OPENBLAS_CORETYPE`` stays the user's).
"""

from __future__ import annotations

import platform
from typing import Any

# the fields of threadpoolctl's per-library report that identify a kernel and its threads
_POOL_FIELDS = ("user_api", "internal_api", "prefix", "version", "architecture",
                "threading_layer", "num_threads")


def environment() -> dict[str, Any]:
    """BLAS / OpenMP libraries loaded now (``threadpoolctl.threadpool_info()``: API,
    version, kernel architecture, threads), torch's version and threads, numpy's version,
    the CPU. Call it after the fits: threadpoolctl reports only libraries already loaded."""
    import numpy as np
    import torch
    from threadpoolctl import threadpool_info

    pools = [{k: info[k] for k in _POOL_FIELDS if info.get(k) is not None}
             for info in threadpool_info()]
    # one entry per distinct library (numpy and scipy each bundle the same OpenBLAS build)
    distinct = [dict(t) for t in dict.fromkeys(tuple(sorted(p.items())) for p in pools)]
    return {"threadpools": distinct, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "numpy": np.__version__,
            **{name: _version(name) for name in _LIBRARIES},
            "machine": platform.machine(), "python": platform.python_version()}


# libraries whose own releases move the baselines (session 56: statsmodels 0.15's Kalman fits
# gave lynx another model than session 49's; the records could not show why)
_LIBRARIES = ("scipy", "scikit-learn", "statsmodels", "pandas")


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def describe(env: dict[str, Any] | None = None) -> str:
    """One line for a markdown record: ``openblas 0.3.30 SkylakeX x2, openmp x2, torch
    2.x (1 thread)``."""
    env = environment() if env is None else env
    parts = []
    for p in env["threadpools"]:
        kernel = f" {p['architecture']}" if p.get("architecture") else ""
        version = f" {p['version']}" if p.get("version") else ""
        parts.append(f"{p.get('internal_api')}{version}{kernel} x{p.get('num_threads')}")
    threads = env["torch_threads"]
    return (", ".join(dict.fromkeys(parts)) + f"; torch {env['torch']} ({threads} thread"
            f"{'s' if threads != 1 else ''})")


def stamped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (result records measured just now) each with the ``environment`` key: rows of
    one results file can come from resumed runs on different machines."""
    env = environment()
    return [{**row, "environment": env} for row in rows]
