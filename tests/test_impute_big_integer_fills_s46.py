"""Fills of a column of integers beyond int64 (amounts in wei, modelled as numbers) are written
as integers, as its observed cells are: `impute` wrote `2.30201803617812e+18` beside observed
`36233319495134572544`, so a reader took the whole column for floats."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

from encoderkit.cli import main
from encoderkit.impute_cells import _integers_as_given

INTEGER = r"^-?\d+$"


def test_the_pass_rewrites_only_float_text_fills_of_integer_columns():
    given = pd.DataFrame({"a": ["36233319495134572544", "", "12"], "b": ["1.5", "", "2.5"]})
    new = pd.DataFrame({"a": ["36233319495134572544", "7.938927285908685e+20", "12"],
                        "b": ["1.5", "2.25", "2.5"]})
    kept = np.array([[True, True], [False, False], [True, True]])
    data = pd.DataFrame({"a": ["36233319495134572544", None, "12"], "b": [1.5, np.nan, 2.5]})
    out = _integers_as_given(given, new, kept, data)
    assert out["a"].tolist() == ["36233319495134572544", str(int(7.938927285908685e+20)), "12"]
    assert out["b"].tolist() == ["1.5", "2.25", "2.5"]  # a column of decimals keeps pandas' text
    # a column of short integers (a series of counts) keeps its fills as the domain made them
    counts = pd.DataFrame({"a": [3.0, np.nan, 12.0]})
    assert _integers_as_given(given[["a"]].replace({"36233319495134572544": "3"}),
                              pd.DataFrame({"a": ["3", "7.5", "12"]}), kept[:, :1], counts)["a"].tolist() == ["3", "7.5", "12"]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_writes_wei_fills_as_integers(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 200
    eth = np.round(rng.lognormal(0, 1.5, n), 4)
    wei = [str(int(round(e * 10 ** 4)) * 10 ** 14) for e in eth]
    frame = pd.DataFrame({"gas": rng.integers(21000, 200000, n), "value_wei": wei})
    frame.loc[rng.random(n) < 0.08, "value_wei"] = None
    src, out = tmp_path / "wei.csv", tmp_path / "out.csv"
    frame.to_csv(src, index=False)
    assert main(["impute", f"input={src}", f"output={out}", "model=tiny", "train.steps=5",
                 "progress=false", "seed=0"]) == 0, capsys.readouterr().err
    a = pd.read_csv(src, dtype=str, keep_default_na=False)
    b = pd.read_csv(out, dtype=str, keep_default_na=False)
    holes = a["value_wei"] == ""
    assert holes.sum() > 5
    assert (b["value_wei"][~holes] == a["value_wei"][~holes]).all()  # observed cells as written
    assert b["value_wei"][holes].str.match(INTEGER).all(), b["value_wei"][holes].tolist()[:3]
