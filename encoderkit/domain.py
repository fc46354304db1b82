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

The contract, for a plug-in author:

* Required to pretrain: ``name``, ``rope_axes`` (the width D of the ``[L, D]`` positions
  ``featurize`` returns; checked, a mismatch is refused), the classmethod ``ingest``,
  ``featurize``, ``maskers``, ``embedder`` and ``head``. Everything else is optional and
  needed only by the command that uses it: ``read_input`` (files for ``embed`` / ``infill``
  / ``predict``), ``to_records`` (Python lists / frames), ``infill`` (+ ``write_output``
  for ``encoderkit infill``; ``infill_batched``, default ``infill``, the same fill a batch
  at a time for a large file; ``infill_candidates(data, predict, only=None)``, default none,
  the other fills ``impute select=auto`` compares), ``views`` (contrastive fine-tuning), ``label_values``
  (``task.label_column``), ``sample_sources`` / ``sample_infill_input`` (the registry-driven
  tests). ``decode`` is never called by the core: it is the domain's own helper for ``infill``.
  A missing optional method is refused in one line (``NotSupportedError``).
* Options: ``domain=<name>`` on the command line selects ``configs/domain/<name>.yaml``
  where one exists, else the registered domain with no options (its constructor's
  defaults); ``domain.<option>=value`` sets one. The constructor validates them.
* Long records: ``featurize_windows(record, max_seqlen, index)`` (default: ``featurize`` then
  ``windows``) may cut a record into windows before tokenising it and return them lazily
  (``LazyWindows``), and ``count_tokens(record)`` may count tokens without featurizing, so a
  record's memory is a window's, not the record's (genomic: chromosomes).
* ``cls_position`` (optional): the window index of a [CLS]-like element, for cls pooling.
* ``config`` in ``embedder(config)`` / ``head(config, embedder)`` is the run's
  ``encoderkit.core.EncoderConfig`` (``hidden_size``, ``initializer_range``, ...).
* A record (what ``ingest`` writes, the store returns and ``to_records`` makes) is a dict
  of per-token numpy fields (each ``[L, ...]``, same ``L``), per-record meta values and an
  ``"id"`` string; ``to_records`` / ``read_records`` of a file must give its records the
  ids ``ingest`` gave them, so that outputs join a store by id.
* Masking helpers: ``encoderkit.data.masking`` (``choose_random``, ``corrupt_ids``).
* Infill: ``infill(data, predict)`` gets no windowing from the core; ``predict`` runs the
  examples it is given whole, so a domain cuts long records itself. The run's training
  window reaches it only through an infill option named ``window`` (in
  ``infill_options``) whose domain option defaults to ``None`` (``Pretrained.infill_domain``).
* Errors: an ``encoderkit.errors.EncoderkitError`` (``UsageError`` for a bad parameter,
  ``DataError`` for a bad file / record) is printed by the CLI as one line; a
  ``ValueError`` / ``TypeError`` from the constructor becomes a one-line config error
  naming the domain. Anything else is reported as a bug with its traceback.
