"""Ingest at scale: parse input files in parallel processes, append to an existing store.

Parallel ingest (``workers=N``): each input file is parsed by the domain's own
``ingest([file], ...)`` in a worker process into a temporary *spool* store on local
disk; the main process copies the spools into the output **in file order**, so the
store holds the same records in the same order as a one-process ingest. Memory stays
bounded: records stream through spools on disk, and at most ``2 * N`` spools exist at
once. The per-file schemas are combined by the domain's ``merge_schemas(schemas)``
classmethod when it has one (e.g. summing base counts) and must otherwise be equal.

Append: a new store holds the existing store's records followed by the new files' records,
and replaces the old one by rename (atomic). The old records are not copied: the writer
starts from the old store (``StoreWriter.start_from``: its whole token chunks hard-linked, and
its meta and ids chunks where stored alike; offsets rewritten; every linked chunk file's
header checked first, so a damaged store is refused rather than carried on), so an append
costs about its own size; where hard links
are impossible (another file system) or the old store's layout is not the writer's, the
records are copied (``copy_records``). Only local stores can be appended to (object stores
have no rename).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from collections import deque
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.domain import IngestReport
from encoderkit.errors import DataError
from encoderkit.outputs import work_dir
from encoderkit.registry import get_domain

COPY_BLOCK = 1024  # records read from a spool / old store at a time


class ProgressWriter:
    """The writer a domain sees: forwards ``append`` and advances the progress bar by the
    record's tokens, or by one per record (``per_record``: a domain whose unit is the record,
    such as tabular rows)."""

    def __init__(self, writer: StoreWriter, bar: Any, per_record: bool = False) -> None:
        self._writer, self._bar, self._per_record = writer, bar, per_record
        self.tokens = self.records = 0

    def append(self, fields: Mapping[str, Any], meta: Mapping[str, Any] | None = None,
               id: str | None = None) -> int:
        index = self._writer.append(fields, meta, id)
        n = int(np.shape(next(iter(fields.values())))[0])
        self.tokens += n
        self.records += 1
        self._bar.update(1 if self._per_record else n)
        if self.records % 256 == 0:
            self._bar.set_postfix(records=self.records, refresh=False)
        return index

    def __len__(self) -> int:
        return len(self._writer)


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, default=str)


def merge_counts(schemas: Sequence[Mapping[str, Any]], sum_keys: Sequence[str] = (),
                 max_keys: Sequence[str] = ()) -> dict[str, Any]:
    """A domain's ``merge_schemas`` in one line: ``sum_keys`` add up, ``max_keys`` take the
    maximum, every other key must be equal across the parts."""
    out = dict(schemas[0])
    for s in schemas[1:]:
        rest = {k: v for k, v in s.items() if k not in sum_keys and k not in max_keys}
        mine = {k: v for k, v in out.items() if k not in sum_keys and k not in max_keys}
        if _canonical(rest) != _canonical(mine):
            found = _json_differences(mine, rest)  # where, not the two schemas' JSON cut short
            raise DataError(f"schemas of the parts differ beyond their counts ({'; '.join(found[:5])}"
                            f"{f' and {len(found) - 5} more' if len(found) > 5 else ''}): were they "
                            f"ingested with different options?")
        for k in sum_keys:
            out[k] = out.get(k, 0) + s.get(k, 0)
        for k in max_keys:
            out[k] = max(out.get(k, 0), s.get(k, 0))
    return out


def _json_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as ``path: a vs b`` (values cut short): a schema's
    difference said in a line, for a domain without ``schema_differences``."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        found = [f"{path}{k}: only in the first" for k in a if k not in b]
        found += [f"{path}{k}: only in the second" for k in b if k not in a]
        for k in a:
            if k in b:
                found += _json_differences(a[k], b[k], f"{path}{k}.")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _json_differences(x, y, f"{path[:-1]}[{i}].")]
    if _canonical(a) == _canonical(b):
        return []
    return [f"{path[:-1] or 'schema'}: {_canonical(a)[:60]} vs {_canonical(b)[:60]}"]


def schema_differences(cls: type, a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """How schema ``b`` differs from ``a``, in one line: the domain's ``schema_differences``
    (by column, field, ...) or where their JSON differs; at most 5 named. Where the domain's
    words find nothing (a key they do not compare), where the JSON differs: the message
    never names two files with an empty explanation."""
    hook: Callable | None = getattr(cls, "schema_differences", None)
    found = list(hook(a, b)) if hook is not None else []
    found = found or _json_differences(a, b)
    return "; ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")


def merge_schemas(cls: type, schemas: Sequence[Mapping[str, Any]], what: str,
                  names: Sequence[str] | None = None) -> dict[str, Any]:
    """One schema for records parsed in parts: the domain's ``merge_schemas`` or equality.
    ``names``: what each schema came from (its file), for the message when they differ."""
    schemas = [json.loads(json.dumps(dict(s), default=str)) for s in schemas]
    hook: Callable | None = getattr(cls, "merge_schemas", None)
    if hook is not None:
        return dict(hook(schemas))
    first = _canonical(schemas[0])
    for i, s in enumerate(schemas[1:], start=1):
        if _canonical(s) != first:
            # the two parts by name and how, not the schemas' JSON (kilobytes cut mid-field)
            pair = (f"{names[0]} and {names[i]}" if names and len(names) == len(schemas)
                    else f"part 1 and part {i + 1} of {what}")
            raise DataError(f"domain {getattr(cls, 'name', cls.__name__)!r}: the schemas of {what} differ "
                            f"({pair}: {schema_differences(cls, schemas[0], s)}) and the domain defines no "
                            f"merge_schemas(): its schema depends on all the input at once, so ingest "
                            f"it in one go (workers=1" + (", or in parts: the first, then the others with "
                                                         "append=true, encoded with the first's schema)"
                                                         if hasattr(cls, "ingest_append") else ", no append)"))
    return schemas[0]


def copy_records(store: RecordStore, append: Callable[..., int]) -> int:
    """Append every record of ``store`` (fields, meta, id) through ``append``; return tokens."""
    fields, meta = store.field_names, store.meta_names
    has_ids = bool(store.info.get("has_ids"))
    tokens = 0
    for start in range(0, len(store), COPY_BLOCK):
        for rec in store.read_range(start, min(start + COPY_BLOCK, len(store)), ids=has_ids):
            append({k: rec[k] for k in fields}, {k: rec[k] for k in meta}, rec["id"] if has_ids else None)
            tokens += int(rec[fields[0]].shape[0]) if fields else 0
    return tokens


def _parse_to_spool(domain: str, source: str, spool: str, options: dict[str, Any]) -> dict[str, Any]:
    """Worker process: the domain's ingest of one file into a spool store."""
    cls = get_domain(domain)
    report = IngestReport()
    with StoreWriter(spool, domain) as writer:
        schema = cls.ingest([source], writer, report, **options)
        if not isinstance(schema, Mapping):
            raise TypeError(f"{cls.__qualname__}.ingest must return the schema dict, got {type(schema).__name__}")
        records = len(writer)
        if records:
            writer.finalize(schema, {})
        else:
            writer.abort()
    return {"schema": json.loads(json.dumps(dict(schema), default=str)), "records": records,
            "skipped": dict(report.skipped), "warnings": list(report.warnings),
            # the domain's own token count (a series' patches) and totals (samples), so the summary
            # of a parallel ingest counts as one process does
            "tokens": report.tokens, "counts": dict(report.counts), "notes": list(report.notes)}


