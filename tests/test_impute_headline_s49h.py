"""``encoderkit impute``'s headline scored the model's fill of the held-back cells, not the
fill written: on diabetes the summary read ``accuracy 0.5000 vs 0.6000`` (worse than the
mode) for a ``sex`` column that ``select=auto`` filled with the forest (held-back error 0.35,
better than the mode). The headline is now the fill written, the model's own beside it.
The models and candidates are stand-ins (no training); the references are counted by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import encoderkit.impute as impute_mod
from encoderkit.impute_cells import Choice, channels
from encoderkit.impute_report import ImputeReport
from encoderkit.impute_scores import Score


@pytest.fixture
def case(monkeypatch):
    truth = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                          "c": ["a", "b", "b", "a", "b", "b", "a", "b"]})
    hide = {"x": np.array([0, 1, 0, 1, 0, 1, 0, 0], bool), "c": np.array([0, 0, 1, 1, 1, 0, 1, 0], bool)}
    holed = truth.copy()
    holed.loc[hide["x"], "x"] = np.nan
    holed.loc[hide["c"], "c"] = None
    guess = truth.copy()  # the model: x off by 1 at each held-back cell, c always "a"
    guess.loc[hide["x"], "x"] = truth.loc[hide["x"], "x"] + 1.0
    guess.loc[hide["c"], "c"] = "a"
    forest = truth.copy()  # the forest: c right everywhere, x off by 2
    forest.loc[hide["x"], "x"] = truth.loc[hide["x"], "x"] + 2.0
    monkeypatch.setattr(impute_mod, "ensemble_infill", lambda models, data, **kw: (guess, None))
    monkeypatch.setattr(impute_mod, "candidate_fills", lambda *a, **kw: {"model": guess, "forest": forest})
    # select=auto chose the forest for c and kept the model for x
    monkeypatch.setattr(impute_mod, "select_fills", lambda truth, fills, hide, runs: {
        "x": Choice("model", "nrmse", {"model": 0.1}, 3), "c": Choice("forest", "error rate", {"forest": 0.0}, 4)})
    return truth, holed, hide


def test_the_headline_scores_the_fill_written_and_keeps_the_models_own(case):
    truth, holed, hide = case
    scores, choices = impute_mod.held_back([object()], holed, list(channels(truth, None, ["c"])), hide,
                                           None, ["c"], series=False, select=True)
    assert choices["c"].used == "forest"
    by = {s.metric: s for s in scores}
    # c: held-back truths b, a, b, a; the model's "a" hits 2 of 4, the forest written 4 of 4
    assert by["accuracy"].model == pytest.approx(0.5) and by["accuracy"].written == pytest.approx(1.0)
    # x: the model written, off by 1 at every cell: nrmse = 1 / sd of x (the truth's cells)
    sd = np.std(truth["x"].to_numpy())
    assert by["nrmse"].written == pytest.approx(1 / sd, rel=1e-12) == by["nrmse"].model
    text = ImputeReport("tabular", "out.csv", filled={"x": 1}, scores=scores, holdout_cells=7).summary()
    line = next(s for s in text.splitlines() if s.split()[:1] == ["accuracy"])
    assert line.split()[1] == "1.0000" and "the model alone 0.5000" in line
    assert "the fill written" in text


def test_select_model_keeps_the_models_headline(case):
    truth, holed, hide = case
    scores, _ = impute_mod.held_back([object()], holed, list(channels(truth, None, ["c"])), hide,
                                     None, ["c"], series=False, select=False)
    assert all(s.written is None for s in scores)
    text = ImputeReport("tabular", "out.csv", filled={"x": 1}, scores=scores, holdout_cells=7).summary()
    assert "(model vs column mean / mode;" in text and "the model alone" not in text


def test_a_written_score_never_named_falls_back_to_a_dash():
    s = Score("nrmse", 0.5, 0.9, 3, written=None)
    text = ImputeReport("tabular", "o.csv", filled={"x": 1}, holdout_cells=3,
                        scores=[Score("accuracy", 0.5, 0.6, 4, written=0.75), s]).summary()
    assert "  nrmse    - vs 0.9000 (3 cells; the model alone 0.5000)" in text
