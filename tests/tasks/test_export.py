"""export-hf of a fine-tuned genomic (nucleotide token) classifier: transformers loads
ModernBertForSequenceClassification / ForTokenClassification with the same logits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from encoderkit import cli
from encoderkit.interop.hf import HFInteropError, export_hf

transformers = pytest.importorskip("transformers")

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=3",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.progress=false", "data.max_tokens=512", "data.max_seqlen=64", "run.device=cpu",
        "train.eval_every=0", "train.checkpoint_every=0", "checkpoint=none", "domain=genomic"]


@pytest.fixture(scope="module")
def genomic_store(tmp_path_factory):
    from tests.domains.sample_store import ingest_sample

    tmp = tmp_path_factory.mktemp("hf")
    store = ingest_sample("genomic", tmp)
    from encoderkit.data.store import RecordStore

    ids = [r["id"] for r in RecordStore(store)]
    return tmp, store, ids


def _randomise_head(model):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial norms / biases so no mapping error hides
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.startswith(("head.", "classifier.")):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("pooling", ["mean"])
def test_sequence_classifier_exports_with_same_logits(genomic_store, tmp_path, pooling):
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    tmp, store, ids = genomic_store
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ids, "label": ["plus", "minus", "other"] * (len(ids) // 3) +
                  ["plus"] * (len(ids) % 3)}).to_csv(labels, index=False)
    run = finetune([*TINY, f"data.store={store}", f"run.dir={tmp_path / 'ft'}", "train.steps=2",
                    f"task.labels={labels}", "task.val_fraction=0", f"task.pooling={pooling}"])
    model = load(run)
    _randomise_head(model.model)
    out = export_hf(model, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["ModernBertForSequenceClassification"]
    assert config["id2label"] == {"0": "minus", "1": "other", "2": "plus"}
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(out), attn_implementation="eager").eval()
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=n)) for n in (17, 40, 64)]
    _, ours = model.outputs(seqs)
    for seq, logits in zip(seqs, ours):
        ids_ = model.domain.featurize(model.domain.to_records([seq])[0]).fields["ids"]
        with torch.no_grad():
            theirs = hf(input_ids=torch.as_tensor(ids_)[None]).logits[0].numpy()
        np.testing.assert_allclose(theirs, logits, atol=1e-4, rtol=0)


def test_token_classifier_exports_with_same_logits(genomic_store, tmp_path):
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    tmp, store, ids = genomic_store
    from encoderkit.data.store import RecordStore

    s = RecordStore(store)
    rows = [(r["id"], p, "gc" if b in (1, 2) else "at") for r in s for p, b in
            enumerate(np.asarray(r["ids"][:200]))]  # first 200 positions labelled
    labels = tmp_path / "tok.csv"
    pd.DataFrame(rows, columns=["id", "position", "label"]).to_csv(labels, index=False)
    run = finetune([*TINY, f"data.store={store}", f"run.dir={tmp_path / 'tok'}", "train.steps=2",
                    f"task.labels={labels}", "task.val_fraction=0", "task.type=token_classification"])
    model = load(run)
    _randomise_head(model.model)
    out = export_hf(model, tmp_path / "hf_tok")
    hf = transformers.AutoModelForTokenClassification.from_pretrained(
        str(out), attn_implementation="eager").eval()
    seq = "ACGTTGCAAGGCTTAACG" * 3
    _, ours = model.outputs([seq])
    ids_ = model.domain.featurize(model.domain.to_records([seq])[0]).fields["ids"]
    with torch.no_grad():
        theirs = hf(input_ids=torch.as_tensor(ids_)[None]).logits[0].numpy()
    np.testing.assert_allclose(theirs, ours[0], atol=1e-4, rtol=0)
    # predict writes one row per (record, position)
    frame = model.predict([seq])
    assert list(frame.columns) == ["id", "position", "prediction", "proba_at", "proba_gc"]
    assert len(frame) == len(ids_)


@pytest.mark.parametrize("override", ["task.head=linear", "task.pooling=mean_std"])
def test_refuses_what_transformers_cannot_hold(genomic_store, tmp_path, override):
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    tmp, store, ids = genomic_store
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ids, "label": [0, 1] * (len(ids) // 2)}).to_csv(labels, index=False)
    run = finetune([*TINY, f"data.store={store}", f"run.dir={tmp_path / 'ft'}", "train.steps=1",
                    f"task.labels={labels}", "task.val_fraction=0", override])
    model = load(run)
    if override == "task.pooling=mean_std":
        # the record's pooled state is [mean, std] of its tokens: the head reads 2 x hidden
        assert model.model.head.dense.weight.shape[1] == 2 * model.config.hidden_size
        frame = model.predict(store)
        assert len(frame) == len(ids) and set(frame["prediction"].astype(str)) <= {"0", "1"}
    with pytest.raises(HFInteropError, match=override):
        export_hf(model, tmp_path / "no")
    assert cli.main(["export-hf", str(run), str(tmp_path / "no2")]) == 1


def test_an_ensemble_exports_its_first_member_with_a_warning(genomic_store, tmp_path):
    from safetensors.torch import load_file

    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    tmp, store, ids = genomic_store
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ids, "label": (["a", "b"] * len(ids))[:len(ids)]}).to_csv(labels, index=False)
    run = finetune([*TINY, f"data.store={store}", f"run.dir={tmp_path / 'ft'}", "train.steps=2",
                    f"task.labels={labels}", "task.val_fraction=0", "task.ensemble=2"])
    with pytest.warns(UserWarning, match="first member only"):
        out = export_hf(run, tmp_path / "hf")
    from encoderkit.infer.load import resolve_checkpoint

    single = export_hf(load(resolve_checkpoint(run)), tmp_path / "hf1")  # the first member alone: no warning
    a, b = load_file(str(out / "model.safetensors")), load_file(str(single / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
