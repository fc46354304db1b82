"""A loader with worker processes leaves the global torch generator as it found it (review r1,
session 52): each worker's DataLoader drew its base seed from it, one draw per worker per pass,
so a fine-tuning run's dropout stream moved with ``data.num_workers`` and a resume differed."""

from __future__ import annotations

import torch

from domains.genomic.domain import GenomicDomain
from encoderkit.data.loader import PackedLoader
from tests.test_genomic_scale_s52g import KW, small_store


def test_a_pass_with_workers_draws_nothing_from_the_global_generator():
    loader = PackedLoader(small_store(), GenomicDomain(), num_workers=2, epochs=1, **KW)
    torch.manual_seed(3)
    before = torch.get_rng_state()
    batches = list(loader)
    assert batches and torch.equal(torch.get_rng_state(), before)
    list(loader)  # a second pass (validation loaders run many)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_genomic_subclass_with_its_own_window_code_reads_whole_records():
    class OwnWindows(GenomicDomain):
        def featurize_windows(self, record, max_seqlen, index=-1):
            return super().featurize_windows(record, max_seqlen, index)

    assert GenomicDomain().reads_field_slices and not OwnWindows().reads_field_slices
