"""FASTA / FASTQ reading and writing (plain, gzip, bzip2 or xz), with errors that name
file, record and line. Every error while reading (a truncated archive, a directory, a
malformed record) is an ``encoderkit`` ``DataError`` naming the file."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple, TextIO

import numpy as np

from encoderkit.data.textfiles import MAGIC_BYTES, compression, plain_name, sniff_compression
from encoderkit.errors import DataError, UsageError, reading
from encoderkit.outputs import atomic_write

from .scan import RecordScan
from .tokens import BASES


@dataclass(frozen=True)
class Layout:
    """How a file wrote a record, so infill writes it back the same: the header line as
    written (tabs, runs of spaces, a nameless ``>``), the line ending and the wrap width."""

    header: str  # the header line after '>' / '@', line ending excluded
    id: str  # id and description as read from it: the header is written as it was
    description: str  # only while the record still has these (a renamed record is not)
    width: int | None = None  # FASTA sequence line width; None: the sequence on one line
    newline: str = "\n"
    plus: str = ""  # FASTQ: what followed the '+' of the separator line


@dataclass
class SeqRecord:
    """One FASTA/FASTQ record as the user wrote it (the infill CLI round-trips these)."""

    id: str
    sequence: str
    description: str = ""  # the rest of the header line after the id
    quality: str | None = None  # FASTQ only
    layout: Layout | None = field(default=None, repr=False, compare=False)  # None: made in Python

    @property
    def header(self) -> str:
        lay = self.layout
        if lay is not None and (self.id, self.description) == (lay.id, lay.description):
            return lay.header
        return f"{self.id} {self.description}".rstrip() if self.description else self.id


# compressions recognised by their first bytes (``textfiles.sniff_compression``, the one
# reading of them; the file name is not trusted here, as FASTA/FASTQ tools read by content)
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def _opener(path: str) -> Any:
    """The function that opens ``path`` decompressed, by its first bytes (plain ``open``: none)."""
    with open(path, "rb") as fh:
        return _OPENERS.get(sniff_compression(fh.read(MAGIC_BYTES)), open)


# Headers are text as written: UTF-8 (a leading byte-order mark dropped, as Windows editors
# write one), any other byte kept as a surrogate escape, so infill writes every header back
# byte for byte. Sequence characters beyond ASCII are not IUPAC codes and are refused.
_ENCODING, _ERRORS = "utf-8-sig", "surrogateescape"


def _open_text(path: str):
    return _opener(path)(path, "rt", encoding=_ENCODING, errors=_ERRORS, newline=None)


def text_id(rid: str) -> str:
    """A record id as storable text: bytes that were not UTF-8 become U+FFFD (a store,
    a CSV of predictions cannot hold the surrogate escapes the reader keeps them as)."""
    return rid.encode("utf-8", _ERRORS).decode("utf-8", "replace")


def detect_format(path: str) -> str:
    """'fasta' or 'fastq' from the first non-blank character; a clear error otherwise.
    Leading ``;`` comment lines (old-style FASTA, which ``iter_fasta`` skips) are FASTA's."""
    trim, looked = _Trim(), False  # looked: the line's first character was looked at
    with reading(path), _open_text(path) as fh:
        for lineno, text, starts, ends in _line_pieces(fh, 1 << 16):  # a long line not read whole
            looked = looked and not starts
            s = trim.piece(text, starts, ends)
            if looked or not s:
                continue
            looked = True
            if s[0] == ";":
                continue
            if s[0] == ">":
                return "fasta"
            if s[0] == "@":
                return "fastq"
            raise DataError(f"{path}: not a FASTA or FASTQ file: line {lineno} starts with {s[:20]!r}; "
                             f"expected '>' (FASTA) or '@' (FASTQ)")
    raise DataError(f"{path}: the file is empty (no FASTA/FASTQ records)")


@dataclass
class RawRecord:
    """A parsed record before base encoding: sequence lines with their line numbers."""

    id: str
    description: str
    lines: list[str]
    first_line: int  # line number of the first sequence line
    quality: str | None = None
    header: str = ""  # the header line as written after '>' / '@' (line ending excluded)
    plus: str = ""  # FASTQ: what followed the '+' of the separator line


