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


def _table_store(tmp_path, frame, **options):
    from encoderkit.data.ingest import ingest

    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    store = tmp_path / "t.zarr"
    ingest("tabular", [str(path)], str(store), progress=False, verbose=False, **options)
    return RecordStore(str(store))


def test_numeric_label_column_values_come_back_as_written(tmp_path):
    """An integer column of 300 codes around 1e5 (numeric: more than 10 values) gave classes
    named 100046.00000348347 (float32 standardised value times std plus mean): predict wrote
    them and evaluate on the table refused its own label '100046'. Now an integer column
    gives ints and a decimal column the shortest decimal the stored value pins down."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"x": rng.normal(size=n), "code": rng.integers(100000, 100300, size=n),
                          "price": np.round(rng.normal(size=n) * 30 + 100, 2),
                          "amount": np.round(rng.normal(size=n) * 1e6 + 5e11, 1)})
    s = _table_store(tmp_path, frame)
    domain = get_domain("tabular")(s.schema)
    records = s.read_range(0, n)
    code = domain.label_values(records, "code")
    assert [type(v) for v in code[:3]] == [int] * 3
    assert list(code) == frame["code"].tolist()
    assert [str(v) for v in domain.label_values(records, "price")] == [str(v) for v in frame["price"]]
    np.testing.assert_allclose(np.asarray(domain.label_values(records, "amount"), dtype=float),
                               frame["amount"], rtol=1e-12, atol=1.0)


def test_a_label_column_past_max_categories_is_refused_not_dropped(tmp_path):
    """A label column of more categories than ingest keeps (max_categories) read the others
    as missing: 12% of the rows and 44 of 300 classes left training without a word."""
    import pandas as pd

    from encoderkit.errors import DataError

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({"x": rng.normal(size=n), "cls": [f"k{v}" for v in rng.integers(0, 12, size=n)]})
    s = _table_store(tmp_path, frame, max_categories=8)
    records = s.read_range(0, n)
    with pytest.raises(DataError, match=r"task.label_column='cls'.*max_categories"):
        get_domain("tabular")(s.schema).label_values(records, "cls")
    (tmp_path / "all").mkdir()
    kept = _table_store(tmp_path / "all", frame, max_categories=12)
    assert list(get_domain("tabular")(kept.schema).label_values(kept.read_range(0, n), "cls")) == frame["cls"].tolist()


def test_prediction_frame_of_many_classes_is_one_block():
    """300 classes: predict warned 'DataFrame is highly fragmented' once per batch (a column
    inserted per class)."""
    import warnings

    from encoderkit.tasks.predict import prediction_frame
    from encoderkit.tasks.spec import TaskSpec

    classes = [str(c) for c in range(300)]
    spec = TaskSpec(type="classification", classes=classes)
    outs = list(np.random.default_rng(0).dirichlet(np.ones(300), size=5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = prediction_frame(spec, [f"r{i}" for i in range(5)], outs)
    assert list(frame.columns) == ["id", "prediction", *[f"proba_{c}" for c in classes]]
    np.testing.assert_allclose(frame["proba_7"], np.stack(outs)[:, 7])


def test_metric_table_shows_targets_of_any_magnitude():
    """A regression on targets ~1e-12 printed rmse 0.0000 and mae 0.0000 in finetune's and
    evaluate's table; values that 4 decimals hide or bury get 4 significant digits."""
    from encoderkit.tasks.metrics import format_table

    text = format_table({"last": {"rmse": 3.217e-14, "r2": 0.9867, "big": 8.6286e11, "mcc": float("nan")}})
    assert "3.217e-14" in text and "0.9867" in text and "8.629e+11" in text and "nan" in text


def test_a_label_column_that_is_the_only_column_is_refused(tmp_path):
    """With the label out of the inputs every row featurised to no token, and finetune spun
    at 0% forever without a word (found by the session-40 audit)."""
    import pandas as pd

    from encoderkit.errors import DataError

    frame = pd.DataFrame({"y": ["pos", "neg"] * 20})
    s = _table_store(tmp_path, frame)
    with pytest.raises(DataError, match=r"task.label_column='y' is the only input column"):
        get_domain("tabular")(s.schema).label_values(s.read_range(0, 40), "y")


def test_a_loader_whose_records_give_no_token_says_so_instead_of_spinning(tmp_path):
    """The loader's guard for the same category (any domain, any cause): a whole epoch
    without one example is an error, in record mode and in chunk-aware mode."""
    import pandas as pd

    from encoderkit.data.loader import PackedLoader
    from encoderkit.errors import DataError

    frame = pd.DataFrame({"y": ["pos", "neg"] * 20, "x": np.arange(40.0)})
    s = _table_store(tmp_path, frame)
    domain = get_domain("tabular")(s.schema, drop_columns=["y", "x"])
    for read in ("records", "chunks"):
        loader = PackedLoader(s, domain, max_tokens=64, max_seqlen=8, read=read, in_memory=False,
                              chunk_records=4)
        with pytest.raises(DataError, match="none of the 40 record"):
            next(iter(loader))
    ok = PackedLoader(s, get_domain("tabular")(s.schema, drop_columns=["y"]), max_tokens=64, max_seqlen=8)
    assert next(iter(ok)).num_tokens > 0


def test_a_label_column_ingest_dropped_as_empty_is_named_as_dropped(tmp_path):
    """An all-empty label column was dropped at ingest (a warning), then finetune said
    "column 'y' is not in the table", which reads as a typo (session-40 audit)."""
    import pandas as pd

    from encoderkit.errors import DataError

    frame = pd.DataFrame({"x": np.arange(30.0), "z": np.arange(30.0) % 4, "y": [None] * 30})
    with pytest.warns(UserWarning, match="'y' is entirely missing; dropped"):
        s = _table_store(tmp_path, frame)
    with pytest.raises(DataError, match=r"task.label_column='y': ingest dropped that column because "
                                        r"it is entirely missing"):
        get_domain("tabular")(s.schema).label_values(s.read_range(0, 30), "y")
    with pytest.raises(KeyError, match="'nope' is not in the table"):
        get_domain("tabular")(s.schema).label_values(s.read_range(0, 30), "nope")
