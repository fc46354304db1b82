"""``predict`` and ``evaluate`` of a raw file accept the run's own ingest options repeated, as
``embed`` does, and refuse one that contradicts the run (they were "unknown parameter")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ro")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60),
                          "y": rng.choice(["p", "q"], 60)})
    frame.loc[[3, 9], "a"] = -999
    table = tmp / "t.csv"
    frame.to_csv(table, index=False)
    store = tmp / "s.zarr"
    assert main(["ingest", "domain=tabular", f"input={table}", f"output={store}", "missing_value=-999"]) == 0
    ft = tmp / "ft"
    assert main(["finetune", "checkpoint=none", "domain=tabular", f"data.store={store}", "task.label_column=y",
                 f"run.dir={ft}", *TINY]) == 0
    return table, ft, tmp


def test_predict_and_evaluate_take_the_runs_ingest_options_again(run, capsys):
    table, ft, tmp = run
    assert main(["predict", f"checkpoint={ft}", f"input={table}", f"output={tmp / 'p.csv'}",
                 "missing_value=-999"]) == 0, capsys.readouterr().err
    assert len(pd.read_csv(tmp / "p.csv")) == 60
    assert main(["evaluate", f"checkpoint={ft}", f"input={table}", "missing_value=-999"]) == 0, \
        capsys.readouterr().err


def test_a_contradicting_or_unknown_option_is_refused(run, capsys):
    table, ft, tmp = run
    capsys.readouterr()
    assert main(["predict", f"checkpoint={ft}", f"input={table}", f"output={tmp / 'q.csv'}",
                 "missing_value=-1"]) != 0
    assert "missing_value" in capsys.readouterr().err
    assert not (tmp / "q.csv").exists()
    assert main(["evaluate", f"checkpoint={ft}", f"input={table}", "no_such_option=1"]) != 0
    assert "no_such_option" in capsys.readouterr().err
