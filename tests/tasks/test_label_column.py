"""Tabular ``task.label_column``: the label comes from the table and the column leaves
the inputs (training and prediction)."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.data.store import RecordStore
from encoderkit.registry import get_domain
from tests.domains.sample_store import TINY_MODEL, ingest_sample

pytest.importorskip("domains.tabular")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_sample("tabular", tmp_path_factory.mktemp("tabular"))


def test_label_values_decode_the_stored_column(store):
    from domains.tabular.domain import sample_frame

    s = RecordStore(store)
    domain = get_domain("tabular")(s.schema)
    records = [s[i] for i in range(20)]
    frame = sample_frame().iloc[:20]
    assert list(domain.label_values(records, "vote")) == frame["vote"].tolist()
    np.testing.assert_allclose(np.asarray(domain.label_values(records, "age"), dtype=float),
                               frame["age"].to_numpy(dtype=float), rtol=1e-5)
    dropped = get_domain("tabular")(s.schema, drop_columns=["vote"])
    ex, full = dropped.featurize(records[0]), domain.featurize(records[0])
    j = [c["name"] for c in s.schema["columns"]].index("vote")
    assert len(ex) == len(full) - 1 and j not in ex.fields["column"]
    with pytest.raises(KeyError, match="nope"):
        domain.label_values(records, "nope")


def test_finetune_on_a_table_column(store, tmp_path):
    from domains.tabular.domain import sample_frame
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'ft'}",
                    "task.label_column=vote", "train.steps=3", "train.eval_every=3", "train.checkpoint_every=0",
                    "train.progress=false", "run.device=cpu", "data.max_tokens=512", "data.max_seqlen=64",
                    *TINY_MODEL])
    model = load(run)
    assert model.domain.options["drop_columns"] == ["vote"]
    assert set(model.spec.classes) == {str(v) for v in sample_frame()["vote"].iloc[:200].unique()}
    # a raw table without the label column predicts the same as the store
    raw = sample_frame().iloc[:10]
    a = model.predict(raw.drop(columns=["vote"]))
    b = model.predict(raw)
    np.testing.assert_allclose(a.filter(like="proba_").to_numpy(), b.filter(like="proba_").to_numpy(),
                               atol=1e-6)


def test_regression_targets_beyond_float_squares_train_and_predict(store, tmp_path):
    """Targets around 1e200: their variance overflowed, the standardised targets reached
    the loss as inf and training stopped at step 1; now the statistics are those of the
    scaled targets (float64 reference below) and the predictions come back in units of 1e200."""
    import pandas as pd

    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    n = len(RecordStore(store))
    rng = np.random.default_rng(0)
    y = (rng.normal(size=n) + 3.0) * 1e200
    labels = tmp_path / "huge.csv"
    pd.DataFrame({"label": y}).to_csv(labels, index=False)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'ft'}",
                    "task=regression", f"task.labels={labels}", "task.val_fraction=0", "train.steps=3",
                    "train.checkpoint_every=0", "train.progress=false", "run.device=cpu",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    model = load(run)
    u = y / 1e200  # the same statistics, computed where nothing overflows
    assert model.spec.mean[0] == pytest.approx(u.mean() * 1e200, rel=1e-9)
    assert model.spec.std[0] == pytest.approx(u.std() * 1e200, rel=1e-9)
    pred = model.predict(store)["prediction"].to_numpy(dtype=np.float64)
    assert np.isfinite(pred).all() and np.all(np.abs(pred) < 1e202) and np.all(np.abs(pred) > 1e198)


def test_predict_on_the_raw_table_writes_the_store_ids(store, tmp_path):
    """A raw table's rows are named as ingest names them (row<position>), so predictions
    from the raw file and from its store carry the same ids (were '0', '1', ... vs 'row0')."""
    from domains.tabular.domain import sample_frame
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'ft'}",
                    "task.label_column=vote", "train.steps=2", "train.checkpoint_every=0", "train.progress=false",
                    "run.device=cpu", "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    model = load(run)
    s = RecordStore(store)
    raw = model.predict(sample_frame().iloc[:5])
    assert list(raw["id"]) == [s[i]["id"] for i in range(5)] == [f"row{i}" for i in range(5)]
