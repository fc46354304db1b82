"""Review r2's findings on session 51's option rules, each against the behaviour a user had.

- a tabular run saved before ``domain.drop_columns`` was in tabular.yaml could not resume
  ("checkpoint '<absent>', now []");
- a run resumed with the words it was made with, before a rule refused one of them;
- a `-m` sweep whose shared word fits only some jobs was refused whole;
- ``schedule.total`` < steps with ``final_ratio`` > 0 (a documented low-lr tail) was refused;
- ``encoderkit impute`` of a series file (domain guessed) refused a series masker's rate with
  the table's reason.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit import cli
from encoderkit.train.checkpoint_config import config_diff
from encoderkit.train.config import ConfigError, compose
from encoderkit.train.schedule import total_problem


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = tmp_path_factory.mktemp("r2")
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)}).to_csv(d / "t.csv", index=False)
    assert cli.main(["ingest", "domain=tabular", f"input={d / 't.csv'}", f"output={d / 's.zarr'}",
                     "progress=false"]) == 0
    return d


def test_a_tabular_run_saved_before_drop_columns_existed_is_no_difference():
    saved = {"domain": {"name": "tabular", "mask_rate": 0.3}}
    assert config_diff(saved, {"domain": {"name": "tabular", "mask_rate": 0.3, "drop_columns": []}}) == []
    # a real difference is still one
    assert config_diff(saved, {"domain": {"name": "tabular", "mask_rate": 0.3, "drop_columns": ["a"]}})


def test_a_refused_word_is_warned_of_when_the_run_is_resumed(table):
    words = ["domain=tabular", f"data.store={table / 's.zarr'}", "domain.masker=column",
             "domain.mask_rate=0.5", f"run.dir={table / 'run'}"]
    with pytest.raises(ConfigError, match="has no effect"):
        compose(words)  # a new run: refused
    (table / "run" / "checkpoints" / "4").mkdir(parents=True)  # a run made before the rule
    with pytest.warns(UserWarning, match="domain.mask_rate=0.5 has no effect.*run resumed"):
        compose(words)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_sweep_word_that_fits_one_job_warns_in_the_other(table):
    with pytest.warns(UserWarning, match=r"domain.mask_rate=0.4 has no effect.*-m sweep"):
        code = cli.main(["pretrain", "-m", "domain=tabular", f"data.store={table / 's.zarr'}", "model=tiny",
                         "domain.masker=random,column", "domain.mask_rate=0.4", "train.steps=1",
                         "train.progress=false", f"run.dir={table / 'sweep'}"])
    assert code == 0
    assert (table / "sweep" / "0" / "checkpoints").is_dir() and (table / "sweep" / "1" / "checkpoints").is_dir()


def test_a_total_shorter_than_the_run_with_a_final_ratio_is_the_documented_tail():
    assert total_problem(10, 20, "steps", 0.1) is None
    assert "nothing" in total_problem(10, 20, "steps", 0.0)


def test_impute_of_a_series_file_takes_a_series_maskers_rate(tmp_path):
    t = np.arange(60)
    values = np.sin(t / 4.0) + 0.05 * np.random.default_rng(0).normal(size=60)
    values[[10, 11, 30, 31, 32]] = np.nan
    pd.DataFrame({"date": pd.date_range("2000-01-01", periods=60, freq="MS").strftime("%Y-%m-%d"),
                  "y": values}).to_csv(tmp_path / "s.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(["impute", f"input={tmp_path / 's.csv'}", f"output={tmp_path / 'o.csv'}",
                         "train.steps=2", "domain.masker=span", "domain.mask_rate=0.4", "progress=false",
                         "select=model"])
    assert code == 0
    assert pd.read_csv(tmp_path / "o.csv")["y"].notna().all()


def test_impute_says_an_option_without_effect_once_not_per_model(tmp_path):
    """The same words train every model of ``n_models``: the warning was printed per model (r2)."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    frame.loc[[3, 7], "a"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(["impute", f"input={tmp_path / 't.csv'}", f"output={tmp_path / 'o.csv'}", "n_models=2",
                         "train.steps=1", "model.local_window=16", "progress=false", "select=model"])
    assert code == 0
    said = [w for w in caught if "model.local_window=16 has no effect" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
