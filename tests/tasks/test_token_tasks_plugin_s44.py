"""Token tasks and export-hf's tokenizer note for a third-party plug-in (audit s44, findings 2
and 6), with plug-in domains registered in-process (``registry._local``), never installed.

Properties checked:
* the core maps tokens to record positions through the domain (``Domain.token_positions``),
  not through the sets domain's option names: a plug-in's own ``order`` option is no refusal;
* a [CLS] element (``cls_position``) in every window gets no label and no prediction row;
  the other tokens' labels are the record's labels at their positions (an independent
  reference: the record's ids at those positions);
* ``predict`` writes exactly one row per record position, none past the end, no NaN; it maps
  positions on the windows ``windows()`` made (a plug-in may read their ``fields``) and
  checks them against the record's position count, as training does;
* windows that leave a position out or run past the record's end (a ``start`` counting the
  [CLS]) are refused before training, naming the domain and the convention;
* ``encoderkit_tokenizer.json`` names the [CLS] a domain adds and gives a recipe that
  reproduces ``featurize``, with no DNA wording for a non-DNA domain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import testdomain as td
from encoderkit import registry
from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.domain import ContractError, Example, window_bounds
from encoderkit.tasks.objective import Prepare
from encoderkit.tasks.spec import TaskSpec

CLS_ID = 0  # testdomain's placeholder id 0 serves as the [CLS]
LETTERS = "abcdefghijklmnopqrstuv"  # ids 2..23, one letter each

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=1",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.steps=2", "train.eval_every=0", "train.checkpoint_every=0", "train.log_every=1",
        "train.progress=false", "data.max_tokens=256", "run.device=cpu", "task.ensemble=1"]


class OrderOption(td.TrainTestDomain):
    """A plug-in whose own option happens to be called ``order`` (a Markov order)."""

    name = "s44tok-order"


class ClsDomain(td.TrainTestDomain):
    """A [CLS] first in every window; a window's ``start`` is the record position of its first
    token after the [CLS] (``Domain.token_positions``)."""

    name = "s44tok-cls"
    cls_position = 0
    shift = 0  # what a window's start adds to its first residue's position

    def featurize(self, record):
        ids = np.concatenate([[CLS_ID], np.asarray(record["ids"], dtype=np.int64)])
        return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])

    def windows(self, example, max_seqlen):
        if len(example) <= max_seqlen:
            return [example]
        out = []
        for w, (s, e) in enumerate(window_bounds(len(example) - 1, max_seqlen - 1, 3)):
            ids = np.concatenate([[CLS_ID], example.fields["ids"][1 + s:1 + e]])
            out.append(Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None],
                               record=example.record, window=w, start=s + self.shift))
        return out

    def to_records(self, data):
        return [{"ids": np.asarray([LETTERS.index(c) + 2 for c in text], dtype=np.int16), "id": f"s{i}"}
                for i, text in enumerate(data)]


class ShiftedCls(ClsDomain):
    """The audit's windows: ``start`` counts the [CLS] (the first residue's featurized index)."""

    name = "s44tok-shifted"
    shift = 1


class Gappy(td.TrainTestDomain):
    """Windows that drop a record's fourth token."""

    name = "s44tok-gappy"

    def windows(self, example, max_seqlen):
        from encoderkit.domain import slice_example

        n = len(example)
        return [slice_example(example, 0, 3, 0), slice_example(example, 4, n, 1)] if n > 4 else [example]


@pytest.fixture
def plug(monkeypatch):
    def add(*classes):
        for c in classes:
            monkeypatch.setitem(registry._local, c.name, c)
    return add


def _store(path: Path, name: str, n: int = 16) -> tuple[str, Path]:
    """A store of testdomain records and a per-token label file (``hi`` where id >= 12),
    positions counting the record's ids (the [CLS] is none of them)."""
    rows = []
    with StoreWriter(path / "s.zarr", name) as w:
        for i, ids in enumerate(td.make_records(n, seed=3, low=20, high=40)):
            w.append({"ids": ids}, id=f"r{i}")
            rows += [(f"r{i}", p, "hi" if v >= 12 else "lo") for p, v in enumerate(ids)]
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    pd.DataFrame(rows, columns=["id", "position", "label"]).to_csv(path / "tok.csv", index=False)
    return str(path / "s.zarr"), path / "tok.csv"


def _finetune(name: str, store: str, labels: Path, run: Path, *extra: str):
    from encoderkit.tasks import finetune

    return finetune(["checkpoint=none", f"domain.name={name}", f"data.store={store}", f"run.dir={run}",
                     "task.type=token_classification", f"task.labels={labels}", *TINY, *extra])


# ---- finding 2: the layout is the domain's to say -----------------------------------------

def test_a_plugins_own_order_option_is_not_a_sets_refusal():
    domain = OrderOption({}, order=2)
    ex = domain.featurize({"ids": np.arange(2, 12)})
    from encoderkit.tasks.token_range import token_positions

    np.testing.assert_array_equal(token_positions(domain, ex), np.arange(10))  # not refused
    from encoderkit.tasks.token_range import window_positions

    np.testing.assert_array_equal(window_positions(domain, [ex])[0], np.arange(10))


