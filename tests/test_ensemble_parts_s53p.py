"""An ensemble run's parts loaded alone (session 53, helper p).

``checkpoint=<ensemble run>/best`` predicted with the first member only, without a word, though
ensemble.json beside best/ names the others: a checkpoint stays one model (as every checkpoint
named directly), and one warning says the run averages more and to pass the run folder. A run
copied without its members/ folder now says to copy it too.
"""

from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

import testdomain as td
from encoderkit.errors import DataError
from encoderkit.infer.load import load
from encoderkit.tasks import finetune
from tests.tasks.conftest import ft_overrides, stride_labels


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ens")
    store = td.write_store(tmp / "store.zarr", n=60, seed=1)
    ids, y = stride_labels(store)
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    run = tmp / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(ft_overrides(store, str(run), str(labels), steps=2,
                              **{"task.ensemble": 2, "task.ensemble_probe": "false"}))
    return run


def _said(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load(path)
    return model, [str(w.message) for w in caught if "ensemble" in str(w.message)]


def test_the_first_members_best_alone_says_the_run_averages_more(ensemble):
    model, said = _said(ensemble / "best")
    assert model.members == [] and len(said) == 1, said
    assert "2 members" in said[0] and f"checkpoint={ensemble}" in said[0]
    model, said = _said(ensemble)  # the run folder: the ensemble, nothing said
    assert len(model.members) == 1 and said == []
    model, said = _said(ensemble / "members" / "1" / "best")  # a member's own run has no ensemble.json
    assert said == []


def test_a_run_copied_without_its_members_says_to_copy_them(ensemble, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(ensemble, copy, ignore=shutil.ignore_patterns("members"))
    with pytest.raises(DataError, match=r"or copy the run's members/ folder"):
        load(copy)
