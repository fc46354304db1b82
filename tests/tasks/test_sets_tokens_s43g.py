"""Sets token tasks (per-point labels / predictions) were silently misaligned unless
``order=input``, no pooling token and every set fit ``data.max_seqlen``: labels are sliced
and prediction rows numbered by token position, which is not the file's point order there
(accuracy at the base rate, one extra row per set, rows lost). Until they follow each
window's element index, such runs are refused with the setting named; ``order=input``
sets that fit still train."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.sets.digits import CSV_OPTIONS, digit_frame, load_digit_sets
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import UsageError
from encoderkit.tasks.token_range import token_positions

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64"]


@pytest.fixture(scope="module")
def sets_store(tmp_path_factory):
    """20 digits as point sets and a per-point label (intensity >= 12) by (id, position)."""
    d = tmp_path_factory.mktemp("sets_tok")
    sets, _ = load_digit_sets(limit=20)
    digit_frame(sets).to_csv(d / "digits.csv", index=False)
    ingest("sets", [str(d / "digits.csv")], str(d / "store"), progress=False, verbose=False, **CSV_OPTIONS)
    store = RecordStore(str(d / "store"))
    rows = []
    for i in range(len(store)):
        r = store[i]
        feats = np.asarray(r["features"]).reshape(len(r["features"]), -1)[:, 0]
        rows += [(r["id"], p, int(v >= 12)) for p, v in enumerate(feats)]
    labels = d / "points.csv"
    pd.DataFrame(rows, columns=["id", "position", "label"]).to_csv(labels, index=False)
    longest = max(len(store[i]["features"]) for i in range(len(store)))
    return str(d / "store"), str(labels), longest, d


def _finetune(store: str, labels: str, run, *extra: str):
    from encoderkit.tasks import finetune

    return finetune(["checkpoint=none", "domain=sets", f"data.store={store}", f"run.dir={run}",
                     "task.type=token_classification", f"task.labels={labels}", "task.ensemble=1",
                     "train.steps=2", "train.eval_every=0", "train.checkpoint_every=0",
                     "train.progress=false", "train.log_every=1", *TINY, *extra])


@pytest.mark.parametrize("setting,said", [
    (["domain.order=hilbert"], "domain.order=input"),
    (["domain.pooling_token=true", "domain.pooling=cls"], "pooling_token=false"),
    (["data.max_seqlen=16"], "data.max_seqlen"),
])
def test_misaligned_sets_token_runs_are_refused(sets_store, tmp_path, setting, said):
    store, labels, longest, _ = sets_store
    assert longest > 16  # the chunked case cuts sets
    with pytest.raises(UsageError, match=said):
        _finetune(store, labels, tmp_path / "run", *setting)


def test_input_order_sets_token_run_trains_and_predicts(sets_store, tmp_path):
    from encoderkit.infer import load

    store, labels, longest, _ = sets_store
    run = _finetune(store, labels, tmp_path / "run", f"data.max_seqlen={max(64, longest)}")
    out = load(run).predict(RecordStore(store))
    truth = pd.read_csv(labels)
    assert len(out) == len(truth)  # one row per point, none for a [CLS]


def test_predict_refuses_a_permuted_domain(sets_store, tmp_path):
    """A run whose domain orders points along a curve (as an older run could) is refused at
    predict, not written in curve order."""
    from encoderkit.infer import load

    store, labels, longest, _ = sets_store
    model = load(_finetune(store, labels, tmp_path / "run", f"data.max_seqlen={max(64, longest)}"))
    model.domain.options["order"] = "hilbert"
    with pytest.raises(UsageError, match="order=hilbert"):
        model.predict(RecordStore(store))


def test_contiguous_windows_pass():
    """Domains whose tokens are file positions (no elements context, no [CLS]) pass."""
    from encoderkit.domain import Example

    class Plain:
        options = {}

    ex = Example(fields={"ids": np.arange(5)}, positions=np.zeros((5, 0)), record=0, window=0, start=0,
                 context={})
    np.testing.assert_array_equal(token_positions(Plain(), ex), np.arange(5))  # record positions 0..4
