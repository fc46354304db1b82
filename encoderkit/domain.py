"""The contract every domain adapter implements.

A domain turns raw records into tokens, positions and masking targets, and turns
the encoder's hidden states back into domain values. The flow through it:

    ingest(sources) -> store records                      (once, offline)
    featurize(record) -> Example                           (numpy, per record)
    windows(example, max_seqlen) -> [Example, ...]         (long records, never dropped)
    augment(example, rng) -> Example                       (training only; safe_augment when fine-tuning)
    mask(example, rng) -> MaskedExample                    (training: inputs, targets, predict)
    embedder(inputs) -> hidden [T, d]; core; head(hidden[predict]) -> HeadOutput
    infill(data, predict_fn) -> data with missing parts filled (uses decode)

Nothing in ``encoderkit`` imports a domain by name: domains are found through the
``encoderkit.domains`` entry points (see ``registry.py``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor, nn

# A stored record: per-token fields (each [L, ...], same L) plus per-record metadata.
Record = dict[str, Any]


@dataclass
class Example:
    """One sequence of tokens from one record, numpy, before masking."""

    fields: dict[str, np.ndarray]  # per-token fields, each [L, ...]; the embedder's inputs
    positions: np.ndarray  # [L, D] int32/float32 (D = 0 allowed: shape [L, 0])
    record: int = -1  # index of the source record
    window: int = 0  # window number within the record
    start: int = 0  # first token of this window within the record's token sequence
    context: dict[str, Any] = field(default_factory=dict)  # per-example values decode needs

    def __len__(self) -> int:
        return int(self.positions.shape[0])


@dataclass
class MaskedExample:
    """An example after masking: what the packer concatenates into a PackedBatch."""

    inputs: dict[str, np.ndarray]  # [L, ...] corrupted input fields
    positions: np.ndarray  # [L, D]
    targets: dict[str, np.ndarray]  # each [P, ...], P = predict.sum(), in token order
    predict: np.ndarray  # [L] bool
    weights: np.ndarray | None = None  # [L] float32 per-token loss weight
    record: int = -1
    window: int = 0
    start: int = 0
    context: dict[str, Any] = field(default_factory=dict)
    # fine-tuning labels (``encoderkit.tasks``): per sequence [1, ...] or per token [L, ...]
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.positions.shape[0])


# (example, rng) -> MaskedExample
Masker = Callable[[Example, np.random.Generator], MaskedExample]


@dataclass
class HeadOutput:
    """What a domain head returns for the hidden states at predicted tokens."""

    predictions: dict[str, Tensor]  # each [P, ...]: raw outputs (logits, values)
    loss: Tensor | None = None  # scalar, the weighted total; None without targets
    losses: dict[str, Tensor] = field(default_factory=dict)  # per-part scalar losses (detached ok)
    metrics: dict[str, Tensor] = field(default_factory=dict)  # e.g. masked accuracy (scalars)


class RecordWriter(Protocol):
    """What a domain's ``ingest`` writes into (implemented by ``encoderkit.data.store``)."""

    def append(self, fields: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None,
               id: str | None = None) -> int: ...