def _split_header(header: str) -> tuple[str, str]:
    parts = header.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


# sequence characters a block of ``iter_record_blocks`` holds (a chromosome is read in blocks,
# and a line longer than this, a chromosome written on one line, in pieces of this many)
BLOCK_CHARS = 1 << 18


class Block(NamedTuple):
    """Part of one record's sequence. ``lines`` are its sequence lines, whitespace at their
    ends dropped; the first may go on a line the record's previous block began (``joined``)
    and the last may go on in the next block, so a line as long as a chromosome is read a
    block at a time. The record's last block has ``last`` true (its ``lines`` may be empty)."""

    record: RawRecord
    lines: list[str]
    last: bool
    joined: bool = False  # lines[0] goes on the line the record's previous block ended with


def _line_pieces(fh: TextIO, limit: int) -> Iterator[tuple[int, str, bool, bool]]:
    """(line number, text, starts its line, ends its line) of a text file read at most
    ``limit`` characters at a time: a longer line comes in several pieces. Line endings are
    dropped; a last line with none ends with the file (a piece that neither starts nor ends
    a line may be the file's last: the caller closes what is open at the end)."""
    lineno, starts = 0, True
    for piece in iter(partial(fh.readline, limit), ""):
        if starts:
            lineno += 1
        if piece[-1] == "\n":
            yield lineno, piece[:-1], starts, True
            starts = True
        else:
            yield lineno, piece, starts, False
            starts = False


class _Trim:
    """``line.strip()`` of a line given in pieces: whitespace at the line's start is dropped
    and whitespace at a piece's end is held back until more of the line shows it was inside."""

    def __init__(self) -> None:
        self.lead, self.tail = True, ""

    def piece(self, text: str, starts: bool, ends: bool) -> str:
        if starts and ends:  # a whole line (every line shorter than a block)
            return text.strip()
        if starts:
            self.lead, self.tail = True, ""
        if self.lead:
            text = text.lstrip()
            self.lead = not text
        core = text.rstrip()
        if core:
            core, self.tail = self.tail + core, text[len(core):]
        else:
            self.tail += text
        if ends:
            self.tail = ""
        return core


def iter_fasta_blocks(path: str, block_chars: int | None = None) -> Iterator[Block]:
    """The records of a FASTA file in blocks (``Block``) of about ``block_chars`` characters
    each (``BLOCK_CHARS``); every record gives one block or more, its last one with ``last``
    true, and its own ``lines`` stay empty. No line is held whole: a line longer than a
    block is read in pieces, so memory does not grow with the line's length."""
    block_chars = max(block_chars or BLOCK_CHARS, 1)
    rec: RawRecord | None = None
    lines: list[str] = []
    joined = False
    held = 0
    kind = ""  # the first character of the line being read: ">" a header, ";" a comment, else sequence
    header: list[str] = []  # the pieces of the header line being read
    going = False  # the sequence line being read has characters already (in ``lines`` or before)
    trim = _Trim()
    with reading(path), _open_text(path) as fh:
        for lineno, text, starts, ends in _line_pieces(fh, block_chars):
            if starts:
                kind, going = text[:1], False
            if kind == ">":
                header.append(text)
                if ends:
                    if rec is not None:
                        yield Block(rec, lines, True, joined)
                    rec = _header_record("".join(header), lineno)
                    header, lines, held, joined = [], [], 0, False
                continue
            if kind == ";":  # old-style FASTA comments are skipped
                continue
            seq = trim.piece(text, starts, ends)
            if not seq:
                continue  # blank lines too
            if rec is None:
                raise DataError(f"{path}: line {lineno}: sequence data before the first '>' header")
            if not going:
                lines.append(seq)
            elif lines:
                lines[-1] += seq  # the line goes on within this block (pieces trimmed short)
            else:
                lines, joined = [seq], True  # the line goes on from the previous block
            going = True
            held += len(seq)
            if held >= block_chars:
                yield Block(rec, lines, False, joined)
                lines, held, joined = [], 0, False
    if header:  # a header that the file ends on, with no line ending
        if rec is not None:
            yield Block(rec, lines, True, joined)
        rec, lines, joined = _header_record("".join(header), lineno), [], False
    if rec is not None:
        yield Block(rec, lines, True, joined)


