"""Generic ingest: raw files -> record store. Domains supply only parsing.

    encoderkit ingest domain=genomic input='data/*.fa' output=genome.zarr [overwrite=true] [k=6 ...]

Expands inputs (paths or globs), records provenance (size and sha256 of every
source file, the options, the encoderkit version), calls the domain's
``ingest(sources, writer, report, **options)`` with a progress bar on the
writer, finalises the store atomically and prints the report.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from encoderkit.cliutil import progress_bar, say

from encoderkit.data.store import StorePath, StoreWriter
from encoderkit.errors import (READ_ERRORS, DataError, EncoderkitError, InputNotFoundError, UsageError, data_error,
                               refuse_stream)
from encoderkit.option_effects import check_ingest
from encoderkit.registry import get_domain

if TYPE_CHECKING:  # encoderkit.domain imports torch: not for `encoderkit ingest --help`
    from encoderkit.domain import IngestReport

USAGE = """usage: encoderkit ingest domain=<name> input=<path|glob|[list]> output=<store> [overwrite=true]
                        [workers=N] [append=true] [progress=false] [option=value ...]

Reads raw files with the domain's parser and writes a zarr record store.
  domain     registered domain name ({domains})
  input      a path, a glob ('data/*.csv') or a list ([a.csv,b.csv])
  output     store location: a directory, or any URL zarr opens (s3://..., memory://...)
  overwrite  replace an existing store (default false)
  workers    parse the files in that many processes (default 1; the same store as one process)
  append     add the files' records to the existing local store at output (default false; a new
             store renamed over it, its chunks hard-linked; not with overwrite=true)
  progress   the progress bar on stderr (default true)
