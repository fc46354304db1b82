"""``Pretrained.embed`` honours the genomic ``rc_embed`` option: pooled embeddings are
the mean over both strands (reference: the two strands embedded separately)."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.infer import load

from .conftest import make_run


def test_rc_embed_averages_both_strands(tmp_path):
    from domains.genomic import reverse_complement

    model = load(make_run("genomic", tmp_path, rc_embed=True).dir)
    seqs = ["ACGTTGCAGGCTAGCTAGGATCGATCGTAGC", "ttgacaNNNNtataatGGC"]
    both = model.embed(seqs)
    model.domain.options["rc_embed"] = False  # the reference: each strand by itself
    forward = model.embed(seqs)
    backward = model.embed([reverse_complement(s) for s in seqs])
    np.testing.assert_allclose(both, (forward + backward) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(forward, backward)  # the strands do differ, so the test can fail
    model.domain.options["rc_embed"] = True
    out = model.embed(seqs, out=tmp_path / "e.npy")  # the streaming path averages too
    np.testing.assert_allclose(np.load(out), both, rtol=1e-6, atol=1e-7)
    with pytest.warns(UserWarning, match="pooling='none'"):
        tokens = model.embed(seqs, pooling="none")
    assert [t.shape[0] for t in tokens] == [len(s) for s in seqs]


def test_pooling_none_on_chunked_sets_puts_each_row_on_its_element(runs):
    """A set longer than max_seqlen is cut into spatial chunks of scattered elements; per-token
    rows must come back in the record's token order. Reference: each chunk run alone."""
    import torch

    from encoderkit.data.collate import collate
    from encoderkit.data.store import RecordStore

    model = load(runs["sets"].dir)
    domain = model.domain
    record = RecordStore(str(runs["sets"].store))[0]
    example = domain.featurize(record)
    max_seqlen = 8
    chunks = domain.windows(example, max_seqlen)
    assert len(chunks) > 2  # really chunked
    rows = model.embed([record], pooling="none", max_seqlen=max_seqlen)[0]
    assert rows.shape == (len(example), model.config.hidden_size)
    want = np.zeros(rows.shape)
    seen = np.zeros(len(example))
    with torch.no_grad():
        for chunk in chunks:
            hidden = model.model.eval().encode(collate([domain.unmasked(chunk)])).double().numpy()
            idx = chunk.context["token_index"]
            np.add.at(want, idx, hidden)
            np.add.at(seen, idx, 1)
    assert (seen >= 1).all()  # every token of the record is covered
    np.testing.assert_allclose(rows, want / seen[:, None], rtol=1e-4, atol=1e-5)
    # the element tokens of one chunk are not contiguous in the record (spatial chunking)
    assert any(np.any(np.diff(c.context["token_index"][1:]) != 1) for c in chunks)
