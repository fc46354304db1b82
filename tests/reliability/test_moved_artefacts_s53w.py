"""Artefacts that move (session 53, helper w; review R2 of b878e01).

A ``best/`` placed in a folder holding some other run's config.yaml took that file's
max_seqlen over the one its own state.json records (and an unparsable one made loading fail);
impute and EncoderImputer refused ``device=auto``; infill's ``store=`` was ignored or checked
and never used outside tables; the words a refused resume suggests were not shell-safe; a long
final suffix of an output name was mangled in its temporary's name. References: the values
written into the files here, Hydra's own override parser, hand-counted bytes.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from encoderkit.errors import UsageError
from encoderkit.infer import run_files
from encoderkit.infer.load import load
from encoderkit.train import checkpoint as ckpt
from encoderkit.train.checkpoint_safetensors import load_tensors

from .conftest import make_run, run_cli


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return make_run("tabular", tmp_path_factory.mktemp("table"))


def _checkpoint(run, folder: Path, config: dict | None) -> Path:
    """``run``'s checkpoint written as ``folder`` with ``config`` recorded in its state.json."""
    src = run.dir / "checkpoints" / "1"
    state = ckpt.read_state(src)
    if config is not None:
        state["config"] = config
    made = ckpt.save_checkpoint(folder.parent / "steps", 1, load_tensors(src / ckpt.MODEL_FILE), {}, [],
                                state, keep=0)
    folder.parent.mkdir(parents=True, exist_ok=True)
    Path(made).rename(folder)
    shutil.rmtree(folder.parent / "steps")
    return folder


# 1. the checkpoint's recorded config is its truth ----------------------------------------

def test_a_best_folder_beside_an_unrelated_config_keeps_its_recorded_window(table, tmp_path):
    best = _checkpoint(table, tmp_path / "proj" / "best",
                       {"data": {"max_seqlen": 48}, "run": {"dir": "runs/mine"}})
    config = tmp_path / "proj" / "config.yaml"
    config.write_text("data:\n  max_seqlen: 512\nrun:\n  dir: runs/someone-else\n")
    assert run_files.run_setting(best, "data.max_seqlen") == (48, best / ckpt.STATE_FILE)
    assert load(best).max_seqlen == 48  # 512, the unrelated file's, before
    config.write_text("data: [unclosed\n")  # unparsable: loading failed on it before
    assert load(best).max_seqlen == 48


def test_the_state_wins_over_its_own_run_config_and_fills_only_what_it_lacks(tmp_path):
    run = tmp_path / "run"
    step = run / "checkpoints" / "3"
    step.mkdir(parents=True)
    (step / ckpt.STATE_FILE).write_text(json.dumps(
        {"config": {"data": {"max_seqlen": 48, "note": None}, "run": {"dir": "runs/r"}}}))
    (run / "config.yaml").write_text("data:\n  max_seqlen: 512\n  store: s.zarr\n  note: edited\n"
                                     "run:\n  dir: runs/r\n")
    assert run_files.run_setting(step, "data.max_seqlen") == (48, step / ckpt.STATE_FILE)
    assert run_files.run_setting(step, "data.note") == (None, None)  # recorded as null
    # a key the state does not record: the run's own config.yaml (the same run.dir)
    assert run_files.run_setting(step, "data.store") == ("s.zarr", run / "config.yaml")
    # another run's config.yaml (another run.dir) is not read for it
    (run / "config.yaml").write_text("data:\n  store: s.zarr\nrun:\n  dir: runs/other\n")
    assert run_files.run_setting(step, "data.store") == (None, None)


def test_an_older_checkpoint_without_a_recorded_config_reads_its_run_config(tmp_path):
    step = tmp_path / "run" / "checkpoints" / "2"
    step.mkdir(parents=True)
    (step / ckpt.STATE_FILE).write_text(json.dumps({"step": 2}))
    (tmp_path / "run" / "config.yaml").write_text("data:\n  max_seqlen: 96\n")
    assert run_files.run_setting(step, "data.max_seqlen") == (96, tmp_path / "run" / "config.yaml")


