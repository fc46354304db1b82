"""Long silent steps said (session 51, p): ``encoderkit impute`` says each step after
training as it starts and, with its time, as it ends (stderr; stdout and the filled file as
without them; nothing with progress=false); the encoder's passes draw a bar over runs of
whole batches, the predictions bit for bit those of one call; ``data.max_tokens=auto`` says
the batch it resolved to by the numbers of its rule, with a numeric ``train.steps`` too."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import testdomain as td
from encoderkit.cli import main

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
        "train.steps=3", "seed=1"]


def _table(path: Path) -> None:
    """120 rows of four related numeric columns and a category, a tenth of the cells missing."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(120, 2))
    frame = pd.DataFrame({f"x{i}": z @ rng.normal(size=2) + 0.3 * rng.normal(size=120) for i in range(4)})
    frame["c"] = np.where(z[:, 0] > 0, "a", "b")
    frame.mask(rng.random(frame.shape) < 0.1).to_csv(path, index=False)


def _impute(tmp_path: Path, capsys, progress: bool) -> tuple[str, str, str]:
    src, out = tmp_path / "t.csv", tmp_path / f"filled_{progress}.csv"
    if not src.exists():
        _table(src)
    assert main(["impute", f"input={src}", f"output={out}", f"progress={str(progress).lower()}", *TINY]) == 0
    cap = capsys.readouterr()
    return cap.out, cap.err, out.read_text()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_says_each_step_in_order_and_nothing_without_progress(tmp_path, capsys):
    out_on, err_on, file_on = _impute(tmp_path, capsys, True)
    out_off, err_off, file_off = _impute(tmp_path, capsys, False)
    # the counts the steps name, from the summary on stdout (an independent account)
    held = int(re.search(r"validation on (\d+) held-back", out_on).group(1))
    filled = int(re.search(r"filled (\d+) cell\(s\)", out_on).group(1))
    out = str(tmp_path / "filled_True.csv")
    steps = [f"impute: filling the {held} held-back cell(s) with the model (",
             "impute: held-back cells filled and scored (",
             "impute: select=auto: the candidate fills of the held-back cells",
             "impute: select=auto: fill chosen per column / channel (",
             f"impute: filling the {filled} missing cell(s) of {tmp_path / 't.csv'} with the model (",
             "impute: file filled (",
             f"impute: writing {out}",
             f"impute: wrote {out} ("]
    lines = err_on.splitlines()
    at = [next((i for i, line in enumerate(lines) if line.startswith(s)), None) for s in steps]
    assert None not in at and at == sorted(at), (at, err_on)
    assert all(re.search(r"\(\d+\.\d s\)$", lines[i]) for i in at[1::2])  # each step's end with its time
    # after training: the fitting line (said before this change too) comes first
    assert at[0] > next(i for i, line in enumerate(lines) if line.startswith("impute: fitting 1 model(s)"))
    # stdout and the file as without progress (the time line aside); nothing said without it
    def same(text: str) -> list[str]:
        return [line.replace("filled_False", "filled_True") for line in text.splitlines()
                if not line.startswith("time:")]
    assert same(out_off) == same(out_on) and file_off == file_on
    assert "impute:" not in err_off and "encoder" not in err_off, err_off


def test_encoder_imputer_fit_says_its_steps_with_progress(capsys):
    from encoderkit.sklearn import EncoderImputer

    rng = np.random.default_rng(1)
    z = rng.normal(size=(80, 2))
    frame = pd.DataFrame({f"x{i}": z @ rng.normal(size=2) for i in range(3)})
    frame["c"] = np.where(z[:, 1] > 0, "u", "v")
    frame = frame.mask(rng.random(frame.shape) < 0.1)
    EncoderImputer(steps=2, random_state=0, progress=True, overrides=TINY[:4]).fit(frame)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("EncoderImputer.fit: ")]
    steps = ["fitting the classical imputers (blend='iterative+forest')", "classical imputers fitted (",
             "select='auto': the encoder, the classical imputers and their blend compared",
             "numeric columns' fill chosen (", "select='auto': the categorical columns' fills compared",
             "categorical columns' fill chosen (", "fitting the category forests on every observed cell",
             "category forests fitted ("]
    said = [line[len("EncoderImputer.fit: "):] for line in lines]
    assert len(said) == len(steps) and all(a.startswith(b) for a, b in zip(said, steps)), said
    assert all(re.search(r"\(\d+\.\d s\)$", line) for line in said[1::2])


