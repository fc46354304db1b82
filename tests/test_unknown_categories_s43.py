"""A category seen only in the rows ingest holds out for validation is unknown to the model.
Said when predicting on new data (``UnknownValueWarning``), not when an imputer fills the very
table it trained on (``EncoderImputer.fit_transform``, ``encoderkit impute``): that is no news."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.errors import UnknownValueWarning
from tests.test_sklearn import imputer


def rare_table(n: int = 200) -> pd.DataFrame:
    """60 categories seen once each: some fall in the 5% validation rows whatever the seed."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                          "c": [f"k{i}" for i in range(60)] + list(rng.choice(["a", "b"], n - 60))})
    frame.loc[rng.random(n) < 0.1, "x"] = np.nan
    return frame


def test_fit_transform_of_its_own_table_is_quiet_and_new_data_is_not():
    frame = rare_table()
    est = imputer()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        est.fit_transform(frame)
    assert not [w for w in said if issubclass(w.category, UnknownValueWarning)], [str(w.message) for w in said]
    new = frame.head(5).assign(c=["zz", "zz", "a", "b", "a"])
    with pytest.warns(UnknownValueWarning, match=r"column 'c'.*'zz'"):
        est.transform(new)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_of_a_file_says_nothing_of_its_own_categories(tmp_path, capsys):
    src, out = tmp_path / "t.csv", tmp_path / "o.csv"
    rare_table().to_csv(src, index=False)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        code = main(["impute", f"input={src}", f"output={out}", "model.hidden_size=16", "model.num_layers=1",
                     "model.num_heads=2", "model.intermediate_size=32", "train.steps=3", "progress=false"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert not [w for w in said if issubclass(w.category, UnknownValueWarning)]