# 3. device=auto for impute and EncoderImputer ----------------------------------------------

def test_impute_and_the_estimator_take_device_auto(tmp_path):
    from encoderkit.impute import _check_parameters
    from encoderkit.impute_cli import USAGE
    from encoderkit.sklearn import EncoderImputer

    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,\n2,3\n")
    _check_parameters(str(source), str(tmp_path / "out.csv"), 0.05, 1, 0, "auto", False, "auto")
    EncoderImputer(device="auto")._check_params()
    with pytest.raises(UsageError, match="must be a torch device"):
        EncoderImputer(device="gpu-ish")._check_params()
    device_help = USAGE[USAGE.index("  device "):USAGE.index("Pretraining overrides")]
    assert "auto" in device_help.split("(default cpu;")[1]


# 4. infill store= only where the fill reads a training store (tables) ------------------------

@pytest.mark.parametrize("name", ["genomic", "timeseries"])
def test_infill_store_is_refused_where_no_training_store_is_read(name, tmp_path, capsys):
    run = make_run(name, tmp_path / name)
    out = tmp_path / ("out" + "".join(run.raw[0].suffixes))
    run_cli(capsys, ["infill", f"checkpoint={run.dir}", f"input={run.raw[0]}", f"output={out}",
                     f"store={run.store}"], 2, "store= is used by table runs only", repr(name))
    assert not out.exists()
    with pytest.raises(UsageError, match="table runs only"):
        load(run.dir).infill_domain({"store": str(run.store)})


def test_infill_store_is_taken_for_a_table_run(table):
    model = load(table.dir)
    model.infill_domain({"store": str(table.store)})
    assert model.training_store({"store": str(table.store)}) == str(table.store)


# 5. the words a refused resume suggests are shell-safe and Hydra-typed --------------------------

def test_repeat_words_survive_the_shell_and_hydra():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from encoderkit.train.checkpoint_config import repeat_words

    saved = {"task": {"labels": "/x/my labels.csv", "dropout": 0.1, "flag": "true"},
             "domain": {"exclude": ["a b", "c"], "name": "tabular"}}
    now = {"task": {"labels": "/y.csv", "dropout": 0.3, "flag": "no"},
           "domain": {"exclude": [], "name": "tabular"}}
    words = repeat_words(saved, now)
    assert "'task.labels=/x/my labels.csv'" in words
    assert "task.dropout=0.1" in words
    parser = OverridesParser.create()
    typed = shlex.split(" ".join(words))  # as a shell reads the line pasted
    got = {o.key_or_group: o.value() for o in parser.parse_overrides(typed)}
    assert got == {"task.labels": "/x/my labels.csv", "task.dropout": 0.1, "task.flag": "true",
                   "domain.exclude": ["a b", "c"]}


# 6. a temporary's name keeps only the real trailing suffixes ------------------------------------

def test_short_name_keeps_only_real_trailing_suffixes():
    from encoderkit.output_names import short_name

    long_last = short_name("y" * 300 + ".v2.safetensors", 100)
    # .safetensors is longer than a kind's suffix: none kept (ended '~<hash>.v2' before)
    assert len(long_last.encode()) == 100 and long_last.startswith("y" * 87)
    assert long_last[87] == "~" and not long_last.endswith(".v2")
    backup = short_name("x" * 300 + ".csv.backup2026x", 100)
    assert ".csv" not in backup  # the name is no CSV: '.csv' was kept before
    assert short_name("z" * 300 + ".csv.gz", 100).endswith(".csv.gz")
    # multi-byte: 2 bytes a character, never split; 13 bytes of mark and 7 of suffix
    wide = short_name("é" * 200 + ".csv.gz", 100)
    assert wide.encode().decode() == wide and wide.startswith("é" * 40 + "~") and wide.endswith(".csv.gz")
    assert len(wide.encode()) == 100
    assert short_name("é" * 200 + ".csv.gz", 100) == wide  # the same in every process