class _Example:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def _batch_bound_predict(budget: int):
    """A predict whose answer for an example depends on its batch (``pack_in_order`` under
    ``budget``, as ``predict_examples`` packs): the batch's first example's index. A run
    cut inside a batch would answer otherwise."""
    from encoderkit.infer.embed import pack_in_order

    def predict(examples):
        out = []
        for group in pack_in_order(list(examples), len, max(budget, max(len(e) for e in examples))):
            out += [group[0].index] * len(group)
        return out
    return predict


def test_barred_predict_answers_as_one_call_and_counts_every_example(monkeypatch, capsys):
    from encoderkit.impute_progress import barred, whole_batches

    monkeypatch.setattr("encoderkit.impute_progress.BAR_DELAY_S", 0.0)
    rng = np.random.default_rng(3)
    examples = [_Example(int(n)) for n in rng.integers(1, 40, size=500)]
    for i, e in enumerate(examples):
        e.index = i
    predict = _batch_bound_predict(64)
    assert barred(predict, 64, "row")(examples) == predict(examples)
    err = capsys.readouterr().err
    assert "encoder: 100%" in err and "500/500" in err, err
    runs = list(whole_batches(examples, 64))
    assert sum(map(len, runs)) == 500 and 2 < len(runs) <= 51
    # an example longer than the budget (each call's budget is then its own longest): one run
    assert len(list(whole_batches([*examples, _Example(100)], 64))) == 1


# ---------------------------------------------------------------- data.max_tokens=auto said

@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """The traintest domain's store with 24 of 160 records labelled (by the stride)."""
    from encoderkit.data.store import RecordStore

    tmp = tmp_path_factory.mktemp("s51p")
    store = td.write_store(tmp / "store.zarr", n=160, seed=1)
    s = RecordStore(store)
    ids = [s[i]["id"] for i in range(len(s))]
    y = np.array([int(s[i]["ids"][1] != s[i]["ids"][0]) for i in range(len(s))])
    keep = np.r_[np.flatnonzero(y == 0)[:12], np.flatnonzero(y == 1)[:12]]
    label = np.full(len(ids), "", dtype=object)
    label[keep] = y[keep].astype(str)
    pd.DataFrame({"id": ids, "label": label}).to_csv(tmp / "labels.csv", index=False)
    return store, str(tmp / "labels.csv")


def _finetune(store: str, labels: str, run: Path, **extra: object) -> None:
    from encoderkit.tasks import finetune

    words = {**{o.split("=", 1)[0]: o.split("=", 1)[1] for o in td.tiny_overrides(store, str(run), steps=2)},
             "checkpoint": "none", "task.labels": labels, "task.ensemble": 1, "task.val_fraction": 0.25,
             "train.eval_every": 0, "train.checkpoint_every": 0, "train.progress": True, **extra}
    words.pop("data.val_fraction")
    finetune([f"{k}={v}" for k, v in words.items()])


def test_auto_batch_said_with_numeric_steps_and_a_given_one_not(labelled, tmp_path, capsys):
    store, labels = labelled
    run = tmp_path / "auto"
    _finetune(store, labels, run, **{"data.max_tokens": "auto"})
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("data.max_tokens=auto")]
    # the documented rule by hand, over the run's own training split
    from encoderkit.data.store import RecordStore

    s = RecordStore(store)
    by_id = {s[i]["id"]: len(s[i]["ids"]) for i in range(len(s))}
    lengths = [by_id[i] for i in json.loads((run / "split.json").read_text())["train"]]
    n, total = len(lengths), sum(lengths)
    sequences = min(32, math.ceil(n / 8))
    per = math.ceil(sequences * total / n)
    max_tokens = max(per, max(lengths))
    assert len(said) == 1, said
    assert said[0].startswith(f"data.max_tokens=auto resolved to {max_tokens} tokens a micro-batch: "
                              f"ceil({sequences} sequences (min(32, ceil({n} training sequences / 8))) x "
                              f"{total / n:.1f} tokens a sequence on average) = {per}"), said
    assert (f"data.max_seqlen lowered from 64 to {max_tokens};" in said[0]) == (max_tokens < 64), said
    assert said[0].endswith("set data.max_tokens=N to change it")
    _finetune(store, labels, tmp_path / "given")
    assert not [line for line in capsys.readouterr().err.splitlines() if "data.max_tokens=auto" in line]
