"""Genomic infill: every N filled with the model's most likely base, read on both strands.

With ``rc_infill`` (the default) each sequence is also read as its reverse complement and
the two strands' base probabilities are averaged before the argmax: the model trained on
both strands (``rc_prob``), so the reverse strand is a second, differently windowed look at
the same context, as test-time augmentation. It costs a second forward pass.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from encoderkit.domain import MaskedExample, PredictFn, window_bounds

from .pieces import SHOWN, split_on_n_runs
from .tokens import MASK_ID, reverse_complement_bases

# index of each base's complement in ACGT order
_COMPLEMENT_ACGT = np.array([3, 2, 1, 0])


def base_probabilities(domain: Any, seqs: Sequence[str], records: Sequence[dict],
                       predict: PredictFn) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Sequence index -> (base offsets of its Ns ascending, ACGT probabilities ``[n, 4]``)
    for every sequence with an N (either case)."""
    size = domain.options["infill_window"]
    jobs: list[tuple[int, np.ndarray, MaskedExample]] = []  # (sequence, base offsets of fills, example)
    for i, (seq, rec) in enumerate(zip(seqs, records)):
        raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        missing_base = (raw == ord("N")) | (raw == ord("n"))
        if not missing_base.any():
            continue
        ids, soft, starts = domain.vocab.tokenize(rec["ids"], rec["soft"])
        # an N is never inside a k-mer, so every N is a one-base token
        missing = missing_base[starts] & (domain.vocab.token_lengths(ids) == 1)
        positions = domain._positions(starts)
        bounds = window_bounds(len(ids), size, size // 4)
        # each hidden token is predicted in the window where it sits most centrally
        tok = np.flatnonzero(missing)
        margin = np.stack([np.minimum(tok - s, e - 1 - tok) for s, e in bounds])  # [W, M]
        owner = margin.argmax(0)
        for w, (s, e) in enumerate(bounds):
            mine = tok[owner == w]
            if mine.size == 0:
                continue
            pred = np.zeros(e - s, dtype=bool)
            pred[mine - s] = True
            inputs = np.where(pred, MASK_ID, ids[s:e])
            ex = MaskedExample(inputs={"ids": inputs, "soft": soft[s:e]},
                               positions=positions[s:e] - positions[s], targets={}, predict=pred,
                               record=i, window=w, start=s,
                               context={"fill_kmer": np.zeros(mine.size, dtype=bool)})
            jobs.append((i, starts[mine], ex))
    if not jobs:
        return {}
    lo, hi = domain.vocab.acgt_range
    parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for (i, base_pos, _), p in zip(jobs, predict([ex for _, _, ex in jobs])):
        logits = np.asarray(p["logits"], dtype=np.float64)[:, lo:hi]
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        parts.setdefault(i, []).append((base_pos, probs / probs.sum(-1, keepdims=True)))
    out = {}
    for i, chunks in parts.items():
        pos = np.concatenate([c[0] for c in chunks])
        probs = np.concatenate([c[1] for c in chunks])
        order = np.argsort(pos, kind="stable")
        out[i] = (pos[order], probs[order])
    return out


def infill_sequences(domain: Any, data: Any, predict: PredictFn) -> Any:
    """``GenomicDomain.infill``: Ns filled, every other character (the case of filled
    bases included) unchanged; ``rc_infill`` averages both strands (module docstring)."""
    seqs, rebuild = domain._sequences(data)
    records = domain.to_records(data)
    found = base_probabilities(domain, seqs, records, predict)
    if found and domain.options["rc_infill"]:
        rc_seqs, rc_records = [], []
        for s, rec in zip(seqs, records):
            rc_seqs.append(s[::-1])  # only the N positions of the string are read, mirrored
            codes, soft = reverse_complement_bases(np.asarray(rec["ids"]), np.asarray(rec["soft"]))
            rc_records.append({**rec, "ids": codes, "soft": soft})
        other = base_probabilities(domain, rc_seqs, rc_records, predict)
        for i, (pos, probs) in found.items():
            rc_pos, rc_probs = other[i]
            # the reverse strand lists the same Ns in the opposite order, as complements
            assert np.array_equal(len(seqs[i]) - 1 - rc_pos[::-1], pos)
            found[i] = (pos, (probs + rc_probs[::-1][:, _COMPLEMENT_ACGT]) / 2)
    warn_unseen_fills(domain, records, found)
    out = [bytearray(s.encode("ascii")) for s in seqs]
    for i, (pos, probs) in found.items():
        # a record written with U (RNA) and no T gets U, so the output stays RNA
        rna = ("U" in seqs[i] or "u" in seqs[i]) and "T" not in seqs[i] and "t" not in seqs[i]
        letters = np.frombuffer(b"ACGU" if rna else b"ACGT", dtype=np.uint8)[probs.argmax(-1)]
        arr = np.frombuffer(out[i], dtype=np.uint8)  # writable view of the bytearray
        lower = arr[pos] == ord("n")
        arr[pos] = np.where(lower, letters + 32, letters)
    return rebuild([b.decode("ascii") for b in out])


def warn_unseen_fills(domain: Any, records: Sequence[dict],
                      found: dict[int, Any]) -> None:
    """Say which records are filled where the model saw no such input in training: ingest
    skips a record without any base, and cuts runs of N longer than the store's
    ``max_n_run`` out (assembly gaps); infill still fills them, as documented, but a
    whole invented record or gap is not a fill of a few hidden bases."""
    unseen = UnseenFills(domain.read_options()["max_n_run"])
    for i in found:
        codes = np.asarray(records[i]["ids"])
        unseen.add(str(records[i].get("id", i)), bool((codes < 4).any()),
                   split_on_n_runs(codes, unseen.max_run)[1])
    unseen.warn(stacklevel=4)


class UnseenFills:
    """The records ``warn_unseen_fills`` names, gathered one filled record at a time (the
    streamed file infill keeps the first few names and counts the rest)."""

    def __init__(self, max_run: int) -> None:
        self.max_run = max_run
        self.no_base: list[str] = []
        self.gaps: list[str] = []
        self.counts = [0, 0]  # records without a base, records with a run cut out

    def add(self, name: str, has_base: bool, longest_cut: int) -> None:
        """A record with N: ``has_base``: any A/C/G/T; ``longest_cut``: its longest run of
        N longer than ``max_run`` (0: none)."""
        if not has_base:
            self.counts[0] += 1
            if len(self.no_base) < SHOWN:
                self.no_base.append(repr(name))
        elif longest_cut:
            self.counts[1] += 1
            if len(self.gaps) < SHOWN:
                self.gaps.append(repr(name))

    def warn(self, stacklevel: int = 2) -> None:
        def named(ids: list[str], n: int) -> str:
            return ", ".join(ids) + (f" and {n - SHOWN} more" if n > SHOWN else "")
        no_base, gaps = self.counts
        if no_base:
            warnings.warn(f"{no_base} record(s) without any A/C/G/T base filled entirely from the model "
                          f"(ingest skips such records, so it never saw one): {named(self.no_base, no_base)}",
                          stacklevel=stacklevel)
        if gaps:
            warnings.warn(f"{gaps} record(s) with runs of N longer than max_n_run={self.max_run} filled "
                          f"(ingest cut such runs out as assembly gaps, so the model never saw one): "
                          f"{named(self.gaps, gaps)}", stacklevel=stacklevel)