def test_cls_gets_no_label_and_residues_get_their_own():
    """Prepare's labels of each window of a long record: the [CLS] unlabelled (mask False),
    every other token labelled with the record's label at the residue it holds."""
    domain = ClsDomain({})
    ids = np.arange(30) % 20 + 2
    y = np.where(ids >= 12, 1, 0)  # the reference: a residue's label follows from its id
    windows = domain.windows(domain.featurize({"ids": ids}), 12)
    assert len(windows) > 2
    prep = Prepare(domain, TaskSpec(type="token_classification", classes=["lo", "hi"]), [y], False, "",
                   np.asarray(["r0"], dtype=object))
    for w in windows:
        w.record = 0
        m = prep(w, np.random.default_rng(0), train=True)
        assert not m.labels["mask"][0] and m.labels["position"][0] == -1
        np.testing.assert_array_equal(m.labels["mask"][1:], True)
        np.testing.assert_array_equal(m.labels["y"][1:], np.where(w.fields["ids"][1:] >= 12, 1, 0))


def test_cls_domain_predicts_one_row_per_residue_none_past_the_end(plug, tmp_path):
    """Finetune and predict with records cut into windows that each start with a [CLS]:
    one row per residue (positions 0..n-1), finite probabilities, no row for the [CLS]."""
    from encoderkit.infer import load

    plug(ClsDomain)
    store, labels = _store(tmp_path, ClsDomain.name)
    run = _finetune(ClsDomain.name, store, labels, tmp_path / "run", "data.max_seqlen=12",
                    "task.val_fraction=0.25")
    out = load(run).predict(RecordStore(store))
    truth = pd.read_csv(labels)
    assert len(out) == len(truth)
    for rid, rows in out.groupby("id"):
        np.testing.assert_array_equal(rows["position"].to_numpy(), np.arange((truth["id"] == rid).sum()))
    proba = out[[c for c in out.columns if c.startswith("proba_")]].to_numpy()
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)


def test_windows_whose_start_counts_the_cls_are_refused_before_training(plug, tmp_path):
    plug(ShiftedCls)
    store, labels = _store(tmp_path, ShiftedCls.name, n=4)
    with pytest.raises(ContractError, match=r"s44tok-shifted.*start is the position of its first token"):
        _finetune(ShiftedCls.name, store, labels, tmp_path / "run", "data.max_seqlen=12")
    assert not (tmp_path / "run" / "best").exists()


def test_windows_leaving_a_position_out_are_refused():
    from encoderkit.tasks.token_range import window_positions

    domain = Gappy({})
    ex = domain.featurize({"ids": np.arange(2, 12)})
    with pytest.raises(ContractError, match="record position 3 of 10 is in no window"):
        window_positions(domain, domain.windows(ex, 64), 10)
    with pytest.raises(ContractError, match="at record position 9, but the record has 5"):
        window_positions(domain, [ex], 5)


# ---- finding 6: the tokenizer note describes the exported domain --------------------------

def test_tokenizer_note_names_the_cls_and_its_recipe_reproduces_featurize():
    from encoderkit.interop.hf import tokenizer_description

    domain = ClsDomain({})
    tok = tokenizer_description(domain, 64)
    assert tok["special_tokens_added"] == [{"token": "[CLS]", "id": CLS_ID, "index": 0}]
    assert "DNA" not in tok["how"] and "k-mer" not in tok["how"]
    table = tok["char_to_id"]
    text = "hello" + LETTERS
    ids = [table[c] for c in text]
    ids = ids[:0] + [CLS_ID] + ids[0:]  # the note's recipe, at index 0
    assert "ids[:0] + [0] + ids[0:]" in tok["how"]
    assert ids == [int(i) for i in domain.featurize(domain.to_records([text])[0]).fields["ids"]]

    class Plain(ClsDomain):  # the same tokens without the [CLS]: nothing added
        cls_position = None

        def featurize(self, record):
            return td.TrainTestDomain.featurize(self, record)

    tok = tokenizer_description(Plain({}), 64)
    assert tok["special_tokens_added"] == [] and "nothing added" in tok["how"]


# ---- review of s44: predict maps positions as training does ------------------------------

class FieldsCls(ClsDomain):
    """``token_positions`` reads the window's ``fields`` (an ``Example``'s, as documented): the
    [CLS] is the token with its id, the residues count on from ``start``."""

    name = "s44tok-fields"

    def token_positions(self, window):
        ids = np.asarray(window.fields["ids"])
        return np.where(ids == CLS_ID, -1, np.cumsum(ids != CLS_ID) - 1 + int(window.start)).astype(np.int64)


def test_predict_maps_positions_on_the_raw_windows_and_checks_the_records_size(plug, tmp_path, monkeypatch):
    """predict hands ``token_positions`` the windows ``windows()`` made (Examples with
    ``fields``), as training does, and checks them against the record's own position count:
    windows that leave out a record's last residue are refused there too, not written as a
    record one row short."""
    from encoderkit.domain import slice_example
    from encoderkit.infer import load

    plug(FieldsCls)
    store, labels = _store(tmp_path, FieldsCls.name, n=8)
    run = _finetune(FieldsCls.name, store, labels, tmp_path / "run", "data.max_seqlen=12",
                    "task.val_fraction=0")
    model = load(run)
    out = model.predict(RecordStore(store))
    truth = pd.read_csv(labels)
    for rid, rows in out.groupby("id"):  # the reference: the labels file's residues of the record
        np.testing.assert_array_equal(rows["position"].to_numpy(), np.arange((truth["id"] == rid).sum()))

    def short_of_the_tail(self, example, max_seqlen):  # the last residue in no window
        return [slice_example(example, 0, len(example) - 1, 0)]

    monkeypatch.setattr(FieldsCls, "windows", short_of_the_tail)
    model = load(run)
    n = int((truth["id"] == "r0").sum())  # r0's residues: its last one is in no window
    with pytest.raises(ContractError, match=rf"'s44tok-fields', record 'r0': record position {n - 1} of {n} is in no"):
        model.predict(RecordStore(store))
