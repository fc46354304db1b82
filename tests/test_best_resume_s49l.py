"""best/ after a resume is one of the evaluations the resumed run keeps (session 49, helper l).

A fine-tuning run killed between writing best/ (step 45) and its next checkpoint (60), then
resumed from checkpoint 40 with ``train.steps=45``, kept best/ of the discarded step 45 (trained
under the 60-step schedule); the summary printed the resumed run's own step-45 numbers under
"best (step 45)" (a row matched by step alone), and load / predict used the discarded model.
Now a best/ from after the resumed checkpoint is removed (one warning line says so, and that
there is no best/ until a validation reaches the best kept evaluation), and the summary's best
row is the logged evaluation at best/'s step AND with its figure.

References: the runs' own metrics.jsonl and checkpoints; hand-written metrics for the summary
and the selection figure (a mean of per-target RMSEs over their training std, computed here).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

import testdomain as td
from encoderkit.infer.load import load, resolve_checkpoint
from encoderkit.tasks import finetune
from encoderkit.tasks.cli import summary
from tests.tasks.conftest import ft_overrides, stride_labels

COMMON = {"task.metric": "loss", "train.eval_every": 1, "train.checkpoint_every": 2, "train.keep": 0}


def _metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> tuple[str, Path, Path]:
    """A 12-step fine-tuning run validated at every step, checkpoints every 2 steps, all kept."""
    tmp = tmp_path_factory.mktemp("best")
    store = td.write_store(tmp / "store.zarr", n=80, seed=1)
    ids, y = stride_labels(store)
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    run = tmp / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small validation split is said
        finetune(ft_overrides(store, str(run), str(labels), steps=12, **COMMON))
    return store, labels, run


def test_a_resume_drops_best_from_the_steps_it_discards(first, tmp_path):
    store, labels, reference = first
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    old = json.loads((run / "best" / "state.json").read_text())
    best_step = old["step"]
    kept = [int(p.name) for p in (run / "checkpoints").iterdir() if int(p.name) < best_step]
    assert kept, f"the set-up needs best/ after a checkpoint; best/ is of step {best_step}"
    resumed = max(kept)
    for p in (run / "checkpoints").iterdir():  # killed after best/ was written, before the next checkpoint
        if int(p.name) > resumed:
            shutil.rmtree(p)
    # resumed with train.steps at that checkpoint (documented: the schedule is re-planned)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finetune(ft_overrides(store, str(run), str(labels), steps=resumed, **COMMON))
    said = [str(w.message) for w in caught if "best/ held" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
    kept_rows = [h for h in _metrics(run) if "val_loss" in h]
    assert max(h["step"] for h in kept_rows) == resumed
    top = min(kept_rows, key=lambda h: h["val_loss"])  # val_loss: lower is better
    assert f"best/ held the model of step {best_step} (val_loss {old['best']['value']:.4g})" in said[0]
    assert f"after checkpoint {resumed}" in said[0] and "there is no best/" in said[0]
    assert f"step {top['step']}, val_loss {top['val_loss']:.4g}" in said[0]
    # nothing of the discarded model is read: load and the summary describe the run kept
    assert not (run / "best").exists()
    assert not any(p.name.startswith(".tmp-") for p in run.iterdir())
    assert resolve_checkpoint(run) == run / "checkpoints" / str(resumed)
    model = load(run)
    expected = load_file(str(run / "checkpoints" / str(resumed) / "model.safetensors"))
    state = {k: v for k, v in model.model.state_dict().items()}
    assert model.step == resumed and all((state[k] == v).all() for k, v in expected.items())
    assert f"best (step {best_step})" not in summary(run)


def _summary_run(tmp_path: Path, best: dict) -> Path:
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    rows = [{"step": 5, "val_loss": 0.5, "val_accuracy": 0.7},
            {"step": 10, "val_loss": 0.3, "val_accuracy": 0.9}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "best" / "state.json").write_text(json.dumps(best))
    return run


def _row(table: str, metric: str) -> list[str]:
    return next(line.split()[1:] for line in table.splitlines() if line.split()[:1] == [metric])


def test_the_summary_best_row_is_the_evaluation_best_holds_not_its_step_alone(tmp_path):
    # best/ of another model at step 10 (a discarded attempt's): its own figure, not step 10's row
    run = _summary_run(tmp_path, {"step": 10, "best": {"metric": "val_loss", "value": 0.2}})
    table = summary(run)
    assert "last (step 10)" in table and "best (step 10)" in table
    assert _row(table, "loss") == ["0.3000", "0.2000"] and _row(table, "accuracy") == ["0.9000", "-"]
    # best/ that is step 5's evaluation: that row, every metric of it
    run = _summary_run(tmp_path / "b", {"step": 5, "best": {"metric": "val_loss", "value": 0.5}})
    table = summary(run)
    assert _row(table, "loss") == ["0.3000", "0.5000"] and _row(table, "accuracy") == ["0.9000", "0.7000"]


def test_best_evaluation_matches_the_scaled_figure_of_several_targets():
    from encoderkit.tasks.objective_best import best_evaluation

    # two targets scored by rmse, each over its training std (2 and 4): mean(4/2, 4/4) = 1.5
    other = {"step": 4, "val_rmse": 3.0, "val_rmse/a": 2.0, "val_rmse/b": 4.0}  # mean(1, 1) = 1
    chosen = {"step": 4, "val_rmse": 4.0, "val_rmse/a": 4.0, "val_rmse/b": 4.0}
    state = {"step": 4, "task": {"targets": ["a", "b"], "std": [2.0, 4.0]},
             "best": {"metric": "val_rmse", "value": 1.5, "scaled": "per target over its std"}}
    assert best_evaluation(state, [chosen, other]) is chosen
    assert best_evaluation(state, [other]) is None
    assert best_evaluation({**state, "best": {"metric": "val_rmse", "value": 3.0}}, [chosen, other]) is other


def test_stale_best_keeps_only_an_evaluation_the_resumed_run_keeps():
    from encoderkit.tasks.objective_best import stale_best

    history = [{"step": 5, "val_loss": 0.5}, {"step": 10, "val_loss": 0.3}]
    value = lambda h: h.get("val_loss")  # noqa: E731
    assert stale_best((10, 0.3), history, 10, value) is None  # step 10's evaluation, kept
    assert "after checkpoint 10" in stale_best((12, 0.1), history, 10, value)
    assert "not the evaluation of step 10" in stale_best((10, 0.2), history, 10, value)
    assert stale_best((7, 0.4), history, 10, value) is None  # no kept row says otherwise
    assert stale_best((5, float("nan")), [{"step": 5, "val_loss": float("nan")}], 10, value) is None
