"""Record stores and embeddings on object storage: a real S3-compatible server (moto's
standalone server, started here) reached through fsspec/s3fs like any bucket."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import zarr
from safetensors.torch import load_file

import testdomain as td
from encoderkit.data import store as store_mod
from encoderkit.data.ingest import ingest
from encoderkit.data.loader import PackedLoader
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError

from .synthetic_domain import SyntheticDomain, random_records
from .test_chunked import write_small_chunks
from .test_loader import batches_equal

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # credentials and endpoint come from the environment, as for any S3 bucket
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir("ektest")
    try:
        yield fs
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ingest_lines(cls, sources, writer, report, **options):
    """traintest records from text files: one record of token ids per line."""
    for path in sources:
        with open(path) as f:
            for n, line in enumerate(f):
                writer.append({"ids": np.asarray(line.split(), dtype=np.int16)}, id=f"{os.path.basename(path)}:{n}")
    return {"vocab": td.VOCAB}


@pytest.mark.slow  # two short training runs and an ingest to S3: ~30 s on 2 shared cores
def test_ingest_pretrain_embed_round_trip(s3, tmp_path, monkeypatch):
    from encoderkit.infer import load
    from encoderkit.train import pretrain

    monkeypatch.setattr(td.TrainTestDomain, "ingest", classmethod(_ingest_lines), raising=False)
    files = []
    for k, records in enumerate((td.make_records(40, seed=1), td.make_records(30, seed=2))):
        files.append(tmp_path / f"part{k}.txt")
        files[-1].write_text("".join(" ".join(map(str, r.tolist())) + "\n" for r in records))
    url, local = "s3://ektest/rt.zarr", tmp_path / "rt.zarr"
    for out in (url, local):
        ingest(td.NAME, [str(f) for f in files], out, progress=False, verbose=False)
    remote, disk = RecordStore(url), RecordStore(local)
    assert remote.remote and len(remote) == len(disk) == 70
    assert remote.provenance["files"] == disk.provenance["files"]
    for i in range(len(disk)):
        a, b = remote[i], disk[i]
        assert a["id"] == b["id"] and np.array_equal(a["ids"], b["ids"])

    runs = {}
    for name, store in (("s3", url), ("local", str(local))):
        runs[name] = pretrain(td.tiny_overrides(store, str(tmp_path / name), steps=3, **{"train.eval_every": 3}))
    wa = load_file(str(runs["s3"] / "checkpoints" / "3" / "model.safetensors"))
    wb = load_file(str(runs["local"] / "checkpoints" / "3" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    losses = [[json.loads(x).get("loss") for x in (run / "metrics.jsonl").read_text().splitlines()]
              for run in runs.values()]
    assert losses[0] == losses[1]

    model = load(str(runs["s3"]))
    out = model.embed(remote, out="s3://ektest/emb.zarr", progress=False)
    assert out == "s3://ektest/emb.zarr"
    reference = model.embed(disk, progress=False)
    group = zarr.open_group("s3://ektest/emb.zarr", mode="r")
    assert group.attrs["records"] == 70
    np.testing.assert_array_equal(group["embeddings"][:], reference)
    assert [str(x) for x in group["ids"][:]] == [disk[i]["id"] for i in range(70)]
    with pytest.raises(FileExistsError, match="exists"):
        model.embed(disk, out="s3://ektest/emb.zarr", progress=False)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_read_error_mid_epoch_is_retried_then_reported(s3, tmp_path, monkeypatch):
    records = random_records(150, np.random.default_rng(3), low=1, high=200)
    url = "s3://ektest/err.zarr"
    write_small_chunks(tmp_path / "err.zarr", records)
    s3.put(str(tmp_path / "err.zarr"), "ektest/err.zarr", recursive=True)
    domain = SyntheticDomain({"vocab": 32}, rate=0.3)
    kw = dict(max_tokens=256, max_seqlen=64, seed=1, buffer_mb=0.15, epochs=1, read="chunks", in_memory=False)
    reference = list(PackedLoader(RecordStore(tmp_path / "err.zarr"), domain, **kw))
    remote = RecordStore(url)
    remote[0]  # the parent's connections are in use before the workers fork
    parallel = list(PackedLoader(remote, domain, num_workers=2, **kw))  # each worker opens its own
    assert len(parallel) == len(reference)
    for x, y in zip(parallel, reference):
        batches_equal(x, y)
    loader = PackedLoader(remote, domain, **kw)
    plan = loader._plan
    assert plan.windows_per_epoch >= 2
    last = plan.window_records(plan.windows_per_epoch - 1)
    chunk = int(remote.offsets[last[0]]) // remote.token_chunks["ids"]  # read only in the last window
    key = f"ektest/err.zarr/fields/ids/c/{chunk}"
    good = s3.cat(key)

    waits = []

    def heal_on_second_wait(seconds):
        waits.append(seconds)
        if len(waits) == 2:
            s3.pipe(key, good)

    monkeypatch.setattr(store_mod, "_sleep", heal_on_second_wait)
    got = []
    for b in loader:
        got.append(b)
        if len(got) == 3:  # mid-epoch: the object goes bad (a flaky server, a partial upload)
            s3.pipe(key, b"not zstd")
    assert waits == [store_mod.READ_BACKOFF_S, 2 * store_mod.READ_BACKOFF_S]  # retried with backoff
    assert len(got) == len(reference)
    for x, y in zip(got, reference):
        batches_equal(x, y)

    # a chunk that stays bad: after the retries, one line naming the store, the array and the chunk
    s3.pipe(key, b"not zstd")
    waits.clear()
    monkeypatch.setattr(store_mod, "_sleep", waits.append)
    with pytest.raises(DataError, match=rf"^s3://ektest/err\.zarr: cannot read array 'fields/ids' chunk {chunk} "
                                        rf"after {store_mod.READ_RETRIES + 1} attempts") as err:
        list(PackedLoader(RecordStore(url), domain, **kw))
    assert "\n" not in str(err.value) and err.value.file == url
    assert len(waits) == store_mod.READ_RETRIES
