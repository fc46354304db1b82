"""The malformed-input contract (see test_cli_errors.py) for the commands that came after
issue 14: ``finetune``, ``predict``, ``evaluate``, ``impute`` and the ``ingest`` options
``workers`` / ``append``. Each case: exit code 2 (usage) or 1 (data), exactly one
``encoderkit <command>: error:`` line naming the culprit, no traceback, nothing written,
replaced or deleted. One tiny pretrained and one tiny fine-tuned tabular run are shared by
all cases (module-scoped)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.registry import get_domain

from .conftest import refuses_cleanly, run_cli, tree

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.log_every=1", "train.progress=false", "data.max_tokens=1024", "data.max_seqlen=128",
        "run.device=cpu"]
FT = [o for o in TINY if not o.startswith("model")] + ["train.eval_every=0", "train.checkpoint_every=0"]


class Setup:
    def __init__(self, root: Path):
        from encoderkit.tasks import finetune
        from encoderkit.train import pretrain

        self.root = root
        raw = root / "raw"
        raw.mkdir()
        paths, options = get_domain("tabular").sample_sources(str(raw))
        self.raw = Path(paths[0])
        self.store = root / "store.zarr"
        ingest("tabular", paths, str(self.store), progress=False, verbose=False, **options)
        self.pre = Path(pretrain(["domain=tabular", f"data.store={self.store}", f"run.dir={root / 'pre'}",
                                  *TINY, "train.steps=1", "train.eval_every=0", "train.checkpoint_every=0"]))
        store = RecordStore(str(self.store))
        self.ids = [str(store[i]["id"]) for i in range(len(store))]
        self.labels = root / "labels.csv"
        pd.DataFrame({"id": self.ids, "label": ["a" if i % 2 else "b" for i in range(len(self.ids))]}
                     ).to_csv(self.labels, index=False)
        self.ft = Path(finetune([f"checkpoint={self.pre}", f"data.store={self.store}",
                                 "task.type=classification", f"task.labels={self.labels}",
                                 f"run.dir={root / 'ft'}", "train.steps=1", *FT]))


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    return Setup(tmp_path_factory.mktemp("newcmds"))


def _frozen(*dirs: Path) -> dict:
    return {str(d): tree(d) if d.is_dir() else (d.stat().st_size if d.exists() else None) for d in dirs}


# ------------------------------------------------------------- malformed labels files
def labels_file(kind: str, s: Setup, where: Path) -> Path:
    """A malformed labels file of kind ``kind`` for the shared store."""
    n = len(s.ids)
    where.mkdir(parents=True, exist_ok=True)
    good = s.labels.read_bytes()
    out = where / "labels.csv"
    if kind == "absent":
        return where / "absent.csv"
    if kind == "directory":
        out = where / "labels_dir.csv"
        out.mkdir()
    elif kind == "empty":
        out.write_bytes(b"")
    elif kind == "truncated-gz":
        out = where / "labels.csv.gz"
        blob = gzip.compress(good * 20)
        out.write_bytes(blob[: len(blob) // 2])
    elif kind == "utf16":
        out.write_bytes(good.decode().encode("utf-16"))
    elif kind == "random-bytes":
        out.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    elif kind == "id-only":
        pd.DataFrame({"id": s.ids}).to_csv(out, index=False)
    elif kind == "no-matching-id":
        pd.DataFrame({"id": [f"zz{i}" for i in range(n)], "label": ["a", "b"] * (n // 2) + ["a"] * (n % 2)}
                     ).to_csv(out, index=False)
    elif kind == "nan-only":
        pd.DataFrame({"id": s.ids, "label": [np.nan] * n}).to_csv(out, index=False)
    elif kind == "single-class":
        pd.DataFrame({"id": s.ids, "label": ["a"] * n}).to_csv(out, index=False)
    elif kind == "object-npy":
        out = where / "labels.npy"
        np.save(out, np.asarray([{"x": 1}] * n, dtype=object), allow_pickle=True)
    elif kind == "wrong-suffix":
        out = where / "labels.xyz"
        out.write_bytes(good)
    elif kind == "header-only":
        out.write_text("id,label\n")
    elif kind == "parquet-junk":
        out = where / "labels.parquet"
        out.write_bytes(b"PAR1" + b"x" * 100)
    elif kind == "npy-3d":
        out = where / "labels.npy"
        np.save(out, np.zeros((n, 3, 2)))
    elif kind == "npy-short":  # no ids: one row per record, one missing
        out = where / "labels.npy"
        np.save(out, np.zeros(n - 1))
    elif kind == "latin1":
        out.write_bytes(good.replace(b"a\n", "\u00e9\n".encode("latin-1")))
    elif kind == "tsv-commas":  # a CSV named .tsv: one column "id,label"
        out = where / "labels.tsv"
        out.write_bytes(good)
    else:
        raise AssertionError(kind)
    return out


LABEL_KINDS = ["absent", "directory", "empty", "truncated-gz", "utf16", "random-bytes", "id-only",
               "no-matching-id", "nan-only", "single-class", "object-npy", "wrong-suffix", "header-only",
               "parquet-junk", "npy-3d", "npy-short", "latin1", "tsv-commas"]
# a suffix the labels reader does not take (.xyz) is a usage error, named; a truncated
# labels.csv.gz (compressed tables are read) a data error, named
USAGE_KINDS = ("wrong-suffix",)
# evaluate scores against whatever labels are given: one class is a valid (if poor) test set
EVAL_KINDS = [k for k in LABEL_KINDS if k != "single-class"]


@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_finetune_bad_labels(setup, tmp_path, capsys, kind):
    bad = labels_file(kind, setup, tmp_path / "bad")
    code = 2 if kind in USAGE_KINDS else 1
    before = _frozen(setup.pre, setup.store)
    run_cli(capsys, ["finetune", f"checkpoint={setup.pre}", f"data.store={setup.store}",
                     "task.type=classification", f"task.labels={bad}", f"run.dir={tmp_path / 'ft'}",
                     "train.steps=1", *FT], code, bad.name)
    assert _frozen(setup.pre, setup.store) == before and not (tmp_path / "ft").exists()


def test_finetune_regression_non_numeric(setup, tmp_path, capsys):
    # the shared labels hold "a"/"b": not numbers
    run_cli(capsys, ["finetune", f"checkpoint={setup.pre}", f"data.store={setup.store}",
                     "task.type=regression", f"task.labels={setup.labels}", f"run.dir={tmp_path / 'ft'}",
                     "train.steps=1", *FT], 1, setup.labels.name)
    assert not (tmp_path / "ft").exists()


def _finetune_usage(s: Setup, tmp: Path) -> list[tuple[list[str], int, str]]:
    base = [f"checkpoint={s.pre}", f"data.store={s.store}", "task.type=classification",
            f"task.labels={s.labels}", "train.steps=1", *FT]
    run = f"run.dir={tmp / 'ft'}"
    (tmp / "afile").write_text("x")
    damaged = tmp / "damaged"
    import shutil

    shutil.copytree(s.pre, damaged)
    for w in damaged.rglob("model.safetensors"):
        w.write_bytes(w.read_bytes()[:100])
    return [
        ([b for b in base if not b.startswith("task.labels")] + [run], 2, "task.labels"),
        (base + [run, "task.nosuch=1"], 2, "nosuch"),
        (base + [run, "train.steps=abc"], 2, "train.steps"),
        ([b if not b.startswith("task.type") else "task.type=nosuch" for b in base] + [run], 2, "nosuch"),
        ([b if not b.startswith("checkpoint") else f"checkpoint={tmp / 'absent'}" for b in base] + [run], 1, "absent"),
        ([b if not b.startswith("data.store") else f"data.store={tmp / 'absent.zarr'}" for b in base] + [run], 2,
         "absent.zarr"),  # as pretrain: data.store is a parameter
        ([b if not b.startswith("checkpoint") else f"checkpoint={damaged}" for b in base] + [run], 1, "damaged"),
        (base + [f"run.dir={tmp / 'afile' / 'ft'}"], 2, "afile"),  # as pretrain
        (base + [run, "--bogus"], 2, "--bogus"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_finetune_usage(setup, tmp_path, capsys, case):
    argv, code, needle = _finetune_usage(setup, tmp_path)[case]
    before = _frozen(setup.pre, setup.store)
    run_cli(capsys, ["finetune", *argv], code, needle)
    assert _frozen(setup.pre, setup.store) == before and not (tmp_path / "ft").exists()


# ------------------------------------------------------------- predict
def _predict_cases(s: Setup, tmp: Path) -> list[tuple[list[str], int, str]]:
    import shutil

    out = tmp / "out" / "preds.csv"
    out.parent.mkdir()
    (tmp / "afile").write_text("x")
    (tmp / "existing.csv").write_text("mine\n")
    user = tmp / "user.csv"
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    empty = tmp / "empty.csv"
    empty.write_bytes(b"")
    gz = tmp / "cut.csv.gz"
    blob = gzip.compress(s.raw.read_bytes() * 20)
    gz.write_bytes(blob[: len(blob) // 2])
    notstore = tmp / "notstore"
    notstore.mkdir()
    (notstore / "x.txt").write_text("x")
    damaged = tmp / "damaged"
    shutil.copytree(s.ft, damaged)
    for w in damaged.rglob("*.safetensors"):
        w.write_bytes(w.read_bytes()[:100])
    ck, inp, o = f"checkpoint={s.ft}", f"input={s.store}", f"output={out}"
    return [
        ([ck, inp], 2, "output"),
        ([inp, o], 2, "checkpoint"),
        ([ck, inp, o, "nosuch=1"], 2, "nosuch"),
        ([ck, inp, o, "overwrite=maybe"], 2, "overwrite"),
        ([ck, inp, o, "max_tokens=abc"], 2, "max_tokens"),
        ([ck, inp, o, "device=nosuch"], 2, "nosuch"),
        ([f"checkpoint={tmp / 'absent'}", inp, o], 1, "absent"),
        ([f"checkpoint={s.pre}", inp, o], 2, str(s.pre)),
        ([f"checkpoint={damaged}", inp, o], 1, "damaged"),
        ([ck, f"input={tmp / 'absent.csv'}", o], 1, "absent.csv"),
        ([ck, f"input={empty}", o], 1, "empty.csv"),
        ([ck, f"input={gz}", o], 1, "cut.csv.gz"),
        ([ck, f"input={notstore}", o], 1, "notstore"),
        ([ck, inp, f"output={tmp / 'existing.csv'}"], 1, "existing.csv"),
        ([ck, inp, f"output={user}", "overwrite=true"], 1, "user.csv"),
        ([ck, inp, f"output={tmp / 'afile' / 'p.csv'}"], 1, "afile"),
        ([ck, inp, f"output={tmp / 'out' / 'p.xyz'}"], 2, "p.xyz"),
    ]


@pytest.mark.parametrize("case", range(17))
def test_predict_malformed(setup, tmp_path, capsys, case):
    argv, code, needle = _predict_cases(setup, tmp_path)[case]
    before = _frozen(tmp_path, setup.ft, setup.store)
    run_cli(capsys, ["predict", *argv], code, needle)
    assert _frozen(tmp_path, setup.ft, setup.store) == before


# ------------------------------------------------------------- evaluate
@pytest.mark.parametrize("kind", EVAL_KINDS)
def test_evaluate_bad_labels(setup, tmp_path, capsys, kind):
    bad = labels_file(kind, setup, tmp_path / "bad")
    before = _frozen(tmp_path, setup.ft)
    code = 2 if kind in USAGE_KINDS else 1
    run_cli(capsys, ["evaluate", f"checkpoint={setup.ft}", f"input={setup.store}", f"labels={bad}"], code, bad.name)
    assert _frozen(tmp_path, setup.ft) == before


@pytest.mark.parametrize("case", range(5))
def test_evaluate_usage(setup, tmp_path, capsys, case):
    ck, inp, lab = f"checkpoint={setup.ft}", f"input={setup.store}", f"labels={setup.labels}"
    argv, code, needle = [
        ([ck, inp], 2, "labels"),
        ([ck, inp, lab, "nosuch=1"], 2, "nosuch"),
        ([f"checkpoint={setup.pre}", inp, lab], 2, str(setup.pre)),
        ([ck, f"input={tmp_path / 'absent.csv'}", lab], 1, "absent.csv"),
        ([f"checkpoint={tmp_path / 'absent'}", inp, lab], 1, "absent"),
    ][case]
    run_cli(capsys, ["evaluate", *argv], code, needle)


# ------------------------------------------------------------- impute
def _impute_cases(tmp: Path) -> list[tuple[list[str], int, str]]:
    tables = tmp / "in"
    tables.mkdir()
    (tables / "empty.csv").write_bytes(b"")
    (tables / "header.csv").write_text("a,b\n")
    pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [np.nan] * 4}).to_csv(tables / "allnan.csv", index=False)
    pd.DataFrame({"a": [1.0], "b": [np.nan]}).to_csv(tables / "onerow.csv", index=False)
    np.save(tables / "len1.npy", np.asarray([[np.nan]]))
    np.save(tables / "obj.npy", np.asarray([{"x": 1}] * 4, dtype=object), allow_pickle=True)
    pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 2.0, np.nan, 4.0]}).to_csv(tables / "ok.csv", index=False)
    blob = gzip.compress((tables / "ok.csv").read_bytes() * 50)
    (tables / "cut.csv.gz").write_bytes(blob[: len(blob) // 2])
    (tables / "ok16.csv").write_bytes((tables / "ok.csv").read_text().encode("utf-16"))
    (tables / "existing.csv").write_text("mine\n")
    (tmp / "afile").write_text("x")
    user = tmp / "user.csv"
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    out = f"output={tmp / 'o.csv'}"
    ok = f"input={tables / 'ok.csv'}"
    fast = ["train.steps=1", "progress=false"]
    return [
        ([f"input={tables / 'empty.csv'}", out], 1, "empty.csv"),
        ([f"input={tables / 'header.csv'}", out], 1, "header.csv"),
        ([f"input={tables / 'len1.npy'}", f"output={tmp / 'o.npy'}", *fast], 1, "len1.npy"),
        ([f"input={tables / 'obj.npy'}", f"output={tmp / 'o.npy'}"], 1, "obj.npy"),
        ([f"input={tables / 'cut.csv.gz'}", out], 1, "cut.csv.gz"),
        ([f"input={tables / 'ok16.csv'}", out], 1, "ok16.csv"),
        ([f"input={tables / 'absent.csv'}", out], 1, "absent.csv"),
        ([f"input={tables}", out], 1, "in"),
        ([ok, out, "domain=nosuch"], 2, "nosuch"),
        ([ok, out, "domain=genomic"], 2, "genomic"),
        ([ok], 2, "output"),
        ([out], 2, "input"),
        ([ok, out, "holdout=abc"], 2, "holdout"),
        ([ok, out, "holdout=2"], 2, "holdout"),
        ([ok, out, "n_models=0"], 2, "n_models"),
        ([ok, out, "seed=x"], 2, "seed"),
        ([ok, out, "overwrite=maybe"], 2, "overwrite"),
        ([ok, out, "train.nosuch=1"], 2, "nosuch"),
        ([ok, f"output={tables / 'existing.csv'}"], 1, "existing.csv"),
        ([ok, f"output={user}", "overwrite=true"], 1, "user.csv"),
        ([ok, f"output={tmp / 'afile' / 'o.csv'}"], 1, "afile"),
        ([ok, f"output={tables / 'ok.csv'}", "overwrite=true"], 2, "input"),
    ]


@pytest.mark.parametrize("case", range(22))
def test_impute_malformed(tmp_path, capsys, case):
    argv, code, needle = _impute_cases(tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, ["impute", *argv], code, needle)


@pytest.mark.parametrize("name, text", [
    ("allnan.csv", "a,b\n1.0,\n,\n3.0,\n4.0,\n"),
    ("onerow.csv", "a,b\n1.0,\n"),  # its only gap is the empty column
    ("crlf.csv", "a,b\r\n1,\r\n"),
])
def test_impute_keeps_an_all_missing_column(tmp_path, capsys, recwarn, name, text):
    """A column with no observed value is kept as it is (all missing), said once; the other
    columns' observed cells are unchanged (session 53: it was warned 'dropped', then refused)."""
    from encoderkit.cli import main

    src = tmp_path / name
    src.write_bytes(text.encode())
    out = tmp_path / "o.csv"
    capsys.readouterr()
    rc = main(["impute", f"input={src}", f"output={out}", "train.steps=1", "progress=false"])
    err = capsys.readouterr().err
    said = err + "\n".join(str(w.message) for w in recwarn)  # pytest records the warnings
    assert rc == 0, err
    assert "Traceback" not in err and said.count("'b' is entirely missing") == 1, said
    given, filled = pd.read_csv(src), pd.read_csv(out)
    assert list(filled.columns) == ["a", "b"] and filled["b"].isna().all()
    seen = given["a"].notna()
    assert np.array_equal(filled["a"][seen].to_numpy(), given["a"][seen].to_numpy())


