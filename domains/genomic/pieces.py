"""FASTA/FASTQ records -> the pieces a store holds, shared by ``ingest`` and by raw files
read back (``embed`` / ``predict`` / ``evaluate`` on a file), so a raw file gives the ids
and bases of its store: a model never sees the assembly gaps it was not trained on, and
rows of a raw run join rows of a store run by id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np

from .io import iter_record_blocks, scanned_record, text_id
from .scan import RecordScan
from .tokens import N_CODE

SHOWN = 3  # record ids named in a warning; the rest are counted
EMPTY = "empty record"


def split_on_n_runs(codes: np.ndarray, max_run: int) -> tuple[list[tuple[int, int]], int]:
    """[start, end) pieces of a record between runs of N longer than ``max_run`` (assembly
    gaps), and the length of the longest run cut out (0: none)."""
    is_n = np.concatenate(([False], codes == N_CODE, [False]))
    edges = np.flatnonzero(is_n[1:] != is_n[:-1])
    return split_at_runs(edges[0::2], edges[1::2], len(codes), max_run)


def split_at_runs(run_starts: np.ndarray, run_ends: np.ndarray, length: int,
                  max_run: int) -> tuple[list[tuple[int, int]], int]:
    """``split_on_n_runs`` of a record ``length`` long whose runs of N are given."""
    long = (run_ends - run_starts) > max_run
    cuts = [0]
    for s, e in zip(run_starts[long], run_ends[long]):
        cuts += [int(s), int(e)]
    cuts.append(length)
    longest = int((run_ends - run_starts)[long].max()) if long.any() else 0
    return [(s, e) for s, e in zip(cuts[0::2], cuts[1::2]) if e > s], longest


@dataclass
class Piece:
    """One store record: a record's bases between long N runs, named as ingest names it."""

    id: str
    codes: np.ndarray
    soft: np.ndarray
    offset: int  # first base of the piece in its record
    index: int  # which piece of its record


@dataclass
class PieceLog:
    """What making pieces did, for ingest's report and the warnings of a raw file read."""

    max_n_run: int
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)  # reason -> first ids
    cut: int = 0  # records cut at runs of N
    cut_shown: list[str] = field(default_factory=list)  # "'a' -> 'a:0-5', 'a:15-19'"
    longest: int = 0  # the longest run of N cut out
    mapped: int = 0  # characters read as N (invalid=n)

    def skip(self, reason: str, rid: str) -> None:
        self.skipped[reason] += 1
        shown = self.skipped_ids.setdefault(reason, [])
        if len(shown) < SHOWN:
            shown.append(rid)

    def cut_record(self, rid: str, pieces: list[tuple[str, int, int]], n: int, longest: int) -> None:
        self.cut += 1
        self.longest = max(self.longest, longest)
        if len(self.cut_shown) < SHOWN:
            if len(pieces) == 1 and pieces[0][0] == rid:  # one piece keeps the record's id
                _, s, e = pieces[0]
                self.cut_shown.append(f"{rid!r} -> {rid!r} (its bases {s}-{n})"
                                      if e == n else f"{rid!r} -> {rid!r} (its bases {s}-{e} of {n})")
            else:
                self.cut_shown.append(f"{rid!r} -> {', '.join(repr(p) for p, _, _ in pieces)}")

    def cut_message(self) -> str | None:
        """Which records were cut into which ids, where positions count from, and the
        ``max_n_run`` that keeps them whole: labels keyed by a record's own id and position
        otherwise match no record, or a piece's bases shifted by its offset."""
        if not self.cut:
            return None
        more = f" and {self.cut - SHOWN} more" if self.cut > SHOWN else ""
        return (f"{self.cut} record(s) cut at runs of N longer than max_n_run={self.max_n_run}, each "
                f"piece a record <id>:<start>-<end> (its bases start-end of the record, 0-based, end "
                f"excluded) whose positions restart at 0: {'; '.join(self.cut_shown)}{more}; ingest "
                f"with max_n_run={self.longest} (the longest such run) to keep them whole")

    def _named(self, reason: str) -> str:
        n, ids = self.skipped[reason], self.skipped_ids[reason]
        return ", ".join(map(repr, ids)) + (f" and {n - len(ids)} more" if n > len(ids) else "")

    def read_back_messages(self) -> list[str]:
        """Warnings of a raw file read as its store was ingested (``read_records``): what
        was skipped, by id (a missing row, not a shifted one), and what was cut or mapped."""
        said = []
        if self.skipped[EMPTY]:
            said.append(f"skipped {self.skipped[EMPTY]} empty record(s) (no bases) as ingest skips "
                        f"them: {self._named(EMPTY)}")
        said += [f"skipped {n} {reason} as the store's ingest did: {self._named(reason)}"
                 for reason, n in sorted(self.skipped.items()) if reason != EMPTY and n]
        out = [f"{'; '.join(said)}; the output has no row for them (join its rows by record id, not "
               f"by position in the file)"] if said else []
        cut = self.cut_message()
        if cut:
            out.append(f"read as the run's store was ingested: {cut}")
        if self.mapped:
            out.append(f"{self.mapped} non-IUPAC character(s) read as N (invalid=n, as the run's store "
                       f"was ingested)")
        return out


def iter_pieces(path: str, opts: Mapping[str, Any], log: PieceLog) -> Iterator[Piece]:
    """The store records of one file under the ingest options ``opts`` (``format``,
    ``invalid``, ``max_n_run``, ``min_length``): runs of N longer than ``max_n_run`` are cut
    out, splitting the record into pieces named ``<id>:<start>-<end>`` (a record left in
    one piece keeps its id); a piece shorter than ``min_length`` or without any A/C/G/T
    base is skipped, as is a record without bases. A record is read in blocks (its codes
    and soft flags kept, two bytes a base), so a chromosome is never held as text, even
    one written on a single line."""
    scan: RecordScan | None = None
    for rec, lines, last, joined in iter_record_blocks(path, opts["format"]):
        if scan is None:
            scan = RecordScan(opts["invalid"], keep=True)
        scan.add(lines, joined)
        if not last:
            continue
        codes, soft, n_bad = scanned_record(scan, rec, path)
        runs = scan.n_runs.close(scan.length)
        scan = None
        log.mapped += n_bad
        rid = text_id(rec.id)
        if codes.size == 0:
            log.skip(EMPTY, rid)
            continue
        pieces, longest = split_at_runs(*runs, int(codes.size), opts["max_n_run"])
        if not pieces:
            log.skip("only N (no piece outside runs of N longer than max_n_run)", rid)
            continue
        kept: list[tuple[str, int, int]] = []
        for j, (s, e) in enumerate(pieces):
            c, f = codes[s:e], soft[s:e]
            pid = rid if len(pieces) == 1 else f"{rid}:{s}-{e}"
            if e - s < opts["min_length"]:
                log.skip("piece shorter than min_length", pid)
                continue
            if not _has_base(c):
                log.skip("piece without any A/C/G/T base", pid)
                continue
            kept.append((pid, s, e))
            yield Piece(pid, c, f, s, j)
        if longest and kept:
            log.cut_record(rid, kept, int(codes.size), longest)


def _has_base(codes: np.ndarray, block: int = 1 << 16) -> bool:
    """Any A/C/G/T, looked for a block at a time (no temporary as long as a chromosome)."""
    return any((codes[i:i + block] < 4).any() for i in range(0, codes.shape[0], block))