@contextmanager
def _stopping(pool: ProcessPoolExecutor):
    """The pool, shut down on leaving; on an error or Ctrl-C / SIGTERM its workers are stopped
    at once (the executor's own exit waits until every file already submitted is parsed, a
    wait as long as the largest files) and before their spool folder is removed."""
    try:
        yield pool
    except BaseException:
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(timeout=10)
        raise
    else:
        pool.shutdown(wait=True)


def ingest_parallel(domain: str, sources: Sequence[str], append: Callable[..., int], report: IngestReport,
                    workers: int, options: dict[str, Any]) -> dict[str, Any]:
    """Parse ``sources`` in ``workers`` processes; ``append`` their records in file order; return
    the merged schema. ``report`` gets the skip counts and warnings of every file."""
    cls = get_domain(domain)
    methods = multiprocessing.get_all_start_methods()
    # fork keeps domains registered at run time (plugins, tests) visible in the workers
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    schemas = []
    # spools in a work folder the next parallel ingest removes if this process is killed
    with work_dir("encoderkit-ingest-") as tmp, \
            _stopping(ProcessPoolExecutor(max_workers=workers, mp_context=context)) as pool:
        pending: deque[tuple[str, str, Future]] = deque()
        todo = iter(enumerate(sources))

        def submit() -> None:
            item = next(todo, None)
            if item is not None:
                i, source = item
                spool = os.path.join(tmp, f"{i}.zarr")
                pending.append((source, spool, pool.submit(_parse_to_spool, domain, source, spool, options)))

        for _ in range(2 * workers):  # bounded look-ahead: spools on disk, not all files at once
            submit()
        while pending:
            source, spool, future = pending.popleft()
            result = future.result()  # a parse error surfaces here, in file order
            schemas.append(result["schema"])
            for reason, n in result["skipped"].items():
                report.skip(reason, n)
            report.warnings.extend(result["warnings"])
            report.tokens += result["tokens"]
            report.counts.update(result["counts"])
            report.notes.extend(n for n in result["notes"] if n not in report.notes)
            if result["records"]:
                copy_records(RecordStore(spool), append)
            shutil.rmtree(spool, ignore_errors=True)
            submit()
    return merge_schemas(cls, schemas, f"the {len(sources)} input files", list(sources))
