"""What ``embed_stream`` tells its progress bar (``Pretrained.embed`` makes it).

A bar of records (``unit="rec"``) counts a record once done; meanwhile the postfix shows the
windows done of a record of several (``show_windows``). Where the input's records are longer
than a window (a chromosome), one record is minutes of work, and a bar of one record sat at
0/1 all along: ``Pretrained.embed`` then makes a bar of the records' stored tokens (bases of a
genome) with their counts as ``weights``, and each window done moves it by its share of its
record (``window_done``): ``weights[i] * done // windows``, so a record's windows add up to
exactly its stored tokens. A twin stream (``rc_embed``) moves it as much again.
"""

from __future__ import annotations

from typing import Any, Sequence


def window_done(progress: Any, job: Any, done: int) -> None:
    """Window number ``done`` (1, 2, ...) of ``job`` embedded: a bar of tokens moves by its share."""
    weights = getattr(progress, "weights", None)
    if weights is None:
        return
    weight, windows = int(weights[job.index]), len(job.windows)
    progress.update(weight * done // windows - weight * (done - 1) // windows)


def record_done(progress: Any, job: Any, twin: bool = False) -> None:
    """``job``'s record embedded: a bar of records counts it (a twin's is not counted again);
    the postfix of its windows is cleared."""
    if progress is None:
        return
    if len(job.windows) > 1:
        progress.set_postfix_str("", refresh=False)
    if not twin and getattr(progress, "weights", None) is None:
        progress.update(1)


def show_windows(progress: Any, open_jobs: Sequence[tuple[Any, int]], twin: bool = False) -> None:
    """The windows done of a record still open (of many windows: a genome, a long series),
    so a bar of records does not sit at 0/1 for minutes; ``update(0)`` lets tqdm redraw at
    its own pace."""
    job, done = max(open_jobs, key=lambda jd: len(jd[0].windows), default=(None, 0))
    if job is not None and len(job.windows) > 1:
        progress.set_postfix_str(f"{job.id}{' (twin)' if twin else ''}: {done}/{len(job.windows)} windows",
                                 refresh=False)
        progress.update(0)
    elif job is None and getattr(progress, "postfix", None):
        progress.set_postfix_str("", refresh=False)
