"""Every command refuses malformed input cleanly: one line ``encoderkit <command>: error:``
naming the file / record / key at fault, exit 2 for usage and 1 for data, no traceback,
and nothing written or deleted.

Each case is one malformed input a new user could give; the count of cases is what
benchmarks/RESULTS.md ("Reliability") reports.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest

from .conftest import refuses_cleanly, run_cli, tree

DOMAINS = ("genomic", "tabular", "timeseries", "sets")


# ---------------------------------------------------------------- malformed files
def _truncated(data: bytes, compress) -> bytes:
    blob = compress(data)
    return blob[: max(len(blob) // 2, 12)]


def malformed(kind: str, valid: Path, where: Path) -> Path:
    """A malformed variant ``kind`` of the valid file ``valid``, written under ``where``."""
    data = valid.read_bytes()
    where.mkdir(parents=True, exist_ok=True)
    stem = valid.name
    if kind == "truncated-gz":
        out = where / f"{stem}.gz"
        out.write_bytes(_truncated(data, gzip.compress))
    elif kind == "truncated-bz2":
        out = where / f"{stem}.bz2"
        out.write_bytes(_truncated(data, bz2.compress))
    elif kind == "truncated-xz":
        out = where / f"{stem}.xz"
        out.write_bytes(_truncated(data, lzma.compress))
    elif kind == "random-bytes":
        out = where / stem
        out.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif kind == "empty":
        out = where / stem
        out.write_bytes(b"")
    elif kind == "utf16":
        out = where / stem
        out.write_bytes(data.decode("latin-1").encode("utf-16"))
    elif kind == "directory":
        out = where / stem
        out.mkdir()
        (out / "inside.txt").write_text("x")
    elif kind == "header-only":  # CSV: the header line and no rows
        out = where / stem
        out.write_bytes(data.splitlines(keepends=True)[0])
    elif kind == "wrong-suffix":
        out = where / (valid.stem + ".xyz")
        out.write_bytes(data)
    else:
        raise AssertionError(kind)
    return out


# which variants each domain's reader sees (compressions it accepts, formats it reads)
DOMAIN_KINDS = {
    "genomic": ["truncated-gz", "truncated-bz2", "truncated-xz", "random-bytes", "empty", "utf16",
                "directory"],
    "tabular": ["truncated-gz", "truncated-bz2", "random-bytes", "empty", "utf16", "directory",
                "header-only", "wrong-suffix"],
    "timeseries": ["random-bytes", "empty", "utf16", "directory", "header-only", "wrong-suffix"],
    "sets": ["truncated-gz", "random-bytes", "empty", "utf16", "directory", "header-only",
             "wrong-suffix"],
}
FILE_CASES = [(d, k) for d in DOMAINS for k in DOMAIN_KINDS[d]]
# a directory as input to embed is read as a record store: its own case below
EMBED_CASES = [(d, k) for d, k in FILE_CASES if k != "directory"]


def _bad_file(runs, name, kind, tmp_path) -> Path:
    if name not in runs:
        pytest.skip(f"domain {name} ships no samples")
    return malformed(kind, runs[name].raw[0], tmp_path / "bad")


# ---------------------------------------------------------------- ingest
@pytest.mark.parametrize("name,kind", FILE_CASES)
def test_ingest_malformed_file(runs, tmp_path, capsys, name, kind):
    bad = _bad_file(runs, name, kind, tmp_path)
    before = tree(tmp_path)
    line = run_cli(capsys, ["ingest", f"domain={name}", f"input={bad}", f"output={tmp_path / 'o.zarr'}"], 1)
    assert bad.name in line
    assert tree(tmp_path) == before and not (tmp_path / "o.zarr").exists()


def _ingest_usage_cases(tmp_path: Path, valid: Path) -> list[tuple[list[str], int, str]]:
    out = tmp_path / "o.zarr"
    return [
        (["ingest", f"input={valid}", f"output={out}"], 2, "domain="),
        (["ingest", "domain=genomic", f"output={out}"], 2, "input="),
        (["ingest", "domain=genomic", f"input={valid}"], 2, "output="),
        (["ingest", "domain=nosuch", f"input={valid}", f"output={out}"], 2, "unknown domain 'nosuch'"),
        (["ingest", "domain=genomic", f"input={valid}", f"output={out}", "overwrite=maybe"], 2, "overwrite"),
        (["ingest", "domain=genomic", f"input={valid}", f"output={out}", "k=[1,"], 2, "cannot parse"),
        (["ingest", "domain=genomic", f"input={valid}", f"output={out}", "nosuch_option=1"], 2, "nosuch_option"),
        (["ingest", "domain=genomic", f"input={valid}", f"output={out}", "tokens=words"], 2, "tokens"),
        (["ingest", "domain=genomic", f"input={tmp_path / 'none*.fa'}", f"output={out}"], 1, "matches no files"),
        (["ingest", "domain=genomic", f"input={tmp_path / 'absent.fa'}", f"output={out}"], 1, "absent.fa"),
        (["ingest", "domain=genomic", f"input={valid}", f"output={out}", "input=x"], 2, "twice"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_ingest_usage(runs, tmp_path, capsys, case):
    valid = runs["genomic"].raw[0]
    argv, code, needle = _ingest_usage_cases(tmp_path, valid)[case]
    run_cli(capsys, argv, code, needle)
    assert not (tmp_path / "o.zarr").exists()


def test_ingest_fasta_with_only_empty_records_names_file_and_reasons(tmp_path, capsys):
    fa = tmp_path / "empty_records.fa"
    fa.write_text(">a\n>b\n\n>c\nNNNN\n")
    line = run_cli(capsys, ["ingest", "domain=genomic", f"input={fa}", f"output={tmp_path / 'o.zarr'}"], 1,
                   "empty_records.fa", "wrote no records", "empty record")
    assert "2 record(s) skipped: empty record" in line


def test_ingest_all_nan_series_names_file_and_reason(tmp_path, capsys):
    csv = tmp_path / "nan.csv"
    csv.write_text("time,a,b\n1,,nan\n2,NA,\n")
    run_cli(capsys, ["ingest", "domain=timeseries", f"input={csv}", f"output={tmp_path / 'o.zarr'}",
                     "time_column=time"], 1, "nan.csv", "wrote no records", "all values missing")


def test_ingest_table_with_every_column_excluded_names_file(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    run_cli(capsys, ["ingest", "domain=tabular", f"input={csv}", f"output={tmp_path / 'o.zarr'}",
                     "exclude=[a,b]"], 1, "t.csv", "no usable column")


def test_ingest_table_whose_columns_are_all_missing_names_file(tmp_path, capsys):
    csv = tmp_path / "holes.csv"
    csv.write_text("a,b\n,\n,\n")
    run_cli(capsys, ["ingest", "domain=tabular", f"input={csv}", f"output={tmp_path / 'o.zarr'}"], 1,
            "holes.csv")


def test_ingest_sets_header_without_rows_names_file(tmp_path, capsys):
    csv = tmp_path / "sets.csv"
    csv.write_text("set,id,x,y\n")
    run_cli(capsys, ["ingest", "domain=sets", f"input={csv}", f"output={tmp_path / 'o.zarr'}"], 1,
            "sets.csv", "no rows")


# ---------------------------------------------------------------- outputs (all writers)
def _user_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    return path


def test_ingest_overwrite_refuses_a_folder_of_user_files(runs, tmp_path, capsys):
    folder = _user_folder(tmp_path / "mine")
    run_cli(capsys, ["ingest", "domain=genomic", f"input={runs['genomic'].raw[0]}", f"output={folder}",
                     "overwrite=true"], 1, "mine", "not a record store")
    assert (folder / "thesis.tex").read_text() == "years of work"


def test_ingest_output_whose_parent_is_a_file(runs, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    run_cli(capsys, ["ingest", "domain=genomic", f"input={runs['genomic'].raw[0]}",
                     f"output={tmp_path / 'plain' / 'o.zarr'}"], 1, "is a file, not a directory")


def test_ingest_overwrite_replaces_a_store(runs, tmp_path, capsys):
    from encoderkit.cli import main

    out = tmp_path / "o.zarr"
    argv = ["ingest", "domain=genomic", f"input={runs['genomic'].raw[0]}", f"output={out}"]
    assert main(argv) == 0
    run_cli(capsys, argv, 1, "already exists")
    assert main([*argv, "overwrite=true"]) == 0


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="root may write anywhere")
def test_ingest_output_in_a_read_only_directory(runs, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        run_cli(capsys, ["ingest", "domain=genomic", f"input={runs['genomic'].raw[0]}",
                         f"output={ro / 'o.zarr'}"], 1, "not writable")
    finally:
        ro.chmod(0o700)


# ---------------------------------------------------------------- embed
@pytest.mark.parametrize("name,kind", EMBED_CASES)
def test_embed_malformed_input(runs, tmp_path, capsys, name, kind):
    bad = _bad_file(runs, name, kind, tmp_path)
    before = tree(tmp_path)
    line = run_cli(capsys, ["embed", f"checkpoint={runs[name].dir}", f"input={bad}",
                            f"output={tmp_path / 'e.npy'}"], 1)
    assert bad.name in line
    assert tree(tmp_path) == before


def _embed_cases(run, tmp_path: Path) -> list[tuple[list[str], int, str]]:
    out = tmp_path / "e.npy"
    (tmp_path / "exists.npy").write_bytes(b"mine")
    user = _user_folder(tmp_path / "user.zarr")
    (tmp_path / "plain").write_text("x")
    notstore = _user_folder(tmp_path / "notstore")
    base = [f"checkpoint={run.dir}", f"input={run.store}"]
    return [
        (["embed", f"input={run.store}", f"output={out}"], 2, "checkpoint="),
        (["embed", f"checkpoint={run.dir}", f"output={out}"], 2, "input="),
        (["embed", *base], 2, "output="),
        (["embed", *base, f"output={out}", "colour=red"], 2, "colour"),
        (["embed", *base, f"output={out}", "pooling=max"], 2, "pooling"),
        (["embed", *base, f"output={out}", "overwrite=perhaps"], 2, "overwrite"),
        (["embed", *base, f"output={tmp_path / 'e.txt'}"], 2, ".zarr or .npy"),
        (["embed", *base, f"output={out}", "pooling=none"], 2, ".zarr output"),
        (["embed", f"checkpoint={tmp_path / 'norun'}", f"input={run.store}", f"output={out}"], 1, "norun"),
        (["embed", f"checkpoint={tmp_path}", f"input={run.store}", f"output={out}"], 1, "neither a checkpoint"),
        (["embed", f"checkpoint={run.dir}", f"input={tmp_path / 'absent.fa'}", f"output={out}"], 1, "absent.fa"),
        (["embed", f"checkpoint={run.dir}", f"input={notstore}", f"output={out}"], 1, "notstore"),
        (["embed", *base, f"output={tmp_path / 'exists.npy'}"], 1, "already exists"),
        (["embed", *base, f"output={user}", "overwrite=true"], 1, "user.zarr"),
        (["embed", *base, f"output={tmp_path / 'plain' / 'e.npy'}"], 1, "is a file, not a directory"),
    ]


@pytest.mark.parametrize("case", range(15))
def test_embed_usage_and_outputs(runs, tmp_path, capsys, case):
    argv, code, needle = _embed_cases(runs["genomic"], tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, argv, code, needle)
    assert (tmp_path / "user.zarr" / "thesis.tex").read_text() == "years of work"


# ---------------------------------------------------------------- infill
INFILL_CASES = [(d, k) for d, k in FILE_CASES]


@pytest.mark.parametrize("name,kind", INFILL_CASES)
def test_infill_malformed_input(runs, tmp_path, capsys, name, kind):
    bad = _bad_file(runs, name, kind, tmp_path)
    suffix = runs[name].raw[0].suffix
    before = tree(tmp_path)
    line = run_cli(capsys, ["infill", f"checkpoint={runs[name].dir}", f"input={bad}",
                            f"output={tmp_path / ('out' + suffix)}"], 1)
    assert bad.name in line
    assert tree(tmp_path) == before


def _infill_cases(runs, tmp_path: Path) -> list[tuple[list[str], int, tuple[str, ...]]]:
    g, t = runs["genomic"], runs["tabular"]
    out = tmp_path / "out.fasta"
    (tmp_path / "exists.fasta").write_text(">mine\nACGT\n")
    folder = _user_folder(tmp_path / "folder.fasta")
    (tmp_path / "plain").write_text("x")
    base = [f"checkpoint={g.dir}", f"input={g.raw[0]}"]
    return [
        (["infill", f"input={g.raw[0]}", f"output={out}"], 2, ("checkpoint=",)),
        (["infill", *base], 2, ("output=",)),
        (["infill", *base, f"output={out}", "stride=3"], 2, ("stride", "allowed: ['both_strands', 'window']")),
        (["infill", *base, f"output={out}", "window=0"], 2, ("infill_window",)),
        (["infill", f"checkpoint={t.dir}", f"input={t.raw[0]}", f"output={tmp_path / 'o.csv'}",
          "numeric_decode=guess"], 2, ("numeric_decode",)),
        (["infill", *base, f"output={out}", "overwrite=sometimes"], 2, ("overwrite",)),
        (["infill", *base, f"output={g.raw[0]}", "overwrite=true"], 2, ("output is the input",)),
        (["infill", f"checkpoint={g.dir}", f"input={tmp_path / 'absent.fa'}", f"output={out}"], 1, ("absent.fa",)),
        (["infill", *base, f"output={tmp_path / 'exists.fasta'}"], 1, ("already exists",)),
        (["infill", *base, f"output={folder}", "overwrite=true"], 1, ("folder.fasta", "directory")),
        (["infill", *base, f"output={tmp_path / 'plain' / 'o.fasta'}"], 1, ("is a file, not a directory",)),
        (["infill", f"checkpoint={tmp_path / 'norun'}", f"input={g.raw[0]}", f"output={out}"], 1, ("norun",)),
    ]


@pytest.mark.parametrize("case", range(12))
def test_infill_usage_and_outputs(runs, tmp_path, capsys, case):
    argv, code, needles = _infill_cases(runs, tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, argv, code, *needles)
    assert (tmp_path / "exists.fasta").read_text() == ">mine\nACGT\n"


def test_infill_table_with_no_schema_column_refuses_naming_both(runs, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("height,weight\n1.8,\n1.6,55\n")
    line = run_cli(capsys, ["infill", f"checkpoint={runs['tabular'].dir}", f"input={other}",
                            f"output={tmp_path / 'o.csv'}"], 1, "other.csv", "expected", "found",
                   "'height'")
    assert not (tmp_path / "o.csv").exists() and line


def test_infill_table_with_some_columns_warns_and_fills(runs, tmp_path, capsys):
    import pandas as pd

    from encoderkit.cli import main

    frame = pd.read_csv(runs["tabular"].raw[0]).iloc[:20]
    frame = frame[list(frame.columns[:3])].copy()
    frame.iloc[0, 0] = None
    part = tmp_path / "part.csv"
    frame.to_csv(part, index=False)
    # the warning names the file (the domain's infill reads data, not files)
    with pytest.warns(UserWarning, match=r"part\.csv: .*absent from the table"):
        assert main(["infill", f"checkpoint={runs['tabular'].dir}", f"input={part}",
                     f"output={tmp_path / 'o.csv'}"]) == 0
    filled = pd.read_csv(tmp_path / "o.csv")
    assert not filled.iloc[:, 0].isna().any()


def test_infill_overwrite_true_replaces_a_previous_output(runs, tmp_path, capsys):
    from encoderkit.cli import main

    g = runs["genomic"]
    out = tmp_path / "o.fasta"
    out.write_text(">old\nACGT\n")
    assert main(["infill", f"checkpoint={g.dir}", f"input={g.raw[0]}", f"output={out}", "overwrite=true"]) == 0
    assert out.read_text() != ">old\nACGT\n"


# ---------------------------------------------------------------- probe
def _probe_cases(tmp_path: Path) -> list[tuple[list[str], int, tuple[str, ...]]]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    np.save(tmp_path / "emb.npy", X)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 20, dtype=object), allow_pickle=True)
    Xn = X.copy()
    Xn[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", Xn)
    (tmp_path / "labels.csv").write_text("label\n" + "".join(f"{i % 2}\n" for i in range(20)))
    (tmp_path / "nanlabels.csv").write_text("label,note\n" + "".join(f"{'' if i == 4 else i % 2},n\n"
                                                                      for i in range(20)))
    np.save(tmp_path / "nanlabels.npy", np.where(np.arange(20) == 9, np.nan, np.arange(20) % 2))
    (tmp_path / "short.csv").write_text("label\n0\n1\n")
    (tmp_path / "two.csv").write_text("a,b\n" + "0,1\n" * 20)
    (tmp_path / "text.csv").write_text("f1,f2\n" + "".join(f"{i},x{i}\n" for i in range(20)))
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "emb.npy").read_bytes()[:100])
    (tmp_path / "rand.csv").write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    emb, lab = f"embeddings={tmp_path / 'emb.npy'}", f"labels={tmp_path / 'labels.csv'}"
    return [
        (["probe", emb], 2, ("labels=",)),
        (["probe", emb, lab, "task=clustering"], 2, ("task",)),
        (["probe", emb, lab, "folds=many"], 2, ("folds",)),
        (["probe", emb, lab, "label_column=colour"], 2, ("label_column",)),
        (["probe", f"embeddings={tmp_path / 'absent.npy'}", lab], 1, ("absent.npy",)),
        (["probe", f"embeddings={tmp_path / 'obj.npy'}", lab], 1, ("obj.npy", "object array")),
        (["probe", f"embeddings={tmp_path / 'nan.npy'}", lab], 1, ("nan.npy", "row 7")),
        (["probe", emb, f"labels={tmp_path / 'nanlabels.csv'}"], 1, ("nanlabels.csv", "row 4")),
        (["probe", emb, f"labels={tmp_path / 'nanlabels.npy'}", "task=regression"], 1, ("nanlabels.npy", "row 9")),
        (["probe", emb, f"labels={tmp_path / 'short.csv'}"], 1, ("short.csv", "2 labels")),
        (["probe", emb, f"labels={tmp_path / 'two.csv'}"], 2, ("two.csv", "label_column")),
        (["probe", f"embeddings={tmp_path / 'text.csv'}", lab], 1, ("text.csv", "'f2'")),
        (["probe", f"embeddings={tmp_path / 'trunc.npy'}", lab], 1, ("trunc.npy",)),
        (["probe", f"embeddings={tmp_path / 'rand.csv'}", lab], 1, ("rand.csv",)),
        (["probe", f"embeddings={tmp_path / 'emb.txt'}", lab], 1, ("emb.txt",)),
    ]


@pytest.mark.parametrize("case", range(15))
def test_probe_malformed(tmp_path, capsys, case):
    (tmp_path / "emb.txt").write_text("1 2 3\n")
    argv, code, needles = _probe_cases(tmp_path)[case]
    run_cli(capsys, argv, code, *needles)


# ---------------------------------------------------------------- export-hf / import-hf
def test_export_hf_refuses_kmer_tokens_with_base_positions(tmp_path, capsys):
    from .conftest import make_run

    run = make_run("genomic", tmp_path / "k", tokens="kmer", k=3, positions="base")
    run_cli(capsys, ["export-hf", str(run.dir), str(tmp_path / "hf")], 1, "positions=base", "k-mer")
    assert not (tmp_path / "hf").exists()


def _export_cases(runs, tmp_path: Path) -> list[tuple[list[str], int, tuple[str, ...]]]:
    g = runs["genomic"]
    folder = _user_folder(tmp_path / "folder")
    (tmp_path / "plain").write_text("x")
    return [
        (["export-hf", str(g.dir)], 2, ("output",)),
        (["export-hf", str(g.dir), str(tmp_path / "hf"), "dtype=fp16"], 2, ("dtype",)),
        (["export-hf", str(g.dir), str(tmp_path / "hf"), "overwrite=later"], 2, ("overwrite",)),
        (["export-hf", str(tmp_path / "norun"), str(tmp_path / "hf")], 1, ("norun",)),
        (["export-hf", str(g.dir), str(folder)], 1, ("folder", "already exists")),
        (["export-hf", str(g.dir), str(folder), "overwrite=true"], 1, ("folder", "not a Hugging Face export")),
        (["export-hf", str(g.dir), str(tmp_path / "plain" / "hf")], 1, ("is a file, not a directory",)),
        (["export-hf", str(runs["tabular"].dir), str(tmp_path / "hf")], 1, ("cannot export",)),
    ]


@pytest.mark.parametrize("case", range(8))
def test_export_hf_malformed(runs, tmp_path, capsys, case):
    argv, code, needles = _export_cases(runs, tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, argv, code, *needles)


def test_export_hf_overwrite_replaces_its_own_export(runs, tmp_path):
    from encoderkit.cli import main

    g = runs["genomic"]
    assert main(["export-hf", str(g.dir), str(tmp_path / "hf")]) == 0
    assert main(["export-hf", str(g.dir), str(tmp_path / "hf"), "overwrite=true"]) == 0
    assert sorted(p.name for p in (tmp_path / "hf").iterdir()) == ["config.json", "encoderkit_tokenizer.json", "model.safetensors"]


def _hf_dir(runs, tmp_path: Path) -> Path:
    from encoderkit.cli import main

    hf = tmp_path / "hf"
    if not hf.exists():
        assert main(["export-hf", str(runs["genomic"].dir), str(hf)]) == 0
    return hf


def _import_cases(runs, tmp_path: Path) -> list[tuple[list[str], int, tuple[str, ...]]]:
    hf = _hf_dir(runs, tmp_path)
    bad = {}
    for name, edit in {
        "garbage": lambda d: (d / "config.json").write_text("{not json"),
        "listjson": lambda d: (d / "config.json").write_text("[1, 2]"),
        "bert": lambda d: (d / "config.json").write_text(json.dumps({"model_type": "bert"})),
        "nokeys": lambda d: (d / "config.json").write_text(json.dumps({"model_type": "modernbert"})),
        "badweights": lambda d: (d / "model.safetensors").write_bytes(b"\x00" * 64),
        "noweights": lambda d: (d / "model.safetensors").unlink(),
    }.items():
        d = tmp_path / name
        shutil.copytree(hf, d)
        edit(d)
        bad[name] = d
    (tmp_path / "plainfile").write_text("x")
    out = f"output={tmp_path / 'run'}"
    return [
        (["import-hf", str(hf), "domain=genomic"], 2, ("output",)),
        (["import-hf", str(hf), out], 2, ("domain",)),
        (["import-hf", str(hf), out, "domain=nosuch"], 2, ("nosuch",)),
        (["import-hf", str(hf), out, "domain=genomic", "colour=1"], 2, ("colour",)),
        (["import-hf", str(tmp_path / "nohf"), out, "domain=genomic"], 1, ("nohf",)),
        (["import-hf", str(bad["garbage"]), out, "domain=genomic"], 1, ("garbage/config.json", "not valid JSON")),
        (["import-hf", str(bad["listjson"]), out, "domain=genomic"], 1, ("listjson/config.json",)),
        (["import-hf", str(bad["bert"]), out, "domain=genomic"], 1, ("'bert' model",)),
        (["import-hf", str(bad["nokeys"]), out, "domain=genomic"], 1, ("nokeys/config.json",)),
        (["import-hf", str(bad["badweights"]), out, "domain=genomic"], 1, ("badweights",)),
        (["import-hf", str(bad["noweights"]), out, "domain=genomic"], 1, ("noweights",)),
        (["import-hf", str(hf), f"output={tmp_path / 'plainfile'}", "domain=genomic"], 1, ("plainfile",)),
        (["import-hf", str(hf), f"output={runs['genomic'].dir}", "domain=genomic"], 1, ("already holds checkpoints",)),
    ]


@pytest.mark.parametrize("case", range(13))
def test_import_hf_malformed(runs, tmp_path, capsys, case):
    argv, code, needles = _import_cases(runs, tmp_path)[case]
    refuses_cleanly(capsys, tmp_path, argv, code, *needles)


# ---------------------------------------------------------------- pretrain
def _pretrain_cases(runs, tmp_path: Path) -> list[tuple[list[str], int, tuple[str, ...]]]:
    g = runs["genomic"]
    notstore = _user_folder(tmp_path / "notstore")
    (tmp_path / "plain").write_text("x")
    run = f"run.dir={tmp_path / 'r'}"
    return [
        (["pretrain", "domain=genomic", f"data.store={tmp_path / 'nostore'}", run], 2, ("data.store",)),
        (["pretrain", "domain=genomic", f"data.store={notstore}", run], 2, ("notstore",)),
        (["pretrain", "domain=genomic", f"data.store={g.store}", run, "train.stepz=3"], 2, ("stepz",)),
        (["pretrain", "domain=genomic", f"data.store={g.store}", run, "train.steps=-4"], 2, ("train.steps",)),
        (["pretrain", "domain=tabular", f"data.store={g.store}", run], 2, ("genomic",)),
        (["pretrain", "domain=genomic", f"data.store={g.store}", run, "domain.tokens=words"], 2, ("tokens",)),
        (["pretrain", "domain=genomic", f"data.store={g.store}", f"run.dir={tmp_path / 'plain' / 'r'}"], 2,
         ("run.dir",)),
        (["pretrain", "--fast", f"data.store={g.store}"], 2, ("--fast",)),
    ]


@pytest.mark.parametrize("case", range(8))
def test_pretrain_malformed(runs, tmp_path, capsys, case):
    argv, code, needles = _pretrain_cases(runs, tmp_path)[case]
    run_cli(capsys, argv, code, *needles)


# ---------------------------------------------------------------- help
@pytest.mark.parametrize("command,needle", [("infill", "input formats"), ("embed", "pooling"),
                                            ("probe", "label_column")])
def test_each_command_prints_its_own_help(capsys, command, needle):
    from encoderkit.cli import main

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: encoderkit {command}") and needle in out
    if command == "infill":
        from encoderkit.registry import available_domains, get_domain

        for name in available_domains():
            assert get_domain(name).input_formats in out


def test_outputs_in_new_folders_are_created_and_a_failure_leaves_no_folder(runs, tmp_path, capsys):
    from encoderkit.cli import main

    g = runs["genomic"]
    bad = malformed("truncated-gz", g.raw[0], tmp_path / "bad")
    run_cli(capsys, ["ingest", "domain=genomic", f"input={bad}", f"output={tmp_path / 'new' / 'o.zarr'}"], 1)
    assert not (tmp_path / "new").exists()
    assert main(["ingest", "domain=genomic", f"input={g.raw[0]}", f"output={tmp_path / 'a' / 'o.zarr'}"]) == 0
    assert main(["embed", f"checkpoint={g.dir}", f"input={g.store}", f"output={tmp_path / 'b' / 'e.npy'}"]) == 0
    assert main(["infill", f"checkpoint={g.dir}", f"input={g.raw[0]}", f"output={tmp_path / 'c' / 'o.fa'}"]) == 0
    assert (tmp_path / "a" / "o.zarr").is_dir() and (tmp_path / "b" / "e.npy").is_file()
    assert (tmp_path / "c" / "o.fa").is_file()


def test_a_comma_value_is_refused_as_a_sweep_with_the_list_spelled_out(tmp_path, capsys):
    """`feature_columns=g,h` is a Hydra sweep (two runs), not a list: ingest and impute met a
    sweep object and printed a traceback (session-40 audit)."""
    src = tmp_path / "t.csv"
    src.write_text("a,b,c\n1,2,3\n4,,6\n7,8,9\n")
    refuses_cleanly(capsys, tmp_path, ["ingest", "domain=tabular", f"input={src}",
                                       f"output={tmp_path / 's.zarr'}", "exclude=a,b"], 2,
                    "exclude=a,b is a sweep", "exclude=[a,b]")
    refuses_cleanly(capsys, tmp_path, ["impute", f"input={src}", f"output={tmp_path / 'o.csv'}",
                                       "exclude=a,c"], 2, "exclude=a,c is a sweep", "exclude=[a,c]")
    # ingest's input takes the plain comma form as several files
    from encoderkit.cli import main
    from encoderkit.data.store import RecordStore

    other = tmp_path / "u.csv"
    other.write_text("a,b,c\n2,3,4\n5,6,\n")
    assert main(["ingest", "domain=tabular", f"input={src},{other}", f"output={tmp_path / 's.zarr'}"]) == 0
    assert len(RecordStore(str(tmp_path / "s.zarr"))) == 5


def test_a_reader_that_goes_away_ends_the_command_quietly(capsys, monkeypatch):
    """`encoderkit finetune --help | head -1` printed a BrokenPipeError traceback and 'this
    is a bug' when head closed the pipe first."""
    from encoderkit import cli
    from encoderkit.tasks import cli as tasks_cli

    def closed(*_a, **_k):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(tasks_cli, "run", closed)
    assert cli.main(["finetune", "--help"]) == 141
    err = capsys.readouterr().err
    assert "Traceback" not in err and "bug" not in err


def test_infill_refuses_an_output_named_as_another_kind_of_file(runs, tmp_path, capsys):
    """`infill output=x.xlsx` wrote delimited text under the .xlsx name (exit 0); the check
    is the one impute makes (encoderkit.outputs.check_output_kind), before any fill."""
    import pandas as pd

    frame = pd.read_csv(runs["tabular"].raw[0]).iloc[:10]
    frame.iloc[0, 1] = None
    part = tmp_path / "part.csv"
    frame.to_csv(part, index=False)
    for name in ("o.xlsx", "o.npy"):
        refuses_cleanly(capsys, tmp_path, ["infill", f"checkpoint={runs['tabular'].dir}", f"input={part}",
                                           f"output={tmp_path / name}"], 2, "input is a table", ".parquet")
    from encoderkit.cli import main

    assert main(["infill", f"checkpoint={runs['tabular'].dir}", f"input={part}",
                 f"output={tmp_path / 'o.parquet'}"]) == 0