def _header_record(line: str, lineno: int) -> RawRecord:
    """The record a header line (``>`` included) at line ``lineno`` begins."""
    rid, desc = _split_header(line[1:].strip())
    return RawRecord(rid or f"record{lineno}", desc, [], lineno + 1, header=line[1:])


def iter_fasta(path: str) -> Iterator[RawRecord]:
    """Whole records, each line whole (``read_seq_records`` keeps the first one's width)."""
    parts: list[str] = []  # pieces of the line the last block ended with
    for rec, lines, last, joined in iter_fasta_blocks(path):
        if lines:
            if parts and not joined:
                rec.lines.append("".join(parts))
                parts = []
            parts.append(lines[0])
            if len(lines) > 1:
                rec.lines.append("".join(parts))
                rec.lines += lines[1:-1]
                parts = [lines[-1]]
        if last:
            if parts:
                rec.lines.append("".join(parts))
            parts = []
            yield rec


def iter_fastq(path: str) -> Iterator[RawRecord]:
    """Four-line FASTQ (the form every sequencer writes)."""
    with reading(path), _open_text(path) as fh:
        lines = iter(enumerate(fh, 1))
        for lineno, line in lines:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if not line.startswith("@"):
                raise DataError(f"{path}: line {lineno}: expected a FASTQ header starting with '@', "
                                 f"found {line[:20]!r}")
            rid, desc = _split_header(line[1:].strip())
            try:
                _, seq = next(lines)
                plus_no, plus = next(lines)
                qual_no, qual = next(lines)
            except StopIteration:
                raise DataError(f"{path}: record {rid!r} (line {lineno}): truncated FASTQ record "
                                 f"(needs header, sequence, '+', quality lines)") from None
            if not plus.startswith("+"):
                raise DataError(f"{path}: record {rid!r}: line {plus_no} should be the '+' separator, "
                                 f"found {plus.rstrip()[:20]!r}; wrapped (multi-line) FASTQ is not "
                                 f"supported: each record is four lines (header, one sequence line, "
                                 f"'+', one quality line)")
            seq, qual = seq.strip(), qual.rstrip("\r\n")
            if len(qual) != len(seq):
                wrapped = ("; wrapped (multi-line) FASTQ is not supported: one quality line per record"
                           if len(qual) < len(seq) else "")
                raise DataError(f"{path}: record {rid!r}: quality length {len(qual)} (line {qual_no}) "
                                 f"differs from sequence length {len(seq)} (line {lineno + 1}){wrapped}")
            yield RawRecord(rid or f"record{lineno}", desc, [seq], lineno + 1, qual, header=line[1:],
                            plus=plus.rstrip("\r\n")[1:])


def iter_records(path: str, fmt: str = "auto") -> Iterator[RawRecord]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    return iter_fasta(path) if fmt == "fasta" else iter_fastq(path)


def iter_record_blocks(path: str, fmt: str = "auto", block_chars: int | None = None) -> Iterator[Block]:
    """``iter_fasta_blocks`` for either kind; a FASTQ record (one sequence line) is one block."""
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "fasta":
        return iter_fasta_blocks(path, block_chars)
    return (Block(rec, rec.lines, True) for rec in iter_fastq(path))


# Protein FASTA read as DNA: amino-acid letters that no nucleotide (IUPAC) code uses, the
# nucleotides proper, and the letters counted (X left out: DNA maskers write it too).
def _table(letters: str) -> np.ndarray:
    t = np.zeros(256, dtype=bool)
    t[[ord(c) for c in letters + letters.lower()]] = True
    return t


_AMINO_ONLY = _table("EFIJLOPQZ")
_NUCLEOTIDE = _table("ACGTUN")
_LETTER = _table("ABCDEFGHIJKLMNOPQRSTUVWYZ")


def protein_like(raw: np.ndarray) -> str | None:
    """Why a record's bytes look like a protein, or None. A nucleotide record has at least
    half its letters A/C/G/T/U/N (a protein about a quarter) and next to no letter that only
    amino acids use (E F I L P Q); every letter of a peptide may still be an IUPAC code
    (M K V R D S W Y H B), so the composition, not the alphabet, tells them apart."""
    return protein_like_counts(np.bincount(raw, minlength=256))


