"""Ingest at scale: parallel parsing (same store as one process), progress in the domain's
unit, appending files to an existing store (encoderkit/data/ingest_scale.py)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from tqdm import tqdm

from encoderkit import registry
from encoderkit.data.ingest import ingest
from encoderkit.data.ingest_scale import merge_schemas
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError, UsageError

from .synthetic_domain import SyntheticDomain


@pytest.fixture(autouse=True)
def synthetic_registered(monkeypatch):
    monkeypatch.setitem(registry._local, SyntheticDomain.name, SyntheticDomain)


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for k in range(5):
        lines = [f"f{k}r{j} " + " ".join(map(str, rng.integers(4, 32, size=rng.integers(1, 300))))
                 for j in range(int(rng.integers(5, 40)))]
        lines.insert(2, f"f{k}bad 4 x")  # skipped by the parser
        path = tmp_path / f"part{k}.txt"
        path.write_text("\n".join(lines) + "\n")
        out.append(str(path))
    return out


def store_content(path) -> dict:
    group = zarr.open_group(str(path), mode="r")
    out = {}
    for name in ("offsets", "ids", "fields/ids", "fields/values", "fields/pos", "meta/length"):
        arr = group[name]
        values = np.asarray(arr[...])
        out[name] = (str(arr.dtype), values.astype(object).astype(str) if values.dtype.kind == "T" else values)
    return out


def assert_same_store(a, b) -> None:
    ca, cb = store_content(a), store_content(b)
    for name in ca:
        assert ca[name][0] == cb[name][0], name
        np.testing.assert_array_equal(ca[name][1], cb[name][1], err_msg=name)
    sa, sb = RecordStore(a), RecordStore(b)
    assert sa.schema == sb.schema and sa.info["fields"] == sb.info["fields"] and sa.info["meta"] == sb.info["meta"]


def test_parallel_ingest_equals_one_process(tmp_path, files, capsys):
    one = ingest("synthetic", files, str(tmp_path / "one.zarr"), progress=False, verbose=False)
    many = ingest("synthetic", files, str(tmp_path / "many.zarr"), progress=False, verbose=False, workers=3)
    assert_same_store(tmp_path / "one.zarr", tmp_path / "many.zarr")
    assert one.summary() == many.summary() and dict(many.skipped) == {"non-integer token": 5}
    store = RecordStore(tmp_path / "many.zarr")
    assert [f["path"] for f in store.provenance["files"]] == files  # file order
    # the CLI spelling of the setting, and its checks
    ingest("synthetic", files, str(tmp_path / "cli.zarr"), progress=False, verbose=False, **{"ingest.workers": 2})
    assert_same_store(tmp_path / "one.zarr", tmp_path / "cli.zarr")
    for bad in (0, 1.5, True):
        with pytest.raises(UsageError, match="workers"):
            ingest("synthetic", files, str(tmp_path / "x.zarr"), progress=False, workers=bad)


def test_parse_error_in_a_worker_leaves_no_store(tmp_path, files):
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest("synthetic", files, str(tmp_path / "s.zarr"), progress=False, verbose=False, workers=2,
               fail_after=3)
    assert not any(p.name.startswith("s.zarr") for p in tmp_path.iterdir())


def test_progress_bar_counts_the_domains_unit(tmp_path, files, monkeypatch, capsys):
    monkeypatch.setattr(SyntheticDomain, "ingest_unit", "bases", raising=False)
    report = ingest("synthetic", files, str(tmp_path / "s.zarr"), progress=True, verbose=False)
    err = capsys.readouterr().err
    assert "bases" in err
    total = report.tokens
    assert total > 10_000 and f"{tqdm.format_sizeof(total)} bases" in err  # the bar ends at every token


def test_append_equals_ingesting_everything_at_once(tmp_path, files):
    out = tmp_path / "s.zarr"
    ingest("synthetic", files[:3], str(out), progress=False, verbose=False)
    created = RecordStore(out).provenance["created_unix"]
    report = ingest("synthetic", files[3:], str(out), progress=False, verbose=False, append=True, workers=2)
    ingest("synthetic", files, str(tmp_path / "all.zarr"), progress=False, verbose=False)
    assert_same_store(out, tmp_path / "all.zarr")
    store = RecordStore(out)
    assert report.records == len(store) - len(RecordStore(tmp_path / "all.zarr")) + report.records
    assert [f["path"] for f in store.provenance["files"]] == files
    assert store.provenance["created_unix"] == created
    assert [[f["path"] for f in a["files"]] for a in store.provenance["appends"]] == [files[3:]]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]

    # the same file twice would duplicate its records
    with pytest.raises(DataError, match="already holds the records of .*part4.txt"):
        ingest("synthetic", files[4:], str(out), progress=False, verbose=False, append=True)
    with pytest.raises(UsageError, match="contradict"):
        ingest("synthetic", files[4:], str(out), progress=False, append=True, overwrite=True)


def test_interrupted_append_leaves_the_store_untouched(tmp_path, files):
    out = tmp_path / "s.zarr"
    ingest("synthetic", files[:2], str(out), progress=False, verbose=False)
    before = store_content(out)
    n = len(RecordStore(out))
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest("synthetic", files[2:], str(out), progress=False, verbose=False, append=True, fail_after=n + 3)
    after = store_content(out)
    for k in before:
        np.testing.assert_array_equal(before[k][1], after[k][1], err_msg=k)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_schemas_merge_by_the_domain_rule_or_must_be_equal():
    class Plain:
        name = "plain"

    assert merge_schemas(Plain, [{"a": 1}, {"a": 1}], "parts") == {"a": 1}
    with pytest.raises(DataError, match="schemas of parts differ.*workers=1"):
        merge_schemas(Plain, [{"a": 1}, {"a": 2}], "parts")

    class Counting:
        name = "counting"

        @classmethod
        def merge_schemas(cls, schemas):
            return {"bases": sum(s["bases"] for s in schemas)}

    assert merge_schemas(Counting, [{"bases": 3}, {"bases": 4}], "parts") == {"bases": 7}


def _genomic_from_this_checkout() -> bool:
    # tests/ is first on sys.path and tests/domains shadows the top-level ``domains`` package, so
    # ``domains.genomic`` may resolve to the editable install's checkout instead of this one
    import inspect
    from pathlib import Path

    try:
        source = Path(inspect.getsourcefile(registry.get_domain("genomic"))).resolve()
    except Exception:
        return False
    return source.is_relative_to(Path(__file__).resolve().parents[2])


@pytest.mark.skipif(not _genomic_from_this_checkout(),
                    reason="the genomic domain imported is another checkout's (tests/domains shadows domains/)")
def test_genomic_parallel_ingest_and_append_sum_base_counts(tmp_path):
    rng = np.random.default_rng(1)
    files = []
    for k in range(3):
        text = "".join(f">c{k}_{j}\n" + "".join(rng.choice(list("ACGTacgtN"), size=int(rng.integers(50, 400))))
                       + "\n" for j in range(4))
        files.append(tmp_path / f"g{k}.fa")
        files[-1].write_text(text)
    files = [str(f) for f in files]
    ingest("genomic", files, str(tmp_path / "one.zarr"), progress=False, verbose=False)
    ingest("genomic", files, str(tmp_path / "par.zarr"), progress=False, verbose=False, workers=2)
    ingest("genomic", files[:1], str(tmp_path / "app.zarr"), progress=False, verbose=False)
    ingest("genomic", files[1:], str(tmp_path / "app.zarr"), progress=False, verbose=False, append=True)
    one = RecordStore(tmp_path / "one.zarr")
    assert one.schema["bases"] == one.num_tokens
    for other in ("par.zarr", "app.zarr"):
        store = RecordStore(tmp_path / other)
        assert store.schema == one.schema and len(store) == len(one)
        for i in range(len(one)):
            a, b = one[i], store[i]
            assert a["id"] == b["id"] and a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