@dataclass
class IngestReport:
    """Counts a domain fills while ingesting; the framework prints it."""

    records: int = 0
    tokens: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    warnings: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # other totals a domain reports (e.g. samples)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def summary(self) -> str:
        lines = [f"records written: {self.records}", f"tokens: {self.tokens}"]
        lines += [f"{name}: {n}" for name, n in sorted(self.counts.items())]
        total = sum(self.skipped.values())
        lines.append(f"records skipped: {total}")
        lines += [f"  {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# list of masked examples -> per example, head predictions at its predict tokens (numpy, [P_i, ...])
PredictFn = Callable[[Sequence[MaskedExample]], list[dict[str, np.ndarray]]]


class Domain:
    """Base class for domain adapters. Subclasses set ``name`` and override the
    abstract methods; the defaults below are the common behaviour.

    A domain instance is built from the store's schema (vocabulary, columns,
    normalisation) and the run's options (the Hydra ``domain`` group minus ``name``):
    ``Domain(schema, **options)``. ``options`` must be JSON-serialisable, because
    the run directory stores them to rebuild the domain at inference.
    """

    name: ClassVar[str] = ""
    #: fields of a record stored per token (used by the store to check records)
    rope_axes: int = 0
    #: index within every window of a [CLS]-like pooling element, or None when the
    #: domain has none (``task.pooling=cls`` needs one)
    cls_position: int | None = None
    #: options a user may set at infill time (``Pretrained.infill(data, **options)``, the
    #: infill CLI): user-facing name -> the domain option it sets; the constructor validates
    infill_options: ClassVar[dict[str, str]] = {}
    #: what ``read_input`` reads, for ``encoderkit infill --help`` (e.g. "FASTA, FASTQ (.gz)")
    input_formats: ClassVar[str] = ""
    #: ``task.lp_fraction=auto`` when fine-tuning a pretrained encoder on one label per record
    #: (classification, regression, multilabel): the share of the steps the head trains alone
    #: first (LP-FT). 0 (off) unless a domain has measured that its pretrained features are
    #: worth protecting from a random head's first gradients (tabular: benchmarks/RESULTS.md)
    finetune_lp_fraction: ClassVar[float] = 0.0
    #: ``task.pooling`` / ``task.dropout`` = ``auto`` when fine-tuning starts from the probe
    #: head (``task.head_init=probe``): a domain's measured choice of the head's pooling and
    #: dropout over ``encoderkit.tasks.head_init.HEAD_DEFAULTS`` (mean pooling, dropout 0.1)
    finetune_probe_head: ClassVar[dict[str, Any]] = {}
    #: options added after runs were saved without them: option -> the value that rebuilds
    #: such a run as it was trained (its weights have no module for the new default)
    saved_run_defaults: ClassVar[dict[str, Any]] = {}
    #: the record store a loaded run was trained on (its ``data.store``), set by
    #: ``Pretrained.infill``: a domain whose fill learns from data beside the model (a table's
    #: classical imputers) learns from these records, so that a record's fill never depends on
    #: the records filled with it. None: no run (``impute`` fills the table it trained on)
    training_store: str | None = None

    def __init__(self, schema: Mapping[str, Any], **options: Any) -> None:
        self.schema = dict(schema)
        self.options = dict(options)

    # ---- ingest (class-level: no schema exists yet) ----
    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               **options: Any) -> dict[str, Any]:
        """Parse raw files, append records to ``writer``, fill ``report``; return the schema."""
        raise NotImplementedError(f"domain {cls.name!r} does not ingest files")

    # ---- per record ----
    def featurize(self, record: Record) -> Example:
        raise NotImplementedError

    def windows(self, example: Example, max_seqlen: int) -> list[Example]:
        """Cut an example longer than ``max_seqlen`` into windows that cover it.

        Default: contiguous windows, overlap ``options['window_overlap']`` tokens
        (default 0); the last window ends at the last token. Domains override it
        when a contiguous cut is meaningless (sets, multichannel series).
        """
        n = len(example)
        if n <= max_seqlen:
            return [example]
        overlap = int(self.options.get("window_overlap", 0))
        return [slice_example(example, s, e, w) for w, (s, e) in
                enumerate(window_bounds(n, max_seqlen, overlap))]

    def augment(self, example: Example, rng: np.random.Generator) -> Example:
        return example

    def safe_augment(self, example: Example, rng: np.random.Generator) -> Example:
        """Augmentation that never changes what a record-level label means, for fine-tuning
        (``task.augment=auto``, the default). ``augment`` may (a reverse complement flips a
        strand label, a rotation turns a 6 into a 9), so by default nothing is done."""
        return example

    def views(self, example: Example, rng: np.random.Generator) -> tuple[Example, Example]:
        """Two augmented views of one record for the contrastive objective (positives
        of each other). Optional: a domain without views cannot train ``contrastive``."""
        raise NotImplementedError(f"domain {self.name!r} defines no contrastive views")

    # ---- labels stored inside the records (tabular: a column of the table) ----
    def label_values(self, records: Sequence[Record], column: str) -> np.ndarray:
        """The raw values of ``column`` of each record (NaN / None = missing), for
        ``task.label_column``; the domain's ``drop_columns`` option then removes the
        column from the inputs. Domains without named columns refuse."""
        raise NotImplementedError(f"domain {self.name!r} has no label columns; give the labels "
                                  "in a file with task.labels=<file>")

    @property
    def maskers(self) -> dict[str, Masker]:
        raise NotImplementedError

    def mask(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        """Apply the configured masker (``options['masker']``, a name, or a
        ``{name: weight}`` mixture picked per example)."""
        choice = self.options.get("masker", "random")
        if isinstance(choice, Mapping):
            names = list(choice)
            p = np.asarray([float(choice[k]) for k in names], dtype=np.float64)
            choice = names[int(rng.choice(len(names), p=p / p.sum()))]
        try:
            masker = self.maskers[choice]
        except KeyError:
            raise ValueError(f"domain {self.name!r} has no masker {choice!r}; "
                             f"choose from {sorted(self.maskers)}") from None
        return masker(example, rng)

    def unmasked(self, example: Example) -> MaskedExample:
        """The example as model input with nothing to predict (embedding)."""
        return MaskedExample(inputs=example.fields, positions=example.positions, targets={},
                             predict=np.zeros(len(example), dtype=bool), record=example.record,
                             window=example.window, start=example.start, context=example.context)

    # ---- modules ----
    def embedder(self, config: Any) -> nn.Module:
        """Module mapping ``inputs: dict[str, Tensor [T, ...]]`` to hidden ``[T, d]``."""
        raise NotImplementedError

    def head(self, config: Any, embedder: nn.Module | None = None) -> nn.Module:
        """Module with ``forward(hidden [P, d], targets: dict | None, weights [P] | None) -> HeadOutput``.
        ``embedder`` is given so a head can tie its decoder to the input embedding."""
        raise NotImplementedError

    # ---- back to domain values ----
    def decode(self, predictions: Mapping[str, np.ndarray], example: MaskedExample) -> Record:
        """Head predictions at ``example.predict`` tokens -> the record with those parts filled."""
        raise NotImplementedError

    def to_records(self, data: Any) -> list[Record]:
        """User-facing data (strings, frames, arrays, files) -> records as the store holds them."""
        raise NotImplementedError

    def row_index(self, data: Any) -> Any:
        """The index of in-memory user data whose records are its rows, in record order
        (a table's DataFrame index), or None where records are not rows (series, sequences,
        sets: the default). Python outputs per record keep it (``FineTuned.predict``), and
        labels given as a Series / DataFrame line up on it (``evaluate``), as pandas users
        expect: a slice ``df.iloc[100:]`` predicted and assigned back lands on its rows."""
        return None

    def infill(self, data: Any, predict: PredictFn) -> Any:
        """Fill what is missing in ``data``; observed values come back unchanged.
        ``predict`` runs the model on masked examples (generic packing, batching)."""
        raise NotImplementedError

    def infill_candidates(self, data: Any, predict: PredictFn) -> dict[str, Any]:
        """Other fills of ``data`` to compare with ``infill(data, predict)`` on held-back
        observed cells (``encoderkit impute select=auto`` keeps, per column / channel, the
        one that wins clearly): classical imputers, variants of the model's own fill. By
        name, each in ``infill``'s output form, observed values unchanged; a candidate may
        leave the cells of a column / channel it does not apply to missing. Default: none."""
        return {}

    def read_input(self, path: str) -> Any:
        """A user file (FASTA, CSV, ...) -> the data ``infill``/``to_records`` accept (CLI)."""
        raise NotImplementedError(f"domain {self.name!r} cannot read input files")

    def read_records(self, path: str) -> list[Record]:
        """A user file -> records whose ids are the ones ``ingest`` gives that file's records,
        so predictions and embeddings of a raw file join a store of it by id (``predict``,
        ``evaluate`` and ``embed`` on a file). Default: ``to_records(read_input(path))``; a
        domain whose ids come from the file name overrides it."""
        return self.to_records(self.read_input(path))

    def read_options(self) -> dict[str, Any]:
        """The ingest options a raw file is read back with (``embed``, ``infill`` on a file),
        by name: the run's, as its store was ingested. A user who passes one of them again
        (``time_column=date`` to ingest, then to embed) is accepted when it is the run's value
        and refused when it contradicts it (``infer.pretrained.split_read_options``). Default:
        none, so every ingest option is an unknown parameter there."""
        return {}

    def read_labels(self, path: str) -> Any:
        """The labels a raw file of this domain holds beside its records (a ``.ts`` series
        file's classes), as a DataFrame with an ``id`` column (the ids ``ingest`` gives the
        file's records) and a ``label`` column, so ``task.labels=`` / ``evaluate`` take the
        data file itself; None (the default) when ``path`` is not such a file and is read
        as a labels table."""
        return None

    def check_output_name(self, data: Any, path: str) -> None:
        """Refuse (``UsageError``), before any fill, an output name ``write_output`` would not
        write ``data`` as (its writer follows the data, not the name); no check by default."""
        return None

    def write_output(self, data: Any, path: str) -> None:
        """Write infilled data back in the input's format (CLI ``encoderkit infill``),
        atomically (temporary name, then rename)."""
        raise NotImplementedError(f"domain {self.name!r} cannot write output files")

    # ---- small real samples, so one registry-driven test covers every domain ----
    @classmethod
    def sample_sources(cls, directory: str) -> tuple[list[str], dict[str, Any]]:
        """Write a few kB of real bundled data into ``directory`` in this domain's raw
        file format; return (paths, ingest options). Used by tests and docs."""
        raise NotImplementedError(f"domain {cls.name!r} ships no sample data")

    def sample_infill_input(self) -> Any:
        """A small user-facing input with missing parts, for ``infill`` (tests, docs)."""
        raise NotImplementedError(f"domain {self.name!r} ships no infill sample")

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description saved in the run dir to rebuild the domain."""
        return {"name": self.name, "schema": self.schema, "options": self.options}


def window_bounds(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) windows of ``size`` covering ``range(n)`` with at least ``overlap``
    tokens shared between neighbours; the last window ends at ``n``."""
    if size <= 0:
        raise ValueError(f"window size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"window overlap must be in [0, {size}), got {overlap}")
    if n <= size:
        return [(0, n)]
    step = size - overlap
    starts = list(range(0, n - size, step)) + [n - size]
    return [(s, s + size) for s in starts]


def slice_example(example: Example, start: int, end: int, window: int) -> Example:
    return Example(
        fields={k: v[start:end] for k, v in example.fields.items()},
        positions=example.positions[start:end],
        record=example.record, window=window, start=example.start + start,
        context=example.context)


def to_tensor(x: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))