def protein_like_counts(counts: np.ndarray) -> str | None:
    """``protein_like`` of bytes given as their counts (``[256]``, a record read in blocks)."""
    letters = int(counts[_LETTER].sum())
    if not letters:
        return None
    nucleotides, amino = int(counts[_NUCLEOTIDE].sum()), int(counts[_AMINO_ONLY].sum())
    if 2 * nucleotides >= letters and 10 * amino < letters:
        return None
    why = f"{100 * nucleotides // letters}% of its letters are A/C/G/T/U/N"
    if amino:
        found = sorted({chr(c).upper() for c in np.flatnonzero(counts[:128] * _AMINO_ONLY[:128])})
        why += f", and it holds {'/'.join(found)}, letters of amino acids that no nucleotide code uses"
    return why


PROTEIN_ADVICE = ("this looks like a protein FASTA: the genomic domain reads DNA/RNA (nucleotides "
                  f"{BASES[:4]}/U, N and IUPAC ambiguity codes), not amino acids")


def encode_record(rec: RawRecord, path: str, invalid: str = "error") -> tuple[np.ndarray, np.ndarray, int]:
    """Sequence lines -> (base codes uint8, soft bool, number of characters mapped to N).

    A record that looks like a protein is refused whatever ``invalid`` says (read as N it
    became a "DNA" record of ambiguity codes). ``invalid="error"`` raises naming file,
    record, line and column of the first character that is not an IUPAC code;
    ``invalid="n"`` maps such characters to N."""
    scan = RecordScan(invalid, keep=True)
    scan.add(rec.lines)
    return scanned_record(scan, rec, path)


def scanned_record(scan: RecordScan, rec: RawRecord, path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``encode_record`` of a record read in blocks into ``scan`` (made with ``keep``)."""
    protein = protein_like_counts(scan.counts)
    if protein:
        raise DataError(f"{path}: record {text_id(rec.id)!r} (line {rec.first_line - 1}): {protein}; "
                         f"{PROTEIN_ADVICE}")
    if scan.first_bad is not None and scan.invalid == "error":
        _, li, col, char = scan.first_bad
        raise DataError(
            f"{path}: record {text_id(rec.id)!r}, line {rec.first_line + li}, column {col}: character "
            f"{text_id(char)!r} is not an IUPAC nucleotide code (allowed: {BASES} and U, either case). "
            f"Set the ingest option invalid=n to read such characters as N.")
    return scan.codes(), scan.soft(), scan.n_bad


def file_newline(path: str) -> str:
    """The file's line ending (CRLF, an old Mac's CR, else LF), from its first 64 kB:
    the text reader turns every one into LF, and infill writes the file's own back."""
    with reading(path):
        with _opener(path)(path, "rb") as fh:
            head = fh.read(1 << 16)
    return "\r\n" if b"\r\n" in head else "\r" if b"\r" in head else "\n"


def read_seq_records(path: str) -> list[SeqRecord]:
    """Every record of a FASTA/FASTQ file, strings kept exactly as written (one line per
    sequence), with the layout (header line, line ending, width) ``write_seq_records``
    writes back."""
    newline = file_newline(path)
    out = []
    for r in iter_records(path):
        # the width of the first full line; a record on one line stays on one line
        width = len(r.lines[0]) if len(r.lines) > 1 else None
        layout = Layout(r.header, r.id, r.description, width, newline, r.plus)
        out.append(SeqRecord(r.id, "".join(r.lines), r.description, r.quality, layout))
    return out


def repeated_ids(ids: Iterable[str]) -> list[str]:
    """The ids held by more than one record, in the order of their first record (what
    ingest's ``StoreWriter.duplicate_ids`` finds among the records it writes)."""
    return [rid for rid, n in Counter(ids).items() if n > 1]  # Counter keeps first-seen order


