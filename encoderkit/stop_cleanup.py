"""What a command stopped by Ctrl-C or SIGTERM settles before the process exits.

zarr (3.x) reads and writes a store through an event loop in a thread of its own, and its
``atexit`` hook stops that loop, waits 0.2 s for the thread, then closes the loop. A stop
signal raised in the main thread while it waited on a store read (``embed``, ``predict`` of
a store) left that read's tasks running: when the loop thread was still busy 0.2 s later
(a chunk being decoded on a loaded machine), the hook's close raised "Cannot close a running
event loop", printed as a traceback after the one-line "interrupted", and the read's tasks,
destroyed pending, printed "Task was destroyed but it is pending!" lines.
``settle_zarr_loop`` cancels those tasks and waits for them to end, so the hook finds an
idle loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _cancel_others() -> None:
    """Cancel every other task of the running loop and wait until each has ended."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def settle_zarr_loop(timeout: float = 5.0) -> None:
    """Cancel the tasks left on zarr's event loop (a read a stop signal interrupted) and wait,
    at most ``timeout`` seconds, until they have ended; nothing where zarr was never imported
    or its loop never started. Bounded: a stuck read must not keep a stopped command alive."""
    sync = sys.modules.get("zarr.core.sync")
    if sync is None:
        return
    loop, thread = getattr(sync, "loop", [None])[0], getattr(sync, "iothread", [None])[0]
    if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
        return
    done = asyncio.run_coroutine_threadsafe(_cancel_others(), loop)
    # past the timeout the exit goes on as before (zarr's hook says what it could not close)
    with contextlib.suppress(Exception):
        done.result(timeout)
