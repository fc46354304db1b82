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
