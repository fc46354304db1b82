"""Genomic infill of a FASTA/FASTQ file, streamed: ``encoderkit infill`` of a genome.

The output is byte for byte what ``write_seq_records(infill(read_seq_records(path)))``
writes (``infill.py`` is the reference), but no record is held as text or tokens:

- each record is read once, in blocks, and written out at once as read, its Ns still N;
  its characters are counted and its runs of N found on the way (``scan.py``);
- the windows that own its Ns (``windows.py``) are then read back from the written file,
  tokenised and sent to the model, and each N, once both strands have read it, is written
  over in place. A compressed output is packed from the filled file at the end.

The model sees the windows in the very groups the in-memory infill packs them in (every
window on the forward strand in file order, then every one on the reverse strand, cut
greedily at the predict token budget): a window's logits depend, in their last bits, on the
short windows packed beside it, and a near tie (a record of only N reads alike on both
strands) follows those bits. Groups on the reverse strand are cut as the reference cuts
them and sent in the order the record is read along, so memory stays near flat."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, BinaryIO, Iterator

import numpy as np

from encoderkit.domain import MaskedExample, PredictFn
from encoderkit.errors import DataError, UsageError
from encoderkit.outputs import atomic_write

from .infill import _COMPLEMENT_ACGT, UnseenFills
from .io import (PROTEIN_ADVICE, detect_format, file_newline, iter_record_blocks,
                 output_kind_problem, protein_like_counts, text_id)
from .pieces import split_at_runs
from .scan import RecordScan
from .seqwriter import SeqWriter, pack, packer
from .tokens import BYTE_TO_CODE, IS_LOWER, MASK_ID, invalid_character, reverse_complement_bases
from .windows import TokenMap, Windows, count_jobs, fill_jobs

PATCH_GAP = 1 << 16  # fills further apart than this many bytes are written back separately


def infill_file(domain: Any, path: str, output: str, predict: PredictFn, max_tokens: int) -> None:
    """Fill every N of the FASTA/FASTQ file ``path`` into ``output`` (``GenomicDomain.infill``
    of every record, written as ``write_output`` writes them), atomically. ``max_tokens``:
    the token budget ``predict`` packs examples with (``Pretrained.max_tokens``)."""
    fmt = detect_format(path)
    problem = output_kind_problem(fmt, output)  # before the fill: a name it would not write as
    if problem:
        raise UsageError(problem, file=output, key="output")
    stream = _Stream(domain, predict, max_tokens, fmt, file_newline(path))
    how = packer(output)

    def write(tmp: str) -> None:
        if how is None:
            with open(tmp, "w+b", buffering=0) as body:
                stream.run(path, body)
            return
        with tempfile.TemporaryFile(buffering=0, dir=os.path.dirname(tmp)) as body, open(tmp, "wb") as fh:
            stream.run(path, body)
            pack(body, fh, how)
    atomic_write(output, write)
    stream.unseen.warn(stacklevel=3)


@dataclass
class _Job:
    """One window that owns Ns, on one strand: its hidden tokens (that strand's numbering,
    ascending) and the base of the first of them along the forward strand."""

    rc: bool
    window: int
    tokens: np.ndarray
    first_base: int


@dataclass
class _Fill:
    """The Ns of one record written at ``start`` of the body (``width`` characters a line,
    ``nl`` bytes a line ending; width 0: one line): the windows that own them, and the base
    probabilities of one strand kept until the other strand's arrive."""

    index: int
    body: BinaryIO
    start: int
    width: int
    nl: bytes
    length: int
    rna: bool
    n_start: np.ndarray  # runs of N, [start, end) bases
    n_end: np.ndarray
    map: TokenMap
    windows: Windows
    halves: dict[bool, list] = field(default_factory=lambda: {False: [], True: []})

    def __post_init__(self) -> None:
        self.rc_map = self.map.reversed()

    def offset(self, bases: np.ndarray) -> np.ndarray:
        """Byte offset in the body of each base."""
        b = np.asarray(bases, dtype=np.int64)
        return self.start + b + (b // self.width * len(self.nl) if self.width else 0)

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Bases [lo, hi) as the input holds them (filled Ns read as N again, in their case)."""
        first, last = self.offset(np.array([lo, hi - 1]))
        data = os.pread(self.body.fileno(), int(last - first) + 1, int(first))
        if self.width and self.nl:
            data = data.replace(self.nl, b"")
        raw = np.frombuffer(bytearray(data), dtype=np.uint8)
        assert raw.shape[0] == hi - lo, "the written record does not read back"
        i, j = np.searchsorted(self.n_end, lo, side="right"), np.searchsorted(self.n_start, hi)
        for s, e in zip(self.n_start[i:j], self.n_end[i:j]):
            part = raw[max(s, lo) - lo:min(e, hi) - lo]
            part[:] = np.where(part >= ord("a"), ord("n"), ord("N"))
        return raw

    def example(self, job: _Job, domain: Any) -> MaskedExample:
        """The window of ``job`` as ``base_probabilities`` builds it from the whole record."""
        s, e = self.windows.bounds(job.window)
        lo, hi = (self.rc_map if job.rc else self.map).base_of(np.array([s, e]))
        lo, hi = (self.length - int(hi), self.length - int(lo)) if job.rc else (int(lo), int(hi))
        raw = self.read(lo, hi)
        codes, soft = BYTE_TO_CODE[raw], IS_LOWER[raw]
        if job.rc:
            codes, soft = reverse_complement_bases(codes, soft)
        ids, bits, starts = domain.vocab.tokenize(codes, soft)
        assert ids.shape[0] == e - s, "a window's tokens differ from the whole record's"
        pred = np.zeros(e - s, dtype=bool)
        pred[job.tokens - s] = True
        return MaskedExample(inputs={"ids": np.where(pred, MASK_ID, ids), "soft": bits},
                             positions=domain._positions(starts), targets={}, predict=pred,
                             record=self.index, window=job.window, start=s,
                             context={"fill_kmer": np.zeros(job.tokens.size, dtype=bool)})

    def result(self, job: _Job, prediction: dict[str, np.ndarray], acgt: tuple[int, int],
               both: bool) -> int:
        """A window's logits -> probabilities of its Ns; the Ns both strands have read are
        written. Returns how many were."""
        logits = np.asarray(prediction["logits"], dtype=np.float64)[:, acgt[0]:acgt[1]]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs = probs / probs.sum(-1, keepdims=True)
        if job.rc:  # the other strand lists the same Ns in the opposite order, as complements
            pos = self.map.base_of(self.map.tokens - 1 - job.tokens[::-1])
            probs = probs[::-1][:, _COMPLEMENT_ACGT]
        else:
            pos = self.map.base_of(job.tokens)
        if not both:
            self._write(pos, probs)
            return pos.shape[0]
        done, others = 0, self.halves[not job.rc]
        for k, (p, q) in enumerate(others):
            if p[0] > pos[-1] or p[-1] < pos[0]:
                continue
            _, mine, theirs = np.intersect1d(pos, p, assume_unique=True, return_indices=True)
            if mine.size:
                fwd, rc = (q[theirs], probs[mine]) if job.rc else (probs[mine], q[theirs])
                self._write(pos[mine], (fwd + rc) / 2)
                done += mine.size
                keep = np.ones(p.shape[0], dtype=bool)
                keep[theirs] = False
                others[k] = (p[keep], q[keep])
                left = np.ones(pos.shape[0], dtype=bool)
                left[mine] = False
                pos, probs = pos[left], probs[left]
                if not pos.size:
                    break
        others[:] = [(p, q) for p, q in others if p.size]
        if pos.size:
            self.halves[job.rc].append((pos, probs))
        return done

    def _write(self, pos: np.ndarray, probs: np.ndarray) -> None:
        """Ns at ``pos`` (ascending) written over with their most likely base, in their case."""
        letters = np.frombuffer(b"ACGU" if self.rna else b"ACGT", dtype=np.uint8)[probs.argmax(-1)]
        offsets = self.offset(pos)
        cuts = np.flatnonzero(np.diff(offsets) > PATCH_GAP) + 1
        fd = self.body.fileno()
        for off, let in zip(np.split(offsets, cuts), np.split(letters, cuts)):
            first = int(off[0])
            buf = bytearray(os.pread(fd, int(off[-1]) - first + 1, first))
            arr = np.frombuffer(buf, dtype=np.uint8)
            at = off - first
            arr[at] = np.where(arr[at] == ord("n"), let + 32, let)
            os.pwrite(fd, buf, first)


class _Group:
    """Windows to be packed into one forward pass, as ``pack_in_order`` cuts them."""

    def __init__(self) -> None:
        self.items: list[tuple[_Job, _Fill, MaskedExample]] = []
        self.tokens = 0


class _Stream:
    """Records in and out in input order; windows to the model in the reference's groups."""

    def __init__(self, domain: Any, predict: PredictFn, max_tokens: int, fmt: str, newline: str) -> None:
        self.domain, self.predict, self.fmt, self.newline = domain, predict, fmt, newline
        self.size = domain.options["infill_window"]
        self.both = domain.options["rc_infill"]
        # predict packs at max(max_tokens, its longest example): exact while the window fits
        self.budget = max(int(max_tokens), 1)
        self.unseen = UnseenFills(domain.read_options()["max_n_run"])
        self.open = {False: _Group(), True: _Group()}  # each strand's group still filling
        self.unfilled = 0  # Ns not yet written over

    def run(self, path: str, body: BinaryIO) -> None:
        out = SeqWriter(body, self.newline)
        scan, count = None, 0
        for raw, lines, last, joined in iter_record_blocks(path, self.fmt):
            if scan is None:
                scan = RecordScan("error", breaks=self.domain.vocab.tokens == "kmer")
                out.start(raw.header, self.fmt == "fastq")
                start = body.tell()
            data = scan.add(lines, joined)
            if scan.lines > 1:  # the first line has ended: the record is written at its width
                out.wrap(scan.first_width)
            out.sequence(data)
            if not last:
                continue
            out.end(raw.plus, raw.quality)
            fill = self._check(count, text_id(raw.id), scan, body, start)
            scan, count = None, count + 1
            if fill is not None:
                self._schedule(fill)
        if not count:
            raise DataError("holds no records to fill", file=path)
        for rc in (False, True):
            self._send(rc)
        assert self.unfilled == 0, "Ns left unfilled"

    def _check(self, index: int, name: str, scan: RecordScan, body: BinaryIO, start: int) -> _Fill | None:
        """The record's checks (``to_records``'s errors) and, where it has N, its fill."""
        counts, length = scan.counts, scan.length
        protein = protein_like_counts(counts)
        if protein:
            raise ValueError(f"sequence {name}: {protein}; {PROTEIN_ADVICE}")
        if scan.first_bad is not None:
            raise ValueError(f"sequence {name}: {invalid_character(scan.first_bad[3], scan.first_bad[0])}")
        n_start, n_end = scan.n_runs.close(length)
        if not n_start.size:
            return None
        self.unseen.add(name, _holds(counts, b"ACGTUacgtu"),
                        split_at_runs(n_start, n_end, length, self.unseen.max_run)[1])
        vocab = self.domain.vocab
        tmap = TokenMap.from_breaks(*scan.breaks.close(length), length, vocab.k) \
            if scan.breaks is not None else TokenMap.identity(length)
        width = 0 if self.fmt == "fastq" else max(scan.first_width, 1)
        self.unfilled += int((n_end - n_start).sum())
        # a record written with U (RNA) and no T gets U, so the output stays RNA
        return _Fill(index, body, start, width, self.newline.encode("ascii"), length,
                     _holds(counts, b"Uu") and not _holds(counts, b"Tt"), n_start, n_end, tmap,
                     Windows(tmap.tokens, self.size))

    # ---------------------------------------------------------------- windows to the model
    def _schedule(self, fill: _Fill) -> None:
        """The record's windows into groups: forward ones in order; reverse-strand ones cut
        as the reference cuts them (ascending along that strand, after the last record's)
        but sent along the forward strand, beside the forward ones reading the same bases."""
        n = fill.map.tokens
        each = min(self.size, n)  # every window of a record has this many tokens
        self.budget = max(self.budget, each)  # as predict's: a window longer than the budget packs alone
        t_start = fill.map.token_of(fill.n_start)  # an N is a token of its own
        t_end = t_start + (fill.n_end - fill.n_start)
        forward = self._jobs(fill, fill_jobs(t_start, t_end, fill.windows), rc=False)
        if not self.both:
            for job in forward:
                self._add(False, job, fill)
            return
        rc_start, rc_end = n - t_end[::-1], n - t_start[::-1]  # the other strand's token i is n - 1 - i
        count = count_jobs(rc_start, rc_end, fill.windows)
        group = self.open[True]
        joining = min(count, max(0, (self.budget - group.tokens) // each)) if group.items else 0
        for job in self._jobs(fill, islice(fill_jobs(rc_start, rc_end, fill.windows), joining), rc=True):
            self._add(True, job, fill, grow_only=True)
        if joining == count:
            for job in forward:
                self._add(False, job, fill)
            return
        self._send(True)  # the next window does not fit: the group is whole
        per = max(1, self.budget // each)
        last_group = (count - 1 - joining) // per
        backward = self._jobs(fill, islice(fill_jobs(rc_start, rc_end, fill.windows, descending=True),
                                           count - joining), rc=True)
        j = count  # index of the reverse-strand window along that strand
        held: list[tuple[_Job, MaskedExample]] = []
        for job in _merge(forward, backward):
            if not job.rc:
                self._add(False, job, fill)
                continue
            j -= 1
            held.append((job, fill.example(job, self.domain)))
            if (j - joining) % per == 0:  # the first window of its group: the group is whole
                ordered = held[::-1]
                held = []
                if (j - joining) // per == last_group:  # the record's last group stays open
                    assert not self.open[True].items, "the open group was sent"
                    for job_, example in ordered:
                        self._add(True, job_, fill, example, grow_only=True)
                else:
                    self._send_items([(job_, fill, example) for job_, example in ordered])

    def _jobs(self, fill: _Fill, jobs: Iterator[tuple[int, np.ndarray]], rc: bool) -> Iterator[_Job]:
        n = fill.map.tokens
        for w, tokens in jobs:
            first = n - 1 - int(tokens[-1]) if rc else int(tokens[0])
            yield _Job(rc, w, tokens, int(fill.map.base_of(np.array([first]))[0]))

    def _add(self, rc: bool, job: _Job, fill: _Fill, example: MaskedExample | None = None,
             grow_only: bool = False) -> None:
        """A window into its strand's open group; a window that does not fit sends the
        group first (``pack_in_order``)."""
        example = example if example is not None else fill.example(job, self.domain)
        group = self.open[rc]
        if group.items and group.tokens + len(example) > self.budget:
            assert not grow_only, "a reverse-strand window cut into the wrong group"
            self._send(rc)
            group = self.open[rc]
        group.items.append((job, fill, example))
        group.tokens += len(example)

    def _send(self, rc: bool) -> None:
        group, self.open[rc] = self.open[rc], _Group()
        if group.items:
            self._send_items(group.items)

    def _send_items(self, items: list[tuple[_Job, _Fill, MaskedExample]]) -> None:
        """One group through the model; the Ns its windows complete written."""
        predictions = self.predict([example for _, _, example in items])
        acgt = self.domain.vocab.acgt_range
        for (job, fill, _), p in zip(items, predictions):
            self.unfilled -= fill.result(job, p, acgt, self.both)


def _merge(forward: Iterator[_Job], backward: Iterator[_Job]) -> Iterator[_Job]:
    """Both strands' windows by the first N they own along the record (forward first)."""
    f, b = next(forward, None), next(backward, None)
    while f is not None or b is not None:
        if b is None or (f is not None and f.first_base <= b.first_base):
            yield f
            f = next(forward, None)
        else:
            yield b
            b = next(backward, None)


def _holds(counts: np.ndarray, letters: bytes) -> bool:
    """Whether a record whose byte counts are ``counts`` holds any of ``letters``."""
    return bool(counts[np.frombuffer(letters, dtype=np.uint8)].sum())
