"""The genomic domain: DNA/RNA sequences as nucleotide or k-mer tokens with 1-D positions."""

from __future__ import annotations

import gzip
import os
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from encoderkit.data.masking import choose_groups, choose_random, choose_spans, corrupt_ids
from encoderkit.errors import UsageError, bad_value, unknown_options
from encoderkit.domain import (Domain, Example, IngestReport, MaskedExample, Masker, PredictFn,
                               Record, RecordWriter, slice_example, window_bounds)

from .infill import infill_sequences
from .infill_stream import infill_file
from .option_scope import OPTION_SCOPE
from .io import (PROTEIN_ADVICE, SeqRecord, output_problem, protein_like, read_seq_records, text_id,
                 warn_repeated_ids, write_seq_records)
from .pieces import PieceLog, iter_pieces
from .record_windows import count_tokens, featurize_windows
from .schema_match import pretrained_schema_differences as _schema_differences
from .tokens import (BASES, CLS_ID, MASK_ID, PAD_ID, SEP_ID, Vocabulary, decode_bases,
                     encode_bases, reverse_complement_bases)
from .views import genomic_views

if TYPE_CHECKING:
    from torch import nn

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
ECOLI = os.path.join(DATA_DIR, "ecoli_k12_2Mb.fasta.gz")
SCHEMA_FORMAT = "genomic-bases/1"

# Options with a fixed set of values; DEFAULTS lists every option. Ingest options live
# here too, so one Hydra `domain` group configures ingest and training alike.
_CHOICES = {"tokens": ("nucleotide", "kmer"), "iupac": ("collapse", "keep"),
            "positions": ("token", "base"), "format": ("auto", "fasta", "fastq"),
            "invalid": ("error", "n")}
DEFAULTS: dict[str, Any] = {
    "tokens": "nucleotide", "k": 6, "iupac": "collapse", "positions": "token",
    "masker": "random", "mask_rate": 0.3, "mask_prob": 0.8, "random_prob": 0.1,
    "span_mean": 3.0, "mask_kmer": 6, "soft_weight": 0.1, "rc_prob": 0.5, "rc_embed": False,
    "rc_infill": True,
    "window": None, "window_overlap": 0, "infill_window": 1024,
    # ingest
    "format": "auto", "invalid": "error", "max_n_run": 50, "min_length": 1,
}
INGEST_OPTIONS = ("format", "invalid", "max_n_run", "min_length")
# those a raw file is read back with; not ``format``: each file's own kind is detected (both
# kinds give the same bases), so a FASTA read back from a run ingested from FASTQ stays FASTA
READ_OPTIONS = ("invalid", "max_n_run", "min_length")


def _bad(name: str, allowed: str, value: Any) -> ValueError:
    return ValueError(bad_value(name, allowed, value, what="option", owner="the genomic domain"))