def warn_repeated_ids(path: str, ids: Iterable[str], stacklevel: int = 3) -> None:
    """Records of a raw file read for ``predict`` / ``embed`` that share an id (two ``>x``
    headers), said as ingest says it (``encoderkit.data.ingest._warn_duplicate_ids``): their
    output rows carry the same id, told apart by nothing but their order, which a join by id
    (or a sort) loses. ``infill`` needs no word: it writes each record back in its place,
    under its own header."""
    dup = repeated_ids(ids)
    if dup:
        warnings.warn(f"{path}: {len(dup)} record id(s) are held by more than one record (e.g. "
                      f"{dup[0]!r}); their output rows share that id, told apart only by their "
                      f"order (the file's), and labels and split files cannot name those records "
                      f"by id", stacklevel=stacklevel)


# what a file's name says it holds, past a compression suffix
_FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".frn", ".fas", ".fsa", ".mfa", ".faa")
_FASTQ_SUFFIXES = (".fq", ".fastq")
# by pandas' name of the compression a file name asks for (``textfiles.compression``)
_WRITERS = {"gzip": lambda b: gzip.compress(b, mtime=0), "bz2": bz2.compress, "xz": lzma.compress}
_UNREAD = (".zip", ".zst", ".lz4", ".7z")  # compressions the reader does not read back


def _kind(records: list[SeqRecord]) -> str:
    return "fastq" if records and all(r.quality is not None for r in records) else "fasta"


def output_problem(records: list[SeqRecord], path: str) -> str | None:
    """``output_kind_problem`` of records: FASTQ when every one has a quality string."""
    return output_kind_problem(_kind(records), path)


def output_kind_problem(kind: str, path: str) -> str | None:
    """Why records of ``kind`` ("fasta" / "fastq") cannot be written under ``path`` as its
    name says, or None. The name decides the compression (.gz, .bz2, .xz: what the reader
    reads back) and, where it says one, the kind: FASTQ records under a FASTA name would
    lose their qualities, FASTA records have none for a FASTQ name; both are refused rather
    than written as the other."""
    name = os.path.basename(str(path)).lower()
    if name.endswith(".bgz"):  # plain gzip is no BGZF an index (samtools faidx, tabix) can use
        return "BGZF (.bgz) is not written; name the output .gz and run bgzip on it for an indexed file"
    if name.endswith(_UNREAD):
        return (f"{os.path.splitext(name)[1]} is a compression the FASTA/FASTQ reader does not read back; "
                f"name the output .gz, .bz2, .xz or leave it uncompressed")
    stem = plain_name(name)
    if kind == "fastq" and stem.endswith(_FASTA_SUFFIXES):
        return ("the input is FASTQ (with qualities) but the output's name says FASTA, which would drop "
                "the qualities; name it .fq / .fastq")
    if kind == "fasta" and stem.endswith(_FASTQ_SUFFIXES):
        return ("the input is FASTA (no qualities) but the output's name says FASTQ; name it .fa / .fasta")
    return None


def write_seq_records(records: list[SeqRecord], path: str, width: int = 80) -> None:
    """FASTQ when every record has a quality string, else FASTA; compressed as the name
    says (.gz, .bz2, .xz). A record read from a file keeps its header line, line ending
    and width (``Layout``); others are wrapped at ``width``, with LF. An output name of the
    other kind is refused (``output_problem``). Atomic: a temporary file, then renamed."""
    problem = output_problem(records, path)
    if problem:
        raise UsageError(problem, file=path, key="output")
    fastq = _kind(records) == "fastq"
    nl = next((r.layout.newline for r in records if r.layout is not None), "\n")
    out = []
    for r in records:
        if fastq:
            # the separator's repeat of the header, while the header is the one read
            plus = r.layout.plus if r.layout is not None and r.header == r.layout.header else ""
            out.append(f"@{r.header}{nl}{r.sequence}{nl}+{plus}{nl}{r.quality}{nl}")
            continue
        w = (r.layout.width or len(r.sequence)) if r.layout is not None else width
        w = max(w, 1)
        body = nl.join(r.sequence[i:i + w] for i in range(0, len(r.sequence), w))
        out.append(f">{r.header}{nl}{body}{nl}" if body else f">{r.header}{nl}")
    data = "".join(out).encode("utf-8", _ERRORS)
    compress = _WRITERS.get(compression(str(path)))
    body = compress(data) if compress else data
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(body))
