"""One run-folder check for the trainer's ``run.dir`` and impute's ``run_dir`` (session 54):
impute had its own copy, without the trainer's handling of links, and ``run_dir=<a link to an
earlier impute's run> overwrite=true`` died in ``shutil.rmtree`` ("Cannot call rmtree on a
symbolic link"). Now both go through ``train.run_dir.check_run_dir`` (impute's flavour:
``impute.IMPUTE_RUN``): a linked folder is run in where it points, and emptied, not removed."""

from __future__ import annotations

import pytest

from encoderkit.errors import UsageError
from encoderkit.impute import RUN_DIR_MARKER, check_run_dir
from encoderkit.train.config import ConfigError
from encoderkit.train.run_dir import check_run_dir as check_trainer_dir


def test_a_linked_earlier_impute_run_is_emptied_through_the_link(tmp_path):
    real = tmp_path / "real"
    (real / "model0").mkdir(parents=True)
    (real / RUN_DIR_MARKER).write_text("{}")
    (real / "holed.csv").write_text("a\n1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (real / "model1").symlink_to(outside)  # a linked entry: unlinked, never followed
    link = tmp_path / "link"
    link.symlink_to(real)
    check_run_dir(link, True, [str(tmp_path / "in.csv")])
    assert link.is_symlink() and real.is_dir() and list(real.iterdir()) == []
    assert (outside / "keep.txt").read_text() == "mine"


def test_impute_and_trainer_refuse_a_user_folder_in_one_wording(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(UsageError) as imp:
        check_run_dir(user, True)
    with pytest.raises(ConfigError) as train:
        check_trainer_dir(user)
    assert str(imp.value) == (f"The 'run_dir' parameter {str(user)!r} is a folder that is not an impute's run "
                              "(it holds 'notes.txt'): impute's work (holed copy, stores, models) there would "
                              "overwrite or mix with those files; name a new or empty folder")
    assert str(train.value) == (f"The 'run.dir' parameter {str(user)!r} is a folder that is not a run's "
                                "(it holds 'notes.txt'): a run there would overwrite or mix with those files; "
                                "name a new or empty folder")
    assert (user / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("check", [lambda p: check_run_dir(p, True), check_trainer_dir])
def test_a_file_in_place_of_the_folder_is_refused_by_both(tmp_path, check):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="'.*f' is a file, not a folder"):
        check(tmp_path / "f")


# ----------------------------------------------------------------------------- one state.json reader
@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "state.json: holds a JSON list, not an object"),
    ('{"format_version": 99}', "state.json: has format_version 99, newer than this encoderkit reads"),
    ("{nope", "state.json: not valid JSON (Expecting property name"),
])
def test_load_reads_state_json_through_the_checkpoint_reader(tmp_path, text, words):
    # infer/load.py read state.json itself first (a list: "not valid JSON: 'list' object has no
    # attribute 'get'"); now train.checkpoint.read_state, the one reader, words every case
    from encoderkit.errors import DataError
    from encoderkit.infer.load import load

    (tmp_path / "state.json").write_text(text)
    with pytest.raises(DataError) as e:
        load(tmp_path)
    assert words in str(e.value) and "attribute" not in str(e.value)
