"""FASTA / FASTQ reading and writing (plain, gzip, bzip2 or xz), with errors that name
file, record and line. Every error while reading (a truncated archive, a directory, a
malformed record) is an ``encoderkit`` ``DataError`` naming the file."""

from __future__ import annotations

import bz2
import gzip
import lzma
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from encoderkit.errors import DataError, reading
from encoderkit.outputs import atomic_write

from .tokens import BASES, BYTE_TO_CODE, INVALID, IS_LOWER, N_CODE


@dataclass
class SeqRecord:
    """One FASTA/FASTQ record as the user wrote it (the infill CLI round-trips these)."""

    id: str
    sequence: str
    description: str = ""  # the rest of the header line after the id
    quality: str | None = None  # FASTQ only

    @property
    def header(self) -> str:
        return f"{self.id} {self.description}".rstrip() if self.description else self.id


# compressions recognised by their first bytes (the file name is not trusted)
_OPENERS = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


# Headers are text as written: UTF-8 (a leading byte-order mark dropped, as Windows editors
# write one), any other byte kept as a surrogate escape, so infill writes every header back
# byte for byte. Sequence characters beyond ASCII are not IUPAC codes and are refused.
_ENCODING, _ERRORS = "utf-8-sig", "surrogateescape"


def _open_text(path: str):
    with open(path, "rb") as fh:
        magic = fh.read(6)
    for prefix, opener in _OPENERS:
        if magic.startswith(prefix):
            return opener(path, "rt", encoding=_ENCODING, errors=_ERRORS, newline=None)
    return open(path, "rt", encoding=_ENCODING, errors=_ERRORS, newline=None)


def text_id(rid: str) -> str:
    """A record id as storable text: bytes that were not UTF-8 become U+FFFD (a store,
    a CSV of predictions cannot hold the surrogate escapes the reader keeps them as)."""
    return rid.encode("utf-8", _ERRORS).decode("utf-8", "replace")


def detect_format(path: str) -> str:
    """'fasta' or 'fastq' from the first non-blank character; a clear error otherwise."""
    with reading(path), _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
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


def _split_header(header: str) -> tuple[str, str]:
    parts = header.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def iter_fasta(path: str) -> Iterator[RawRecord]:
    rec: RawRecord | None = None
    with reading(path), _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line.startswith(">"):
                if rec is not None:
                    yield rec
                rid, desc = _split_header(line[1:].strip())
                rec = RawRecord(rid or f"record{lineno}", desc, [], lineno + 1)
            elif line.startswith(";") or not line.strip():
                continue  # old-style FASTA comments and blank lines
            elif rec is None:
                raise DataError(f"{path}: line {lineno}: sequence data before the first '>' header")
            else:
                rec.lines.append(line.strip())
    if rec is not None:
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
                                 f"found {plus.rstrip()[:20]!r}")
            seq, qual = seq.strip(), qual.rstrip("\r\n")
            if len(qual) != len(seq):
                raise DataError(f"{path}: record {rid!r}: quality length {len(qual)} (line {qual_no}) "
                                 f"differs from sequence length {len(seq)} (line {lineno + 1})")
            yield RawRecord(rid or f"record{lineno}", desc, [seq], lineno + 1, qual)


def iter_records(path: str, fmt: str = "auto") -> Iterator[RawRecord]:
    fmt = detect_format(path) if fmt == "auto" else fmt
    return iter_fasta(path) if fmt == "fasta" else iter_fastq(path)


def encode_record(rec: RawRecord, path: str, invalid: str = "error") -> tuple[np.ndarray, np.ndarray, int]:
    """Sequence lines -> (base codes uint8, soft bool, number of characters mapped to N).

    ``invalid="error"`` raises naming file, record, line and column of the first
    character that is not an IUPAC code; ``invalid="n"`` maps such characters to N."""
    joined = "".join(rec.lines)
    raw = np.frombuffer(joined.encode("ascii", errors="replace"), dtype=np.uint8)  # one byte a character
    codes = BYTE_TO_CODE[raw]
    soft = IS_LOWER[raw]
    bad = codes == INVALID
    n_bad = int(bad.sum())
    if n_bad:
        if invalid == "error":
            i = int(np.flatnonzero(bad)[0])
            lengths = np.cumsum([len(s) for s in rec.lines])
            li = int(np.searchsorted(lengths, i, side="right"))
            col = i - (int(lengths[li - 1]) if li else 0) + 1
            raise DataError(
                f"{path}: record {text_id(rec.id)!r}, line {rec.first_line + li}, column {col}: character "
                f"{text_id(joined[i])!r} is not an IUPAC nucleotide code (allowed: {BASES} and U, either case). "
                f"Set the ingest option invalid=n to read such characters as N.")
        codes = np.where(bad, N_CODE, codes).astype(np.uint8)
        soft = soft & ~bad
    return codes, soft, n_bad


def read_seq_records(path: str) -> list[SeqRecord]:
    """Every record of a FASTA/FASTQ file, strings kept exactly as written (one line per sequence)."""
    return [SeqRecord(r.id, "".join(r.lines), r.description, r.quality) for r in iter_records(path)]


def write_seq_records(records: list[SeqRecord], path: str, width: int = 80) -> None:
    """FASTQ when every record has a quality string, else FASTA (wrapped at ``width``);
    gzip when ``path`` ends in ``.gz``. Atomic: written to a temporary file, then renamed."""
    fastq = bool(records) and all(r.quality is not None for r in records)
    out = []
    for r in records:
        if fastq:
            out.append(f"@{r.header}\n{r.sequence}\n+\n{r.quality}\n")
        else:
            body = "\n".join(r.sequence[i:i + width] for i in range(0, len(r.sequence), width))
            out.append(f">{r.header}\n{body}\n" if body else f">{r.header}\n")
    data = "".join(out).encode("utf-8", _ERRORS)
    body = gzip.compress(data, mtime=0) if path.endswith(".gz") else data
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(body))
