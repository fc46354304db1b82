"""`SetsDomain`: sets of elements (an item id, features, optional 2-D/3-D coordinates).

Tokens are elements. Without coordinates the positions are empty (D = 0) and the
encoder is exactly permutation-equivariant over elements; with coordinates they are
the rotary positions (``coords / unit``, relative to the set's own origin), so
attention depends only on relative placement and the model is translation-invariant.
Each element's embedding also carries its offset from the set's centroid in units of
the set's RMS radius (``offset_bands`` Fourier bands; a chunk keeps the offsets of its
whole set), so an element knows where in its set it sits; this part is invariant to
translation and scale. The rotary encoding is axis-aligned: rotating a set changes its outputs (use
``random_rotation`` augmentation to learn rotation robustness).

Element order. ``order="input"`` keeps the data's order and expects every layer
global (``model.global_every=1``; the core does so by itself without coordinates).
For large point sets ``order="zorder"|"hilbert"`` serialises elements along a
space-filling curve of their quantised coordinates, so sliding-window layers see
spatial neighbourhoods (Point Transformer V3). Translation invariance is then only
approximate: the curve is computed on a grid anchored at the set's bounding box,
so a translation that changes the quantisation can change the order, and hence
which elements share a window (global layers and rotary stay relative).

Sets longer than ``max_seqlen`` are cut by ``windows`` into ``k = ceil(n / cap)``
chunks of near-equal size, deterministically: ``spatial`` chunking takes contiguous
runs along the curve order (Hilbert when ``order="input"``), ``random`` chunking a
permutation seeded by ``(chunk_seed, n)``; both depend only on the set itself, so a
set's embedding never changes between runs. A chunk's ``context["elements"]`` names
its elements (indices into the featurized set); chunks are not contiguous runs of
tokens, so per-token outputs of a chunked set (``embed(pooling="none")``) must be
mapped back through it (pooled embeddings need nothing).

Pooling. Mean pooling over elements is the default. ``pooling_token=true`` prepends a
learned [CLS] element (never masked, no item, no features) at the centroid of the
set's positions, so it too is translation-equivariant; ``pooling`` records which
pooling downstream code should use.

The class keeps the tokens, windows and decoding; its options and their checks are
``options.py``'s, its training masks ``masking.py``'s and its user data ``userdata.py``'s.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from encoderkit.domain import (Domain, Example, IngestReport, MaskedExample, PredictFn, Record,
                               RecordWriter)
from encoderkit.errors import UsageError, unknown_options

from . import digits
from .curves import curve_order
from .ingest import CLS, ELEM, FORMAT_VERSION, MASK, MISSING_ID, NUM_SPECIAL, encode_ids, ingest_files
from .io import Layout, as_item, raws_to_python
from .masking import SetsMasking
from .option_scope import OPTION_SCOPE
from .options import CHUNKINGS, DEFAULTS, ORDERS, POOLINGS, check_options  # noqa: F401 (re-exported)
from .plausible import plausible_features
from .schema_match import pretrained_schema_differences as _schema_differences
from .userdata import SetsUserData
from .views import relative_positions, sets_views

if TYPE_CHECKING:
    from torch import nn


class SetsDomain(SetsUserData, SetsMasking, Domain):
    name = "sets"
    infill_options = {"window": "infill_max_seqlen"}
    input_formats = "long-format .csv (.csv.gz) or ragged .npz; empty cells / NaN features are filled"
    saved_run_defaults = {"offset_bands": 0}  # runs saved before the offset embedding existed
    option_scope = OPTION_SCOPE  # where its options take effect (option_scope.py)

    def __init__(self, schema: Mapping[str, Any], **options: Any) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ValueError(unknown_options(unknown, DEFAULTS, "the sets domain"))
        opts = {**DEFAULTS, **options}
        version = schema.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"sets schema format_version {version!r} is not supported (this "
                             f"version reads {FORMAT_VERSION}); re-ingest the data")
        super().__init__(schema, **opts)
        self.has_ids = bool(schema["has_ids"])
        self.vocab: list[str] = list(schema["vocab"])
        self.index = {item: NUM_SPECIAL + i for i, item in enumerate(self.vocab)}
        self.num_features = len(schema["feature_names"])
        self.mean = np.asarray(schema["feature_mean"], dtype=np.float64)
        self.std = np.asarray(schema["feature_std"], dtype=np.float64)
        self.coord_dims = len(schema["coord_names"])
        check_options(opts, set(self.maskers), self.coord_dims, self.schema.get("coord_extent"), self.has_ids,
                      self.num_features)
        self.use_coordinates = bool(opts["use_coordinates"]) and self.coord_dims > 0
        self.rope_axes = self.coord_dims if self.use_coordinates else 0
        if self.options["pooling"] is None:
            self.options["pooling"] = "cls" if opts["pooling_token"] else "mean"
        # the pooling element leads every chunk (task.pooling=cls in encoderkit finetune)
        self.cls_position = 0 if opts["pooling_token"] else None

    # ---- ingest ----------------------------------------------------------------------
    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               **options: Any) -> dict[str, Any]:
        return ingest_files(sources, writer, report, **options)

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + len(self.vocab)

    # ---- per record ------------------------------------------------------------------
    def statistics_split(self) -> dict[str, Any] | None:
        """The split of the feature means / stds (ingest ``validation_fraction`` / ``split_seed``,
        their train side fed them); None for a store ingested before it was recorded."""
        return self.schema.get("statistics_split")

    def _num_elements(self, record: Record) -> int:
        for key in ("ids", "features", "coords"):
            if key in record:
                return int(np.shape(record[key])[0])
        raise ValueError(f"record {record.get('id', '?')!r} has none of the fields ids, "
                         "features, coords")

    def featurize(self, record: Record) -> Example:
        """A stored record -> element tokens. Also accepts a user set dict (``ids`` as a
        list of items, lists for ``features`` / ``coords``), so ``embed`` can take the
        same dicts as ``infill``; integer numpy ``ids`` are read as stored token ids."""
        n = self._num_elements(record)
        if self.has_ids:
            ids = record.get("ids")
            if ids is None:
                ids = [None] * n
            if not (isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"):
                ids = encode_ids([as_item(v) for v in ids], self.index)
            stored = np.asarray(ids, dtype=np.int64)
            ids = np.where(stored == MISSING_ID, MASK, stored)  # a missing item is hidden
        else:
            ids = np.full(n, ELEM, dtype=np.int64)
        fields = {"ids": ids}
        if self.num_features:
            raw = np.asarray(record["features"], dtype=np.float64).reshape(n, self.num_features)
            observed = ~np.isnan(raw)
            values = np.where(observed, (raw - self.mean) / self.std, 0.0)
            fields["features"] = values.astype(np.float32)
            fields["observed"] = observed
        elements = np.arange(n)
        if self.use_coordinates:
            coords = np.asarray(record["coords"], dtype=np.float64)
            # the set's own origin, in float64: large absolute coordinates keep precision
            origin = coords.min(axis=0) if n else np.zeros(self.coord_dims)
            positions = ((coords - origin) / float(self.options["unit"])).astype(np.float32)
            if self.options["order"] != "input" and n:
                elements = curve_order(coords, self.options["order"], self.options["curve_bits"])
                fields = {k: v[elements] for k, v in fields.items()}
                positions = positions[elements]
        else:
            positions = np.zeros((n, 0), dtype=np.float32)
        example = Example(fields=fields, positions=positions, record=int(record.get("_index", -1)),
                          context={"elements": elements, "record": record, "cls": False})
        return self._with_cls(self._with_rel_pos(example))

    @property
    def offset_bands(self) -> int:
        return int(self.options["offset_bands"]) if self.rope_axes else 0

    def _with_rel_pos(self, example: Example) -> Example:
        """Add the ``rel_pos`` field: each element's place in its set, relative to the
        set's centroid and in units of its RMS radius (``relative_positions``)."""
        if not self.offset_bands:
            return example
        fields = {**example.fields, "rel_pos": relative_positions(example.positions)}
        return Example(fields=fields, positions=example.positions, record=example.record,
                       window=example.window, start=example.start, context=example.context)

    def _with_cls(self, example: Example) -> Example:
        """Prepend the pooling element at the centroid of the positions (if configured)."""
        if not self.options["pooling_token"]:
            return example
        pos = example.positions
        centroid = pos.astype(np.float64).mean(axis=0) if len(pos) else np.zeros(pos.shape[1])
        fields = {}
        for key, value in example.fields.items():
            first = np.zeros((1, *value.shape[1:]), dtype=value.dtype)
            if key == "ids":
                first[0] = CLS
            fields[key] = np.concatenate([first, value])
        positions = np.concatenate([centroid[None].astype(pos.dtype), pos])
        return Example(fields=fields, positions=positions, record=example.record,
                       window=example.window, start=example.start,
                       context={**example.context, "cls": True})

    def _strip_cls(self, example: Example) -> Example:
        if not example.context.get("cls"):
            return example
        return Example(fields={k: v[1:] for k, v in example.fields.items()},
                       positions=example.positions[1:], record=example.record,
                       window=example.window, start=example.start,
                       context={**example.context, "cls": False})

    def chunk_groups(self, example: Example, max_seqlen: int) -> list[np.ndarray]:
        """Token indices (into the example without [CLS]) of each chunk, ascending."""
        body = self._strip_cls(example)
        n = len(body)
        cap = max_seqlen - (1 if self.options["pooling_token"] else 0)
        if cap < 1:
            raise ValueError(f"max_seqlen={max_seqlen} leaves no room for elements next to the "
                             "pooling token; use max_seqlen >= 2")
        if n <= cap:
            return [np.arange(n)]
        k = math.ceil(n / cap)
        chunking = self.options["chunking"]
        if chunking == "auto":
            chunking = "spatial" if self.rope_axes else "random"
        if chunking == "spatial":
            if self.options["order"] != "input":
                order = np.arange(n)  # already along the curve
            else:
                order = curve_order(body.positions, "hilbert", self.options["curve_bits"])
        else:
            order = np.random.default_rng([self.options["chunk_seed"], n]).permutation(n)
        return [np.sort(g) for g in np.array_split(order, k)]

    def windows(self, example: Example, max_seqlen: int) -> list[Example]:
        groups = self.chunk_groups(example, max_seqlen)
        if len(groups) == 1:
            return [example]
        body = self._strip_cls(example)
        has_cls = 1 if example.context.get("cls") else 0
        out = []
        for w, g in enumerate(groups):
            chunk = Example(fields={k: v[g] for k, v in body.fields.items()},
                            positions=body.positions[g], record=example.record, window=w,
                            start=int(g[0]),
                            context={**body.context, "elements": body.context["elements"][g]})
            chunk = self._with_cls(chunk)
            # where each chunk token sits in the record's token sequence (its own [CLS] on the
            # record's), so per-token outputs (pooling="none") land on their elements
            index = g + has_cls
            chunk.context["token_index"] = np.concatenate([[0], index]) if len(chunk) > len(g) else index
            out.append(chunk)
        return out

    def token_positions(self, window: Example) -> np.ndarray:
        """Token tasks: a token is the element at its file position only with ``order=input``,
        no pooling token and whole sets; otherwise per-element labels and prediction rows
        would land on other elements, so the setting is refused by name."""
        ctx = window.context or {}
        if self.options.get("order") not in (None, "input"):
            raise UsageError(f"token tasks need domain.order=input: with order={self.options['order']} "
                             f"the tokens are the elements in curve order, not file order, so "
                             f"per-element labels and predictions would land on other elements")
        if ctx.get("cls") or self.options.get("pooling_token"):
            raise UsageError("token tasks need domain.pooling_token=false: the [CLS] token before the "
                             "elements would shift every per-element label and prediction by one")
        if ctx.get("token_index") is not None:
            raise UsageError("token tasks need every record to fit data.max_seqlen: a record with more "
                             "elements is cut into chunks of scattered elements, whose labels and "
                             "predictions would not line up; raise data.max_seqlen past the longest record")
        elements = ctx.get("elements")
        if elements is not None and not np.array_equal(np.asarray(elements), np.arange(len(elements))):
            raise UsageError("token tasks need tokens in the record's own order: this domain's tokens "
                             "are its elements reordered, so per-element labels and predictions would "
                             "land on other elements")
        return super().token_positions(window)

    def augment(self, example: Example, rng: np.random.Generator) -> Example:
        jitter, rotate = float(self.options["jitter"]), self.options["random_rotation"]
        if not self.rope_axes or (jitter == 0 and not rotate):
            return example
        has_cls = 1 if example.context.get("cls") else 0
        pos = example.positions[has_cls:].astype(np.float64)
        if len(pos) == 0:
            return example
        center = pos.mean(axis=0)
        if rotate:  # in the plane of the first two axes (about z for 3-D)
            angle = rng.uniform(0.0, 2.0 * np.pi)
            c, s = np.cos(angle), np.sin(angle)
            xy = pos[:, :2] - center[:2]
            pos[:, :2] = center[:2] + xy @ np.array([[c, s], [-s, c]])
        if jitter:
            pos = pos + rng.normal(0.0, jitter / float(self.options["unit"]), size=pos.shape)
        body = self._strip_cls(example)
        # the offsets follow the moved elements; a chunk's are then its own (about its centroid)
        moved = self._with_rel_pos(Example(
            fields=body.fields, positions=pos.astype(np.float32), record=body.record,
            window=body.window, start=body.start, context=body.context))
        return self._with_cls(moved) if example.context.get("cls") else moved

    def views(self, example: Example, rng: np.random.Generator) -> tuple[Example, Example]:
        """Random element subsets + a rigid motion of the coordinates (see ``views.py``)."""
        return sets_views(self, example, rng)

    # ---- modules ---------------------------------------------------------------------
    pretrained_schema_differences = _schema_differences  # fine-tuning: items, features, coordinates

    def embedder(self, config: Any) -> nn.Module:
        if self.rope_axes and self.options["order"] == "input" and config.global_every != 1:
            warnings.warn(
                f"sets with coordinates in input order and model.global_every="
                f"{config.global_every}: sliding-window layers act on the data's element order, "
                "so outputs depend on it. Set model.global_every=1 (every layer global) or "
                "domain.order=hilbert|zorder for spatial windows.", UserWarning, stacklevel=2)
        from .modules import SetEmbedder

        return SetEmbedder(self.vocab_size, self.num_features, config.hidden_size,
                           config.initializer_range, offset_dims=self.rope_axes,
                           offset_bands=self.offset_bands)

    def head(self, config: Any, embedder: nn.Module | None = None) -> nn.Module:
        from .modules import SetEmbedder, SetHead

        tied = None
        if self.options["tie_embeddings"] and isinstance(embedder, SetEmbedder):
            tied = embedder.tok_embeddings
        return SetHead(config.hidden_size, self.vocab_size if self.has_ids else None,
                       self.num_features, norm_eps=config.norm_eps,
                       init_std=config.initializer_range,
                       id_weight=float(self.options["id_loss_weight"]),
                       feature_weight=float(self.options["feature_loss_weight"]),
                       num_special=NUM_SPECIAL, tied=tied)

    # ---- back to domain values -------------------------------------------------------
    def _fill(self, out: Record, predictions: Mapping[str, np.ndarray],
              example: MaskedExample) -> None:
        """Write predictions for the hidden parts of ``example`` into ``out`` (in place)."""
        offset = 1 if example.context.get("cls") else 0
        tokens = np.flatnonzero(example.predict)
        rows = example.context["elements"][tokens - offset]  # element indices in the record
        if self.has_ids and "ids" in predictions and len(self.vocab):
            logits = np.asarray(predictions["ids"], dtype=np.float64)[:, NUM_SPECIAL:]
            best = logits.argmax(axis=1) + NUM_SPECIAL
            hidden = example.inputs["ids"][tokens] == MASK
            out["ids"][rows[hidden]] = best[hidden].astype(out["ids"].dtype)
        if self.num_features and "features" in predictions:
            values = np.asarray(predictions["features"], dtype=np.float64) * self.std + self.mean
            hidden = ~example.inputs["observed"][tokens]  # [P, F] hidden or missing
            r, c = np.nonzero(hidden)
            out["features"][rows[r], c] = values[r, c].astype(out["features"].dtype)

    def decode(self, predictions: Mapping[str, np.ndarray], example: MaskedExample) -> Record:
        out = {k: np.array(v, copy=True) for k, v in example.context["record"].items()
               if k in ("ids", "features", "coords")}
        self._fill(out, predictions, example)
        return out

    def item(self, token: int) -> str | None:
        """Token id -> item string (None for a missing item, "[UNK]" etc. for specials)."""
        if token == MISSING_ID:
            return None
        return self.vocab[token - NUM_SPECIAL] if token >= NUM_SPECIAL else \
            self.schema["specials"][token]

    # ---- user data -------------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        return Layout(self.has_ids, list(self.schema["feature_names"]),
                      list(self.schema["coord_names"]))

    def infill_example(self, example: Example) -> MaskedExample:
        """Predict exactly the missing parts: missing items (input [MASK]) and missing
        features (input unobserved); everything observed stays as input."""
        f = example.fields
        predict = f["ids"] == MASK
        if self.num_features:
            predict = predict | ~f["observed"].all(axis=1)
        predict = predict & (f["ids"] != CLS)
        return MaskedExample(inputs=f, positions=example.positions, targets={}, predict=predict,
                             record=example.record, window=example.window, start=example.start,
                             context=example.context)

    def infill(self, data: Any, predict: PredictFn) -> Any:
        raws = self._raw_sets(data)
        records = self.to_records(raws_to_python(raws), source=data if isinstance(data, str) else "")
        masked = []
        for i, record in enumerate(records):
            if self._num_elements(record) == 0:
                continue
            example = self.featurize(record)
            for chunk in self.windows(example, int(self.options["infill_max_seqlen"])):
                m = self.infill_example(chunk)
                if m.predict.any():
                    masked.append(m)
        filled = [{k: np.array(v, copy=True) for k, v in r.items() if isinstance(v, np.ndarray)}
                  for r in records]
        if masked:
            for m, p in zip(masked, predict(masked)):
                self._fill(filled[m.record], p, m)
            # values each feature could hold (a constant feature's constant, counts >= 0, no float32 noise)
            plausible_features(raws, filled, self.mean, self.std)
        return self._write_back(data, raws, filled)

    # ---- samples ---------------------------------------------------------------------
    @classmethod
    def sample_sources(cls, directory: str) -> tuple[list[str], dict[str, Any]]:
        """The first 12 of scikit-learn's bundled digits as long-format CSV point sets."""
        import os

        sets, _ = digits.load_digit_sets(limit=12)
        path = os.path.join(directory, "digits_sets.csv")
        digits.digit_frame(sets).to_csv(path, index=False)
        return [path], dict(digits.CSV_OPTIONS)

    def sample_infill_input(self) -> Any:
        """Three digits (long format) with some intensities missing (NaN)."""
        sets, _ = digits.load_digit_sets(limit=3)
        frame = digits.digit_frame(sets)
        frame.loc[frame.index % 5 == 2, "intensity"] = np.nan
        return frame