Other key=value pairs are the domain's ingest options (Hydra override syntax: lists, numbers,
bools); each domain's are listed in the comments of configs/domain/<name>.yaml.
"""


def _literal_file(item: str) -> bool:
    """``item`` (holding ``*?[``) names an existing file as written and matches nothing as a
    pattern: a name such as ``scan[1].csv``, read as that file, as a shell does when a pattern
    matches nothing (it said "input pattern 'scan[1].csv' matches no files" of a file that exists)."""
    path = os.path.expanduser(item)
    return os.path.lexists(path) and not any(os.path.isfile(p) for p in glob.iglob(path, recursive=True))


def expand_inputs(inputs: str | Sequence[str]) -> list[str]:
    """Paths and globs -> sorted, de-duplicated file list (URLs pass through unchanged)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [os.fspath(inputs)]
    out: list[str] = []
    for item in inputs:
        item = os.fspath(item)
        if "://" in item:
            out.append(item)
        elif glob.has_magic(item) and not _literal_file(item):
            matches = sorted(p for p in glob.glob(os.path.expanduser(item), recursive=True) if os.path.isfile(p))
            if not matches:
                raise InputNotFoundError(f"input pattern {item!r} matches no files", key="input")
            out.extend(matches)
        else:
            path = os.path.expanduser(item)
            if not os.path.exists(path):
                raise InputNotFoundError("input file does not exist", file=item, key="input")
            if os.path.isdir(path):
                raise DataError(f"is a directory; ingest expects files (a glob such as "
                                f"'{os.path.join(item, '*')}' reads the files in it)", file=item, key="input")
            # hashed for the provenance, then parsed: a pipe would reach the parser empty
            refuse_stream(item, key="input")
            out.append(path)
    if not out:
        raise UsageError("The 'input' parameter of ingest needs at least one path or glob. Got none.",
                         key="input")
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


def ingest(domain: str, inputs: str | Sequence[str], output: StorePath, overwrite: bool = False,
           progress: bool = True, verbose: bool = True, workers: int = 1, append: bool = False,
           **options: Any) -> IngestReport:
    """Ingest ``inputs`` with the domain's parser into a new store at ``output``.

    ``workers``: parse the files in that many processes (same store as one process, records
    in file order; see ``ingest_scale``). ``append``: add the files' records to the existing
    store at ``output`` (a new store renamed into place atomically, the old one's whole chunks
    hard-linked into it, not copied: ``StoreWriter.start_from``): the domain's optional classmethod
    ``ingest_append(store, sources, writer, report, **options)`` encodes them with the store's
    schema and returns the schema to keep; without it the files are ingested as usual and the
    two schemas must merge (``merge_schemas``).
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
    check_ingest(cls, sources, options)  # an option no input's kind reads: refused, not recorded
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
    from encoderkit.domain import IngestReport

    report = IngestReport()
    unit = str(getattr(cls, "ingest_unit", "tokens"))
    bar = progress_bar(desc=f"ingest {domain}", unit=f" {unit}", unit_scale=True, disable=not progress,
                       file=sys.stderr)
    try:
        with _warnings_shown() as shown, StoreWriter(output, domain, overwrite=overwrite or append) as writer:
            proxy = ProgressWriter(writer, bar, per_record=getattr(cls, "ingest_counts", "tokens") == "records")
            old_tokens = 0
            if old is not None:  # the old records: linked where the file system allows, else copied
                old_tokens = old.num_tokens if writer.start_from(old) else copy_records(old, writer.append)
            # a domain whose schema depends on all its input at once (a table's categories and
            # statistics) encodes appended files with the store's schema: ingest_append(store, ...)
            into = getattr(cls, "ingest_append", None) if old is not None else None
            if into is not None:
                if workers > 1:
                    report.warnings.append(f"workers={workers} unused: the {domain} domain encodes "
                                           f"appended files with the store's schema, one after another")
                schema = into(old, sources, proxy, report, **options)
            elif workers > 1 and len(sources) > 1:
                schema = ingest_parallel(domain, sources, proxy.append, report, workers, options)
            else:
                schema = cls.ingest(sources, proxy, report, **options)
            if not isinstance(schema, Mapping):
                raise TypeError(f"{cls.__qualname__}.ingest must return the schema dict, got {type(schema).__name__}")
            new_records = len(writer) - (len(old) if old is not None else 0)
            if new_records == 0:
                raise no_records_error(sources, report)
            _warn_duplicate_ids(writer.duplicate_ids(), report)
            # the final counts on the bar (the per-record postfix is refreshed only every 256)
            bar.set_postfix(records=proxy.records, tokens=report.tokens or proxy.tokens)
            if old is not None and into is None:
                schema = merge_schemas(cls, [old.schema, schema], f"{output!s} and the appended files",
                                       [str(output), "the appended files"])
            writer.finalize(schema, provenance)
    finally:
        bar.close()
    # the writer saw every record: its counts are the truth
    report.records = new_records
    # a domain's own count wins (a series' tokens are patches, its stored tokens samples); the
    # records already in an appended store are then counted in the stored unit, which the
    # domain names (ingest_unit: samples), not as tokens of the other kind
    own_count = bool(report.tokens) and report.tokens != proxy.tokens
    report.tokens = report.tokens or proxy.tokens
    stored_unit = unit if own_count and getattr(cls, "ingest_counts", "tokens") != "records" else "tokens"
    elapsed = time.perf_counter() - t0
    if verbose:
        # the report's warnings on stderr, where warnings go (a domain warned of some as it read:
        # not twice), not among stdout's `key: value` lines a script reads. Printed as warnings
        # look (`encoderkit ingest: warning: ...` in the CLI), not raised through warnings.warn:
        # a caller's filters ("error") did not turn the report's lines into exceptions before
        caller = sys._getframe(1)
        for text in dict.fromkeys(report.warnings):
            if text not in shown:
                say(warnings.formatwarning(text, UserWarning, caller.f_code.co_filename, caller.f_lineno,
                                           line="").rstrip("\n"))
        verb = "appended to" if old is not None else "->"
        print(f"ingest {domain}: {len(sources)} file(s) {verb} {output}"
              + (f" ({len(old)} records, {old_tokens} {stored_unit} already there"
               + (f"; copied: {writer.copy_reason})" if writer.copy_reason else ")") if old is not None else ""))
        print(report.summary(with_warnings=False))
        print(f"time: {elapsed:.1f} s")
    return report


@contextlib.contextmanager
def _warnings_shown() -> Iterator[set[str]]:
    """The texts of the warnings shown while the block runs (a domain that warns of what it
    also puts in the report's warnings: ``ingest`` then does not say it again). Delegates to
    the ``warnings.showwarning`` in place, so a caller's recording (pytest, ``catch_warnings``)
    still gets them."""
    shown: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        shown.add(str(message))
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield shown
    finally:
        if warnings.showwarning is show:  # a section that set its own meanwhile keeps it
            warnings.showwarning = previous


def run_records(store: Any, inputs: Mapping[str, Any] | None) -> int | None:
    """How many of ``store``'s first records are the records a run trained on (``inputs``: what
    its checkpoint recorded, ``identity`` and ``records``): all of them when the store is the
    run's (the same identity), the run's count when the store is the run's appended to since
    (``append=true`` keeps the old records first, and the identity of that first part, its files
    and offsets, is still the run's), None when it holds other records (re-ingested from other
    files, replaced). Without a recorded identity (checkpoints from before stores had one):
    every record, as then."""
    from encoderkit.data.store import records_identity  # noqa: PLC0415

    if not inputs or not inputs.get("identity"):
        return len(store)
    if store.identity == inputs["identity"]:
        return len(store)
    n = inputs.get("records")
    appends = list(store.provenance.get("appends") or [])
    if not isinstance(n, int) or isinstance(n, bool) or not 0 < n < len(store) or not appends:
        return None
    files = list(store.provenance.get("files") or [])
    offsets = store.offsets[: n + 1]
    info = {**store.info, "num_records": n, "num_tokens": int(offsets[-1])}
    dropped = 0
    for appended in reversed(appends):  # the store before its last append, then the one before...
        dropped += len(appended.get("files") or []) if isinstance(appended, Mapping) else 0
        before = {**store.provenance, "files": files[:len(files) - dropped]}
        if records_identity(before, info, offsets) == inputs["identity"]:
            return n
    return None


def _warn_duplicate_ids(dup: Sequence[str], report: IngestReport) -> None:
    """Records sharing an id (two FASTA files with a ``chr1`` each; ``dup``: those ids, from
    ``StoreWriter.duplicate_ids``) are stored, but a labels or split file cannot name them by
    id: say so at ingest, not only at fine-tuning."""
    if dup:
        report.warnings.append(f"{len(dup)} record id(s) are held by more than one record (e.g. "
                               f"{dup[0]!r}); labels and split files cannot name those records by id")


def no_records_error(sources: Sequence[str], report: IngestReport) -> DataError:
    """Ingest wrote nothing: name the files and why each record was skipped."""
    names = ", ".join(sources[:5]) + (f" and {len(sources) - 5} more" if len(sources) > 5 else "")
    if report.skipped:
        why = "; ".join(f"{n} record(s) skipped: {reason}" for reason, n in sorted(report.skipped.items()))
    else:
        why = "the file(s) hold no records"
    extra = f" ({'; '.join(report.warnings[:3])})" if report.warnings else ""
    return DataError(f"ingest wrote no records: {why}{extra}", file=names)


def _parse_overrides(argv: Sequence[str]) -> dict[str, Any]:
    """key=value words in Hydra's override grammar (lists, numbers, bools, quoted strings)."""
    from encoderkit.overrides import parse, refuse_sweeps, sweep_as_list

    parsed = parse(argv)  # données.csv quoted; columns={Größe: numeric}: keys Hydra cannot spell
    refuse_sweeps(parsed, "ingest", lists=("input",))  # input=a.csv,b.csv: several files
    out: dict[str, Any] = {}
    for o in parsed:
        key = o.key_or_group
        if key in out:
            raise UsageError(f"option {key!r} given twice", key=key)
        out[key] = sweep_as_list(o) if key == "input" and o.is_sweep_override() else o.value()
    return out


def run(command: str, argv: list[str]) -> int:
    """CLI entry (``encoderkit ingest ...``); errors are reported by ``encoderkit.cli.main``."""
    from encoderkit.registry import available_domains

    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(USAGE.format(domains=", ".join(available_domains()) or "none registered"))
        return 0
    try:
        opts = _parse_overrides(argv)
    except UsageError:
        raise
    except Exception as e:  # hydra's grammar errors name the offending word
        raise UsageError(f"cannot parse arguments: {' '.join(str(e).split())}") from None
    missing = [k for k in ("domain", "input", "output") if k not in opts]
    if missing:
        raise UsageError(f"missing {', '.join(k + '=...' for k in missing)} "
                         f"(see encoderkit ingest --help)", key=missing[0])
    domain = str(opts.pop("domain"))
    inputs = opts.pop("input")
    inputs = [str(x) for x in inputs] if isinstance(inputs, (list, tuple)) else [str(inputs)]
    output = str(opts.pop("output"))
    overwrite = opts.pop("overwrite", False)
    if not isinstance(overwrite, bool):
        raise UsageError(f"The 'overwrite' parameter of ingest must be true or false. Got {overwrite!r} instead.",
                         key="overwrite")
    try:
        ingest(domain, inputs, output, overwrite=overwrite, **opts)
    except (EncoderkitError, BrokenPipeError):
        # BrokenPipeError: the summary's reader went away (`... | head -1`), an OSError but no
        # read error: encoderkit.cli.main stops quietly with 141
        raise
    except TypeError as e:  # an option the domain's ingest does not take
        if "argument" not in str(e):
            raise
        raise UsageError(f"domain {domain!r}: {e}") from None
    except READ_ERRORS as e:
        # an error naming an option the user gave is about that option (usage, exit 2)
        text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        key = next((k for k in opts if f"'{k}'" in text or f"{k}=" in text), None)
        if key is not None:
            raise UsageError(f"domain {domain!r}: {' '.join(text.split())}", key=key) from None
        # a reader that did not name its file: name every input (there may be one only)
        raise data_error(e, ", ".join(inputs)) from e
    return 0
