"""Generic ingest: raw files -> record store. Domains supply only parsing.

    encoderkit ingest domain=genomic input='data/*.fa' output=genome.zarr [overwrite=true] [k=6 ...]

Expands inputs (paths or globs), records provenance (size and sha256 of every
source file, the options, the encoderkit version), calls the domain's
``ingest(sources, writer, report, **options)`` with a progress bar on the
writer, finalises the store atomically and prints the report.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
import time
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from encoderkit.data.store import StoreError, StorePath, StoreWriter
from encoderkit.domain import IngestReport
from encoderkit.registry import get_domain

USAGE = """usage: encoderkit ingest domain=<name> input=<path|glob|[list]> output=<store> [overwrite=true] [option=value ...]

Reads raw files with the domain's parser and writes a zarr record store.
  domain     registered domain name ({domains})
  input      a path, a glob ('data/*.csv') or a list ([a.csv,b.csv])
  output     store location: a directory, or any URL zarr opens (s3://..., memory://...)
  overwrite  replace an existing store (default false)
Other key=value pairs are passed to the domain's ingest (Hydra override syntax: lists, numbers, bools).
"""


def expand_inputs(inputs: str | Sequence[str]) -> list[str]:
    """Paths and globs -> sorted, de-duplicated file list (URLs pass through unchanged)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [os.fspath(inputs)]
    out: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if "://" in item:
            out.append(item)
        elif glob.has_magic(item):
            matches = sorted(p for p in glob.glob(os.path.expanduser(item), recursive=True) if os.path.isfile(p))
            if not matches:
                raise FileNotFoundError(f"input pattern {item!r} matches no files")
            out.extend(matches)
        else:
            path = os.path.expanduser(item)
            if not os.path.exists(path):
                raise FileNotFoundError(f"input file {item!r} does not exist")
            out.append(path)
    if not out:
        raise ValueError("The 'input' parameter of ingest needs at least one path or glob. Got none.")
    return list(dict.fromkeys(out))


def file_provenance(path: str) -> dict[str, Any]:
    """{path, size, sha256} of a local file (URLs: path only)."""
    if "://" in path:
        return {"path": path}
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"path": os.path.abspath(path), "size": os.path.getsize(path), "sha256": h.hexdigest()}


class _ProgressWriter:
    """The writer a domain sees: forwards ``append`` and ticks the progress bar."""

    def __init__(self, writer: StoreWriter, bar: tqdm) -> None:
        self._writer = writer
        self._bar = bar
        self.tokens = 0

    def append(self, fields: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None,
               id: str | None = None) -> int:
        index = self._writer.append(fields, meta, id)
        first = next(iter(fields.values()))
        self.tokens += int(np.shape(first)[0])
        self._bar.update(1)
        if index % 256 == 0:
            self._bar.set_postfix(tokens=self.tokens, refresh=False)
        return index

    def __len__(self) -> int:
        return len(self._writer)


