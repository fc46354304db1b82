"""Genomic domain: FASTA/FASTQ -> nucleotide or k-mer tokens, masked-LM pretraining, infill."""

from .domain import GenomicDomain, bundled_sequence, embed_both_strands, reverse_complement
from .io import SeqRecord
from .tokens import Vocabulary

__all__ = ["GenomicDomain", "SeqRecord", "Vocabulary", "bundled_sequence", "embed_both_strands",
           "reverse_complement"]
