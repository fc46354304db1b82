"""``finetune task.label_column=<column>`` warns once when the checkpoint was pretrained with
that column among its inputs (``encoderkit/tasks/finetune_label_seen.py``): masked-LM
pretraining on a store holding the label recalled 0.997-1.000 of coin-flip labels of every row,
validation and test rows included, from the rows' other cells."""

from __future__ import annotations

import warnings

import pytest

from tests.domains.sample_store import TINY_MODEL

pytest.importorskip("domains.tabular")

SAID = "task.label_column='vote' is a column checkpoint"
COMMON = ["run.device=cpu", "train.progress=false", "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A store of the sample table's first rows, and two 2-step pretrained runs: with the `vote` column among
    their inputs, and without it (domain.drop_columns=[vote])."""
    from domains.tabular.domain import sample_frame
    from encoderkit.data.ingest import ingest
    from encoderkit.train.config import compose
    from encoderkit.train.trainer import Trainer

    tmp = tmp_path_factory.mktemp("seen")
    sample_frame().iloc[:160].to_csv(tmp / "t.csv", index=False)
    store = str(tmp / "t.zarr")
    ingest("tabular", [str(tmp / "t.csv")], store, progress=False, verbose=False)
    runs = {}
    for name, extra in (("with", []), ("without", ["domain.drop_columns=[vote]"])):
        cfg = compose(["domain=tabular", f"data.store={store}", f"run.dir={tmp / name}", "train.steps=2",
                       *extra, *COMMON])
        runs[name] = Trainer(cfg).fit()
    return store, runs, tmp


def _finetune_said(store, checkpoint, run_dir, ensemble: int = 1) -> list[str]:
    from encoderkit.tasks import finetune

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        finetune([f"checkpoint={checkpoint}", f"data.store={store}", f"run.dir={run_dir}",
                  "task.label_column=vote", "train.steps=1", "train.eval_every=1",
                  f"task.ensemble={ensemble}", "task.ensemble_probe=false", *COMMON])
    return [str(w.message) for w in got if SAID in str(w.message)]


def test_a_label_column_the_checkpoint_was_pretrained_with_is_warned_of_once(pretrained):
    """Said once, naming the column, what it means and the remedy; once for an ensemble too
    (its members fine-tune from the same checkpoint)."""
    store, runs, tmp = pretrained
    said = _finetune_said(store, runs["with"], tmp / "ft_with", ensemble=2)
    assert len(said) == 1
    assert "memorise" in said[0] and "domain.drop_columns=[vote]" in said[0] and str(runs["with"]) in said[0]


def test_no_warning_for_a_checkpoint_pretrained_without_the_column(pretrained):
    store, runs, tmp = pretrained
    assert _finetune_said(store, runs["without"], tmp / "ft_without") == []


def test_the_tabular_input_columns_leave_out_dropped_columns(pretrained):
    """``input_columns``: the schema's columns less drop_columns, in table order."""
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import get_domain

    store, _, _ = pretrained
    schema = RecordStore(store).schema
    names = [str(c["name"]) for c in schema["columns"]]
    tabular = get_domain("tabular")
    assert tabular(schema).input_columns() == names
    assert tabular(schema, drop_columns=["vote", "age"]).input_columns() == \
        [n for n in names if n not in ("vote", "age")]
