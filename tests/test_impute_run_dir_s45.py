"""`encoderkit impute run_dir=<folder>` writes its work there (the holed copy under the input's
kind, stores, models): a folder of other files was written into, and an input named
``holed.csv`` in it was replaced by its copy with held-back cells blanked (observed values
lost, exit 0). A run_dir must now be new, empty, or an earlier impute's run (replaced only
with overwrite=true)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from encoderkit.cli import main
from encoderkit.errors import UsageError
from encoderkit.impute import RUN_DIR_MARKER, check_run_dir
from tests.test_impute import TINY, anes


def _table(path):
    truth = anes(60)
    truth.mask(np.random.default_rng(0).random(truth.shape) < 0.1).to_csv(path, index=False)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_folder_of_user_files_is_refused_and_left_as_it_was(tmp_path, capsys):
    src = tmp_path / "holed.csv"  # the name impute gives its holed copy
    digest = _table(src)
    (tmp_path / "notes.txt").write_text("mine")
    code = main(["impute", f"input={src}", f"output={tmp_path / 'filled.csv'}", f"run_dir={tmp_path}", *TINY])
    assert code == 2
    err = capsys.readouterr().err
    assert "run_dir" in err and "not an impute's run" in err and "Traceback" not in err
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holed.csv", "notes.txt"]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_an_earlier_run_is_replaced_only_with_overwrite(tmp_path, capsys):
    src = tmp_path / "t.csv"
    _table(src)
    run = tmp_path / "run"
    run.mkdir()  # an empty folder is fine
    assert main(["impute", f"input={src}", f"output={tmp_path / 'a.csv'}", f"run_dir={run}", *TINY]) == 0
    assert (run / RUN_DIR_MARKER).is_file() and (run / "train.zarr").is_dir()
    capsys.readouterr()
    assert main(["impute", f"input={src}", f"output={tmp_path / 'b.csv'}", f"run_dir={run}", *TINY]) == 2
    assert "earlier impute" in capsys.readouterr().err and not (tmp_path / "b.csv").exists()
    (run / "stale.txt").write_text("from the first run's folder")
    assert main(["impute", f"input={src}", f"output={tmp_path / 'b.csv'}", f"run_dir={run}",
                 "overwrite=true", *TINY]) == 0
    assert not (run / "stale.txt").exists() and (run / RUN_DIR_MARKER).is_file()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()  # same seed, same fill


def test_an_earlier_run_holding_the_input_is_not_removed(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / RUN_DIR_MARKER).write_text("{}")
    src = run / "t.csv"
    src.write_text("a,b\n1,\n2,3\n")
    with pytest.raises(UsageError, match="t.csv"):
        check_run_dir(run, True, [str(src), str(tmp_path / "out.csv")])
    assert src.exists()
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_run_dir(src, True)


def test_the_help_names_every_table_candidate(capsys):
    """`impute --help` left out the forest imputer that the summary and README name."""
    from domains.tabular.blend import FOREST_MAX_COLUMNS

    assert main(["impute", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "IterativeImputer" in out and "forest imputer" in out
    assert f"at most {FOREST_MAX_COLUMNS} columns" in out
