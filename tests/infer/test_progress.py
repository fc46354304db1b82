"""Progress of embed / predict on a few long records: a 14 Mb genome or a 1e6-sample
series ran for minutes with no output (the bar counted records and stayed hidden under
1,000 of them), and predict counted a record once per batch it reached (30/1)."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.infer.embed import embed_stream
from encoderkit.infer.pretrained import PROGRESS_DELAY_S, progress_bar
from tests.infer.test_embed import _pretrained, _records


class Recorder:
    """A tqdm stand-in: the updates and postfixes it was given."""

    def __init__(self) -> None:
        self.n, self.postfixes, self.postfix, self.closed = 0, [], "", False

    def update(self, k: int) -> None:
        self.n += k

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        self.postfix = s
        self.postfixes.append(s)

    def close(self) -> None:
        self.closed = True


def test_embed_shows_the_windows_of_a_long_record_and_counts_it_once():
    pt = _pretrained(max_seqlen=16)
    bar = Recorder()
    records = [(i, r["id"], r) for i, r in enumerate(_records([64, 5, 3]))]
    out = list(embed_stream(pt.model, pt.domain, records, max_tokens=16, max_seqlen=16, progress=bar))
    assert len(out) == 3 and bar.n == 3
    assert "rec0: 1/4 windows" in bar.postfixes and "rec0: 3/4 windows" in bar.postfixes
    assert bar.postfix == ""  # cleared once the record is done


def test_predict_counts_a_record_of_many_windows_once(monkeypatch):
    import encoderkit.tasks.outputs as outputs
    import encoderkit.tasks.predict as predict

    bar = Recorder()
    monkeypatch.setattr(predict, "progress_bar", lambda n, desc, progress: bar)
    seen = []

    def collect(model, batches, device, autocast=None):
        for b in batches:
            seen.append(b.record.tolist())
        return [0, 1, 2], [np.zeros(2)] * 3

    monkeypatch.setattr(outputs, "collect", collect)
    pt = _pretrained(max_seqlen=16)
    ft = object.__new__(predict.FineTuned)
    ft.__dict__.update(pt.__dict__)
    ft.max_tokens = 16
    ids, _ = ft.outputs(_records([64, 5, 3]))
    assert ids == ["rec0", "rec1", "rec2"] and len(seen) >= 4
    assert bar.n == 3  # was 4 + 1: rec0 counted in each of its 4 batches
    assert "rec0: 1/4 windows" in bar.postfixes and bar.postfix == ""
    assert bar.closed  # the bar is closed when predict is done


@pytest.mark.parametrize("n, delay", [(5, PROGRESS_DELAY_S), (5000, 0.0)])
def test_default_bar_shows_a_few_records_once_they_take_long(n, delay):
    bar = progress_bar(n, "embed", None)
    try:
        assert not bar.disable and bar.delay == delay
    finally:
        bar.close()
    assert progress_bar(n, "embed", False).disable
