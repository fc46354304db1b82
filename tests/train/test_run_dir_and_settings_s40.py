"""`encoderkit pretrain` settings and run folders a user gets wrong (session-40 audit): a
folder that is not a run's is refused before anything is written in it, a failed start
removes the folders it made, a key given twice takes its last value, and the optimizer's
and schedule's numbers are checked before any work (they failed as tracebacks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.train import pretrain
from encoderkit.train.config import ConfigError
from tests.domains.sample_store import TINY_MODEL, ingest_sample


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ingest_sample("tabular", tmp_path_factory.mktemp("tabular"))


def _args(store, run_dir, *extra):
    return ["domain=tabular", f"data.store={store}", f"run.dir={run_dir}", "train.steps=2",
            "train.progress=false", "train.log_every=1", *TINY_MODEL, *extra]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_folder_that_is_not_a_run_is_refused_and_left_as_it_was(store, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my precious config\n")
    (mine / "loss.png").write_text("my plot")
    with pytest.raises(ConfigError, match="not a run's .*config.yaml"):
        pretrain(_args(store, mine))
    assert (mine / "config.yaml").read_text() == "my precious config\n"
    assert sorted(p.name for p in mine.iterdir()) == ["config.yaml", "loss.png"]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("x")
    with pytest.raises(ConfigError, match="holds 'todo.txt'"):
        pretrain(_args(store, notes))
    with pytest.raises(ConfigError, match="not a run's"):  # the record store's own folder
        pretrain(_args(store, store))
    # a run's own folder is resumed, an empty one used
    run = pretrain(_args(store, tmp_path / "run"))
    (run / "predictions.csv").write_text("id,prediction\n")  # a user's file beside a run's: kept
    assert pretrain(_args(store, run, "train.steps=3")) == run
    assert (run / "predictions.csv").read_text() == "id,prediction\n"
    (tmp_path / "empty").mkdir()
    pretrain(_args(store, tmp_path / "empty"))


def test_a_failed_start_removes_the_folders_it_made(store, tmp_path):
    deep = tmp_path / "new" / "a" / "b"
    with pytest.raises(ConfigError, match="data.store"):
        pretrain(_args(tmp_path / "nope.zarr", deep))
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(ConfigError):
        pretrain(_args(store, kept, "model.num_heads=3"))  # 32 is not a multiple of 3
    assert kept.is_dir()  # the user's folder stays


def test_a_key_given_twice_takes_the_last_value(store, tmp_path):
    run = pretrain(_args(store, tmp_path / "twice", "model.num_heads=4", "model.num_heads=2"))
    assert "num_heads: 2" in (run / "config.yaml").read_text()


@pytest.mark.parametrize("word,key", [("optim.lr=0", "optim.lr"), ("optim.lr=nan", "optim.lr"),
                                      ("optim.eps=-1", "optim.eps"), ("optim.betas=[1.5,0.9]", "optim.betas"),
                                      ("optim.weight_decay=-1", "optim.weight_decay"),
                                      ("train.grad_clip=-1", "train.grad_clip"),
                                      ("schedule.warmup_fraction=2", "schedule.warmup_fraction"),
                                      ("schedule.final_ratio=5", "schedule.final_ratio")])
def test_optimizer_and_schedule_numbers_are_usage_errors(store, tmp_path, capsys, word, key):
    assert main(["pretrain", *_args(store, tmp_path / "r", word)]) == 2
    err = capsys.readouterr().err
    assert f"'{key}' parameter must be" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_pretrained_model_refuses_data_at_predict_and_a_missing_device_at_embed(store, tmp_path, capsys):
    import numpy as np
    import pandas as pd
    import torch

    from encoderkit.errors import UsageError
    from encoderkit.infer import load

    run = pretrain(_args(store, tmp_path / "p"))
    model = load(run)
    for data in (pd.DataFrame({"a": [1.0]}), "table.csv", np.zeros((2, 3))):
        with pytest.raises(UsageError, match="masked examples .*infill"):
            model.predict(data)
    if not torch.cuda.is_available():  # refused before loading, not inside torch
        table = tmp_path / "t.csv"
        table.write_text("a,b\n1,\n")
        for command, source in (("embed", store), ("infill", table)):
            assert main([command, f"checkpoint={run}", f"input={source}", f"output={tmp_path / 'o.npy'}",
                         "device=cuda"]) == 2
            err = capsys.readouterr().err
            assert "no CUDA device is available" in err and "Traceback" not in err


def test_embed_batch_sizes_are_checked_as_parameters(store, tmp_path, capsys):
    """`max_tokens=0` / `-4` embedded with the default and `abc` was blamed on the store."""
    run = pretrain(_args(store, tmp_path / "p"))
    for word in ("max_tokens=0", "max_tokens=-4", "max_tokens=abc", "max_seqlen=-1"):
        assert main(["embed", f"checkpoint={run}", f"input={store}", f"output={tmp_path / 'e.npy'}", word]) == 2
        err = capsys.readouterr().err
        assert f"'{word.split('=')[0]}' parameter must be an int >= 1" in err, err
    assert not (tmp_path / "e.npy").exists()


def test_evaluate_without_labels_uses_the_tables_label_column_or_says_what_it_needs(store, tmp_path):
    """`evaluate(df, None)` failed inside pandas ("If using all scalar values, you must pass
    an index"); a list of row dicts to `.embed` said KeyError 'column' alone."""
    from domains.tabular.domain import sample_frame
    from encoderkit.errors import UsageError
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={tmp_path / 'ft'}",
                    "task.label_column=vote", "train.steps=2", "train.progress=false", "task.ensemble=1",
                    "train.checkpoint_every=0", "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    model = load(run)
    frame = sample_frame().iloc[:40]
    metrics = model.evaluate(frame, None, verbose=False)
    assert metrics["records"] == 40
    with pytest.raises(UsageError, match="evaluate needs labels"):
        model.evaluate(frame.drop(columns=["vote"]), None, verbose=False)
    rows = [{"age": 30.0, "vote": 1}]  # session 54: the table pandas reads (refused in session 53)
    np.testing.assert_array_equal(model.embed(rows), model.embed(pd.DataFrame(rows)))
    pd.testing.assert_frame_equal(model.predict(frame.to_dict("records")), model.predict(frame))
    # evaluate reads rows (the label column among them) and labels as rows or a tensor alike
    assert model.evaluate(frame.to_dict("records"), None, verbose=False) == metrics
    import torch

    labels = frame[["vote"]]
    assert model.evaluate(frame.drop(columns=["vote"]), labels.to_dict("records"), verbose=False) == \
        model.evaluate(frame.drop(columns=["vote"]), labels, verbose=False)
    codes = frame["vote"].astype("float64").to_numpy()
    assert model.evaluate(frame, torch.tensor(codes, requires_grad=True), verbose=False) == \
        model.evaluate(frame, codes, verbose=False)