* Hooks the core looks up by name (``getattr``), all optional: ``embedding_twin()``
  (a record's twin whose embedding is averaged in, e.g. a reverse complement),
  ``hf_export_problems()``, ``vocab.token_strings``, ``<special>_token_id`` attributes
  (``export-hf``), ``read_decimal``, the classmethods ``schema_differences(a, b)`` (how two parts'
  schemas differ, in words, where they do not merge), ``merge_schemas(schemas)`` (one schema
  for files ingested in parts: ``workers>1``, ``append=true``) and ``ingest_append(store,
  sources, writer, report, **options)`` (``append=true`` encodes new files with the store's
  schema, which stays: a table's); ``infill_file(path, output, predict, max_tokens)`` (the
  ``encoderkit infill`` command streams the file through the fill itself, instead of
  ``write_output(infill(read_input(path)), output)`` in memory: a genome); the method
  ``token_positions(window)`` (token tasks: the
  record position each token labels, -1 for a [CLS]; its default follows ``start`` and
  ``cls_position``); and the ``Example.context`` key ``token_index``
  (the record token positions of a window whose tokens are scattered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Collection, Mapping, Sequence

import numpy as np

# the helpers for infill_candidates' ``only`` and for schema differences live in their own modules
from encoderkit.domain_candidates import _takes_only, candidates_of
from encoderkit.domain_schema import _nth, order_differences
# the values that flow through a domain live in domain_types; plug-ins import them from here
from encoderkit.domain_types import (Example, HeadOutput, IngestReport, LazyWindows, MaskedExample, Masker,
                                     PredictFn, Record, RecordWriter, slice_example, window_bounds,
                                     window_lengths, window_starts)
from encoderkit.errors import EncoderkitError, UsageError

if TYPE_CHECKING:  # torch is imported where a tensor is made (to_tensor): the contract loads without it
    from torch import Tensor, nn


class NotSupportedError(UsageError, NotImplementedError):
    """A command needs an optional method this domain does not implement (``read_input``,
    ``infill``, ...): one line naming the domain and the method. Still a
    ``NotImplementedError``, so ``except NotImplementedError`` keeps working."""


class ContractError(EncoderkitError, ValueError):
    """A domain returned something the contract does not allow (positions whose width is
    not ``rope_axes``): one line naming the domain class and what to change."""


def _who(domain: Any) -> str:
    cls = domain if isinstance(domain, type) else type(domain)
    return f"domain {cls.name!r} ({cls.__module__}.{cls.__qualname__})"


def check_positions(domain: Domain, positions: np.ndarray) -> None:
    """Refuse positions that are not ``[L, domain.rope_axes]``: a width the encoder does not
    rotate by would be dropped silently (a domain that leaves ``rope_axes`` at 0 trains an
    order-blind model). Called where the core first sees a domain's examples."""
    shape = getattr(positions, "shape", None)
    axes = domain.rope_axes
    if shape is not None and len(shape) == 2 and shape[1] == axes:
        return
    if shape is None or len(shape) != 2:
        raise ContractError(f"{_who(domain)} returned positions of shape {tuple(shape or ())}; positions "
                            f"must be 2-D [L, rope_axes] = [L, {axes}] (a 1-D index i is i[:, None] "
                            f"with rope_axes = 1)")
    raise ContractError(f"{_who(domain)} returned positions of width {shape[1]} ([L, {shape[1]}]) but its "
                        f"rope_axes is {axes}; set the class attribute rope_axes = {shape[1]} (the number "
                        f"of rotary position axes) or return [L, {axes}] positions")


class Domain:
    """Base class for domain adapters. Subclasses set ``name`` and override the
    abstract methods; the defaults below are the common behaviour.

    A domain instance is built from the store's schema (vocabulary, columns,
    normalisation) and the run's options (the Hydra ``domain`` group minus ``name``):
    ``Domain(schema, **options)``. ``options`` must be JSON-serialisable, because
    the run directory stores them to rebuild the domain at inference.
    """

    name: ClassVar[str] = ""
    #: the number D of rotary position axes: ``featurize`` returns positions ``[L, D]``
    #: with D == rope_axes (checked; a mismatch is refused). 0 (the default): no positions,
    #: ``[L, 0]``, every layer global, a permutation-equivariant model (sets); a sequence
    #: domain sets 1 and returns its token index as ``[L, 1]``
    rope_axes: int = 0
    #: index within every window of a [CLS]-like pooling element, or None when the
    #: domain has none (``task.pooling=cls``, ``embed pooling=cls`` and export-hf cls pooling need one)
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
    #: whether the domain's fill reads ``training_store`` (a table's blend): infill's
    #: ``store=`` is refused for any other (it was checked, or ignored, and never used)
    reads_training_store: ClassVar[bool] = False
    #: what the run's checkpoint recorded of that store (``identity``, ``records``), so that a
    #: store appended to since is read up to the run's records only
    #: (``encoderkit.data.ingest.run_records``); None: unknown, every record
    training_inputs: Mapping[str, Any] | None = None
    #: the run directory the loaded run was read from (``Pretrained.run_dir``), set with
    #: ``training_store``: a domain may keep there what it derives from the run's records and
    #: would otherwise derive again in every process (a table's fitted imputers,
    #: ``domains/tabular/imputer_files.py``). None: no run directory (``impute``, a checkpoint
    #: outside a run's layout), nothing kept
    run_dir: str | None = None

    #: whether this class's ``infill_candidates`` takes ``only=`` (set per subclass, from the
    #: method it resolves to: an override from before ``only`` existed does not)
    _candidates_take_only: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._candidates_take_only = _takes_only(cls.infill_candidates)

    def __init__(self, schema: Mapping[str, Any], **options: Any) -> None:
        self.schema = dict(schema)
        self.options = dict(options)

    def _missing(self, method: str) -> str:
        return f"{_who(self)} does not implement {method}, which every domain must implement"

    # ---- ingest (class-level: no schema exists yet) ----
    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               **options: Any) -> dict[str, Any]:
        """Parse raw files, append records to ``writer``, fill ``report``; return the schema."""
        raise NotImplementedError(f"domain {cls.name!r} does not ingest files")

    # ---- per record ----
    def featurize(self, record: Record) -> Example:
        """One stored record -> per-token fields and positions ``[L, rope_axes]`` (required)."""
        raise NotImplementedError(self._missing("featurize(record) -> Example"))

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

    def featurize_windows(self, record: Record, max_seqlen: int, index: int = -1) -> Sequence[Example]:
        """The windows of one stored record, numbered ``index`` (each window's ``record``):
        ``windows(featurize(record), max_seqlen)``, positions checked (``check_positions``).
        The loader, ``embed`` and the training checks ask for windows through this hook.

        A domain may override it to cut windows before it tokenises, so that a record longer
        than memory allows is never featurized whole (genomic: a chromosome). It returns the
        same windows (fields, positions, ``window``, ``start``) and may return them as a
        ``LazyWindows``, each made when indexed; the record's fields may then be read a slice
        at a time (``record["ids"][a:b]``)."""
        example = self.featurize(record)
        check_positions(self, example.positions)  # [L, rope_axes], or refused
        example.record, example.window, example.start = index, 0, 0
        return self.windows(example, max_seqlen)

    def count_tokens(self, record: Record) -> int:
        """``len(featurize(record))``, which a domain may count without featurizing the record
        (genomic: from its runs of non-ACGT bases); ``train.steps=auto`` sums it."""
        return len(self.featurize(record))

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

    def input_columns(self) -> list[str] | None:
        """The named columns the model reads (tabular: the table's less ``drop_columns``), None
        for a domain without named columns. ``finetune`` warns when ``task.label_column`` is one
        of the columns its checkpoint was pretrained on (``tasks/finetune_label_seen.py``)."""
        return None

    @property
    def maskers(self) -> dict[str, Masker]:
        """Named maskers ``(example, rng) -> MaskedExample`` (required to pretrain); the
        ``masker`` option picks one (``mask``), checked before training (``check_masker``).
        A masker keeps its example's token count: the loader packs examples by the length of
        their (augmented) example and masks them only when their batch is collated, so a
        masked example of another length is refused (``ContractError``)."""
        raise NotImplementedError(self._missing("the property maskers -> {name: masker}"))

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

    def check_masker(self) -> None:
        """Refuse (``ValueError``) a ``masker`` option that names no masker of this domain, or a
        mixture with bad weights: called before training starts, so a typo leaves no run. A
        domain with its own ``mask`` and no ``masker`` option chooses its maskers itself."""
        if "masker" not in self.options and type(self).mask is not Domain.mask:
            return
        choice = self.options.get("masker", "random")
        names = list(choice) if isinstance(choice, Mapping) else [choice]
        unknown = [n for n in names if n not in self.maskers]
        if unknown or not names:
            raise ValueError(f"unknown masker {unknown[0] if unknown else choice!r} (option masker); "
                             f"domain {self.name!r} has maskers {sorted(self.maskers)}")
        if isinstance(choice, Mapping):
            try:
                # a boolean is no weight (``{random: true}`` read as 1.0 before)
                w = np.asarray([np.nan if isinstance(choice[k], bool) else float(choice[k]) for k in names],
                               dtype=np.float64)
            except (TypeError, ValueError):
                w = np.asarray([np.nan])
            if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
                raise ValueError(f"masker mixture {dict(choice)!r}: weights must be numbers >= 0 "
                                 f"with a positive sum")

    def unmasked(self, example: Example) -> MaskedExample:
        """The example as model input with nothing to predict (embedding)."""
        return MaskedExample(inputs=example.fields, positions=example.positions, targets={},
                             predict=np.zeros(len(example), dtype=bool), record=example.record,
                             window=example.window, start=example.start, context=example.context)

    # ---- modules ----
    def embedder(self, config: Any) -> nn.Module:
        """Module mapping ``inputs: dict[str, Tensor [T, ...]]`` to hidden ``[T, d]`` (required).
        ``config``: the run's ``encoderkit.core.EncoderConfig`` (``hidden_size``, ...)."""
        raise NotImplementedError(self._missing("embedder(config) -> nn.Module"))

    def head(self, config: Any, embedder: nn.Module | None = None) -> nn.Module:
        """Module with ``forward(hidden [P, d], targets: dict | None, weights [P] | None) -> HeadOutput``.
        ``embedder`` is given so a head can tie its decoder to the input embedding (required;
        ``config`` as for ``embedder``)."""
        raise NotImplementedError(self._missing("head(config, embedder) -> nn.Module"))

    # ---- back to domain values ----
    def decode(self, predictions: Mapping[str, np.ndarray], example: MaskedExample) -> Record:
        """Head predictions at ``example.predict`` tokens -> the record with those parts filled.
        Optional: the core never calls it; it is the domain's own helper for ``infill``."""
        raise NotSupportedError(f"{_who(self)} implements no decode(predictions, example)")

    def to_records(self, data: Any) -> list[Record]:
        """User-facing data (strings, frames, arrays, files) -> records as the store holds them,
        each with its ``"id"``. Optional: without it, Python callers pass stores or records."""
        raise NotSupportedError(f"{_who(self)} implements no to_records(data), so it cannot turn "
                                f"{type(data).__name__} into records")

    def row_index(self, data: Any) -> Any:
        """The index of in-memory user data whose records are its rows, in record order
        (a table's DataFrame index), or None where records are not rows (series, sequences,
        sets: the default). Python outputs per record keep it (``FineTuned.predict``), and
        labels given as a Series / DataFrame line up on it (``evaluate``), as pandas users
        expect: a slice ``df.iloc[100:]`` predicted and assigned back lands on its rows."""
        return None

    def infill(self, data: Any, predict: PredictFn) -> Any:
        """Fill what is missing in ``data``; observed values come back unchanged.
        ``predict`` runs the model on masked examples (generic packing, batching), each whole:
        a domain cuts records longer than its window itself (see the module docstring).
        Optional: a domain without it cannot infill."""
        raise NotSupportedError(f"{_who(self)} implements no infill(data, predict), so it cannot fill data")

    def infill_batched(self, data: Any, predict: PredictFn, max_tokens: int) -> Any:
        """``infill(data, predict)`` calling ``predict`` a batch of about ``max_tokens``
        tokens at a time, so that a large file's examples and predictions are not all held at
        once (``encoderkit infill`` of a file, ``infill_files``); the same fills as ``infill``.
        Default: ``infill`` on the whole data (a domain whose fill needs no batching)."""
        return self.infill(data, predict)

    def infill_candidates(self, data: Any, predict: PredictFn,
                          only: Collection[str] | None = None) -> dict[str, Any]:
        """Other fills of ``data`` to compare with ``infill(data, predict)`` on held-back
        observed cells (``encoderkit impute select=auto`` keeps, per column / channel, the
        one that wins clearly): classical imputers, variants of the model's own fill. By
        name, each in ``infill``'s output form, observed values unchanged; a candidate may
        leave the cells of a column / channel it does not apply to missing. ``only``: the
        names wanted (the ones chosen, when ``impute`` fills the file; None: every one), so
        that the others, a model pass among them, are not made again. An override written
        without ``only`` still works: it is given none and makes all its fills
        (``candidates_of``). Default: none."""
        return {}

    def read_input(self, path: str) -> Any:
        """A user file (FASTA, CSV, ...) -> the data ``infill``/``to_records`` accept (CLI).
        Optional: without it, ``embed`` / ``predict`` take record stores, and ``infill`` no file."""
        raise NotSupportedError(f"{_who(self)} cannot read input files (it implements no "
                                f"read_input(path)); give a record store made by `encoderkit ingest` "
                                f"where a command takes one")

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
        atomically (temporary name, then rename). Optional."""
        raise NotSupportedError(f"{_who(self)} cannot write output files (it implements no "
                                f"write_output(data, path))")

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

    def pretrained_schema_differences(self, pretrained: Mapping[str, Any]) -> list[str]:
        """Fine-tuning from a checkpoint on this domain's store: each way the store's schema (and
        the run's options) would apply a pretrained weight indexed by schema position (a column's,
        category's, channel's or token's row) to another one, or leave it none, as a phrase naming
        it (``order_differences``), the most telling first; [] when every such weight keeps its
        meaning. What leaves every weight's meaning (statistics, record counts) is no difference.
        ``pretrained``: the checkpoint's ``describe()``. The default checks nothing."""
        return []

    def token_positions(self, window: Example) -> np.ndarray:
        """Token tasks (``task.type=token_*``): the record position each token of ``window``
        (an example from ``windows``) labels and predicts, ``[L]`` int64, -1 for a token that
        stands for none (a [CLS]: no label, no prediction row). A record's positions are its
        featurized tokens without the [CLS], in order. Default: the token at ``cls_position``
        is -1, the others are ``start, start + 1, ...`` (so with a [CLS], ``start`` is the
        position of the window's first token after it); a window whose ``context`` holds
        ``token_index`` (its tokens' indices among the record's featurized tokens, [CLS]
        included) maps through it. A domain whose tokens are not record positions in some
        setting raises a ``UsageError`` naming the setting (sets in curve order)."""
        n, cls = len(window), self.cls_position
        has_cls = cls is not None and 0 <= cls < n
        index = (window.context or {}).get("token_index")
        if index is not None:  # [CLS] included: positions after the record's [CLS] move down one
            t = np.asarray(index, dtype=np.int64)
            out = t if cls is None else np.where(t == cls, -1, t - (t > cls))
        else:
            out = np.arange(n - has_cls, dtype=np.int64) + int(window.start)
        if has_cls:
            out = np.insert(out, cls, -1) if index is None else np.where(np.arange(n) == cls, -1, out)
        return out


def __getattr__(name: str) -> Any:
    """``torch``, ``nn`` and ``Tensor`` stay importable from this module (plug-ins written when
    it imported torch at the top), loaded on first use so the contract itself loads without it."""
    if name in ("torch", "nn", "Tensor"):
        import torch

        return {"torch": torch, "nn": torch.nn, "Tensor": torch.Tensor}[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_tensor(x: np.ndarray) -> Tensor:
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))
