"""Where the genomic domain's options take effect (``encoderkit.option_effects`` states the
rule: a value the user set that cannot take effect is refused, naming the option).

A masker's own setting is read by that masker only, ``mask_kmer`` only on nucleotide tokens
(a k-mer token is a whole k-mer already) and ``k`` only on k-mer tokens. The ingest options
(``format``, ``invalid``, ``max_n_run``, ``min_length``) are read when files become a store;
a run reads the store as its ingest wrote it (a raw file read back by the run follows the
store's recorded values, ``GenomicDomain.read_options``), so given to ``pretrain`` they
changed nothing and were written into ``config.yaml`` as if they had. ``window`` is capped
by ``data.max_seqlen``: a larger value trained on ``max_seqlen`` tokens a window.

Registered by the class attribute ``option_scope = OPTION_SCOPE`` of ``GenomicDomain``.
"""

from __future__ import annotations

from encoderkit.option_effects import AtMost, IngestOnly, Masker, OptionIs, OptionScope, Scope

OPTION_SCOPE = OptionScope(
    run=(Scope("domain.span_mean", (Masker(("span",)),)),
         Scope("domain.mask_kmer", (Masker(("kmer",)), OptionIs("tokens", ("nucleotide",)))),
         Scope("domain.k", (OptionIs("tokens", ("kmer",)),)),
         Scope("domain.window", (AtMost("data.max_seqlen"),)),
         *(Scope(f"domain.{key}", (IngestOnly(),)) for key in ("format", "invalid", "max_n_run", "min_length"))),
)
