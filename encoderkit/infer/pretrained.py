"""``Pretrained``: a loaded model with its domain; embed, predict, infill."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from encoderkit.cliutil import progress_bar as log_aware_bar
from encoderkit.core import EncoderConfig
from encoderkit.data.store_views import VIEW_TOKENS, reads_field_slices
from encoderkit.errors import DataError, UsageError
from encoderkit.domain import Domain, MaskedExample, check_positions
from encoderkit.frames import holds_a_row, lazy_frame_problem, tensor_as_array
from encoderkit.infer.embed import EmbeddingWriter, check_pooling, embed_stream, predict_examples
from encoderkit.input_reads import one_command
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.tasks.spec import pooled_width

#: inputs of at least this many records get a progress bar by default; smaller ones once
#: they have run this many seconds (one 14 Mb genome embedded for minutes without a word)
PROGRESS_MIN_RECORDS = 1000
# the infill option naming the run's training store (``Pretrained.training_store``)
STORE_OPTION = "store"
PROGRESS_DELAY_S = 5.0


def progress_bar(n: int, desc: str, progress: bool | None, weights: np.ndarray | None = None,
                 passes: int = 1) -> Any:
    """A bar of records done out of ``n``: ``progress`` True / False shows / hides it;
    None shows it for ``PROGRESS_MIN_RECORDS`` records or more at once, and for fewer
    once the command has run ``PROGRESS_DELAY_S`` (a few long records). Anything else is
    refused: ``progress="no"`` is truthy, and showed the bar it was meant to hide.
    ``weights``: the records' stored tokens; the bar then counts those (``unit="tok"``),
    moved window by window (``embed_progress``), not records, ``passes`` times over (a
    record's twin embedded too: 2)."""
    if progress is not None and not isinstance(progress, bool):
        raise UsageError(f"The 'progress' parameter of {desc} must be true or false (or None: "
                         f"shown for long inputs). Got {progress!r} instead.", key="progress")
    unit = {"total": n, "unit": "rec"} if weights is None else \
        {"total": passes * int(np.sum(weights)), "unit": "tok", "unit_scale": True}
    if progress is None:
        bar = log_aware_bar(desc=desc, delay=0.0 if n >= PROGRESS_MIN_RECORDS else PROGRESS_DELAY_S, **unit)
    else:
        bar = log_aware_bar(desc=desc, disable=not progress, **unit)
    bar.weights = weights
    return bar


def split_read_options(domain: Domain, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` less the ingest options a raw file is read back with (``Domain.read_options``).
    A user repeats what they gave ``ingest`` (``time_column=date``): the run's value is
    accepted, as files are read that way anyway; another value is refused, naming the run's,
    since the model was trained on the store ingest read that way."""
    recorded = domain.read_options()
    for key in sorted(options.keys() & recorded.keys()):
        if _same_option(options[key], recorded[key]):
            continue
        schema = domain.schema if isinstance(domain.schema, Mapping) else {}
        if recorded[key] is None and key not in schema:  # unrecorded: the store may predate it
            raise UsageError(f"{key}={_shown(options[key])} contradicts the run: it reads raw files "
                             f"without {key}, as neither its store's schema nor its store's record "
                             f"of the ingest (where the run's data.store is found) gives one; leave "
                             f"{key} out, or ingest with {key}={_shown(options[key])} and train on "
                             f"that store", key=key)
        raise UsageError(f"{key}={_shown(options[key])} contradicts the run: its store was "
                         f"ingested with {key}={_shown(recorded[key])}, and raw files are read "
                         f"back that way; leave {key} out (or ingest with the new value and "
                         f"train on that store)", key=key)
    return {k: v for k, v in options.items() if k not in recorded}


def _same_option(given: Any, recorded: Any) -> bool:
    """Equal option values; a tuple is the list a saved run holds (JSON has no tuples)."""
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v
    return plain(given) == plain(recorded)


def _shown(value: Any) -> str:
    """An option value as a user writes it on the command line (``null``, ``date``)."""
    return "null" if value is None else value if isinstance(value, str) else repr(value)


def holds_no_records(data: Any) -> bool:
    """Whether user data in memory holds no record: a list, tuple, dict, lazy sequence, numpy
    array (no rows, series or items along its first axis) or DataFrame (no rows) of length 0.
    Said before a domain reads it: an empty array reached ``np.stack`` in the series domain's
    infill (``need at least one array to stack``), and an empty dict or table came back empty
    from infill where embed and predict refuse it. A string is a record (a genomic ``""``)
    and a pandas Series one row or channel: left to the domain."""
    if isinstance(data, (str, bytes, os.PathLike)):
        return False
    if isinstance(data, torch.Tensor):  # as the numpy array it is read as (``tensor_as_array``)
        return data.ndim > 0 and data.shape[0] == 0
    pd = sys.modules.get("pandas")  # a DataFrame exists only where pandas was imported
    if isinstance(data, (Sequence, Mapping)) or (pd is not None and isinstance(data, pd.DataFrame)):
        return len(data) == 0
    if isinstance(data, np.ndarray):
        return data.ndim > 0 and data.shape[0] == 0
    return False


def _lazy(data: Any) -> bool:
    """A sequence a domain made whose items are built when read (``lazy_records``, such as
    a table's ``TableRecords``): kept as it is, not copied into a list of dicts (a raw table
    of 96 MB held ~200 MB more as copies, measured on embed)."""
    return bool(getattr(data, "lazy_records", False)) and isinstance(data, Sequence)


class RecordSource:
    """Uniform view of what ``embed`` accepts: a record store (object or path),
    a list of stored-format records (dicts), the path of a file the domain reads
    (``read_records``: ids as ingest gives them), or user-facing data the domain's
    ``to_records`` understands (strings, frames, arrays). A torch tensor is read as the
    numpy array it holds (``frames.tensor_as_array``), and a list holding a row dict (one value
    a key: ``frames.holds_a_row``; stored records hold per-token arrays) is user data, for the
    domain to read (a table's rows) or refuse, never taken for stored records."""

    def __init__(self, data: Any, domain: Domain) -> None:
        self.store = None
        lazy = lazy_frame_problem(data)  # before ``hasattr(data, "schema")`` resolves its query's schema
        if lazy is not None:
            raise DataError(lazy)
        data = tensor_as_array(data)
        # a store's long records as views, for a domain that slices them (a chromosome is not read whole)
        self.views = VIEW_TOKENS if reads_field_slices(domain) else None
        # a list of copies, or a domain's lazy sequence (``lazy_records``) kept as it is
        self.records: Sequence[Mapping] | None = None
        if isinstance(data, (str, Path)) and str(data).endswith(".zarr") and not Path(data).exists():
            raise FileNotFoundError(f"record store {str(data)!r} does not exist")
        # os.path, not Path: a long DNA string is no file name and must not raise
        if isinstance(data, (str, Path)) and os.path.isdir(data):
            from encoderkit.data.store import RecordStore

            data = RecordStore(str(data))
        elif isinstance(data, (str, Path)) and os.path.isfile(data):
            data = domain.read_records(str(data))
        if hasattr(data, "schema") and hasattr(data, "domain") and hasattr(data, "read_many"):
            if data.domain != domain.name:
                raise ValueError(f"store {getattr(data, 'path', '')!s} holds {data.domain!r} records but this "
                                 f"model was trained on the {domain.name!r} domain")
            self.store = data
        elif holds_no_records(data):  # before the domain reads it, whatever its kind
            raise ValueError("empty input: it holds no records")
        elif _lazy(data):  # a domain's records, each made anew when read: no copy to take
            self.records = data
        elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)) \
                and all(isinstance(r, Mapping) for r in data) and not holds_a_row(data):
            self.records = [dict(r) for r in data]
        else:
            try:
                records = domain.to_records(data)
                self.records = records if _lazy(records) else list(records)
            except NotImplementedError:
                raise TypeError(f"domain {domain.name!r} cannot turn {type(data).__name__} into records; "
                                f"pass a record store, its path, or a list of records (dicts)") from None
        if len(self) == 0:
            raise ValueError("empty input: it holds no records")

    def __len__(self) -> int:
        return len(self.store) if self.store is not None else len(self.records)

    def windowed_lengths(self, max_seqlen: int) -> np.ndarray | None:
        """Each record's stored tokens (``[N]`` int64: a store's lengths, a record's longest
        per-token array), where some record is longer than ``max_seqlen`` (its windows are
        minutes of work: a chromosome); else None, as for a domain's lazy records (each
        made anew when read). ``embed``'s bar counts these tokens (``progress_bar``)."""
        if self.store is not None:
            lengths = getattr(self.store, "lengths", None)
            lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        elif _lazy(self.records):
            return None
        else:
            lengths = np.array([max([len(v) for v in rec.values() if isinstance(v, np.ndarray) and v.ndim],
                                    default=1) for rec in self.records], dtype=np.int64)
        return lengths if lengths is not None and lengths.size and lengths.max() > max_seqlen else None

    def __iter__(self) -> Iterator[tuple[int, str, dict]]:
        if self.store is not None:
            from encoderkit.data.store import RecordStore  # (zarr: imported with the store already)

            chunk = 256  # read a few hundred records at a time; never the whole store
            n = len(self.store)
            for lo in range(0, n, chunk):
                hi = min(lo + chunk, n)
                if isinstance(self.store, RecordStore):
                    part = self.store.read_range(lo, hi, views_above=self.views)
                elif hasattr(self.store, "read_range"):
                    part = self.store.read_range(lo, hi)
                else:
                    part = self.store.read_many(np.arange(lo, hi))
                for i, rec in zip(range(lo, hi), part):
                    yield i, str(rec.get("id", i)), rec
        else:
            for i, rec in enumerate(self.records):
                yield i, str(rec.get("id", i)), rec


class Pretrained:
    """A trained ``MaskedEncoderModel`` together with its domain.

    ``max_seqlen``: longest window given to the model at once (records longer than
    this are windowed by the domain's rule); ``max_tokens``: token budget of one
    packed inference batch.
    """

    def __init__(self, model: MaskedEncoderModel, domain: Domain, config: EncoderConfig, *,
                 path: Path | None = None, step: int = 0, max_seqlen: int = 1024,
                 max_tokens: int = 16384, store: str | None = None,
                 store_inputs: Mapping[str, Any] | None = None) -> None:
        self.model = model.eval()
        self.store = store  # the records the run trained on (``Domain.training_store``)
        # what the checkpoint recorded of them: identity, record count (``Domain.training_inputs``)
        self.store_inputs = store_inputs
        self.domain = domain
        self.config = config
        self.path = path
        self.step = step
        self.max_seqlen = int(max_seqlen)
        self.max_tokens = int(max_tokens)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.model.parameters())
        return (f"Pretrained(domain={self.domain.name!r}, params={n:,}, step={self.step}, "
                f"device={self.device}, path={str(self.path) if self.path else None!r})")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> Pretrained:
        self.model.to(device)
        return self

    # ---- embeddings ----
    @one_command  # the files it reads are this call's inputs only (input_reads)
    def embed(self, data: Any, pooling: str = "mean", *, max_tokens: int | None = None,
              max_seqlen: int | None = None, out: str | Path | None = None, overwrite: bool = False,
              progress: bool | None = None, **ingest_options: Any) -> np.ndarray | list[np.ndarray] | Path:
        """Embeddings of every record of ``data`` (a store, a store path, records, a
        file's path, or user data), in input order. Pooling ``mean``/``cls`` gives ``[N, d]``,
        ``mean_std`` ``[N, 2d]`` (mean, then standard deviation of the token states);
        ``none`` a list of ``[L_i, d]``. With ``out`` (``.zarr``/``.npy``) results
        stream to disk and the path is returned (see ``infer.embed`` for windowing).
        ``ingest_options``: those given to ``ingest`` (``time_column=...``) may be repeated;
        a file is read as the run's store was ingested, so one that differs is refused.
        ``cls`` needs a domain with a [CLS]-like element (``Domain.cls_position``)."""
        check_pooling(pooling, self.domain)
        unknown = sorted(split_read_options(self.domain, ingest_options))
        if unknown:
            raise UsageError(f"embed() got unknown parameter(s) {unknown}; the {self.domain.name!r} "
                             f"run's ingest options it accepts: {sorted(self.domain.read_options()) or 'none'}",
                             key=unknown[0])
        source = RecordSource(data, self.domain)
        n = len(source)
        twin = self._embedding_twin(pooling)
        # records longer than a window: a bar of their tokens, moved window by window (twins: twice)
        weights = source.windowed_lengths(max_seqlen or self.max_seqlen)
        bar = progress_bar(n, "embed", progress, weights, passes=2 if twin is not None else 1)
        stream = embed_stream(self.model, self.domain, source, pooling=pooling,
                              max_tokens=max_tokens or self.max_tokens,
                              max_seqlen=max_seqlen or self.max_seqlen, progress=bar)
        if twin is not None:  # e.g. genomic rc_embed: average with the reverse complement's embedding
            twins = embed_stream(self.model, self.domain, ((i, rid, twin(rec)) for i, rid, rec in source),
                                 pooling=pooling, max_tokens=max_tokens or self.max_tokens,
                                 max_seqlen=max_seqlen or self.max_seqlen, progress=bar, twin=True)
            stream = ((i, rid, (a + b) / 2) for (i, rid, a), (_, _, b) in zip(stream, twins))
        try:
            if out is not None:
                writer = EmbeddingWriter(out, n, pooled_width(pooling, self.config.hidden_size), pooling,
                                         overwrite=overwrite)
                try:
                    for _, rid, vec in stream:
                        writer.add(rid, vec)
                    return writer.close()
                except BaseException:
                    writer.abort()
                    raise
            vectors = [vec for _, _, vec in stream]
            return vectors if pooling == "none" else np.stack(vectors)
        finally:
            bar.close()

    def _embedding_twin(self, pooling: str) -> Any:
        """The domain's twin of a record whose embedding is averaged with the record's own
        (``Domain.embedding_twin``, e.g. the genomic reverse complement with ``rc_embed``)."""
        hook = getattr(self.domain, "embedding_twin", None)
        twin = hook() if callable(hook) else None
        if twin is not None and pooling == "none":
            import warnings

            warnings.warn(f"the {self.domain.name!r} domain averages pooled embeddings with a twin "
                          f"(e.g. rc_embed); pooling='none' returns the record's own tokens only",
                          stacklevel=3)
            return None
        return twin

    # ---- head predictions / infill ----
    def predict(self, examples: Sequence[MaskedExample], *, max_tokens: int | None = None) -> list[dict[str, np.ndarray]]:
        """Per example, the head's predictions at its ``predict`` tokens (numpy)."""
        if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence) or \
                not all(hasattr(e, "inputs") and hasattr(e, "predict") for e in examples):
            # a table or a file here met the collate step as a traceback
            raise UsageError(f"predict of a pretrained model takes the domain's masked examples "
                             f"(got {type(examples).__name__}); to fill data use .infill(data), and "
                             f"for task predictions fine-tune first (encoderkit finetune) and load "
                             f"that run")
        for e in examples:  # a domain's infill makes its own examples
            check_positions(self.domain, e.positions)
        return predict_examples(self.model, examples, max_tokens=max_tokens or self.max_tokens)

    @one_command
    def infill(self, data: Any, output: str | os.PathLike | None = None, *, overwrite: bool = False,
               **options: Any) -> Any:
        """Fill what is missing or masked in ``data`` with the domain's ``infill``;
        observed values come back unchanged. ``options``: the domain's infill options
        (``domain.infill_options``, e.g. ``numeric_decode``, ``window``, ``overlap``);
        a window the run did not fix defaults to the run's training window. Ingest options
        (``time_column=...``) may be repeated as the run's store was ingested with them.

        With ``output``, ``data`` is the path of a raw file: it is filled into ``output``
        as ``encoderkit infill input=<data> output=<output>`` writes it (the same bytes; a
        genome streamed through the domain's ``infill_file``, never held in memory), and
        the output's path is returned. ``overwrite``: replace an existing output file."""
        if output is not None:
            return self._infill_file(data, output, overwrite, options)
        if overwrite:
            raise UsageError("overwrite=True applies to an output file: give output=<path> too",
                             key="overwrite")
        if holds_no_records(data):  # a list, an array, a table, a dict: one message
            raise UsageError("infill received an empty input (no records)")
        data = tensor_as_array(data)  # every domain reads a tensor as the numpy array it holds
        domain = self.infill_domain(options)
        if domain is self.domain:  # the run's own domain stays as loaded (impute, ensembles)
            domain = copy.copy(domain)
        domain.training_store = self.training_store(options)
        domain.training_inputs = getattr(self, "store_inputs", None)  # (an object built without it)
        domain.run_dir = self.run_dir()
        return domain.infill(data, self.predict)

    def run_dir(self) -> str | None:
        """The run directory of the checkpoint this model was read from (``<run>/checkpoints/<step>``,
        ``<run>/best``), where its domain may keep what it derives from the run's records
        (``Domain.run_dir``); None for a checkpoint outside a run's layout or a model built in
        Python."""
        from encoderkit.infer.run_files import run_folder

        path = getattr(self, "path", None)
        run = run_folder(Path(path)) if path is not None else None
        return None if run is None else str(run)

    def training_store(self, options: Mapping[str, Any]) -> str | None:
        """The run's training store for a fill's imputers: ``store=<path>`` among the infill
        options (a run loaded where its relative data.store does not lead to it), else the one
        loading found (``load.run_store``). Whether it holds the run's records is checked where
        it is read (``Domain.training_inputs``)."""
        given = options.get(STORE_OPTION)
        if given in (None, ""):
            return getattr(self, "store", None)
        text = str(given)
        if "://" not in text and not Path(text).expanduser().exists():
            raise UsageError(f"store={text!r} does not exist (the run's training store, read from "
                             f"{os.getcwd()!r})", key=STORE_OPTION)
        return text if "://" in text else os.path.abspath(os.path.expanduser(text))

    def _infill_file(self, data: Any, output: str | os.PathLike, overwrite: bool,
                     options: Mapping[str, Any]) -> Path:
        """``infill(data, output=...)``: the file ``data`` filled into ``output`` (``infill_files``)."""
        from encoderkit.infer.infill_files import check_infill_paths, infill_to_file

        if not isinstance(data, (str, os.PathLike)):
            raise UsageError(f"infill(data, output=...) fills a file into a file: data must be the input "
                             f"file's path (got {type(data).__name__}); for data in memory, write "
                             f"model.infill(data) with model.domain.write_output(filled, path)", key="output")
        source, target = check_infill_paths(data, output, overwrite)
        return infill_to_file(self, source, target, options)

    def check_infill_options(self, options: Mapping[str, Any]) -> None:
        """Refuse unknown or invalid infill options (a ``UsageError`` naming the allowed ones)."""
        self.infill_domain(options)

    def infill_domain(self, options: Mapping[str, Any]) -> Domain:
        """The domain with ``options`` applied (validated by the domain's constructor); the
        run's own ingest options among them are dropped (``split_read_options``)."""
        accepted: dict[str, str] = dict(getattr(self.domain, "infill_options", {}) or {})
        if options.get(STORE_OPTION) not in (None, "") and not getattr(self.domain, "reads_training_store", False):
            raise UsageError(f"store= is used by table runs only (the scikit-learn blend); the "
                             f"{self.domain.name!r} domain's fill reads no training store: drop it",
                             key=STORE_OPTION)
        options = {k: v for k, v in options.items() if k != STORE_OPTION}  # infill's own (training_store)
        # an infill option keeps its meaning should a domain ever name an ingest option alike
        rest = split_read_options(self.domain, {k: v for k, v in options.items() if k not in accepted})
        if rest:
            ingest = sorted(self.domain.read_options())
            raise UsageError(f"unknown infill option(s) {sorted(rest)} for the {self.domain.name!r} domain; "
                             f"allowed: {sorted(accepted) or 'none'}"
                             + (f" (and the run's ingest options {ingest})" if ingest else ""),
                             key=sorted(rest)[0])
        options = {k: v for k, v in options.items() if k in accepted}
        changes = {accepted[k]: v for k, v in options.items()}
        window = accepted.get("window")
        if window is not None and window not in changes and self.domain.options.get(window, 0) is None:
            changes[window] = self.max_seqlen  # "the run's training window"
        if not changes:
            return self.domain
        try:
            return type(self.domain)(self.domain.schema, **{**self.domain.options, **changes})
        except (ValueError, TypeError) as e:
            inverse = {v: k for k, v in accepted.items()}
            key = next((inverse[k] for k in changes if k in str(e)), None)
            raise UsageError(f"infill option: {' '.join(str(e).split())}", key=key) from None
