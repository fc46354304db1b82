"""A fine-tuned table model from Python: predictions keep the caller's row index, labels
given as a Series / DataFrame line up on it, and ``evaluate(df)`` reads the run's own label
column. Found by a user audit: ``out = model.predict(df.iloc[100:])`` came back indexed
0..n-1, so ``df["p"] = out["prediction"]`` put 64 of 200 predictions on their rows; and a
shuffled labels Series was scored by position (0.58 instead of 0.77) without a word."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import UsageError
from tests.domains.sample_store import TINY_MODEL, ingest_sample

pytest.importorskip("domains.tabular")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    tmp = tmp_path_factory.mktemp("rows")
    store = ingest_sample("tabular", tmp)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp / 'ft'}",
                    "task.label_column=vote", "task.ensemble=1", "train.steps=3", "train.eval_every=3",
                    "train.checkpoint_every=0", "train.progress=false", "run.device=cpu",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    return load(run)


@pytest.fixture(scope="module")
def table():
    from domains.tabular.domain import sample_frame

    return sample_frame().iloc[:60]


def test_predictions_of_a_slice_keep_its_index_and_land_on_its_rows(model, table):
    full = model.predict(table)
    part = table.iloc[20:50].sample(frac=1.0, random_state=0)  # a slice, shuffled
    out = model.predict(part)
    assert out.index.equals(part.index)
    got = table.assign(p=out["prediction"])  # pandas aligns on the index
    expect = full["prediction"].to_numpy()[np.asarray(part.index)]
    assert got.loc[part.index, "p"].tolist() == list(expect)
    assert got["p"].isna().sum() == len(table) - len(part)


def test_labels_series_lines_up_on_the_table_index(model, table):
    y = table["vote"]
    aligned = model.evaluate(table, y, verbose=False)
    shuffled = model.evaluate(table, y.sample(frac=1.0, random_state=1), verbose=False)
    assert shuffled == aligned
    as_frame = model.evaluate(table, y.to_frame("label").iloc[::-1], verbose=False)
    assert as_frame == aligned
    by_position = model.evaluate(table, y.to_numpy(), verbose=False)
    assert by_position == aligned
    with pytest.raises(UsageError, match="index does not match"):
        model.evaluate(table.iloc[10:], y.reset_index(drop=True).iloc[:50], verbose=False)


def test_evaluate_of_a_table_holding_the_label_column_needs_no_labels(model, table):
    assert model.evaluate(table, verbose=False) == model.evaluate(table, table["vote"], verbose=False)


def test_a_category_column_of_digits_is_not_called_numbers_with_separators():
    from domains.tabular.schema import infer_schema

    frame = pd.DataFrame({"grade": pd.Categorical(["1", "2", "3", "1"] * 5),
                          "plain": ["1", "2", "3", "4"] * 5,
                          "money": ["1,200", "3,400", "1,200", "9,000"] * 5,
                          "x": np.arange(20.0)})
    schema, messages = infer_schema(frame, np.ones(20, dtype=bool))
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    said = " ".join(messages)
    assert "'money' holds numbers written with separators" in said
    assert "'grade'" not in said and "'plain'" not in said
    assert kinds["grade"] == "categorical" and kinds["plain"] == "numeric"
