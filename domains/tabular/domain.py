"""The tabular domain: one record per row, one token per column.

Token design: every schema column gives a token, present or missing, with an
``observed`` flag. Missing cells stay as tokens (the column's learned "missing"
embedding) because infill reads the prediction for a missing cell from that
cell's own hidden state; they are never training targets. Every record of a
store thus has the same length (the number of columns), which also makes packing
trivial.

Token fields ``[L]``: ``column`` int64 (schema index), ``cat`` int64 (category
code, 0 = unknown, 0 for numeric cells), ``num`` float32 (normalised value, 0 for
categorical or missing cells), ``observed`` bool.

Positions: none by default (``rope_axes = 0``: a row is a set of cells, every
layer is global, and the model is equivariant to column order; column identity
comes from the column embedding). ``column_positions: true`` adds the column
index as a 1-D rotary position.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.domain import Domain, Example, IngestReport, MaskedExample, Masker, RecordWriter
from encoderkit.data.masking import choose_random
from encoderkit.data.textfiles import delimiter, write_table
from encoderkit.errors import DataError, unknown_options
from encoderkit.outputs import atomic_write, check_output_kind

from domains.tabular.appending import append_files, read_files, write_rows
from domains.tabular.blend import BLENDS
from domains.tabular.columnrecords import reading_options, records_by_column
from domains.tabular.compressed import TextBeyond
from domains.tabular.filling import TableInfill
from domains.tabular.parquet_out import write_parquet
from domains.tabular.layout import TableLayout
from domains.tabular.reading import _plain_index, read_table
from domains.tabular.records import TableRecords
from domains.tabular.schema_match import pretrained_schema_differences as _schema_differences
from domains.tabular.schema_match import schema_differences
from domains.tabular.schema import (SCHEMA_VERSION, as_frame, bin_index, check_ingest_options,
                                    encode_frame, infer_schema)
from domains.tabular.streaming import ingest_streamed, streams, whole_limit
from domains.tabular.encoding import BinEdges, not_a_table
from domains.tabular.views import tabular_views
from domains.tabular.option_scope import OPTION_SCOPE
# moved out, importable from here as before: the runtime options, the label values, the
# DataFrame entry points
from domains.tabular.runtime_options import MASKERS, NUMERIC_DECODE, OPTION_DEFAULTS, _check_float  # noqa: F401
from domains.tabular.labels import _stored_numbers, label_values_of  # noqa: F401
from domains.tabular.frames import ingest_frame, sample_frame  # noqa: F401

if TYPE_CHECKING:  # the modules import torch: loaded by embedder / head only
    from domains.tabular.modules import TabularEmbedder, TabularHead


class TabularDomain(TableInfill, Domain):
    name = "tabular"
    infill_options = {"numeric_decode": "numeric_decode", "infill_blend": "infill_blend"}
    reads_training_store = True  # the blend's imputers fit on the run's records (filling.py)
    saved_run_defaults = {"drop_columns": []}  # runs saved before tabular.yaml listed it
    input_formats = ".csv / .tsv / .tab / .txt (also .gz, .bz2, .xz, .zip, .zst) or .parquet; empty cells are filled"
    ingest_unit, ingest_counts = "rows", "records"  # the ingest progress bar counts rows
    option_scope = OPTION_SCOPE  # where its options take effect (option_scope.py)
    # LP-FT by default (task.lp_fraction=auto): on a few hundred labelled rows, fine-tuning the
    # whole encoder from a random head lost to its frozen features on every table measured;
    # the head alone for 30% of the steps gained on breast_cancer, anes96, diabetes and wine
    # (benchmarks/RESULTS.md, "Fine-tuning on two more real tables")
    finetune_lp_fraction = 0.3

    def __init__(self, schema: Mapping[str, Any], **options: Any) -> None:
        unknown = sorted(set(options) - set(OPTION_DEFAULTS))
        if unknown:
            raise ValueError(unknown_options(unknown, OPTION_DEFAULTS, "the tabular domain"))
        opts = {**OPTION_DEFAULTS, **options}
        m = opts["masker"]
        names = list(m) if isinstance(m, Mapping) else [m]
        bad = [x for x in names if x not in MASKERS]
        if bad or not names:
            raise ValueError(f"The 'masker' option of the tabular domain must be one of {list(MASKERS)} "
                             f"or a {{name: weight}} mixture of them. Got {m!r} instead.")
        if isinstance(m, Mapping):
            opts["masker"] = {k: _check_float(m, k, 0.0, None) for k in m}
        opts["mask_rate"] = _check_float(opts, "mask_rate", 0.0, 1.0)
        opts["column_max_fraction"] = _check_float(opts, "column_max_fraction", 0.0, 1.0)
        for key in ("cat_weight", "num_weight", "reg_weight"):
            opts[key] = _check_float(opts, key, 0.0, None)
        v = opts["window_overlap"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"The 'window_overlap' option of the tabular domain must be an int >= 0 "
                             f"(tokens). Got {v!r} instead.")
        if opts["numeric_decode"] not in NUMERIC_DECODE:
            raise ValueError(f"The 'numeric_decode' option of the tabular domain must be one of "
                             f"{list(NUMERIC_DECODE)}. Got {opts['numeric_decode']!r} instead.")
        if opts["infill_blend"] not in BLENDS:
            raise ValueError(f"The 'infill_blend' option of the tabular domain must be one of "
                             f"{list(BLENDS)}. Got {opts['infill_blend']!r} instead.")
        if not isinstance(opts["column_positions"], bool):
            raise ValueError(f"The 'column_positions' option of the tabular domain must be true or "
                             f"false. Got {opts['column_positions']!r} instead.")
        if not schema or "columns" not in schema:
            raise ValueError("the tabular domain needs a schema with 'columns' (from a tabular store)")
        if schema.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(f"tabular schema version {schema.get('version')!r} is not supported "
                             f"(this version reads {SCHEMA_VERSION})")
        names = [str(c["name"]) for c in schema["columns"]]
        drop = opts["drop_columns"]
        if not isinstance(drop, (list, tuple)) or any(str(c) not in names for c in drop):
            raise ValueError(f"The 'drop_columns' option of the tabular domain must be a list of "
                             f"column names of the table ({names}). Got {drop!r} instead.")
        opts["drop_columns"] = [str(c) for c in drop]
        super().__init__(schema, **opts)
        self.columns = list(self.schema["columns"])
        # each numeric column's edges as bin_index searches them, once (hide runs per example)
        self._bins = [BinEdges(c["edges"]) if c["kind"] == "numeric" else None for c in self.columns]
        self._keep = np.asarray([c not in set(opts["drop_columns"]) for c in names], dtype=bool)
        self.layout = TableLayout(self.schema)
        self.rope_axes = 1 if opts["column_positions"] else 0
        # the decimal mark of the last text table read_input read (decimal=auto resolves per
        # file): write_output writes a table back with it, so a '2,25' file stays one
        self.read_decimal = "."
        self.read_newline, self.read_bom = "\n", False  # line end and byte-order mark, likewise
        self.read_row_end = False  # whether each data row ended with a separator the header lacks, likewise
        self.read_index: list = []  # a Parquet file's index levels (read as columns), likewise
        self.read_schema: Any = None  # a Parquet file's Arrow schema, likewise

    # ------------------------------------------------------------ ingest
    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               **options: Any) -> dict[str, Any]:
        """CSV / TSV / Parquet files -> one record per row (files concatenated by column name);
        large files (one, or several as one table) column by column, in bounded memory, into
        the same store (``streaming.py``)."""
        opts = check_ingest_options(options)
        try:
            if streams(sources):
                return ingest_streamed(sources, writer, report, options)
            kept: list[str] = []  # missing-value words the files' text columns keep (words.py)
            try:
                frames = [frame for _, frame in read_files(sources, opts, report, whole_limit(sources), kept)]
            except TextBeyond:  # more text than its compression claimed: column by column after all
                return ingest_streamed(sources, writer, report, options)
            if not frames:
                raise ValueError("tabular ingest got no input files")
            if len(frames) > 1:  # the files' own frames go once joined: one copy of the table, not two
                frames[:] = [pd.concat(frames, ignore_index=True, sort=False)]
            if set(kept) - set(opts["keep_words"]):  # recorded: new files are read the same way
                options = {**options, "keep_words": sorted(set(kept) | set(opts["keep_words"]))}
            return cls.ingest_frame(frames, writer, report, ids=None,
                                    source=str(sources[0]) if len(sources) == 1 else None, **options)
        except DataError as e:  # e.g. no usable column: name the file(s) it came from
            if e.file is None:
                e.file = ", ".join(map(str, sources))
            raise

    @classmethod
    def ingest_frame(cls, frame: pd.DataFrame | np.ndarray | list[pd.DataFrame], writer: RecordWriter,
                     report: IngestReport, ids: Sequence[str] | None = None, source: str | None = None,
                     **options: Any) -> dict[str, Any]:
        """A DataFrame (or 2-D array, columns named ``c0, c1, ...``) -> records; returns the schema.
        A list holding one frame is emptied here (``ingest``: its table is not held twice).
        ``source``: the one file the frame was read from, whose cells messages name by data row."""
        from encoderkit.data.split import validation_mask

        opts = check_ingest_options(options)
        # (a list of row dicts is a table: as_frame reads it, rather than its last row popped)
        frame = as_frame(frame.pop() if isinstance(frame, list) and len(frame) == 1
                         and not isinstance(frame[0], Mapping) else frame)
        names = [str(c) for c in frame.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # pandas would return a frame per name and fail far from the cause
            raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                            f"need distinct names")
        # A row with no cell at all carries nothing to learn from.
        keep_cols = [c for c in frame.columns if str(c) not in set(opts["exclude"])
                     and opts["columns"].get(str(c)) != "exclude"]
        empty = frame[keep_cols].isna().all(axis=1).to_numpy() if keep_cols else np.ones(len(frame), bool)
        if empty.any():
            report.skip("row entirely missing", int(empty.sum()))
        rows = np.flatnonzero(~empty)
        if rows.size < len(frame) or not _plain_index(frame.index):  # no copy of a table kept whole
            frame = frame.iloc[rows].reset_index(drop=True)
        train = ~validation_mask(len(frame), opts["validation_fraction"], opts["split_seed"])
        schema, messages = infer_schema(frame, train, source=source, rows=rows if source else None, **options)
        for msg in messages:
            warnings.warn(msg, stacklevel=2)
        report.warnings.extend(messages)
        enc = encode_frame(frame, schema, report_text=False)  # infer_schema said it
        write_rows(writer, report, enc, rows, [str(ids[r]) for r in rows] if ids is not None else None)
        schema["ingest_options"] = {k: v for k, v in opts.items()}
        schema["statistics_rows"] = int(len(frame))  # appended rows feed none (statistics_split)
        return schema

    @classmethod
    def ingest_append(cls, store: Any, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
                      **options: Any) -> dict[str, Any]:
        """``ingest ... append=true``: the rows of ``sources`` -> records encoded with the schema
        of the existing ``store`` (its columns, categories, mean / std and quantile edges, and its
        ingest options), which is returned unchanged, as predict and infill encode a new table
        with a run's schema. So a table larger than memory is ingested in parts, each file read
        and encoded on its own: memory follows the largest part, not the whole table.

        - an ingest option given again must be the store's (a contradiction is refused);
        - a category the schema does not know is stored as the column's unknown category, with a
          warning naming the column and the count; a number outside the range seen is kept as is;
        - a schema column absent from a file is missing in its rows (warned); a column of the
          file the schema does not hold is ignored (warned); a file with none of them is refused;
        - ids continue the store's numbering: ``row<k>`` with ``k`` from one past the store's
          last row, in file order, so that no appended id repeats one of the store's.
        """
        return append_files(store, sources, writer, report, options)

    @classmethod
    def schema_differences(cls, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
        """How two files' schemas differ, in words (``ingest workers=N``: each file is read
        apart, and a table's schema is all its rows' statistics)."""
        return schema_differences(a, b)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, ingest_options: Mapping[str, Any] | None = None,
                   **options: Any) -> "TabularDomain":
        """A domain whose schema is inferred from ``frame`` (no store): the Python API path."""
        from encoderkit.data.split import validation_mask

        iopts = dict(ingest_options or {})
        frame = as_frame(frame)
        opts = check_ingest_options(iopts)
        train = ~validation_mask(len(frame), opts["validation_fraction"], opts["split_seed"])
        schema, messages = infer_schema(frame, train, **iopts)
        for msg in messages:
            warnings.warn(msg, stacklevel=2)
        schema["ingest_options"] = opts  # as ingest keeps them: later reads follow the same policy
        return cls(schema, **options)

    # ------------------------------------------------------------ per record
    def featurize(self, record: Mapping[str, Any]) -> Example:
        if "column" not in record:  # a row as {column: value} among stored records (rows alone: a table)
            raise TypeError(not_a_table([record]))
        column = np.asarray(record["column"], dtype=np.int64)
        fields = {"column": column,
                  "cat": np.asarray(record["cat"], dtype=np.int64),
                  "num": np.asarray(record["num"], dtype=np.float32),
                  "observed": np.asarray(record["observed"], dtype=bool)}
        if not self._keep.all():  # drop_columns: those cells are not inputs
            keep = self._keep[column]
            fields = {k: v[keep] for k, v in fields.items()}
            column = fields["column"]
        if self.rope_axes:
            positions = column[:, None].astype(np.int32)
        else:
            positions = np.zeros((len(column), 0), dtype=np.int32)
        return Example(fields=fields, positions=positions)

    def views(self, example: Example, rng: np.random.Generator) -> tuple[Example, Example]:
        """SCARF: the row and its corruption by column marginals (see ``views.py``)."""
        return tabular_views(self, example, rng)

    def label_values(self, records: Sequence[Mapping[str, Any]], column: str) -> np.ndarray:
        """The original values of ``column`` (category names, numbers in original units;
        NaN where missing), for ``task.label_column``.

        A number comes back as the shortest decimal that the stored float32 value pins
        down (an integer column's as an int: ``100046``, not ``100046.00000348``), so a
        class is named as the table writes it and ``evaluate`` on the table matches it.
        A category the store does not keep (past ``max_categories``) is refused: reading
        it as missing silently dropped those rows and classes from training."""
        return label_values_of(self, records, column)

    def input_columns(self) -> list[str]:
        """The columns the model reads: the table's, less ``drop_columns``. Those of a
        pretrained checkpoint are the columns its masked-LM training saw, each cell filled
        from the row's others; ``finetune`` warns when its ``task.label_column`` is one of them
        (``encoderkit/tasks/finetune_label_seen.py``)."""
        return [str(c["name"]) for c, keep in zip(self.columns, self._keep) if keep]

    def eligible(self, example: Example) -> np.ndarray:
        """Cells that may be training targets: observed, and not the unknown category."""
        f = example.fields
        is_num = self.layout.is_numeric[f["column"]]
        return f["observed"] & (is_num | (f["cat"] > 0))

    def hide(self, example: Example, predict: np.ndarray) -> MaskedExample:
        """Hide ``predict`` cells exactly as missing cells look (observed False, value 0)."""
        f = example.fields
        inputs = {k: v.copy() for k, v in f.items()}
        inputs["observed"][predict] = False
        inputs["cat"][predict] = 0
        inputs["num"][predict] = 0.0
        col = f["column"][predict]
        num = f["num"][predict].astype(np.float32)
        bins = np.zeros(len(col), dtype=np.int64)
        for j in set(col.tolist()):  # (np.unique: a sort, for the 1-3 columns a row has masked)
            if self.layout.is_numeric[j]:
                sel = col == j
                bins[sel] = bin_index(num[sel], self._bins[j])
        targets = {"column": col.astype(np.int64), "cat": f["cat"][predict].astype(np.int64),
                   "num": num, "bin": bins}
        return MaskedExample(inputs=inputs, positions=example.positions, targets=targets,
                             predict=predict, record=example.record, window=example.window,
                             start=example.start, context=example.context)

    def _mask_random(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        return self.hide(example, choose_random(self.eligible(example), self.options["mask_rate"], rng))

    def _mask_column(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        # Within a row each column is one cell, so "whole columns" means hiding a block
        # of k columns together, k uniform in 1 .. column_max_fraction of the observed
        # columns: rows that lose many columns at once, as real missingness often does.
        idx = np.flatnonzero(self.eligible(example))
        predict = np.zeros(len(example), dtype=bool)
        if idx.size:
            kmax = max(1, int(round(self.options["column_max_fraction"] * idx.size)))
            k = int(rng.integers(1, kmax + 1))
            predict[rng.choice(idx, size=k, replace=False)] = True
        return self.hide(example, predict)

    @property
    def maskers(self) -> dict[str, Masker]:
        return {"random": self._mask_random, "column": self._mask_column}

    # ------------------------------------------------------------ modules
    pretrained_schema_differences = _schema_differences  # fine-tuning: columns, categories by name

    def embedder(self, config: Any) -> TabularEmbedder:
        from domains.tabular.modules import TabularEmbedder

        return TabularEmbedder(self.layout, config.hidden_size, getattr(config, "initializer_range", 0.02))

    def head(self, config: Any, embedder: Any = None) -> TabularHead:
        from domains.tabular.modules import TabularHead

        if embedder is None:
            embedder = self.embedder(config)
        return TabularHead(self.layout, config.hidden_size, embedder,
                           cat_weight=self.options["cat_weight"], num_weight=self.options["num_weight"],
                           reg_weight=self.options["reg_weight"],
                           init_std=getattr(config, "initializer_range", 0.02),
                           norm_eps=getattr(config, "norm_eps", 1e-5))

    # ------------------------------------------------------------ decode / infill
    def decode(self, predictions: Mapping[str, np.ndarray], example: MaskedExample) -> dict[str, np.ndarray]:
        """Fill the predicted cells: categorical -> most probable known category;
        numeric -> regression value clipped to the most probable quantile bin (or to the
        training range with ``numeric_decode: regression``)."""
        lay = self.layout
        col = example.inputs["column"][example.predict]
        cat = example.inputs["cat"].copy()
        num = example.inputs["num"].copy()
        observed = example.inputs["observed"].copy()
        pos = np.flatnonzero(example.predict)
        cat_logits = np.asarray(predictions["cat_logits"], dtype=np.float64)
        bin_logits = np.asarray(predictions["bin_logits"], dtype=np.float64)
        value = np.asarray(predictions["value"], dtype=np.float64).reshape(-1)
        for i, (p, j) in enumerate(zip(pos, col)):
            if lay.is_numeric[j]:
                nb = int(lay.bin_valid[j].sum())
                if self.options["numeric_decode"] == "clip":
                    k = int(np.argmax(bin_logits[i, :nb]))
                    lo, hi = lay.edges[j, k], lay.edges[j, k + 1]
                else:
                    lo, hi = lay.edges[j, 0], lay.edges[j, nb]
                num[p] = np.float32(np.clip(value[i], lo, hi))
            else:
                kk = int(lay.cat_sizes[j]) - 1
                start = int(lay.cat_offset[j]) + 1
                cat[p] = 1 + int(np.argmax(cat_logits[i, start:start + kk]))
            observed[p] = True
        return {"column": example.inputs["column"], "cat": cat, "num": num, "observed": observed}

    def to_records(self, data: Any, source: str | None = None) -> TableRecords:
        """``data``'s rows as records; ``source``: the file they were read from, named in
        the messages about its cells."""
        frame = as_frame(data)
        # a column the run drops (a fine-tuned run's label) is read, never an input: no word on it
        enc = encode_frame(frame, self.schema, source=source, quiet=self.options["drop_columns"])
        self._check_columns(frame, enc.present, data)  # predict / embed on a raw table: matched by name
        # ids as ingest names a file's rows (row<position>): predict on the raw table and on
        # its store write the same ids, and a labels file joins either. A DataFrame's rows are
        # named by its index (df.iloc[[15, 3]] -> row15, row3: the ids of those rows in the
        # file's store), unless the index repeats a label
        index = frame.index if isinstance(data, pd.DataFrame) and frame.index.is_unique else range(len(frame))
        ids = [f"row{int(k)}" if isinstance(k, (int, np.integer)) else str(k) for k in index]
        return TableRecords(enc, ids)  # each row's record made when read (records.py)

    def row_index(self, data: Any) -> Any:
        return data.index if isinstance(data, pd.DataFrame) else None

    def read_records(self, path: str) -> TableRecords:
        """``to_records`` of the file (predict / embed / evaluate), its messages naming it. A
        file that ``ingest`` would take a column at a time (``streaming.streams``: 64 MiB of
        text or more; a compressed one whose text proves longer than its format said) is read
        so too, into the same records (``columnrecords.py``): read whole it took about 7 bytes
        of memory a byte of text."""
        if streams([path]):
            return records_by_column(self, path)
        try:
            data = self.read_input(path, limit=whole_limit([path]))
        except TextBeyond:
            return records_by_column(self, path)
        return self.to_records(data, source=path)

    def read_input(self, path: str, limit: int | None = None) -> pd.DataFrame:
        """The table file ``path`` as a DataFrame, read as the run's store was ingested.
        ``limit``: the bytes of text a compressed file is held to (``reading.read_table``)."""
        # keep_rows: the output (a filled table, predictions) has a row per input row, so a
        # ragged row is refused rather than skipped
        opts = reading_options(self.schema)
        res = read_table(path, opts["delimiter"], keep_rows=True, decimal=opts["decimal"],
                         missing_value=opts["missing_value"], keep_words=opts["keep_words"], limit=limit,
                         numbers=opts["numbers"])
        for msg in res.words_said:  # NA in a text column read as missing: its cells are filled
            warnings.warn(msg, stacklevel=2)
        self.read_decimal = res.decimal
        self.read_newline, self.read_bom, self.read_row_end = res.newline, res.bom, res.row_end
        self.read_index = res.index
        self.read_schema = res.arrow_schema
        return res.frame

    def statistics_split(self) -> dict[str, Any] | None:
        """The split the store's column statistics (means / stds, quantile edges, categories)
        were computed on at ingest: the train side of (``validation_fraction``, ``split_seed``)
        among its first ``rows`` records (None: all; appended rows fed none); None when the
        store does not say. Pretraining compares its own split with it
        (``encoderkit.data.split.statistics_split_note``)."""
        opts = self.schema.get("ingest_options") or {}
        if "validation_fraction" not in opts:
            return None
        return {"validation_fraction": float(opts["validation_fraction"]),
                "split_seed": int(opts.get("split_seed", 0)), "rows": self.schema.get("statistics_rows")}

    def read_options(self) -> dict[str, Any]:
        """The store's ingest options a raw table is read back with (``read_input``): a user
        may repeat them at embed / predict / evaluate; one that contradicts the run is refused."""
        opts = self.schema.get("ingest_options") or {}
        return {k: opts.get(k) for k in ("delimiter", "decimal", "missing_value", "keep_words")}

    def check_output_name(self, data: Any, path: str) -> None:
        check_output_kind(path, as_frame(data) if isinstance(data, np.ndarray) else data, parquet=True)

    def write_output(self, data: Any, path: str) -> None:
        frame = as_frame(data)
        if path.lower().endswith((".parquet", ".pq")):
            index = getattr(self, "read_index", [])
            back = bool(index) and all(c in frame.columns for c, _ in index)
            if back:  # the file's own index, as it came
                frame = frame.set_index([c for c, _ in index])
                frame.index.names = [n for _, n in index]
            # the input's own types and metadata where the fills fit them (parquet_out.py)
            schema = getattr(self, "read_schema", None)
            atomic_write(path, lambda tmp: write_parquet(frame, tmp, back, schema))
            return
        # the delimiter the table was read with (ingest option), so a ';' file stays one;
        # else by the name, compressed too (x.tsv.gz is tab-separated)
        opts = self.schema.get("ingest_options") or {}
        sep = opts.get("delimiter") or delimiter(path)
        mark = opts.get("decimal") if opts.get("decimal") in (".", ",") else getattr(self, "read_decimal", ".")
        atomic_write(path, lambda tmp: write_table(
            frame, tmp, path, row_end=getattr(self, "read_row_end", False), sep=sep, index=False, decimal=mark,
            lineterminator=getattr(self, "read_newline", "\n"),
            encoding="utf-8-sig" if getattr(self, "read_bom", False) else "utf-8"))

    # ------------------------------------------------------------ samples
    @classmethod
    def sample_sources(cls, directory: str) -> tuple[list[str], dict[str, Any]]:
        """The 1996 American National Election Study subset bundled with statsmodels
        (944 rows, integer-coded survey answers + numeric columns), first 200 rows as CSV."""
        frame = sample_frame().iloc[:200]
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "anes96.csv")
        frame.to_csv(path, index=False)
        return [path], {"validation_fraction": 0.1}

    def sample_infill_input(self) -> pd.DataFrame:
        frame = sample_frame().iloc[200:240].reset_index(drop=True)
        rng = np.random.default_rng(0)
        holes = rng.random(frame.shape) < 0.2
        present = [c for c in frame.columns if c in {col["name"] for col in self.columns}]
        frame = frame[present] if present else frame
        return frame.mask(holes[:, : frame.shape[1]])