def validate_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and check every option; errors name the option, allowed values and value."""
    unknown = sorted(set(options) - set(DEFAULTS) - {"name"})
    if unknown:
        raise ValueError(unknown_options(unknown, DEFAULTS, "the genomic domain"))
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if k != "name"}}
    for name, allowed in _CHOICES.items():
        if opts[name] not in allowed:
            raise _bad(name, f"one of {list(allowed)}", opts[name])

    def integer(name: str, low: int, high: float = float("inf"), none_ok: bool = False) -> None:
        v = opts[name]
        if v is None and none_ok:
            return
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not low <= v <= high:
            hi = "inf)" if high == float("inf") else f"{int(high)}]"
            raise _bad(name, f"an int in [{low}, {hi}" + (" or null" if none_ok else ""), v)
        opts[name] = int(v)

    def real(name: str, low: float, high: float, low_open: bool = False) -> None:
        v = opts[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                (low < v if low_open else low <= v) and v <= high):
            raise _bad(name, f"a float in {'(' if low_open else '['}{low}, {high}]", v)
        opts[name] = float(v)

    integer("k", 1, 8)  # 4**8 = 65,536 k-mers is already a large embedding table
    integer("mask_kmer", 1, 64)
    integer("window", 1, none_ok=True)
    integer("window_overlap", 0)
    integer("infill_window", 2)
    integer("max_n_run", 0)
    integer("min_length", 1)
    real("mask_rate", 0.0, 1.0, low_open=True)
    real("mask_prob", 0.0, 1.0)
    real("random_prob", 0.0, 1.0)
    real("soft_weight", 0.0, 1.0)
    real("rc_prob", 0.0, 1.0)
    real("span_mean", 1.0, 1e6)
    if opts["mask_prob"] + opts["random_prob"] > 1.0:
        raise _bad("random_prob", f"<= 1 - mask_prob = {1 - opts['mask_prob']}", opts["random_prob"])
    for flag in ("rc_embed", "rc_infill"):
        if not isinstance(opts[flag], bool):
            raise _bad(flag, "true or false", opts[flag])
    if opts["window"] is not None and opts["window_overlap"] >= opts["window"]:
        raise _bad("window_overlap", f"smaller than window ({opts['window']})", opts["window_overlap"])
    masker = opts["masker"]
    names = ("random", "span", "kmer")
    if isinstance(masker, Mapping):
        if not masker or any(m not in names for m in masker) or any(
                isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in masker.values()) \
                or sum(masker.values()) <= 0:
            raise _bad("masker", f"one of {list(names)} or a mapping of them to non-negative weights", masker)
        opts["masker"] = {str(m): float(w) for m, w in masker.items()}
    elif masker not in names:
        raise _bad("masker", f"one of {list(names)} or a mapping of them to non-negative weights", masker)
    return opts


class GenomicDomain(Domain):
    """DNA as single-nucleotide or non-overlapping k-mer tokens (see ``tokens.py``).

    Store fields: ``ids`` (uint8 base codes incl. IUPAC) and ``soft`` (bool, lowercase);
    bases are tokenised in ``featurize``, so one store serves both vocabularies.
    Example fields: ``ids`` (int64 token ids) and ``soft`` (uint8 per token, bit j = the
    token's j-th base is soft-masked)."""

    name = "genomic"
    infill_options = {"window": "infill_window", "both_strands": "rc_infill"}
    input_formats = "FASTA or FASTQ (.fa/.fasta/.fq/.fastq; plain, gzip, bzip2 or xz); N/n bases are filled"
    rope_axes = 1
    ingest_unit = "bases"  # the ingest progress bar counts tokens = bases
    option_scope = OPTION_SCOPE  # where its options take effect (option_scope.py)

    @classmethod
    def merge_schemas(cls, schemas: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Schemas of files ingested apart (parallel ingest, append): base counts add up."""
        from encoderkit.data.ingest_scale import merge_counts

        return merge_counts(schemas, sum_keys=("bases", "soft_bases"))

    def __init__(self, schema: Mapping[str, Any] | None = None, **options: Any) -> None:
        opts = validate_options(options)
        super().__init__(schema or {}, **opts)
        fmt = self.schema.get("format")
        if fmt is not None and fmt != SCHEMA_FORMAT:
            raise ValueError(f"this genomic domain reads stores of format {SCHEMA_FORMAT!r}; "
                             f"the store's schema says {fmt!r}")
        self.vocab = Vocabulary(opts["tokens"], opts["k"], opts["iupac"])
        # what Hugging Face export needs for ModernBertConfig (vocab padded to a multiple of 64)
        self.schema.update(vocab_size=self.vocab.padded_size, num_real_tokens=self.vocab.size,
                           pad_token_id=PAD_ID, cls_token_id=CLS_ID, sep_token_id=SEP_ID,
                           mask_token_id=MASK_ID)

    @property
    def vocab_size(self) -> int:
        return self.vocab.padded_size

    pad_token_id, cls_token_id, sep_token_id, mask_token_id = PAD_ID, CLS_ID, SEP_ID, MASK_ID

    # ------------------------------------------------------------------ ingest
    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               **options: Any) -> dict[str, Any]:
        """FASTA/FASTQ (plain or gzip) -> one store record per sequence piece.

        Records are stored whole (windowing happens in the loader); runs of N longer
        than ``max_n_run`` are cut out and split the record into pieces."""
        opts = validate_options(options)
        bases = soft_bases = 0
        log = PieceLog(opts["max_n_run"])
        for path in sources:
            for piece in iter_pieces(path, opts, log):
                writer.append({"ids": piece.codes, "soft": piece.soft},
                              meta={"offset": piece.offset, "piece": piece.index}, id=piece.id)
                n = int(piece.codes.size)
                report.records += 1
                report.tokens += n
                bases += n
                soft_bases += int(piece.soft.sum())
        for reason, n in log.skipped.items():
            report.skip(reason, n)
        cut = log.cut_message()
        if cut:
            report.warnings.append(cut)
        if log.mapped:
            report.warnings.append(f"{log.mapped} non-IUPAC character(s) read as N (invalid=n)")
        return {"format": SCHEMA_FORMAT, "alphabet": BASES, "bases": bases, "soft_bases": soft_bases,
                "ingest": {k: opts[k] for k in INGEST_OPTIONS}}

    def embedding_twin(self) -> Any:
        """With ``rc_embed``: record -> its reverse complement, whose embedding
        ``Pretrained.embed`` averages with the record's own (both strands); else None."""
        if not self.options["rc_embed"]:
            return None

        def twin(record: Record) -> Record:
            codes, soft = reverse_complement_bases(np.asarray(record["ids"], dtype=np.uint8),
                                                   np.asarray(record["soft"], dtype=bool))
            return {**record, "ids": codes, "soft": soft}
        return twin

    def hf_export_problems(self) -> list[str]:
        """What a Hugging Face ModernBERT export cannot reproduce (``encoderkit export-hf``)."""
        if self.options["positions"] == "base" and self.options["tokens"] != "nucleotide":
            return ["domain.positions=base with k-mer tokens: positions advance by the bases between "
                    "tokens, but ModernBERT numbers tokens 0, 1, 2, ..., so transformers would compute "
                    "different logits (train with domain.positions=token to export)"]
        return []

    # ------------------------------------------------------------------ per record
    def _positions(self, starts: np.ndarray) -> np.ndarray:
        n = starts.shape[0]
        pos = np.arange(n) if self.options["positions"] == "token" else starts - (starts[0] if n else 0)
        return pos.astype(np.int32).reshape(n, 1)

    def featurize(self, record: Record) -> Example:
        codes = np.asarray(record["ids"], dtype=np.uint8)
        soft = np.asarray(record["soft"], dtype=bool) if "soft" in record else np.zeros(codes.shape, bool)
        ids, tsoft, starts = self.vocab.tokenize(codes, soft)
        return Example(fields={"ids": ids, "soft": tsoft}, positions=self._positions(starts))

    def windows(self, example: Example, max_seqlen: int) -> list[Example]:
        """Windows of ``window`` tokens (at most ``max_seqlen``) sharing ``window_overlap``
        tokens; each window's positions restart at 0 (RoPE is relative, and small
        coordinates keep float32 angles exact on chromosome-long records)."""
        size = min(self.options["window"] or max_seqlen, max_seqlen)
        n = len(example)
        if n <= size:
            return [example]
        overlap = min(self.options["window_overlap"], size - 1)
        out = []
        for w, (s, e) in enumerate(window_bounds(n, size, overlap)):
            ex = slice_example(example, s, e, w)
            ex.positions = ex.positions - ex.positions[:1]
            out.append(ex)
        return out

    def featurize_windows(self, record: Record, max_seqlen: int, index: int = -1) -> Sequence[Example]:
        """``windows(featurize(record), max_seqlen)``, each window tokenised from its own bases
        (``record_windows``): a chromosome is never tokenised whole. A subclass that changes
        ``featurize`` or ``windows`` gets the default (featurize, then cut)."""
        if type(self).featurize is not GenomicDomain.featurize or type(self).windows is not GenomicDomain.windows:
            return super().featurize_windows(record, max_seqlen, index)
        return featurize_windows(self, record, max_seqlen, index)

    @property
    def reads_field_slices(self) -> bool:
        """``featurize_windows`` and ``count_tokens`` read a long record's bases a window (or a
        scanned block) at a time, so a zarr-backed store gives them as views (``store_views``);
        not for a subclass that overrides any of them (its own code may treat the record's
        fields as arrays)."""
        cls = type(self)
        return all(getattr(cls, name) is getattr(GenomicDomain, name)
                   for name in ("featurize", "windows", "featurize_windows", "count_tokens"))

    def count_tokens(self, record: Record) -> int:
        if type(self).featurize is not GenomicDomain.featurize:
            return super().count_tokens(record)
        return count_tokens(self, record)

    def reverse_complement(self, example: Example) -> Example:
        """The example on the other strand: tokens, soft flags (and hence targets) flipped together."""
        ids, soft, starts = self.vocab.reverse_complement(example.fields["ids"], example.fields["soft"])
        return Example(fields={**example.fields, "ids": ids, "soft": soft},
                       positions=self._positions(starts), record=example.record, window=example.window,
                       start=example.start, context=example.context)

    def augment(self, example: Example, rng: np.random.Generator) -> Example:
        if self.options["rc_prob"] > 0 and rng.random() < self.options["rc_prob"]:
            return self.reverse_complement(example)
        return example

    def views(self, example: Example, rng: np.random.Generator) -> tuple[Example, Example]:
        """Random crop + reverse complement half the time, per view (see ``views.py``)."""
        return genomic_views(self, example, rng)

    # ------------------------------------------------------------------ masking
    @property
    def maskers(self) -> dict[str, Masker]:
        return {"random": self._mask_random, "span": self._mask_span, "kmer": self._mask_kmer}

    def _eligible(self, ids: np.ndarray) -> np.ndarray:
        # N and other ambiguity codes are never targets
        return ~self.vocab.is_ambiguous(ids)

    def _mask_random(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        ids = example.fields["ids"]
        return self._finish(example, choose_random(self._eligible(ids), self.options["mask_rate"], rng), rng)

    def _mask_span(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        ids = example.fields["ids"]
        chosen = choose_spans(self._eligible(ids), self.options["mask_rate"], self.options["span_mean"], rng)
        return self._finish(example, chosen, rng)

    def _mask_kmer(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        """Whole k-mers (``mask_kmer`` consecutive bases, random phase) in nucleotide mode;
        in k-mer mode every token already is a whole k-mer, so tokens are drawn at random."""
        ids = example.fields["ids"]
        if self.vocab.tokens == "kmer":
            return self._mask_random(example, rng)
        g = self.options["mask_kmer"]
        groups = (np.arange(len(ids)) + int(rng.integers(g))) // g
        return self._finish(example, choose_groups(groups, self._eligible(ids), self.options["mask_rate"], rng),
                            rng)

    def _corrupt(self, ids: np.ndarray, predict: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """80/10/10; a random replacement stays in its kind (base for a base, k-mer for a k-mer)."""
        mp, rp = self.options["mask_prob"], self.options["random_prob"]
        lo, hi = self.vocab.acgt_range
        if self.vocab.tokens == "nucleotide":
            return corrupt_ids(ids, predict, MASK_ID, lo, hi, rng, mp, rp)
        is_kmer = ids >= self.vocab.kmer_offset
        out = corrupt_ids(ids, predict & ~is_kmer, MASK_ID, lo, hi, rng, mp, rp)
        klo, khi = self.vocab.kmer_range
        kmer_part = corrupt_ids(ids, predict & is_kmer, MASK_ID, klo, khi, rng, mp, rp)
        return np.where(predict & is_kmer, kmer_part, out)

    def _finish(self, example: Example, predict: np.ndarray, rng: np.random.Generator) -> MaskedExample:
        ids, soft = example.fields["ids"], example.fields["soft"]
        weights = np.where(soft != 0, self.options["soft_weight"], 1.0).astype(np.float32)
        return MaskedExample(
            inputs={**example.fields, "ids": self._corrupt(ids, predict, rng)},
            positions=example.positions, targets={"ids": ids[predict].astype(np.int64)},
            predict=predict, weights=weights, record=example.record, window=example.window,
            start=example.start, context=example.context)

    # ------------------------------------------------------------------ modules
    pretrained_schema_differences = _schema_differences  # fine-tuning: the tokens, by id

    def embedder(self, config: Any) -> nn.Module:
        from .modules import GenomicEmbedder

        return GenomicEmbedder(self.vocab.padded_size, config.hidden_size,
                               getattr(config, "initializer_range", 0.02))

    def head(self, config: Any, embedder: nn.Module | None = None) -> nn.Module:
        from .modules import GenomicEmbedder, GenomicMLMHead

        return GenomicMLMHead(config.hidden_size, self.vocab.padded_size, getattr(config, "norm_eps", 1e-5),
                              embedder if isinstance(embedder, GenomicEmbedder) else None,
                              getattr(config, "initializer_range", 0.02))

    # ------------------------------------------------------------------ back to sequences
    def _predicted_kmer(self, example: MaskedExample) -> np.ndarray:
        """Which predicted tokens are k-mers (so decode keeps every token's length)."""
        p = int(example.predict.sum())
        if self.vocab.tokens != "kmer":
            return np.zeros(p, dtype=bool)
        if "fill_kmer" in example.context:
            return np.asarray(example.context["fill_kmer"], dtype=bool)
        if "ids" in example.targets:
            return np.asarray(example.targets["ids"]) >= self.vocab.kmer_offset
        return np.zeros(p, dtype=bool)  # infill hides single bases (N) only

    def decode(self, predictions: Mapping[str, np.ndarray], example: MaskedExample) -> Record:
        """Argmax of the logits restricted to A/C/G/T (or to k-mers for a hidden k-mer) ->
        the example's bases with the predicted tokens filled: ``{"ids": codes, "soft": flags}``."""
        logits = np.asarray(predictions["logits"], dtype=np.float32)
        lo, hi = self.vocab.acgt_range
        best_base = lo + logits[:, lo:hi].argmax(-1)
        kmer = self._predicted_kmer(example)
        if kmer.any():
            klo, khi = self.vocab.kmer_range
            best_base = np.where(kmer, klo + logits[:, klo:khi].argmax(-1), best_base)
        ids = np.array(example.inputs["ids"], dtype=np.int64, copy=True)
        ids[example.predict] = best_base
        codes, soft = self.vocab.detokenize(ids, example.inputs.get("soft"))
        return {"ids": codes, "soft": soft}

    @staticmethod
    def _sequences(data: Any) -> tuple[list[str], Any]:
        """User data -> (sequence strings, function rebuilding the same kind from new strings)."""
        if isinstance(data, str):
            return [data], lambda s: s[0]
        # replace(): a record read from a file keeps its layout (header line, line ending, width)
        if isinstance(data, SeqRecord):
            return [data.sequence], lambda s: replace(data, sequence=s[0])
        if isinstance(data, Mapping):
            keys = list(data)
            if not all(isinstance(data[k], str) for k in keys):
                raise TypeError("genomic data as a mapping must map record names to sequence strings")
            return [data[k] for k in keys], lambda s: dict(zip(keys, s))
        if isinstance(data, (list, tuple)):
            if all(isinstance(x, str) for x in data):
                return list(data), lambda s: type(data)(s)
            if all(isinstance(x, SeqRecord) for x in data):
                return [x.sequence for x in data], lambda s: type(data)(
                    replace(x, sequence=q) for x, q in zip(data, s))
        raise TypeError(f"genomic data must be a sequence string, a list of strings, a {{name: sequence}} "
                        f"mapping or SeqRecord(s) from read_input; got {type(data).__name__}")

    def to_records(self, data: Any) -> list[Record]:
        if isinstance(data, Mapping):
            names = [str(k) for k in data]
        elif isinstance(data, (list, tuple)) and data and isinstance(data[0], SeqRecord):
            names = [text_id(x.id) for x in data]
        elif isinstance(data, SeqRecord):
            names = [text_id(data.id)]
        else:
            names = None
        seqs, _ = self._sequences(data)
        records = []
        for i, s in enumerate(seqs):
            protein = protein_like(np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8))
            if protein:
                raise ValueError(f"sequence {names[i] if names else i}: {protein}; {PROTEIN_ADVICE}")
            try:
                codes, soft = encode_bases(s)
            except ValueError as e:
                raise ValueError(f"sequence {names[i] if names else i}: {e}") from None
            records.append({"ids": codes, "soft": soft, "id": names[i] if names else str(i)})
        return records

    def infill(self, data: Any, predict: PredictFn) -> Any:
        """Fill every N (either case) with the model's most likely base, averaged over both
        strands with ``rc_infill``; every other character, the case of filled bases
        included, comes back unchanged (``infill.py``)."""
        return infill_sequences(self, data, predict)

    def read_input(self, path: str) -> list[SeqRecord]:
        return read_seq_records(path)

    def infill_file(self, path: str, output: str, predict: PredictFn, max_tokens: int = 16384) -> None:
        """``write_output(infill(read_input(path)), output)`` streamed, byte for byte the same
        at near-flat memory (``infill_stream``): the ``encoderkit infill`` of a genome.
        ``max_tokens``: the token budget ``predict`` packs windows with."""
        infill_file(self, path, output, predict, max_tokens)

    def read_options(self) -> dict[str, Any]:
        """The ingest options of the run's store (its schema's ``ingest``; for a domain made
        without a store, its own): a raw file is read back as the store was ingested, and a
        user may repeat them at embed (``max_n_run=100``), refused where they contradict."""
        recorded = self.schema.get("ingest") if isinstance(self.schema, Mapping) else None
        recorded = recorded if isinstance(recorded, Mapping) else {}
        return {k: recorded.get(k, self.options[k]) for k in READ_OPTIONS}

    def read_records(self, path: str) -> list[Record]:
        """The file's records as ingest wrote them into the run's store (``read_options``):
        cut at runs of N longer than ``max_n_run`` into pieces named ``<id>:<start>-<end>``,
        ``invalid`` and ``min_length`` applied, records without a base skipped (they stopped
        ``embed`` / ``predict`` of the whole file), so ids join those of a store run and the
        model reads the bases it was trained on. Each output row keeps its id, so a skipped
        record is a missing id, named in a warning, not a shifted row. (``infill`` reads
        ``read_input``: whole records, written back whole.)"""
        opts = {**self.read_options(), "format": "auto"}
        log = PieceLog(opts["max_n_run"])
        records = [{"ids": p.codes, "soft": p.soft, "id": p.id} for p in iter_pieces(path, opts, log)]
        for message in log.read_back_messages():
            warnings.warn(f"{path}: {message}", stacklevel=2)
        warn_repeated_ids(path, [r["id"] for r in records])  # as ingest says it
        return records

    def check_output_name(self, data: Any, path: str) -> None:
        """Before the fill: an output name of the other kind (FASTQ read, ``.fa`` named) or a
        compression the reader cannot read back is refused (``io.output_problem``)."""
        if isinstance(data, list) and data and all(isinstance(x, SeqRecord) for x in data):
            problem = output_problem(data, path)
            if problem:
                raise UsageError(problem, file=path, key="output")

    def write_output(self, data: Any, path: str) -> None:
        if isinstance(data, list) and all(isinstance(x, SeqRecord) for x in data):
            records = data
        else:
            seqs, _ = self._sequences(data)
            names = list(data) if isinstance(data, Mapping) else [f"seq{i}" for i in range(len(seqs))]
            records = [SeqRecord(str(n), s) for n, s in zip(names, seqs)]
        write_seq_records(records, path)

    # ------------------------------------------------------------------ samples
    @classmethod
    def sample_sources(cls, directory: str) -> tuple[list[str], dict[str, Any]]:
        """Four 1,500-base pieces of the bundled E. coli K-12 excerpt as a FASTA file."""
        seq = bundled_sequence(200_000)
        path = os.path.join(directory, "ecoli_sample.fasta")
        write_seq_records([SeqRecord(f"NC_007779.1:{s}-{s + 1500}", seq[s:s + 1500], "E. coli K-12 W3110")
                           for s in (0, 50_000, 100_000, 150_000)], path)
        return [path], {}

    def sample_infill_input(self) -> list[str]:
        """Two real 300-base pieces with every 16th base (and one short run) hidden as N."""
        seq = bundled_sequence(2_000)
        out = []
        for s in (0, 1_000):
            piece = bytearray(seq[s:s + 300].encode())
            piece[5::16] = b"N" * len(piece[5::16])
            piece[100:104] = b"NNNN"
            out.append(piece.decode())
        return out


def bundled_sequence(n: int | None = None) -> str:
    """The first ``n`` bases of the bundled E. coli K-12 excerpt (uppercase string)."""
    with gzip.open(ECOLI, "rt") as fh:
        fh.readline()
        if n is None:
            return fh.read().replace("\n", "")
        parts, have = [], 0
        for line in fh:
            parts.append(line.strip())
            have += len(parts[-1])
            if have >= n:
                break
    return "".join(parts)[:n]


def reverse_complement(seq: str) -> str:
    """Reverse complement of a sequence string (IUPAC aware, lowercase kept; U is read as T)."""
    return decode_bases(*reverse_complement_bases(*encode_bases(seq)))


def embed_both_strands(pretrained: Any, data: Any, pooling: str = "mean") -> np.ndarray:
    """Per-sequence embeddings averaged over both strands: ``pretrained.embed`` (from
    ``encoderkit.infer.load``) of the sequences and of their reverse complements.
    The domain option ``rc_embed`` records that a run's embeddings should be made this way."""
    seqs, _ = GenomicDomain._sequences(data)
    forward = np.asarray(pretrained.embed(list(seqs), pooling=pooling))
    backward = np.asarray(pretrained.embed([reverse_complement(s) for s in seqs], pooling=pooling))
    return (forward + backward) / 2
