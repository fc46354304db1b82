"""What a packager found (session 51, audit b): the genomic demo's ``--out`` replaces only a
folder the demo wrote; a user's own top-level ``domains`` package is named, not reported as a
bug; object-store URLs without their fsspec package and an attention backend missing here
are one-line errors; the declared dependencies are the ones the code imports; one version,
a LICENSE, and an sdist that holds what the README's commands need."""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata as metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


# ---------------------------------------------------------------- demo --out
def _demo_folder(path: Path, *, mark: bool = True) -> Path:
    """A folder as an earlier demo run left it (with or without the mark of this version)."""
    from domains.genomic.demo import DEMO_MARK

    (path / "data").mkdir(parents=True)
    (path / "data" / "train.fasta.gz").write_bytes(b"x")
    (path / "run" / "checkpoints").mkdir(parents=True)
    (path / "summary.json").write_text("{}")
    if mark:
        (path / DEMO_MARK).write_text("demo\n")
    return path


def test_demo_refuses_a_user_folder_and_keeps_its_files(tmp_path, capsys):
    from domains.genomic.demo import main

    mine = tmp_path / "myproject"
    mine.mkdir()
    (mine / "thesis.txt").write_text("my thesis")
    # before: shutil.rmtree(myproject), then a whole demo run in it
    code = main(["--out", str(mine), "--steps", "1", "--max-windows", "1", "--precision", "fp32"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and (mine / "thesis.txt").read_text() == "my thesis"
    assert len(err) == 1 and str(mine) in err[0] and "thesis.txt" in err[0] and "Traceback" not in err[0]
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.txt"]  # nothing written into it either


@pytest.mark.parametrize("kind", ["file", "symlink", "marked_with_user_file", "unmarked_lookalike"])
def test_demo_refuses_what_it_did_not_write(tmp_path, kind):
    from domains.genomic.demo import claim_out

    target = tmp_path / "out"
    if kind == "file":
        target.write_text("notes")  # before: NotADirectoryError traceback
    elif kind == "symlink":
        (tmp_path / "real").mkdir()
        (tmp_path / "real" / "keep.txt").write_text("k")
        target.symlink_to(tmp_path / "real")  # before: rmtree's OSError traceback
    elif kind == "marked_with_user_file":
        _demo_folder(target)
        (target / "notes.txt").write_text("mine")  # a user's file put into the demo's folder
    else:  # a project of the user's with a data/ and run/ folder: no mark, no record store
        _demo_folder(target, mark=False)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(UsageError, match="--out") as refused:
        claim_out(target)
    assert refused.value.exit_code == 2 and str(target) in str(refused.value)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def test_demo_replaces_its_own_folder_and_an_empty_one(tmp_path):
    from domains.genomic.demo import DEMO_MARK, claim_out

    own = _demo_folder(tmp_path / "own")
    (own / "run" / "data").mkdir()
    os.symlink(tmp_path / "elsewhere", own / "store.zarr")  # a link inside is removed, not followed
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("k")
    claim_out(own)
    assert sorted(p.name for p in own.iterdir()) == [DEMO_MARK]
    assert (tmp_path / "elsewhere" / "keep.txt").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    claim_out(empty)
    claim_out(tmp_path / "new" / "deep")  # made, with its parents
    assert [p.name for p in empty.iterdir()] == [DEMO_MARK]
    assert [p.name for p in (tmp_path / "new" / "deep").iterdir()] == [DEMO_MARK]


def test_demo_replaces_an_output_of_the_demo_before_the_mark(tmp_path):
    """Demo folders written before the mark existed hold the demo's record store."""
    from domains.genomic.demo import DEMO_MARK, claim_out
    from encoderkit.data.ingest import ingest

    old = _demo_folder(tmp_path / "old", mark=False)
    fasta = tmp_path / "a.fa"
    fasta.write_text(">r\nACGTACGTAC\n")
    ingest("genomic", [str(fasta)], str(old / "store.zarr"))
    claim_out(old)
    assert [p.name for p in old.iterdir()] == [DEMO_MARK]


# ---------------------------------------------------------------- a user's own `domains`
def test_a_users_domains_package_is_named_not_reported_as_a_bug(tmp_path):
    (tmp_path / "domains").mkdir()
    (tmp_path / "domains" / "__init__.py").write_text("# the user's own\n")
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]}).to_csv(tmp_path / "t.csv", index=False)
    # As installed from a wheel: the current folder first on sys.path (as `python -m` and a
    # notebook put it), then this tree's encoderkit; no editable-install finder that would map
    # `domains.tabular` back to the source tree whatever `domains` was found.
    script = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in "
              "getattr(f, '__module__', '')]; sys.path[:0] = ['', sys.argv[1]]; "
              "from encoderkit.cli import main; sys.exit(main(sys.argv[2:]))")
    done = subprocess.run([sys.executable, "-c", script, str(ROOT), "ingest", "domain=tabular", "input=t.csv",
                           "output=s.zarr"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    # before: exit 1, ModuleNotFoundError "No module named 'domains.tabular'" + "a bug in encoderkit"
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "bug" not in done.stderr
    assert str(tmp_path / "domains") in lines[-1] and "rename" in lines[-1]
    assert not (tmp_path / "s.zarr").exists()


def test_the_builtin_domains_are_not_reported_as_shadowed():
    from encoderkit.registry import get_domain, shadowing_domains

    assert shadowing_domains("domains.tabular:TabularDomain") is None
    assert shadowing_domains("mypkg.domain:Mine") is None  # a plug-in's own module is not looked at
    assert get_domain("tabular").name == "tabular"


# ---------------------------------------------------------------- object-store URLs
@pytest.fixture()
def missing_protocol():
    """A URL protocol whose fsspec implementation is a package that is not installed, as
    s3:// is without s3fs (s3fs itself is installed here, by the dev extra)."""
    from fsspec.registry import known_implementations, register_implementation

    register_implementation("ekmissing", "ek_no_such_fs_pkg.FileSystem", errtxt="Install ek_no_such_fs_pkg")
    yield "ekmissing"
    known_implementations.pop("ekmissing", None)


@pytest.fixture()
def table(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": rng.normal(size=20), "c": rng.choice(["x", "y"], 20)}).to_csv(path, index=False)
    return path


def test_ingest_to_a_url_without_its_package_is_one_line(missing_protocol, table, capsys):
    from encoderkit.cli import main

    code = main(["ingest", "domain=tabular", f"input={table}", f"output={missing_protocol}://bucket/x.zarr"])
    err = capsys.readouterr().err
    # before: ImportError traceback + "this is a bug in encoderkit"
    assert code == 1 and "Traceback" not in err and "bug" not in err, err
    assert "the ek_no_such_fs_pkg package" in err.strip().splitlines()[-1]


def test_reading_a_store_at_a_url_without_its_package_names_it(missing_protocol):
    from encoderkit.data.store import RecordStore, StoreError
    from encoderkit.data.store_zarr import url_package_problem

    with pytest.raises(StoreError, match="ek_no_such_fs_pkg package") as refused:
        RecordStore(f"{missing_protocol}://bucket/s.zarr")
    assert "not a record store" not in str(refused.value)  # before: "not a record store (... Install ...)"
    if importlib.util.find_spec("s3fs") is not None:  # the s3 extra (dev installs it)
        assert url_package_problem("s3://bucket/x.zarr") is None
    else:  # a floor venv (scripts/check_floors.sh) has no s3fs: it is named
        assert "s3fs" in url_package_problem("s3://bucket/x.zarr")
    assert url_package_problem("memory://x.zarr") is None and url_package_problem("local/x.zarr") is None


def test_embed_to_a_url_without_its_package_is_a_usage_error(missing_protocol, tmp_path, capsys):
    from encoderkit.cli import main

    store = tmp_path / "s.zarr"
    (store).mkdir()  # refused before the checkpoint is even looked at
    code = main(["embed", f"checkpoint={tmp_path / 'no_run'}", f"input={store}",
                 f"output={missing_protocol}://bucket/e.zarr"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "ek_no_such_fs_pkg" in err.strip().splitlines()[-1] and "output" in err


# ---------------------------------------------------------------- attention backends
def test_an_unavailable_backend_is_a_usage_error_naming_the_available_ones():
    import torch

    from encoderkit.core import Encoder, EncoderConfig
    from encoderkit.core.attention import BACKENDS, available_backends, check_backend

    missing = [n for n in BACKENDS if n not in available_backends("cpu")]
    if not missing:
        pytest.skip("every backend runs on this CPU")
    with pytest.raises(UsageError, match="available: \\['sdpa'") as refused:
        check_backend(missing[0], "cpu")
    assert refused.value.exit_code == 2
    with pytest.raises(UsageError, match="must be one of"):
        check_backend("nope", "cpu")
    # the forward of an encoder asked for it says the same (before: a plain ValueError, "a bug")
    enc = Encoder(EncoderConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                                backend=missing[0]))
    with pytest.raises(UsageError, match="not available"):
        enc(torch.zeros(3, 16), torch.zeros(3, 1), torch.tensor([0, 3], dtype=torch.int32), 3)


# ---------------------------------------------------------------- metadata
def _third_party_imports(folders: list[Path]) -> set[str]:
    """Top-level modules imported anywhere in ``folders`` that are neither stdlib nor ours."""
    found: set[str] = set()
    for folder in folders:
        for file in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in {"encoderkit", "domains"}}


def _dist(requirement: str) -> str:
    name = requirement.split(";")[0].split("[")[0]
    for sep in "<>=!~ ":
        name = name.split(sep)[0]
    return name.lower().replace("_", "-")


def test_declared_dependencies_are_the_imported_ones():
    project = PYPROJECT["project"]
    required = {_dist(r) for r in project["dependencies"]}
    optional = {_dist(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    owners = metadata.packages_distributions()
    used: dict[str, set[str]] = {}
    for module in _third_party_imports([ROOT / "encoderkit", ROOT / "domains"]):
        for dist in owners.get(module, [module]):
            used.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    # what a declared package itself requires (zarr's numcodecs, hydra's antlr4 parser) comes with
    # it; zstandard is optional, its absence a one-line error (encoderkit/data/textfiles.py)
    brought = {_dist(r) for d in required for r in metadata.requires(d) or [] if "extra ==" not in r}
    undeclared = {d: m for d, m in used.items() if d not in required | optional | brought | {"zstandard"}}
    assert not undeclared, f"imported by encoderkit / domains but not declared: {undeclared}"
    assert not required - set(used), f"declared but never imported: {sorted(required - set(used))}"
    # scipy and fsspec are imported when a command runs, not only by tests: not dev-only
    assert {"scipy", "fsspec"} <= required


def test_floors_match_what_the_code_and_zarr_need():
    project = PYPROJECT["project"]
    floors = {_dist(r): r.split(">=")[1].split(",")[0] for r in project["dependencies"] if ">=" in r}
    version = lambda text: tuple(int(x) for x in text.split("."))  # noqa: E731
    assert project["requires-python"].replace(" ", "") == ">=3.11"  # zarr 3 needs 3.11
    assert version(floors["torch"]) >= (2, 7)  # fully_shard(ignored_params=...) in train/distributed.py
    assert version(floors["zarr"]) >= (3, 0, 8)  # 3.0.0-3.0.7 are yanked (zarr.load deleted data)


def test_one_version_and_the_license():
    import encoderkit

    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "encoderkit.__version__"}
    assert metadata.version("encoderkit") == encoderkit.__version__
    # the Apache License 2.0 as apache.org publishes it (LICENSE-2.0.txt)
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == "3b83ef96387f14655fc854ddc3c6bd57"


def test_the_sdist_holds_the_tests_makefile_examples_and_configs(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout (the files an sdist is built from)")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    src = tmp_path / "src"
    for name in filter(None, listed):
        if not os.path.lexists(ROOT / name):
            continue  # deleted in the work tree, not yet in the index
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(ROOT / name):
            os.symlink(os.readlink(ROOT / name), src / name)
        else:
            shutil.copy2(ROOT / name, src / name)
    done = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                           "print(b.build_sdist(sys.argv[1]))", str(tmp_path / "dist")],
                          cwd=src, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with tarfile.open(tmp_path / "dist" / done.stdout.strip().splitlines()[-1]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    tests = {n for n in filter(None, listed) if n.startswith("tests/") and os.path.lexists(ROOT / n)}
    assert tests <= names, sorted(tests - names)[:5]  # before: 90 of 260 test files, no conftest.py
    assert {"Makefile", "LICENSE", "tests/conftest.py", "configs/config.yaml", "examples/genomic_quickstart.py",
            "benchmarks/RESULTS.md", "scripts/gpu_check.sh"} <= names


def test_demo_refuses_a_user_project_that_only_looks_like_an_old_output(tmp_path):
    """A user's data/, run/ and a record store named store.zarr, without the demo's mark: the
    fallback for outputs older than the mark took any store as the demo's (review r2)."""
    from domains.genomic.demo import claim_out
    from encoderkit.data.ingest import ingest

    mine = _demo_folder(tmp_path / "mine", mark=False)
    (mine / "data" / "precious.csv").write_text("a,b\n1,2\n")
    fasta = tmp_path / "a.fa"
    fasta.write_text(">r\nACGTACGTAC\n")
    ingest("genomic", [str(fasta)], str(mine / "store.zarr"))
    before = sorted(str(p.relative_to(tmp_path)) for p in mine.rglob("*"))
    with pytest.raises(UsageError, match="--out"):
        claim_out(mine)
    assert sorted(str(p.relative_to(tmp_path)) for p in mine.rglob("*")) == before
