"""Time-series domain: patch tokens, per-window instance normalisation, 2-D rotary
positions (patch index, channel index), observed masks and imputation.

Storage (one record per series): ``values`` float32 ``[C * L]`` channel-major (channel
0's L samples, then channel 1's, ...), NaN where unobserved; meta ``channels`` = C and
``length`` = L. Channel-major flat storage was chosen over a time-major ``[L, C_max]``
grid because series in one store have different channel counts: a flat array wastes no
padding, keeps the raw samples (and their missingness) exactly, and a reshape
``[C, L]`` recovers the series.

Tokens: non-overlapping patches of ``patch`` samples of one channel, ordered
TIME-MAJOR (all channels of patch 0, then of patch 1, ...) so the core's sliding
window is a time neighbourhood over all channels; positions ``[T, 2]`` = (patch
index, channel index). ``channel_independent=true`` makes every channel its own
sequence with 1-D positions (patch index).

Normalisation happens in the masking step, not in ``featurize``: the statistics
(mean, scale per channel of the window) are computed on the samples the model will
see (observed and not hidden for training), so neither unobserved nor
training-masked samples leak into them. They travel in ``context`` so ``decode``
returns predictions in the original units.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import delimiter
from encoderkit.domain import (Domain, Example, IngestReport, MaskedExample, Record, RecordWriter,
                               window_bounds)

from . import io as tsio
from .archives import read_archive
from .augment import shift_grid
from .channel_order import ChannelOrder, merged_channel_names, refuse_channel_orders
from .files import READ_OPTIONS, SeriesFiles, file_kind, refuse_numbers_as_header
from .filling import SeriesInfill
from .layout import header_cells, warn_data_header
from .marks import is_sentinel
from .masking import RecordTokens, SeriesMasking, series_stats
from .options import auto_patch, between_series_inputs, checked_options  # noqa: F401 (re-exported)
from .option_scope import OPTION_SCOPE
from .parquet import read_series as read_parquet
from .precision import Float32Check
from .schema_match import pretrained_schema_differences as _schema_differences
from .views import timeseries_views

if TYPE_CHECKING:
    from torch import nn


class TimeSeriesDomain(SeriesFiles, SeriesInfill, SeriesMasking, Domain):
    name = "timeseries"
    infill_options = {"window": "infill_max_seqlen", "overlap": "infill_overlap",
                      "shifts": "infill_shifts"}
    input_formats = ("wide .csv / .tsv (also compressed), .parquet, .npy ([L], [C, L], [N, C, L]) or .npz; "
                     "NaN / empty cells are filled "
                     "(.ts and UCR archive .tsv are read, not written)")
    ingest_unit = "samples"  # the ingest progress bar counts tokens = channel samples
    # runs saved before these options existed are rebuilt as they were trained
    # (flat_scale: a run saved before it was recorded may have been trained with either rule:
    # masking.FLAT_SCALES says how such a run is read)
    saved_run_defaults = {"channel_embedding": False, "window_stats": False, "flat_scale": "unrecorded"}
    option_scope = OPTION_SCOPE  # where its options take effect (option_scope.py)
    # Fine-tuning from the probe head: mean and spread of the token states, no head dropout.
    # A pretrained series encoder's mean-pooled states barely differ between records, so the
    # probe needs large weights and dropout on them blows the first steps' loss up 10-40x;
    # the spread carries what the mean loses. Measured on 5 series tasks (ArrowHead
    # 0.721 -> 0.801 over 5 seeds, OSULeaf +0.043, ItalyPowerDemand, JapaneseVowels; GunPoint
    # below over 10 seeds) and not adopted for tables, where both lost: benchmarks/RESULTS.md,
    # "Pooling: the spread of the token states beside their mean"
    finetune_probe_head = {"pooling": "mean_std", "dropout": 0.0}

    @classmethod
    def merge_schemas(cls, schemas: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Schemas of files ingested apart (parallel ingest, append): the largest shapes."""
        from encoderkit.data.ingest_scale import merge_counts

        refuse_channel_orders(schemas)
        counts = [s.get("channel_observed") for s in schemas]
        names = merged_channel_names(schemas)
        merged = merge_counts([{k: v for k, v in s.items() if k not in ("channel_observed", "channel_names")}
                               for s in schemas],
                              sum_keys=("n_series", "sum_length"), max_keys=("max_channels", "max_length"))
        if names:
            merged["channel_names"] = names
        # observed samples per channel add up where every part kept them for as many channels
        if all(isinstance(c, list) for c in counts) and len({len(c) for c in counts}) == 1:
            merged["channel_observed"] = [int(sum(k)) for k in zip(*counts)]
        return merged

    @classmethod
    def schema_with_provenance(cls, schema: Mapping[str, Any],
                               provenance: Mapping[str, Any]) -> dict[str, Any]:
        """A run's ``schema`` completed with the read options (``READ_OPTIONS``) that its
        store's ingest was given (``provenance["options"]``) and the schema does not hold:
        a store ingested before 8439892 kept ``value_column`` / ``channel_column`` there only,
        and a raw long file read back without them was read as a wide table (an extra number
        column became a channel, labels flipped). ``infer.load`` calls it with the run's store."""
        given = provenance.get("options") if isinstance(provenance, Mapping) else None
        given = given if isinstance(given, Mapping) else {}
        added = {k: given[k] for k in READ_OPTIONS
                 if k not in schema and given.get(k) is not None and given.get(k) != "auto"}
        return {**schema, **added}

    def __init__(self, schema: Mapping[str, Any] | None = None, **options: Any) -> None:
        opts = checked_options(schema, options)
        p = opts["patch"]
        # the decimal mark of the last CSV read_input read (decimal=auto resolves per file):
        # write_output writes fills with it, so a '2,25' file stays one
        self.read_decimal = "."
        super().__init__(schema or {}, **opts)
        self.patch = int(p)
        self.channel_independent = bool(opts["channel_independent"])
        self.rope_axes = 1 if self.channel_independent else 2

    # ------------------------------------------------------------------ ingest
    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               **options: Any) -> dict[str, Any]:
        """CSV or Parquet (wide or long), ``.npy``, ``.npz``, ``.ts`` or UCR archive files -> one
        record per series (which reader: ``files.file_kind``). An archive file's labels
        are not stored: ``task.labels=<the same file>`` reads them when fine-tuning. Named
        channels are matched by name across the files (``channel_order.py``)."""
        return cls._ingest(sources, writer, report, ChannelOrder(), **options)

    @classmethod
    def ingest_append(cls, store: Any, sources: Sequence[str], writer: RecordWriter,
                      report: IngestReport, **options: Any) -> dict[str, Any]:
        """``ingest ... append=true``: the files' series laid out in the store's channel order
        when it names its channels (a file that writes them in another order was appended
        with its channels swapped), then the schemas merged as for files ingested apart."""
        from encoderkit.data.ingest_scale import merge_schemas

        names = store.schema.get("channel_names")
        order = ChannelOrder(names, f"the store {store.path}") if names else ChannelOrder()
        schema = cls._ingest(sources, writer, report, order, **options)
        return merge_schemas(cls, [store.schema, schema], f"{store.path} and the appended files")

    @classmethod
    def _ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
                order: ChannelOrder, **options: Any) -> dict[str, Any]:
        # Validate through the constructor: the domain config group may be passed whole.
        given = {k: v for k, v in options.items() if k != "name"}
        options = cls({}, **given).options
        fmt = options["format"]
        missing_value = options.get("missing_value")
        csv_opts = {k: options.get(k) for k in ("time_column", "series_column", "channels",
                                                "value_column", "channel_column")}
        shapes: list[tuple[int, int]] = []
        observed: list[np.ndarray] = []  # per kept series, its observed samples per channel
        named: set[tuple[str, ...] | None] = set()  # each file's channel names (None: unnamed)
        # a store appended to that holds a to_csv index as a channel (ingested before
        # row_labels.py) reads it as one still, where its records have it
        kept = sorted({n for names in order.orders for n in names})
        for path in sources:
            kind = file_kind(path, fmt, any(csv_opts.values()))  # a column role: a table
            if kind == "csv":
                if fmt == "auto":
                    refuse_numbers_as_header(path, any(csv_opts.values()))
                warn_data_header(path, header_cells(path, options["delimiter"] or delimiter(path)))
                series = tsio.read_csv(path, **csv_opts, sep=options["delimiter"], decimal=options["decimal"],
                                       missing_value=missing_value, index_channels=kept)
                report.warnings.extend(w for w in [order.match(series, path)] if w)
                named.update(tuple(map(str, s.channel_names)) or None for s in series)
            elif kind == "parquet":  # read as a CSV of the same data (parquet.py)
                series = read_parquet(path, **csv_opts, missing_value=missing_value, index_channels=kept)
                report.warnings.extend(w for w in [order.match(series, path)] if w)
                named.update(tuple(map(str, s.channel_names)) or None for s in series)
            elif kind in ("npy", "npz"):
                series = tsio.read_numpy(path)
            elif kind in ("ts", "ucr"):
                archive = read_archive(path, kind)
                series = [tsio.Series(rid, v) for rid, v in zip(archive.ids, archive.series)]
            else:
                raise ValueError(f"{path}: unknown time-series file type {kind!r}; expected "
                                 f".csv, .parquet, .npy, .npz, .ts or a UCR archive .tsv (or set "
                                 f"format=csv|parquet|npy|npz|ts|ucr)")
            if kind not in ("csv", "parquet"):
                named.add(None)
            fine = Float32Check()  # a channel float32 flattens: one warning per file
            shapes += [cls._write_series(s, writer, report, missing_value, path, fine, observed) for s in series]
            fine.warn(path)
        schema = {"format_version": 1, "storage": "values: float32 [C*L] channel-major, NaN = "
                  "unobserved; meta channels=C, length=L", **cls._length_counts(shapes),
                  "missing_value": missing_value, "time_column": options["time_column"],
                  "series_column": options["series_column"],
                  # a long layout's columns, so a raw long file is read back as ingest read it
                  # (only when given: stores without them stay as they were, for append)
                  **{k: options[k] for k in ("value_column", "channel_column") if options[k]},
                  # format=ucr, so a .txt of the archive is read back as one (see files.py)
                  **({"format": "ucr"} if fmt == "ucr" else {}),
                  # a CSV's separator and decimal mark, as given (only then, like the long
                  # layout's columns), so its files are read back and written back with them
                  **({"delimiter": options["delimiter"]} if options["delimiter"] else {}),
                  **({"decimal": options["decimal"]} if options["decimal"] != "auto" else {}),
                  # the channels of wide tables that all name the same ones: a table read back
                  # (predict, embed, infill) gives the model these columns, by name, whatever
                  # else it holds (an extra column was read as one more channel)
                  # (and of a long table's channel column: matched by name at ingest, so
                  # fine-tuning from a run can tell its channels are the store's)
                  **({"channel_names": list(next(iter(named)))} if len(named) == 1 and None not in named
                     and (not options["value_column"] or options["channel_column"]) else {}),
                  # observed samples per channel (series of one width only): a channel that held
                  # none is not warned of when a file read back holds none either (files.py)
                  **({"channel_observed": np.sum(observed, axis=0).astype(int).tolist()}
                     if observed and len({o.size for o in observed}) == 1 else {})}
        # the patch a model built on this store gets: the run's default is patch=auto (the
        # class's own default, 16, counted a 20-sample series as 2 tokens instead of 10)
        cls._count_tokens(report, shapes, cls(schema, **{"patch": "auto", **given}).patch)
        return schema

    @staticmethod
    def _length_counts(shapes: Sequence[tuple[int, int]]) -> dict[str, int]:
        """The schema's shape counts (``patch=auto`` reads the mean length from them)."""
        kept = [(c, l) for c, l in shapes if l]
        return {"max_channels": max((c for c, _ in kept), default=0),
                "max_length": max((l for _, l in kept), default=0),
                "n_series": len(kept), "sum_length": sum(l for _, l in kept)}

    @staticmethod
    def _count_tokens(report: IngestReport, shapes: Sequence[tuple[int, int]], patch: int) -> None:
        # tokens are patches of `patch` samples of one channel; samples are counted apart
        report.tokens += sum(c * -(-l // int(patch)) for c, l in shapes)

    @staticmethod
    def _write_series(s: tsio.Series, writer: RecordWriter, report: IngestReport, missing_value: Any,
                      path: str | None = None, fine: Float32Check | None = None,
                      observed: list[np.ndarray] | None = None) -> tuple[int, int]:
        values = np.array(s.values, dtype=np.float64)
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            report.warnings.append(f"{s.id}: {n_inf} infinite value(s) treated as missing")
        values[~np.isfinite(values)] = np.nan
        values[is_sentinel(values, missing_value)] = np.nan
        tsio.check_range(values, s.id, s.channel_names or None, path)
        if fine is not None:  # its changes finer than float32 holds (precision.py)
            fine.add(s.id, values, s.channel_names or None)
        c, l = values.shape
        if l == 0 or np.isnan(values).all():
            report.skip("empty series (no time steps)" if l == 0 else "all values missing")
            report.warnings.append(f"skipped {s.id}: {'no time steps' if l == 0 else 'every value missing'}")
            return 0, 0
        if observed is not None:
            observed.append((~np.isnan(values)).sum(axis=1))
        writer.append({"values": values.astype(np.float32).reshape(-1)},
                      meta={"channels": c, "length": l}, id=s.id)
        report.records += 1
        report.counts["samples"] += c * l
        return c, l

    @classmethod
    def ingest_arrays(cls, series: Sequence[np.ndarray], output: str, ids: Sequence[str] | None = None,
                      overwrite: bool = False, missing_value: Any = None) -> IngestReport:
        """Python API: arrays ``[L]`` or ``[C, L]`` (any lengths/channels) -> a record store."""
        from encoderkit.data.store import StoreWriter

        report = IngestReport()
        shapes: list[tuple[int, int]] = []
        fine = Float32Check()
        with StoreWriter(output, domain=cls.name, overwrite=overwrite) as writer:
            for i, arr in enumerate(series):
                label = ids[i] if ids is not None else f"series{i}"
                (s,) = tsio._array_series(np.asarray(arr), label)
                shapes.append(cls._write_series(s, writer, report, missing_value, fine=fine))
            fine.warn()
            schema = {"format_version": 1, **cls._length_counts(shapes), "missing_value": missing_value}
            cls._count_tokens(report, shapes, auto_patch(schema))
            writer.finalize(schema, {"source": "python arrays", "n": len(series)})
        return report

    # ------------------------------------------------------------------ tokens
    def _series(self, record: Record) -> np.ndarray:
        """A record -> ``[C, L]`` float64 with NaN for every unobserved sample."""
        try:
            c, l = int(record["channels"]), int(record["length"])
            values = np.asarray(record["values"], dtype=np.float64)
        except KeyError as e:
            raise ValueError(f"timeseries record {record.get('id', '?')!r} has no {e.args[0]!r}; "
                             f"records hold 'values' [C*L] and meta 'channels', 'length'") from None
        if values.size != c * l or c < 1:
            raise ValueError(f"timeseries record {record.get('id', '?')!r}: 'values' has "
                             f"{values.size} samples but channels={c} x length={l}")
        x = values.reshape(c, l).copy()
        x[~np.isfinite(x)] = np.nan
        x[is_sentinel(x, self.options["missing_value"])] = np.nan
        return x

    def featurize(self, record: Record) -> Example:
        """Record -> raw patch tokens; ``values`` stay raw (float64, 0 where unobserved)
        because normalisation waits for the training mask (see the module docstring)."""
        x = self._series(record)
        c, l = x.shape
        p = self.patch
        n = max(1, math.ceil(l / p))
        padded = np.full((c, n * p), np.nan)
        padded[:, :l] = x  # a series shorter than a patch is padded as unobserved, never dropped
        patches = padded.reshape(c, n, p)
        if self.channel_independent:
            tok = patches.reshape(c * n, p)  # channel-major: each channel its own sequence
            t_index = np.tile(np.arange(n), c)
            c_index = np.repeat(np.arange(c), n)
            positions = t_index[:, None].astype(np.int32)
        else:
            tok = patches.transpose(1, 0, 2).reshape(n * c, p)  # time-major
            t_index = np.repeat(np.arange(n), c)
            c_index = np.tile(np.arange(c), n)
            positions = np.stack([t_index, c_index], axis=1).astype(np.int32)
        observed = ~np.isnan(tok)
        values = np.where(observed, tok, 0.0)
        # the whole series' statistics per channel, which a window's channel falls back on
        # where its visible samples give none (masking.window_stats); windows share them. A
        # training window counts them again without what it hides, from the record's tokens
        # (``series_tokens``: these arrays, no copy)
        s_mean, s_scale = series_stats(values, observed, c_index, c)
        return Example(
            fields={"values": values, "observed": observed},
            positions=positions, record=int(record.get("index", -1)),
            context={"channels": c, "length": l, "patch": p, "t_index": t_index,
                     "c_index": c_index, "series_mean": s_mean, "series_scale": s_scale,
                     "series_tokens": RecordTokens(values, observed, t_index, c_index)})

    def _take(self, example: Example, idx: np.ndarray, window: int) -> Example:
        ctx = dict(example.context)
        ctx["t_index"] = example.context["t_index"][idx]
        ctx["c_index"] = example.context["c_index"][idx]
        pos = example.positions[idx].copy()
        pos[:, 0] -= pos[:, 0].min()  # each window's time axis starts at its own origin
        return Example(fields={k: v[idx] for k, v in example.fields.items()}, positions=pos,
                       record=example.record, window=window, start=example.start + int(idx[0]),
                       context=ctx)

    def windows(self, example: Example, max_seqlen: int, overlap: int | None = None) -> list[Example]:
        """Windows of whole patches covering the example, never dropping a token.

        2-D mode: each window holds every channel (or a group of ``max_seqlen`` channels
        when there are more) over ``max_seqlen // channels`` consecutive patches, with
        ``window_overlap`` patches shared between neighbours. Channel-independent
        mode: one sequence per channel, cut along time the same way.
        """
        overlap = int(self.options["window_overlap"] if overlap is None else overlap)
        t, c = example.context["t_index"], example.context["c_index"]
        n_ch = int(example.context["channels"])
        n_t = int(t.max()) + 1
        group = 1 if self.channel_independent else min(n_ch, max_seqlen)
        if not self.channel_independent and len(example) <= max_seqlen:
            return [example]
        per = max(1, max_seqlen // group)
        bounds = window_bounds(n_t, per, min(overlap, per - 1))
        out: list[Example] = []
        for c0 in range(0, n_ch, group):
            in_group = (c >= c0) & (c < c0 + group)
            for s, e in bounds:
                idx = np.flatnonzero(in_group & (t >= s) & (t < e))
                out.append(self._take(example, idx, len(out)))
        return out

    def augment(self, example: Example, rng: np.random.Generator) -> Example:
        """Training only: with ``grid_shift``, a random phase of the patch grid (``augment.py``)."""
        if not self.options["grid_shift"]:
            return example
        return shift_grid(example, self.patch, self.channel_independent, rng)

    def safe_augment(self, example: Example, rng: np.random.Generator) -> Example:
        """Fine-tuning: a random phase of the patch grid, whatever ``grid_shift`` says (the
        same series from 0..patch-1 samples later; a label of the series still holds)."""
        return shift_grid(example, self.patch, self.channel_independent, rng)

    def views(self, example: Example, rng: np.random.Generator) -> tuple[Example, Example]:
        """Time crop + jitter + hidden patches, per view (see ``views.py``)."""
        return timeseries_views(self, example, rng)

    def unmasked(self, example: Example) -> MaskedExample:
        """Every observed sample visible and normalised; nothing to predict (embedding)."""
        nothing = np.zeros(len(example), dtype=bool)
        m = self._masked(example, np.zeros_like(example.fields["observed"]), nothing)
        m.targets = {}
        return m

    def infill_example(self, example: Example) -> MaskedExample:
        """Predict every token holding a missing sample of the real series (not the
        padding past its end); observed samples stay visible, as in training."""
        observed = example.fields["observed"]
        p = observed.shape[1]
        sample = example.context["t_index"][:, None] * p + np.arange(p)  # [T, p] time of sample
        real = sample < int(example.context["length"])
        predict = (real & ~observed).any(axis=1)
        m = self._masked(example, np.zeros_like(observed), predict)
        m.targets = {}
        return m

    # ------------------------------------------------------------------ modules
    pretrained_schema_differences = _schema_differences  # fine-tuning: the channels, by name

    def embedder(self, config: Any) -> nn.Module:
        from .modules import PatchEmbedder

        fields = ("values", "observed") + (("baseline",) if self.options["baseline"] != "none" else ())
        return PatchEmbedder(self.patch, int(config.hidden_size),
                             float(getattr(config, "initializer_range", 0.02)), fields=fields,
                             channels=self.embedded_channels,
                             window_stats=bool(self.options["window_stats"]))

    @property
    def embedded_channels(self) -> int:
        """Rows of the learned channel-identity table (0: none). Only multichannel stores
        in the joint layout get one: a univariate series has no channel to tell apart, and
        channel-independent sequences are meant to share everything across channels."""
        n = int(self.schema.get("max_channels") or 0)
        if not self.options["channel_embedding"] or self.channel_independent or n < 2:
            return 0
        return n

    def head(self, config: Any, embedder: nn.Module | None = None) -> nn.Module:
        from .modules import PatchHead

        return PatchHead(self.patch, int(config.hidden_size),
                         float(getattr(config, "initializer_range", 0.02)),
                         loss_delta=self.options["loss_delta"])

    # ------------------------------------------------------------------ decode / infill
    def decode(self, predictions: Mapping[str, np.ndarray], example: MaskedExample) -> Record:
        """Predictions at the predicted tokens -> the window as a record, in original units.

        Every sample of a predicted token that the model did not see is replaced by the
        prediction; visible samples keep their raw value; the rest stay NaN. Extra keys:
        ``filled`` (bool, same layout as ``values``), ``time_start`` (first sample of the
        window in the series) and ``channel_ids`` (the window's channels in the series).
        """
        ctx = example.context
        p = int(ctx["patch"])
        t, c = ctx["t_index"], ctx["c_index"]
        raw = np.where(ctx["raw_observed"], ctx["raw"], np.nan)  # [T, p]
        filled = np.zeros(raw.shape, dtype=bool)
        pred = np.asarray(predictions["values"], dtype=np.float64)  # [P, p]
        rows = np.flatnonzero(example.predict)
        if self._falls_back(ctx):  # too short to trust the model: the baseline alone
            pred = np.zeros_like(pred)
        if "flat" in ctx:  # a channel seen as one value (or none) here: the baseline, its level
            pred = np.where(ctx["flat"][c[rows], None], 0.0, pred)
        pred = pred + ctx["baseline"][rows]  # the head predicts the residual over the baseline
        denorm = pred * ctx["scale"][c[rows], None] + ctx["mean"][c[rows], None]
        unseen = ~example.inputs["observed"][rows]
        raw[rows] = np.where(unseen, denorm, raw[rows])
        filled[rows] = unseen
        chans = np.unique(c)
        t0, t1 = int(t.min()), int(t.max()) + 1
        grid = np.full((len(chans), (t1 - t0) * p), np.nan)
        fgrid = np.zeros(grid.shape, dtype=bool)
        ci = np.searchsorted(chans, c)
        cols = (t - t0)[:, None] * p + np.arange(p)
        grid[ci[:, None], cols] = raw
        fgrid[ci[:, None], cols] = filled
        end = min(grid.shape[1], int(ctx["length"]) - t0 * p)  # drop padding past the series end
        grid, fgrid = grid[:, :end], fgrid[:, :end]
        return {"values": grid.reshape(-1), "filled": fgrid.reshape(-1), "channels": len(chans),
                "length": end, "time_start": t0 * p, "channel_ids": chans}

    @staticmethod
    def plot_infill(data: np.ndarray, filled: np.ndarray, path: str,
                    truth: np.ndarray | None = None, title: str | None = None) -> None:
        """Plot a series ``[L]`` or ``[C, L]``: observed values, filled values and, when
        given, the hidden truth at the filled samples (benchmarks)."""
        from .plot import plot_infill
        plot_infill(data, filled, path, truth=truth, title=title)

    # ------------------------------------------------------------------ samples
    @classmethod
    def sample_sources(cls, directory: str) -> tuple[list[str], dict[str, Any]]:
        """statsmodels' bundled series as wide CSV files with a ``time`` column: 20 years
        of weekly Mauna Loa CO2 (1 channel, with its real gaps) and three channels of the
        quarterly US macro data (about 25 kB in all)."""
        import statsmodels.api as sm

        os.makedirs(directory, exist_ok=True)
        co2 = sm.datasets.co2.load_pandas().data.iloc[:1040]
        macro = sm.datasets.macrodata.load_pandas().data
        paths = [os.path.join(directory, "co2.csv"), os.path.join(directory, "macro.csv")]
        pd.DataFrame({"time": co2.index.strftime("%Y-%m-%d"), "co2": co2["co2"]}).to_csv(
            paths[0], index=False)
        pd.DataFrame({"time": macro["year"] + (macro["quarter"] - 1) / 4,
                      "realgdp": macro["realgdp"], "realcons": macro["realcons"],
                      "realinv": macro["realinv"]}).to_csv(paths[1], index=False)
        return paths, {"time_column": "time"}

    def sample_infill_input(self) -> np.ndarray:
        """Four years of weekly CO2 (from 1990) with a missing week and a ten-week gap."""
        import statsmodels.api as sm

        x = sm.datasets.co2.load_pandas().data["co2"].to_numpy(np.float64)[1670:1878].copy()
        x[30] = np.nan
        x[100:110] = np.nan
        return x
