"""Every registered domain through the fine-tuning path, driven by the registry:
sample files -> ingest -> pretrain a tiny model -> ``encoderkit finetune`` (classification,
labels joined by id, some records unlabelled) -> ``encoderkit predict`` -> ``evaluate``;
and the contrastive objective where the domain defines views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit import cli
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.infer.pretrained import RecordSource
from encoderkit.registry import available_domains, get_domain

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.log_every=1", "train.progress=false", "data.max_tokens=1024", "data.max_seqlen=128",
        "run.device=cpu"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    from encoderkit.train import pretrain

    out = {}

    def get(name):
        if name not in out:
            tmp = tmp_path_factory.mktemp(name)
            raw = tmp / "raw"
            raw.mkdir()
            try:
                paths, options = get_domain(name).sample_sources(str(raw))
            except NotImplementedError as e:
                pytest.skip(f"domain {name!r}: {e}")
            store = tmp / "store.zarr"
            ingest(name, paths, str(store), progress=False, verbose=False, **options)
            run = pretrain([f"domain={name}", f"data.store={store}", f"run.dir={tmp / 'pre'}", *TINY,
                            "train.steps=2", "train.eval_every=0", "train.checkpoint_every=0"])
            out[name] = (tmp, store, run, paths)
        return out[name]

    return get


@pytest.mark.parametrize("name", available_domains())
def test_finetune_predict_evaluate(name, pretrained, capsys, monkeypatch):
    from encoderkit.infer import load

    tmp, store_path, pre, paths = pretrained(name)
    store = RecordStore(str(store_path))
    n = len(store)
    ids = [store[i]["id"] for i in range(n)]
    label = np.asarray(["a" if i % 2 else "b" for i in range(n)], dtype=object)
    label[4::5] = None  # unlabelled records: neither trained nor validated on
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": label}).to_csv(labels, index=False)
    ft = tmp / "ft"
    rc = cli.main(["finetune", f"checkpoint={pre}", f"data.store={store_path}", "task.type=classification",
                   f"task.labels={labels}", f"run.dir={ft}", "train.steps=3", "train.eval_every=3",
                   "train.checkpoint_every=0", *[o for o in TINY if not o.startswith("model")]])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "macro_f1" in printed and "accuracy" in printed  # the final summary table

    preds = tmp / "preds.csv"
    assert cli.main(["predict", f"checkpoint={ft}", f"input={store_path}", f"output={preds}"]) == 0
    frame = pd.read_csv(preds)
    assert list(frame.columns) == ["id", "prediction", "proba_a", "proba_b"]
    assert frame["id"].astype(str).tolist() == ids
    np.testing.assert_allclose(frame[["proba_a", "proba_b"]].sum(axis=1), 1.0, atol=1e-6)
    # refuses to overwrite without overwrite=true
    assert cli.main(["predict", f"checkpoint={ft}", f"input={store_path}", f"output={preds}"]) == 1

    # a raw file of the domain's own format, when the domain reads files
    try:
        raw_records = len(RecordSource(get_domain(name)(store.schema).read_input(paths[0]), load(ft).domain))
    except NotImplementedError:
        raw_records = None
    if raw_records is not None:
        out = tmp / "raw_preds.parquet"
        assert cli.main(["predict", f"checkpoint={ft}", f"input={paths[0]}", f"output={out}"]) == 0
        assert len(pd.read_parquet(out)) == raw_records
        # the domain's word on a record it cannot use names the input file, as embed / infill do
        capsys.readouterr()

        def refuse(self, path):
            raise ValueError("record 'r7': a value the model cannot read")
        with monkeypatch.context() as m:
            m.setattr(type(load(ft).domain), "read_input", refuse)
            m.setattr(type(load(ft).domain), "read_records", refuse)  # a domain may read records itself
            for argv in (["predict", f"output={tmp / 'refused.csv'}"], ["evaluate", f"labels={labels}"]):
                assert cli.main([argv[0], f"checkpoint={ft}", f"input={paths[0]}", argv[1]]) == 1
                err = capsys.readouterr().err
                assert str(paths[0]) in err and "record 'r7'" in err and "Traceback" not in err, err
        assert not (tmp / "refused.csv").exists()

    model = load(ft)
    api = model.predict(store_path)
    pd.testing.assert_frame_equal(api.reset_index(drop=True), frame.assign(id=frame["id"].astype(str)),
                                  check_dtype=False, atol=1e-5)
    metrics = model.evaluate(store_path, labels, verbose=False)
    y = label[~pd.isna(label)]
    pred = frame["prediction"].to_numpy()[~pd.isna(label)]
    assert metrics["accuracy"] == pytest.approx(np.mean(pred == y))
    assert metrics["records"] == len(y)
    # a fine-tuned run still embeds (with the fine-tuned encoder)
    emb = model.embed(store_path)
    assert emb.shape == (n, 32) and np.isfinite(emb).all()


@pytest.mark.parametrize("mlm_weight", [0.0, 1.0])
@pytest.mark.parametrize("name", available_domains())
def test_contrastive(name, mlm_weight, pretrained, capsys):
    from encoderkit.tasks import finetune

    tmp, store_path, pre, _ = pretrained(name)
    domain = get_domain(name)(RecordStore(str(store_path)).schema)
    example = domain.featurize(RecordStore(str(store_path))[0])
    try:
        domain.views(example, np.random.default_rng(0))
    except NotImplementedError as e:
        pytest.skip(f"domain {name!r} defines no views yet: {e}")
    run = finetune([f"checkpoint={pre}", f"data.store={store_path}", "task.type=contrastive",
                    f"run.dir={tmp / f'con{mlm_weight}'}", "train.steps=2", "train.eval_every=2",
                    f"task.mlm_weight={mlm_weight}",  # 1.0: with the masked-LM loss kept (tied heads too)
                    "train.checkpoint_every=0", *[o for o in TINY if not o.startswith("model")]])
    from encoderkit.infer import load

    emb = load(run).embed(store_path)
    assert np.isfinite(emb).all()
