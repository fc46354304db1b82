"""A Python session's calls are separate commands for the input checks (session 56, helper r).

The final rename of an output refuses a file the command read (``input_reads``). From
Python, a call that returned its fill as a frame, or one that failed, left its input
recorded: a later call writing that very file (``m.infill("b.csv", output="a.csv")`` after
``m.infill("a.csv")``) was refused as "the file this command read as its input", though it
read only b.csv. ``input_reads.command`` scopes the record to one call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit import outputs
from encoderkit.errors import OutputExistsError, reading
from encoderkit.input_reads import command, is_read


@pytest.fixture(autouse=True)
def _fresh_command():
    outputs.forget_checks()
    yield
    outputs.forget_checks()


def _ident(path):
    st = path.stat()
    return st.st_dev, st.st_ino


def test_outermost_command_starts_and_ends_with_no_reads_nested_keeps_them(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x\n1\n")
    b.write_text("x\n2\n")
    with reading(a):
        a.read_text()  # a read outside any command (an earlier call's)
    with command():
        assert not is_read(*_ident(a))  # not this command's input
        with reading(b):
            b.read_text()
        with command():  # the CLI's embed calling Pretrained.embed: what it read stays
            assert is_read(*_ident(b))
        assert is_read(*_ident(b))
    assert not is_read(*_ident(b))  # ended: the next call starts clean


def _series(path, n=60, seed=0, hole=True):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                          "a": rng.normal(size=n).cumsum().round(3), "b": rng.normal(size=n).cumsum().round(3)})
    if hole:
        frame.loc[5:8, "a"] = np.nan
    frame.to_csv(path, index=False)


@pytest.mark.slow
def test_a_python_call_may_write_a_file_an_earlier_call_read(tmp_path):
    import encoderkit
    from encoderkit.cli import main

    _series(tmp_path / "train.csv", n=120, hole=False)
    assert main(["ingest", "domain=timeseries", f"input={tmp_path / 'train.csv'}", "time_column=date",
                 f"output={tmp_path / 's.zarr'}", "progress=false"]) == 0
    assert main(["pretrain", "domain=timeseries", f"data.store={tmp_path / 's.zarr'}", f"run.dir={tmp_path / 'run'}",
                 "model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
                 "train.steps=1", "train.progress=false", "train.eval_every=0", "train.plot=false"]) == 0
    m = encoderkit.load(tmp_path / "run")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _series(a, seed=1)
    _series(b, seed=2)
    filled = m.infill(str(a))  # a frame: nothing published, a.csv was read
    assert filled["a"].notna().all()
    m.infill(str(b), output=str(a), overwrite=True)  # refused before: "the file this command read"
    assert pd.read_csv(a)["a"].notna().all()
    # a call that failed after reading its input (a channel of the run missing) does not taint the next
    c = tmp_path / "c.csv"
    pd.read_csv(b)[["date", "a"]].to_csv(c, index=False)
    with pytest.raises(Exception, match="'b'"):
        m.infill(str(c), output=str(tmp_path / "out.csv"))
    _series(a, seed=3)
    m.infill(str(a), output=str(c), overwrite=True)
    assert pd.read_csv(c)["a"].notna().all()
    # the call's own input is still refused as its output under another name
    (tmp_path / "link.csv").symlink_to(a)
    with pytest.raises(Exception, match="input"):
        m.infill(str(tmp_path / "link.csv"), output=str(a), overwrite=True)


def test_impute_from_python_leaves_no_reads_behind(tmp_path):
    """``impute()`` that failed after reading its input left it recorded, and a later call
    writing that file was refused as "the file this command read" (helper r's finding 1)."""
    from encoderkit import input_reads
    from encoderkit.errors import DataError
    from encoderkit.impute import impute

    dup = tmp_path / "dup.csv"
    dup.write_text("date,v\n2020-01-01,1\n2020-01-01,2\n2020-01-02,\n2020-01-03,4\n")
    with pytest.raises(DataError):
        impute(str(dup), str(tmp_path / "o.csv"), domain="timeseries", time_column="date")
    assert input_reads._reads() == {}
