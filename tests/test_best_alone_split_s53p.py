"""evaluate on best/ copied out of its run folder, against the run's own store (session 53,
helper p). best/ recorded no store identity and its run's split.json lay in the run folder only,
so the "N of M records trained the model" warning and the per-part figures were dropped without
a word. best/ now keeps both (the split as a file named by its sha256 in state.json); a
checkpoint without them says the split cannot be checked.

Reference: the run's own split.json (which records trained it), counted here.
"""

from __future__ import annotations

import json
import shutil
import warnings

import pandas as pd
import pytest

import testdomain as td
from encoderkit.infer.load import load
from encoderkit.tasks import finetune
from tests.tasks.conftest import ft_overrides, stride_labels


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alone")
    store = td.write_store(tmp / "store.zarr", n=60, seed=1)
    ids, y = stride_labels(store)
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    run = tmp / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(ft_overrides(store, str(run), str(labels), steps=2))
    return store, labels, run


def _evaluate(path, store, labels):
    model = load(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.evaluate(store, labels)
    return result, [str(w.message) for w in caught]


def test_best_copied_alone_still_says_which_records_trained_it(tuned, tmp_path):
    store, labels, run = tuned
    split = json.loads((run / "split.json").read_text())
    alone = tmp_path / "best"
    shutil.copytree(run / "best", alone)
    result, said = _evaluate(alone, store, labels)
    assert len(result.trained_on) == len(split["train"])  # the run's train part, all labelled
    assert set(result.parts) >= {"train", "val"}
    assert result.parts["val"]["records"] == len(split["val"])
    assert [m for m in said if "optimistic" in m and f"{len(split['train'])} of the 60" in m], said
    # the same figures as through the run folder
    whole, _ = _evaluate(run, store, labels)
    assert whole.trained_on == result.trained_on and whole.held_out == result.held_out


def test_a_checkpoint_without_its_split_says_it_cannot_be_checked(tuned, tmp_path):
    store, labels, run = tuned
    alone = tmp_path / "best"
    shutil.copytree(run / "best", alone)
    (alone / "split.json").unlink()  # as best/ written before it kept the split
    result, said = _evaluate(alone, store, labels)
    assert result.parts == {} and result.trained_on == []
    assert [m for m in said if "cannot be checked" in m], said
    # an edited copy of the split is not trusted (its sha256 is recorded)
    shutil.copy(run / "split.json", alone / "split.json")
    (alone / "split.json").write_text((run / "split.json").read_text().replace('"train"', '"val2"'))
    result, said = _evaluate(alone, store, labels)
    assert result.parts == {} and [m for m in said if "cannot be checked" in m]
