"""Options that were accepted and then did nothing, or were contradicted (audit c, session 51):
schedule.total shorter than the run (lr 0 for its last steps), a 1-step run at lr ~0, the
column statistics' split against pretraining's validation split, data.val_fraction on
finetune, task options the task type never reads, and a fine-tuning domain option that moves
the checkpoint's position axes."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

import pytest

from encoderkit import cli
from encoderkit.errors import UsageError
from encoderkit.train.config import ConfigError, compose, compose_finetune
from encoderkit.train.schedule import WSD

PRE = ["domain=tabular", "data.store=s.zarr"]
FT = ["checkpoint=none", "domain=tabular", "data.store=s.zarr"]


# ---------------------------------------------------------------- the schedule's length
def test_schedule_total_shorter_than_the_steps_is_refused_naming_both():
    with pytest.raises(ConfigError, match=r"schedule.total=10 is shorter than train.steps=20"):
        compose([*PRE, "train.steps=20", "schedule.total=10"])
    # train.steps=auto takes at least train.auto_min_steps steps
    with pytest.raises(ConfigError, match=r"schedule.total=20 .*train.auto_min_steps=200"):
        compose([*PRE, "train.steps=auto", "schedule.total=20"])
    assert compose([*PRE, "train.steps=20", "schedule.total=20"]).schedule.total == 20
    assert compose([*PRE, "train.steps=20", "schedule.total=30"]).schedule.total == 30
    # in tokens a step holds at most data.max_tokens real tokens, so only a total below one token
    # a step is certain to end the run early (session 52: tests/test_resume_compose_s52f2.py)
    with pytest.raises(ConfigError, match=r"schedule.total=10 tokens is fewer than the 20 tokens train.steps=20"):
        compose([*PRE, "train.steps=20", "schedule.unit=tokens", "schedule.total=10"])


def test_plan_wsd_is_the_trainers_schedule_and_refuses_a_resolved_auto_run_longer_than_total():
    """``plan_wsd`` (what train.steps=auto is checked by once resolved) plans what
    ``Trainer._plan_schedule`` plans, for steps and for tokens."""
    from encoderkit.train.schedule import plan_wsd
    from encoderkit.train.trainer import Trainer

    for words in ([], ["schedule.unit=tokens"], ["schedule.total=50", "schedule.warmup=5"]):
        cfg = compose([*PRE, "train.steps=40", *words])
        stand_in = SimpleNamespace(cfg=cfg, tokens_per_step=512)
        assert plan_wsd(cfg.schedule, 40, 512) == Trainer._plan_schedule(stand_in, 40)
    cfg = compose([*PRE, "train.steps=auto", "schedule.total=300"])  # >= auto_min_steps: composes
    with pytest.raises(UsageError, match=r"schedule.total=300 is shorter than the run.s 450 steps"):
        plan_wsd(cfg.schedule, 450, 512)  # auto resolved to 450 steps


def test_a_one_step_run_takes_its_step_at_the_peak_rate():
    # decay_fraction 0.2 of 1 step: no step to decay over; the only step is at the peak (1.0),
    # where it was 1 - sqrt(0.9999999999999998) ~ 1e-16
    assert WSD(total=1, warmup=0.05, decay=0.2)(1) == 1.0
    assert WSD(total=4, warmup=0.2, decay=0.8, shape="linear")(4) == 1.0
    # a decay of whole steps ends at final_ratio as before, exactly
    s = WSD(total=10, warmup=1, decay=2, shape="linear", final_ratio=0.1)
    assert s(8) == 1.0 and s(9) == pytest.approx(0.55) and s(10) == 0.1
    # in tokens a decay shorter than one step's tokens is no decay either (session 52), a
    # longer one is a decay
    assert WSD(total=1024, decay=500, unit="tokens", per_step=512)(1024) == 1.0
    assert WSD(total=1024, decay=600, unit="tokens", per_step=512)(1024) == 0.0


# ---------------------------------------------------------------- finetune's options
def test_data_val_fraction_on_finetune_is_warned_naming_task_val_fraction():
    with pytest.warns(UserWarning, match=r"data.val_fraction=0.5 has no effect.*task.val_fraction=0.1 .*"
                                         r"set task.val_fraction=0.5"):
        compose_finetune([*FT, "data.val_fraction=0.5"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compose_finetune([*FT, "data.val_fraction=0.05"]).data.val_fraction == 0.05  # the default


@pytest.mark.parametrize("words,key", [
    (["task=contrastive", "task.head=linear"], "task.head"),
    (["task=contrastive", "task.dropout=0.5"], "task.dropout"),
    (["task=contrastive", "task.class_weights=balanced"], "task.class_weights"),
    (["task=contrastive", "task.label_column=y"], "task.label_column"),
    (["task=regression", "task.label_column=y", "task.class_weights=balanced"], "task.class_weights"),
    (["task=multilabel", "task.class_weights=[1,2]"], "task.class_weights"),
    (["task=classification", "task.label_column=y", "task.temperature=0.1"], "task.temperature"),
    (["task=classification", "task.label_column=y", "task.learn_temperature=false"], "task.learn_temperature"),
    (["task=supervised_contrastive", "task.label_column=y", "task.head=linear"], "task.head"),
    (["task=token_regression", "task.pooling=cls"], "task.pooling"),
    (["task=classification", "task.label_column=y", "task.label_names=[x]"], "task.label_names"),
])
def test_a_task_option_the_task_type_does_not_read_is_a_usage_error(words, key):
    kind = next(w.split("=")[1] for w in words if w.startswith("task="))
    with pytest.raises(ConfigError) as e:
        compose_finetune([*FT, *words])
    assert e.value.key == key and str(e.value).startswith(key + "=")
    assert key == "task.label_names" or f"does not apply to task.type={kind}" in str(e.value)
    # the option at its default is no error: every task file carries the key
    default = {"task.head": "mlp", "task.dropout": "0.1", "task.class_weights": "null", "task.pooling": "mean",
               "task.label_column": "null", "task.temperature": "0.05", "task.learn_temperature": "true",
               "task.label_names": "null"}[key]
    words = [w for w in words if not w.startswith(key + "=")] + [f"{key}={default}"]
    assert compose_finetune([*FT, *words]).task.type == kind


def test_patience_without_validation_is_said():
    with pytest.warns(UserWarning, match=r"task.patience=3 acts on validation, and train.eval_every=0"):
        compose_finetune([*FT, "task.label_column=y", "task.patience=3", "train.eval_every=0"])


# ---------------------------------------------------------------- on a real store
@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = tmp_path_factory.mktemp("opts")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=150).round(4), "b": rng.integers(0, 5, 150),
                          "y": rng.choice(["p", "q"], 150)})
    frame.to_csv(root / "t.csv", index=False)
    assert cli.main(["ingest", "domain=tabular", f"input={root / 't.csv'}", f"output={root / 's.zarr'}"]) == 0
    return root, frame


def test_the_statistics_split_is_the_ingest_split_and_its_overlap_is_counted(table):
    from encoderkit.data.split import statistics_overlap, statistics_split_note, validation_mask
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import get_domain

    root, frame = table
    store = RecordStore(str(root / "s.zarr"))
    stats = get_domain("tabular")(store.schema).statistics_split()
    assert stats == {"validation_fraction": 0.05, "split_seed": 0, "rows": 150}
    # independent reference: the rows whose values the stored mean is the mean of
    fed = ~validation_mask(150, 0.05, 0)
    column = next(c for c in store.schema["columns"] if c["name"] == "a")
    assert column["mean"] == pytest.approx(frame["a"][fed].mean())
    assert column["mean"] != pytest.approx(frame["a"].mean())
    val = validation_mask(150, 0.3, 4)
    assert statistics_overlap(150, 0.3, 4, stats) == (int(val.sum()), int((val & fed).sum()))
    assert statistics_overlap(150, 0.05, 0, stats)[1] == 0  # the defaults: the same rows
    assert statistics_overlap(150, 0.03, 0, stats)[1] == 0  # nested: a smaller fraction, same seed
    note = statistics_split_note(150, 0.3, 4, stats, "s.zarr")
    assert note and f"{int((val & fed).sum())} of which fed its column statistics" in note
    assert statistics_split_note(150, 0.05, 0, stats, "s.zarr") is None
    # rows appended later fed none: only the first `rows` count
    assert statistics_overlap(300, 0.3, 4, stats)[1] == int((val & fed).sum())


def test_sets_record_their_statistics_split(tmp_path):
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import get_domain

    rows = [(f"s{k}", f"i{(k * 7 + j) % 9}", float(j)) for k in range(30) for j in range(3 + k % 4)]
    pd.DataFrame(rows, columns=["set", "id", "f"]).to_csv(tmp_path / "s.csv", index=False)
    assert cli.main(["ingest", "domain=sets", f"input={tmp_path / 's.csv'}", f"output={tmp_path / 's.zarr'}",
                     "validation_fraction=0.2", "split_seed=3"]) == 0
    store = RecordStore(str(tmp_path / "s.zarr"))
    assert get_domain("sets")(store.schema).statistics_split() == {
        "validation_fraction": 0.2, "split_seed": 3, "rows": 30}


def test_a_domain_option_that_moves_the_checkpoints_positions_is_named(table, capsys):
    root, _ = table
    common = [f"data.store={root / 's.zarr'}", "train.progress=false", "train.eval_every=0",
              "train.log_every=1", "data.max_tokens=1024"]
    assert cli.main(["pretrain", "domain=tabular", f"run.dir={root / 'pre'}", "train.steps=1",
                     "domain.drop_columns=[y]", *common]) == 0
    lr = json.loads((root / "pre" / "metrics.jsonl").read_text().splitlines()[0])["lr"]
    assert lr == pytest.approx(8e-4)  # optim.lr: the one step is a step (it was ~1e-19)
    capsys.readouterr()
    rc = cli.main(["finetune", f"checkpoint={root / 'pre'}", "task.label_column=y", "task.ensemble=1",
                   "train.steps=1", f"run.dir={root / 'ft'}", "domain.column_positions=true", *common])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "domain.column_positions=true (the checkpoint's: false)" in err and "position axes" in err
    assert not (root / "ft").exists()