def ingest(domain: str, inputs: str | Sequence[str], output: StorePath, overwrite: bool = False,
           progress: bool = True, verbose: bool = True, workers: int = 1, append: bool = False,
           **options: Any) -> IngestReport:
    """Ingest ``inputs`` with the domain's parser into a new store at ``output``.

    ``workers``: parse the files in that many processes (same store as one process, records
    in file order; see ``ingest_scale``). ``append``: add the files' records to the existing
    store at ``output`` (schema must stay compatible; rewritten and renamed atomically).
    The progress bar counts the domain's ``ingest_unit`` (bases, rows, samples; default tokens):
    tokens, or records when the domain sets ``ingest_counts = "records"``.
    """
    from encoderkit.data.ingest_scale import ProgressWriter, copy_records, ingest_parallel, merge_schemas  # noqa: PLC0415
    from encoderkit.data.store import RecordStore, _is_local  # noqa: PLC0415
    from encoderkit.errors import DataError, UsageError  # noqa: PLC0415

    # the CLI spells the ingest settings ingest.workers=N / ingest.append=true too
    workers = options.pop("ingest.workers", workers)
    append = options.pop("ingest.append", append)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"The 'workers' parameter of ingest must be an int >= 1. Got {workers!r}.", key="workers")
    if not isinstance(append, bool):
        raise UsageError(f"The 'append' parameter of ingest must be true or false. Got {append!r}.", key="append")
    if append and overwrite:
        raise UsageError("append=true and overwrite=true contradict each other: choose one", key="append")
    cls = get_domain(domain)
    sources = expand_inputs(inputs)
    t0 = time.perf_counter()
    old: RecordStore | None = None
    if append:
        if not _is_local(output):
            raise UsageError(f"append=true needs a local store (object storage has no atomic rename); "
                             f"got {output!s}", key="append")
        old = RecordStore(output, expect_domain=cls.name)
    provenance = {
        "files": [file_provenance(s) for s in sources],
        "options": options,
        "command": "ingest",
    }
    from encoderkit import __version__  # noqa: PLC0415

    provenance["encoderkit_version"] = __version__
    provenance["created_unix"] = time.time()
    if old is not None:
        known = {f.get("sha256") for f in old.provenance.get("files", []) if f.get("sha256")}
        again = [f["path"] for f in provenance["files"] if f.get("sha256") in known]
        if again:
            raise DataError(f"{output!s}: already holds the records of {again[0]} (same sha256); "
                            f"appending it again would duplicate them", file=again[0])
        appended = {"files": provenance["files"], "options": options, "created_unix": provenance["created_unix"],
                    "encoderkit_version": __version__}
        provenance = {**old.provenance, "files": list(old.provenance.get("files", [])) + provenance["files"],
                      "appends": list(old.provenance.get("appends", [])) + [appended]}
    report = IngestReport()
    unit = str(getattr(cls, "ingest_unit", "tokens"))
    bar = tqdm(desc=f"ingest {domain}", unit=f" {unit}", unit_scale=True, disable=not progress, file=sys.stderr)
    try:
        with StoreWriter(output, domain, overwrite=overwrite or append) as writer:
            proxy = ProgressWriter(writer, bar, per_record=getattr(cls, "ingest_counts", "tokens") == "records")
            old_tokens = copy_records(old, writer.append) if old is not None else 0
            if workers > 1 and len(sources) > 1:
                schema = ingest_parallel(domain, sources, proxy.append, report, workers, options)
            else:
                schema = cls.ingest(sources, proxy, report, **options)
            if not isinstance(schema, Mapping):
                raise TypeError(f"{cls.__qualname__}.ingest must return the schema dict, got {type(schema).__name__}")
            new_records = len(writer) - (len(old) if old is not None else 0)
            if new_records == 0:
                raise StoreError(f"ingest of {len(sources)} file(s) wrote no records "
                                 f"(skipped: {dict(report.skipped) or 'none'})")
            if old is not None:
                schema = merge_schemas(cls, [old.schema, schema], f"{output!s} and the appended files")
            writer.finalize(schema, provenance)
    finally:
        bar.close()
    # the writer saw every record: its counts are the truth
    report.records = new_records
    report.tokens = proxy.tokens
    elapsed = time.perf_counter() - t0
    if verbose:
        verb = "appended to" if old is not None else "->"
        print(f"ingest {domain}: {len(sources)} file(s) {verb} {output}"
              + (f" ({len(old)} records, {old_tokens} tokens already there)" if old is not None else ""))
        print(report.summary())
        print(f"time: {elapsed:.1f} s")
    return report


def _parse_overrides(argv: Sequence[str]) -> dict[str, Any]:
    """key=value words in Hydra's override grammar (lists, numbers, bools, quoted strings)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(argv))
    out: dict[str, Any] = {}
    for o in parsed:
        key = o.key_or_group
        if key in out:
            raise ValueError(f"option {key!r} given twice")
        out[key] = o.value()
    return out


def run(command: str, argv: list[str]) -> int:
    """CLI entry (``encoderkit ingest ...``)."""
    from encoderkit.registry import available_domains

    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE.format(domains=", ".join(available_domains()) or "none registered"))
        return 0
    try:
        opts = _parse_overrides(argv)
    except Exception as e:  # hydra's grammar errors name the offending word
        print(f"encoderkit ingest: cannot parse arguments: {e}", file=sys.stderr)
        return 2
    missing = [k for k in ("domain", "input", "output") if k not in opts]
    if missing:
        print(f"encoderkit ingest: missing {', '.join(missing)}=...\n\n" +
              USAGE.format(domains=", ".join(available_domains())), file=sys.stderr)
        return 2
    domain = str(opts.pop("domain"))
    inputs = opts.pop("input")
    inputs = [str(x) for x in inputs] if isinstance(inputs, (list, tuple)) else [str(inputs)]
    output = str(opts.pop("output"))
    overwrite = opts.pop("overwrite", False)
    if not isinstance(overwrite, bool):
        print(f"encoderkit ingest: overwrite must be true or false, got {overwrite!r}", file=sys.stderr)
        return 2
    try:
        ingest(domain, inputs, output, overwrite=overwrite, **opts)
    except (KeyError, FileNotFoundError, ValueError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"encoderkit ingest: {msg}", file=sys.stderr)
        return 1
    return 0