# ------------------------------------------------------------- ingest workers / append
def _ingest_cases(s: Setup, tmp: Path) -> list[tuple[list[str], int, str]]:
    import shutil

    store = tmp / "copy.zarr"
    shutil.copytree(s.store, store)
    notstore = tmp / "notstore"
    notstore.mkdir()
    (notstore / "keep.txt").write_text("mine")
    fasta = tmp / "x.fa"
    fasta.write_text(">r1\nACGTACGTAC\n>r2\nGGCCAATT\n")
    other = tmp / "other.zarr"
    ingest("genomic", [str(fasta)], str(other), progress=False, verbose=False)
    raw = s.raw
    base = ["domain=tabular", f"input={raw}"]
    return [
        (base + [f"output={tmp / 'n.zarr'}", "workers=0"], 2, "workers"),
        (base + [f"output={tmp / 'n.zarr'}", "workers=abc"], 2, "workers"),
        (base + [f"output={tmp / 'n.zarr'}", "workers=-2"], 2, "workers"),
        (base + [f"output={store}", "append=maybe"], 2, "append"),
        (base + [f"output={store}", "append=true", "overwrite=true"], 2, "append"),
        (base + [f"output={notstore}", "append=true"], 1, "notstore"),
        (base + [f"output={other}", "append=true"], 1, "other.zarr"),
        (base + [f"output={store}", "append=true"], 1, raw.name),  # the same file twice
        (base + ["output=s3://bucket/x.zarr", "append=true"], 2, "append"),
        (["domain=genomic", f"input={fasta}", f"output={store}", "append=true"], 1, "copy.zarr"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_ingest_workers_append(setup, tmp_path, capsys, case):
    argv, code, needle = _ingest_cases(setup, tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, ["ingest", *argv], code, needle)


# ------------------------------------------------------------- second batch: harder inputs
def _more_cases(s: Setup, tmp: Path) -> list[tuple[list[str], int, str]]:
    import shutil

    store = tmp / "copy.zarr"
    shutil.copytree(s.store, store)
    bad = tmp / "bad.csv"
    bad.write_bytes(s.raw.read_bytes().decode().encode("utf-16"))
    cut = tmp / "cut.csv.gz"
    blob = gzip.compress(s.raw.read_bytes() * 20)
    cut.write_bytes(blob[: len(blob) // 2])
    strange = tmp / "strange.csv"
    pd.DataFrame({"id": s.ids, "label": ["zebra"] * len(s.ids)}).to_csv(strange, index=False)
    nanreg = tmp / "nanreg.csv"
    pd.DataFrame({"id": s.ids, "label": [np.nan] * len(s.ids)}).to_csv(nanreg, index=False)
    twice = tmp / "twice.csv"
    pd.DataFrame({"id": s.ids + s.ids[:1], "label": ["a", "b"] * (len(s.ids) // 2) + ["a"] * (len(s.ids) % 2 + 1)}
                 ).to_csv(twice, index=False)
    base = [f"checkpoint={s.pre}", f"data.store={s.store}", "train.steps=1", *FT, f"run.dir={tmp / 'ft'}"]
    from encoderkit.data.ingest import ingest

    narrow = tmp / "narrow.zarr"  # one column fewer than the pretraining store
    first = pd.read_csv(s.raw, nrows=1).columns[0]
    ingest("tabular", [str(s.raw)], str(narrow), progress=False, verbose=False, exclude=[first])
    return [
        # ingest: a bad file appended must leave the store as it was; workers=2 names the bad file
        (["ingest", "domain=tabular", f"input={bad}", f"output={store}", "append=true"], 1, "bad.csv"),
        (["ingest", "domain=tabular", f"input={s.raw},{cut}", f"output={tmp / 'n.zarr'}", "workers=2"], 1,
         "cut.csv.gz"),
        (["ingest", "domain=tabular", f"input={cut}", f"output={store}", "append=true"], 1, "cut.csv.gz"),
        # predict / evaluate on a raw file the domain cannot read
        (["predict", f"checkpoint={s.ft}", f"input={bad}", f"output={tmp / 'p.csv'}"], 1, "bad.csv"),
        (["predict", f"checkpoint={s.ft}", f"input={cut}", f"output={tmp / 'p.csv'}"], 1, "cut.csv.gz"),
        (["evaluate", f"checkpoint={s.ft}", f"input={bad}", f"labels={s.labels}"], 1, "bad.csv"),
        # evaluate: labels of classes the model never saw; an id labelled twice
        (["evaluate", f"checkpoint={s.ft}", f"input={s.store}", f"labels={strange}"], 1, "strange.csv"),
        (["evaluate", f"checkpoint={s.ft}", f"input={s.store}", f"labels={twice}"], 1, "twice.csv"),
        # finetune: regression with NaN-only labels, an id labelled twice, bad task options
        (["finetune", *base, "task.type=regression", f"task.labels={nanreg}"], 1, "nanreg.csv"),
        (["finetune", *base, "task.type=classification", f"task.labels={twice}"], 1, "twice.csv"),
        (["finetune", *base, "task.type=classification", f"task.labels={s.labels}", "task.class_weights=[1]"],
         2, "class_weights"),
        (["finetune", *base, "task.type=classification", "task.label_column=nosuch"], 2, "nosuch"),
        (["finetune", *base, "task.type=classification", f"task.labels={s.labels}", f"task.split={tmp / 'nosplit.csv'}"],
         1, "nosplit.csv"),
        # a store of other columns than the checkpoint was pretrained on: said as such, not
        # as a bare weight shape
        (["finetune", *base[:1], f"data.store={narrow}", *base[2:], "task.type=classification",
          f"task.labels={s.labels}"], 1, "schema differs from the one the checkpoint was pretrained on"),
    ]


@pytest.mark.parametrize("case", range(14))
def test_more_malformed(setup, tmp_path, capsys, case):
    argv, code, needle = _more_cases(setup, tmp_path)[case]
    before = _frozen(tmp_path, setup.pre, setup.ft, setup.store)
    run_cli(capsys, argv, code, needle)
    assert _frozen(tmp_path, setup.pre, setup.ft, setup.store) == before


def test_evaluate_crlf_labels_read_as_lf(setup, tmp_path, capsys):
    """CRLF line ends, a UTF-8 BOM and blank lines are not malformed: the same metrics as
    the plain file, not a misread."""
    from encoderkit.cli import main

    lf = setup.labels.read_bytes().replace(b"\r\n", b"\n")
    variants = {"crlf.csv": lf.replace(b"\n", b"\r\n"), "bom.csv": b"\xef\xbb\xbf" + lf,
                "blank.csv": lf.replace(b"\n", b"\n\n")}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
    outs = []
    for labels in (setup.labels, *(tmp_path / name for name in variants)):
        assert main(["evaluate", f"checkpoint={setup.ft}", f"input={setup.store}", f"labels={labels}"]) == 0
        outs.append(capsys.readouterr().out)
    assert all(o == outs[0] for o in outs) and "accuracy" in outs[0]


def _last_cases(s: Setup, tmp: Path) -> list[tuple[list[str], int, str]]:
    import shutil

    damaged = tmp / "damaged"
    shutil.copytree(s.ft, damaged)
    for w in damaged.rglob("*.safetensors"):
        w.write_bytes(w.read_bytes()[:100])
    junk = tmp / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("x")
    np.save(tmp / "zero.npy", np.zeros((0,)))
    np.save(tmp / "allnan.npy", np.full((2, 30), np.nan))
    return [
        (["evaluate", f"checkpoint={damaged}", f"input={s.store}", f"labels={s.labels}"], 1, "damaged"),
        (["predict", f"checkpoint={junk}", f"input={s.store}", f"output={tmp / 'p.csv'}"], 1, "junk"),
        (["finetune", f"checkpoint={junk}", f"data.store={s.store}", "task.type=classification",
          f"task.labels={s.labels}", f"run.dir={tmp / 'ft'}", "train.steps=1", *FT], 1, "junk"),
        (["impute", f"input={tmp / 'zero.npy'}", f"output={tmp / 'o.npy'}"], 1, "zero.npy"),
        (["impute", f"input={tmp / 'allnan.npy'}", f"output={tmp / 'o.npy'}"], 1, "allnan.npy"),
    ]


@pytest.mark.parametrize("case", range(5))
def test_last_malformed(setup, tmp_path, capsys, case):
    argv, code, needle = _last_cases(setup, tmp_path)[case]
    before = _frozen(tmp_path, setup.pre, setup.ft, setup.store)
    run_cli(capsys, argv, code, needle)
    assert _frozen(tmp_path, setup.pre, setup.ft, setup.store) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only directory")
def test_predict_unwritable_output(setup, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        run_cli(capsys, ["predict", f"checkpoint={setup.ft}", f"input={setup.store}", f"output={ro / 'p.csv'}"],
                1, "p.csv")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def _domain_cases(s: Setup, tmp: Path) -> list[tuple[list[str], int, str]]:
    fasta = tmp / "x.fa"
    fasta.write_text(">r1\nACGTACGTAC\n>r2\nGGCCAATT\n")
    other = tmp / "dna.zarr"
    ingest("genomic", [str(fasta)], str(other), progress=False, verbose=False)
    return [
        (["predict", f"checkpoint={s.ft}", f"input={other}", f"output={tmp / 'p.csv'}"], 1, "dna.zarr"),
        (["evaluate", f"checkpoint={s.ft}", f"input={other}", f"labels={s.labels}"], 1, "dna.zarr"),
        (["finetune", f"checkpoint={s.pre}", f"data.store={other}", "task.type=classification",
          f"task.labels={s.labels}", f"run.dir={tmp / 'ft'}", "train.steps=1", *FT], 2, "dna.zarr"),
        (["predict", f"checkpoint={s.ft}", f"input={fasta}", f"output={tmp / 'p.csv'}"], 1, "x.fa"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_other_domain(setup, tmp_path, capsys, case):
    argv, code, needle = _domain_cases(setup, tmp_path)[case]
    before = _frozen(tmp_path, setup.pre, setup.ft, setup.store)
    run_cli(capsys, argv, code, needle)
    assert _frozen(tmp_path, setup.pre, setup.ft, setup.store) == before


def _impute_more(tmp: Path) -> list[tuple[list[str], int, str]]:
    ok = tmp / "ok.csv"
    pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1.0, 2.0, np.nan, 4.0]}).to_csv(ok, index=False)
    ts = tmp / "ts.csv"
    pd.DataFrame({"time": [0, 1, 2, 3], "x": ["p", "q", "r", "s"]}).to_csv(ts, index=False)
    crlf = tmp / "crlf.csv"
    crlf.write_bytes(b"a,b\r\n1,\r\n")
    (tmp / "afile").write_text("x")
    (tmp / "dup.csv").write_text("a,a\n1,2\n,3\n4,\n")
    np.savez(tmp / "none.npz")
    out = f"output={tmp / 'o.csv'}"
    return [
        ([f"input={tmp / 'dup.csv'}", out], 1, "dup.csv"),  # was a pandas message about truth values
        ([f"input={tmp / 'none.npz'}", f"output={tmp / 'o.npz'}"], 1, "none.npz"),
        ([f"input={ok}", out, "exclude=[nosuch]"], 2, "nosuch"),
        ([f"input={ok}", out, "n_models=abc"], 2, "n_models"),
        ([f"input={ok}", out, f"run_dir={tmp / 'afile' / 'run'}"], 2, "is a file, not a folder"),  # named as run.dir is (s48)
        ([f"input={ok}", f"output={tmp / 'o.xyz'}"], 2, "o.xyz"),
        ([f"input={ts}", out, "domain=timeseries"], 1, "ts.csv"),
        ([f"input={ok}", out, "device=nosuch"], 2, "device"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_impute_more(tmp_path, capsys, case):
    argv, code, needle = _impute_more(tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, ["impute", "progress=false", "train.steps=1", *argv], code, needle)
