"""zarr beyond its public API, as the record store needs it: the fsspec options a store at a
URL is read with (``_read_options``), the package a URL's protocol needs (``url_package_problem``),
and waiting for the chunk writes zarr still runs after one of them failed (``settle_zarr_writes``).

Split out of ``store.py``; its names stay importable from there.
"""

from __future__ import annotations

from typing import Any

from encoderkit.data.store_format import StorePath


def _read_options(path: StorePath) -> dict[str, Any]:
    """fsspec options for reading a store at a URL. s3fs downloads an object with concurrent
    ranged GETs when it is large, and to know the size sends a HEAD first, for every object:
    a zarr chunk is small, so read it with one GET (this halves the requests)."""
    if isinstance(path, str) and path.split("://", 1)[0] in ("s3", "s3a"):
        return {"storage_options": {"max_concurrency": 1}}
    return {}


def url_package_problem(path: Any) -> str | None:
    """What to install for a URL whose protocol's fsspec filesystem is missing (``s3://`` needs
    s3fs, ``gs://`` gcsfs, ...), else None; a local path or a zarr store object is never a
    problem. fsspec raises a bare ImportError only once zarr first reaches the URL, which the
    commands reported as a bug in encoderkit (a traceback), or as "not a record store"."""
    if not isinstance(path, str) or "://" not in path:
        return None
    protocol = path.split("://", 1)[0].split("::")[-1]
    try:
        import fsspec

        fsspec.get_filesystem_class(protocol)
    except ImportError as e:
        from fsspec.registry import known_implementations

        known = known_implementations.get(protocol, {})
        package = str(known.get("class", "")).split(".")[0] or None
        extra = "; or pip install 'encoderkit[s3]'" if package == "s3fs" else ""
        need = f"the {package} package (pip install {package}{extra})" if package else f"a package ({e})"
        return f"{protocol}:// URLs need {need}, which is not installed"
    except ValueError:  # a protocol fsspec does not know: zarr's own message names it
        return None
    return None


def settle_zarr_writes(timeout: float = 120.0) -> None:
    """Wait until zarr's event loop has no task left: the writes of a batch that kept running
    after one of them failed. Their errors are collected (not printed); a task still running
    after ``timeout`` seconds is left."""
    import asyncio

    try:  # zarr's own event loop: no public handle, so a zarr without it is simply not waited on
        from zarr.core import sync as zsync

        loop = zsync.loop[0]
    except (ImportError, AttributeError, IndexError, TypeError):
        return
    if loop is None or loop.is_closed() or not loop.is_running():
        return

    async def settle() -> None:
        me = asyncio.current_task()
        while pending := [t for t in asyncio.all_tasks() if t is not me and not t.done()]:
            await asyncio.wait(pending)  # a task's writes may start more tasks: look again
            for t in pending:
                if not t.cancelled():
                    t.exception()  # retrieved: asyncio logs no "exception was never retrieved"

    future = asyncio.run_coroutine_threadsafe(settle(), loop)
    try:
        future.result(timeout)
    except Exception:
        future.cancel()
