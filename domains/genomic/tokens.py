"""Bases, vocabularies and reverse complement for the genomic domain.

Two layers, so one record store serves every vocabulary:

* **base codes** (what the store holds, uint8 per base): ``A C G T N R Y S W K M B D H V``
  -> ``0 .. 14``; lowercase is a separate ``soft`` flag, ``U`` is read as ``T``.
* **token ids** (what the model sees), built by :class:`Vocabulary` from the options
  ``tokens`` ("nucleotide" | "kmer"), ``k`` and ``iupac`` ("collapse" | "keep").

Token id layout: ``[PAD] [CLS] [SEP] [MASK]`` = 0..3, then single bases ``A C G T N``
(plus the 10 other IUPAC codes when kept), then, in k-mer mode, the ``4**k`` k-mers in
lexicographic ACGT order. The embedding table is padded to a multiple of 64.

k-mer rule: k-mers never contain a non-ACGT base. Each maximal run of ACGT is cut into
non-overlapping k-mers from its start; the run's last ``len % k`` bases and every
ambiguous base are single-base tokens (the Nucleotide Transformer tokenizer likewise
keeps ambiguous bases out of k-mers). Because the k-mer phase restarts after each
ambiguous base, a token count depends only on run lengths, so flipping the strand
never changes the number of tokens of a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASES = "ACGTNRYSWKMBDHV"  # base code i <-> BASES[i]
N_CODE = 4
# IUPAC complements: R(AG)<->Y(CT), S(CG) and W(AT) self, K(GT)<->M(AC), B(CGT)<->V(ACG), D(AGT)<->H(ACT)
_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N", "R": "Y", "Y": "R", "S": "S",
               "W": "W", "K": "M", "M": "K", "B": "V", "V": "B", "D": "H", "H": "D"}
COMPLEMENT_CODE = np.array([BASES.index(_COMPLEMENT[b]) for b in BASES], dtype=np.uint8)

INVALID = 255
# byte -> base code (255 = not IUPAC); case-insensitive, U read as T.
BYTE_TO_CODE = np.full(256, INVALID, dtype=np.uint8)
for _i, _b in enumerate(BASES):
    BYTE_TO_CODE[ord(_b)] = BYTE_TO_CODE[ord(_b.lower())] = _i
BYTE_TO_CODE[ord("U")] = BYTE_TO_CODE[ord("u")] = BASES.index("T")
IS_LOWER = np.zeros(256, dtype=bool)
IS_LOWER[ord("a"):ord("z") + 1] = True

SPECIALS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, CLS_ID, SEP_ID, MASK_ID = range(4)
FIRST_BASE = len(SPECIALS)  # token id of "A"


def encode_bases(seq: str | bytes) -> tuple[np.ndarray, np.ndarray]:
    """A sequence string -> (base codes uint8 [L], soft bool [L]); raises on non-IUPAC."""
    # one byte a character (anything beyond ASCII reads as '?', not a code), so the
    # position and character of an error are those of the string
    raw = np.frombuffer(seq.encode("ascii", "replace") if isinstance(seq, str) else seq, dtype=np.uint8)
    codes = BYTE_TO_CODE[raw]
    bad = np.flatnonzero(codes == INVALID)
    if bad.size:
        i = int(bad[0])
        raise ValueError(invalid_character(seq[i] if isinstance(seq, str) else chr(raw[i]), i))
    return codes, IS_LOWER[raw]


def invalid_character(char: str, position: int) -> str:
    """What ``encode_bases`` says of the first character that is not an IUPAC code (the
    streamed file infill says the same of a record it reads in blocks)."""
    return (f"character {char!r} at position {position} is not an IUPAC nucleotide code "
            f"(allowed: {BASES}, U, lowercase for soft-masked)")


def decode_bases(codes: np.ndarray, soft: np.ndarray | None = None) -> str:
    """Base codes (+ soft flags -> lowercase) back to a string."""
    letters = np.frombuffer(BASES.encode(), dtype=np.uint8)[np.asarray(codes, dtype=np.intp)]
    if soft is not None:
        letters = np.where(soft, letters + 32, letters).astype(np.uint8)  # ASCII lowercase
    return letters.tobytes().decode("ascii")


def reverse_complement_bases(codes: np.ndarray, soft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return COMPLEMENT_CODE[codes[::-1]], soft[::-1].copy()


@dataclass(frozen=True)
class Vocabulary:
    """Token ids for one (tokens, k, iupac) choice; all maps are numpy lookup tables."""

    tokens: str = "nucleotide"  # "nucleotide" | "kmer"
    k: int = 6
    iupac: str = "collapse"  # "collapse": other IUPAC codes -> N; "keep": own tokens

    @property
    def num_single(self) -> int:
        return 15 if self.iupac == "keep" else 5

    @property
    def kmer_offset(self) -> int:
        return FIRST_BASE + self.num_single

    @property
    def num_kmers(self) -> int:
        return 4 ** self.k if self.tokens == "kmer" else 0

    @property
    def size(self) -> int:
        """Number of real tokens (specials + bases + k-mers)."""
        return self.kmer_offset + self.num_kmers

    @property
    def padded_size(self) -> int:
        return -(-self.size // 64) * 64

    @property
    def acgt_range(self) -> tuple[int, int]:
        return FIRST_BASE, FIRST_BASE + 4

    @property
    def kmer_range(self) -> tuple[int, int]:
        return self.kmer_offset, self.kmer_offset + self.num_kmers

    def code_to_single(self) -> np.ndarray:
        """base code -> single-base token id."""
        codes = np.arange(len(BASES))
        if self.iupac == "collapse":
            codes = np.minimum(codes, N_CODE)
        return (FIRST_BASE + codes).astype(np.int64)

    def token_strings(self) -> list[str]:
        """The vocabulary as strings, in id order, padded with ``[unused<i>]``."""
        singles = list(BASES[: self.num_single])
        kmers = []
        if self.tokens == "kmer":
            idx = np.arange(self.num_kmers)
            digits = (idx[:, None] // 4 ** np.arange(self.k - 1, -1, -1)) % 4
            kmers = ["".join("ACGT"[d] for d in row) for row in digits]
        names = list(SPECIALS) + singles + kmers
        return names + [f"[unused{i}]" for i in range(self.padded_size - len(names))]

    # ---- per-token tables (cached lazily: frozen dataclass, so via object.__setattr__) ----
    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_cached")
        if cached is None:
            width = self.k if self.tokens == "kmer" else 1
            bases = np.full((self.padded_size, width), N_CODE, dtype=np.uint8)  # token -> base codes
            length = np.zeros(self.padded_size, dtype=np.int64)  # 0 for specials / unused
            single = np.arange(self.num_single)
            bases[FIRST_BASE + single, 0] = single
            length[FIRST_BASE + single] = 1
            if self.tokens == "kmer":
                idx = np.arange(self.num_kmers)
                digits = (idx[:, None] // 4 ** np.arange(self.k - 1, -1, -1)) % 4
                bases[self.kmer_offset + idx] = digits
                length[self.kmer_offset + idx] = self.k
            is_ambiguous = np.zeros(self.padded_size, dtype=bool)
            is_ambiguous[FIRST_BASE + 4: FIRST_BASE + self.num_single] = True
            cached = (bases, length, is_ambiguous)
            object.__setattr__(self, "_cached", cached)
        return cached

    def token_lengths(self, ids: np.ndarray) -> np.ndarray:
        """Bases per token (k for k-mers, 1 for single bases, 0 for specials)."""
        return self._tables()[1][ids]

    def is_ambiguous(self, ids: np.ndarray) -> np.ndarray:
        """True for N and other IUPAC tokens (never training targets)."""
        return self._tables()[2][ids]

    # ---- tokenise / detokenise ----
    def tokenize(self, codes: np.ndarray, soft: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Base codes [L] + soft [L] -> (token ids int64 [T], soft bits uint8 [T], first base of each token [T]).

        Soft bits: bit j is set when the token's j-th base is soft-masked (k <= 8 fits a
        byte), so a k-mer that mixes cases keeps exact per-base flags through a strand
        flip; a token counts as soft-masked when any bit is set."""
        codes = np.asarray(codes, dtype=np.uint8)
        soft = np.asarray(soft, dtype=bool)
        n = codes.shape[0]
        single = self.code_to_single()[codes]
        if self.tokens == "nucleotide" or n == 0:
            return single, soft.astype(np.uint8), np.arange(n, dtype=np.int64)
        k = self.k
        acgt = codes < 4
        idx = np.arange(n)
        # index within the current ACGT run, and the run's length, for every base
        last_break = np.maximum.accumulate(np.where(acgt, -1, idx))
        in_run = idx - last_break - 1
        next_break = np.minimum.accumulate(np.where(acgt, n, idx)[::-1])[::-1]
        run_len = next_break - last_break - 1
        in_kmer = acgt & (in_run < (run_len // k) * k)
        starts = np.flatnonzero(~in_kmer | (in_run % k == 0))
        is_kmer = in_kmer[starts]
        ids = single[starts].copy()
        kstarts = starts[is_kmer]
        value = np.zeros(kstarts.size, dtype=np.int64)
        for j in range(k):  # k is small: k vectorised passes
            value = value * 4 + codes[kstarts + j]
        ids[is_kmer] = self.kmer_offset + value
        lens = np.where(is_kmer, k, 1)
        bits = np.zeros(starts.size, dtype=np.uint8)
        for j in range(k):
            has = j < lens
            bits[has] |= soft[starts[has] + j].astype(np.uint8) << j
        return ids, bits, starts.astype(np.int64)

    def detokenize(self, ids: np.ndarray, soft: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids [T] (+ soft bits [T]) -> (base codes [L], soft bool [L]); specials are dropped."""
        bases, length, _ = self._tables()
        ids = np.asarray(ids, dtype=np.int64)
        lens = length[ids]
        keep = np.arange(bases.shape[1])[None, :] < lens[:, None]  # [T, width]
        codes = bases[ids][keep]
        if soft is None:
            flags = np.zeros(codes.shape[0], dtype=bool)
        else:
            bits = np.asarray(soft).astype(np.uint8)[:, None] >> np.arange(bases.shape[1], dtype=np.uint8)[None, :]
            flags = (bits & 1).astype(bool)[keep]
        return codes, flags

    def reverse_complement(self, ids: np.ndarray, soft: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tokens of the reverse-complement strand: (ids, soft, first base of each token).

        Nucleotide mode maps token by token; k-mer mode re-tokenises the flipped bases
        so the result equals tokenising the reverse-complemented sequence."""
        if self.tokens == "nucleotide":
            comp = np.arange(self.padded_size, dtype=np.int64)
            comp[FIRST_BASE: FIRST_BASE + len(BASES)] = FIRST_BASE + COMPLEMENT_CODE.astype(np.int64)
            n = len(ids)
            return comp[ids[::-1]], np.asarray(soft, np.uint8)[::-1].copy(), np.arange(n, dtype=np.int64)
        codes, flags = self.detokenize(ids, soft)
        return self.tokenize(*reverse_complement_bases(codes, flags))
