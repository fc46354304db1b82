"""`encoderkit impute`'s output names: compressed text outputs (.zip too), compression
refused where the format cannot carry it, a folder that does not exist yet, the mode of a
copied file, and a UCR archive .tsv (a series file without a header) told from a table."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.impute import infer_domain
from tests.test_impute import TINY, anes


def _holed(tmp_path, name: str = "t.csv"):
    truth = anes(60)
    frame = truth.mask(np.random.default_rng(0).random(truth.shape) < 0.1)
    src = tmp_path / name
    frame.to_csv(src, index=False)
    return frame, src


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_table_to_a_zip_in_a_new_folder(tmp_path, capsys):
    frame, src = _holed(tmp_path)
    out = tmp_path / "new" / "deeper" / "filled.csv.zip"
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 0
    with zipfile.ZipFile(out) as z:  # a real zip archive holding one CSV
        assert len(z.namelist()) == 1
    back = pd.read_csv(out)
    assert list(back.columns) == list(frame.columns) and back.notna().all().all()
    obs = frame.notna().to_numpy()
    np.testing.assert_array_equal(back.to_numpy()[obs], pd.read_csv(src).to_numpy()[obs])


def test_a_compressed_binary_output_is_refused_before_any_work(tmp_path, capsys):
    x = np.sin(np.arange(200) / 5.0)
    x[50:55] = np.nan
    src = tmp_path / "s.npy"
    np.save(src, x)
    for name in ("out.npy.gz", "out.npz.zip", "out.parquet.xz"):
        assert main(["impute", f"input={src}", f"output={tmp_path / name}", *TINY]) == 2
        err = capsys.readouterr().err
        assert "compressed" in err and "drop the compression suffix" in err and "Traceback" not in err
        assert not (tmp_path / name).exists()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_an_output_named_as_another_kind_of_file_is_refused_before_training(tmp_path, capsys):
    """The writers follow the data, not the name: a table went out as CSV text under a .npy
    name and a series array as .npy bytes under a .csv name, both with exit 0."""
    _, table = _holed(tmp_path)
    x = np.sin(np.arange(200) / 5.0)
    x[50:55] = np.nan
    arr, arrs = tmp_path / "s.npy", tmp_path / "s.npz"
    np.save(arr, x)
    np.savez(arrs, a=x, b=x[:150])
    for src, name, kind in ((table, "o.npy", "a table"), (table, "o.npz", "a table"),
                            (arr, "o.csv", "one array"), (arr, "o.npz", "one array"),
                            (arr, "o.parquet", "one array"), (arrs, "o.npy", "a dict of series")):
        assert main(["impute", f"input={src}", f"output={tmp_path / name}", *TINY]) == 2, name
        err = capsys.readouterr().err
        assert f"input is {kind}" in err and "Traceback" not in err and "fitting" not in err
        assert not (tmp_path / name).exists()
    # a series table is written as text or Parquet (since s44), never as an array
    series = tmp_path / "series.csv"
    pd.DataFrame({"time": np.arange(200), "v": x}).to_csv(series, index=False)
    assert main(["impute", f"input={series}", f"output={tmp_path / 'o.npy'}", "domain=timeseries",
                 *TINY]) == 2
    assert "input is a table" in capsys.readouterr().err


def test_nothing_missing_copies_with_the_usual_mode_and_rewrites_another_kind(tmp_path, capsys):
    src = tmp_path / "complete.csv"
    anes(40).to_csv(src, index=False)
    out = tmp_path / "sub" / "same.csv"
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 0
    assert out.read_bytes() == src.read_bytes()
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    gz = tmp_path / "same.csv.gz"
    assert main(["impute", f"input={src}", f"output={gz}", *TINY]) == 0
    assert gz.read_bytes()[:2] == b"\x1f\x8b"  # gzip, not the CSV's bytes under a .gz name
    pd.testing.assert_frame_equal(pd.read_csv(gz), pd.read_csv(src))


def test_a_ucr_tsv_is_a_series_file_refused_before_training(tmp_path, capsys):
    src = tmp_path / "Toy_TRAIN.tsv"
    src.write_text("1\t0.5\t0.7\tNaN\t0.1\n2\t1.5\t1.2\t1.1\t0.9\n1\t0.4\t0.6\t0.8\t0.2\n")
    assert infer_domain(str(src), {}) == "timeseries"
    table = tmp_path / "table.tsv"
    table.write_text("a\tb\n1\t2\n3\t\n")
    assert infer_domain(str(table), {}) == "tabular"
    out = tmp_path / "out.tsv"
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 2
    err = capsys.readouterr().err
    assert "cannot write back" in err and "Traceback" not in err and not out.exists()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_compressed_outputs_hold_the_files_name_and_separator(tmp_path, capsys):
    """A .zip holds one member named as the output without .zip (not the writer's temporary
    name, nor 'zip'), for tables and series alike; a .tsv.gz table is tab-separated."""
    _, src = _holed(tmp_path)
    assert main(["impute", f"input={src}", f"output={tmp_path / 'filled.csv.zip'}", *TINY]) == 0
    assert zipfile.ZipFile(tmp_path / "filled.csv.zip").namelist() == ["filled.csv"]
    series = tmp_path / "s.csv"
    x = np.sin(np.arange(60) / 4.0)
    x[20:23] = np.nan
    pd.DataFrame({"time": np.arange(60), "x": x}).to_csv(series, index=False)
    assert main(["impute", f"input={series}", f"output={tmp_path / 'sf.csv.zip'}", "domain.patch=4", *TINY]) == 0
    assert zipfile.ZipFile(tmp_path / "sf.csv.zip").namelist() == ["sf.csv"]
    tsv = tmp_path / "t.tsv.gz"
    frame, _ = _holed(tmp_path, "unused.csv")
    frame.to_csv(tsv, sep="\t", index=False)
    assert main(["impute", f"input={tsv}", f"output={tmp_path / 'f.tsv.gz'}", *TINY]) == 0
    import gzip

    with gzip.open(tmp_path / "f.tsv.gz", "rt") as fh:
        header = fh.readline().rstrip("\n")
    assert header.split("\t") == list(frame.columns)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
@pytest.mark.parametrize("compressed", [".zip", ".xz", ".bz2"])
def test_a_compressed_table_impute_wrote_is_read_back_as_input(tmp_path, capsys, compressed):
    """Every compression impute writes is one it reads: a table (pyarrow reads .gz / .bz2 /
    .zst by itself, .xz and .zip were refused as 'unsupported file type') and a series file
    (its holed copy lost the .csv of x.csv.zip) filled from a compressed file, with every
    observed cell written as the input's text (it was re-printed by pandas), and read as the
    plain file."""
    frame, src = _holed(tmp_path)
    packed = tmp_path / f"t.csv{compressed}"
    pd.read_csv(src).to_csv(packed, index=False)
    out = tmp_path / f"f.csv{compressed}"
    assert main(["impute", f"input={packed}", f"output={out}", *TINY]) == 0
    assert pd.read_csv(out).notna().all().all()
    obs = frame.notna().to_numpy()

    def text(path):
        return pd.read_csv(path, dtype=str, keep_default_na=False).to_numpy()
    np.testing.assert_array_equal(text(out)[obs], text(packed)[obs])  # observed cells: the input's text
    from domains.tabular.schema import read_table

    pd.testing.assert_frame_equal(read_table(str(packed)).frame, read_table(str(src)).frame)
    series = tmp_path / f"s.csv{compressed}"
    x = np.sin(np.arange(60) / 4.0)
    x[20:23] = np.nan
    pd.DataFrame({"time": np.arange(60), "x": x}).to_csv(series, index=False)
    assert main(["impute", f"input={series}", f"output={tmp_path / 'sf.csv'}", "domain.patch=4", *TINY]) == 0
    assert pd.read_csv(tmp_path / "sf.csv")["x"].notna().all()


def test_a_zip_of_two_tables_is_refused_naming_them(tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as z:
        z.writestr("a.csv", "x,y\n1,\n")
        z.writestr("b.csv", "x,y\n2,3\n")
    assert main(["ingest", "domain=tabular", f"input={tmp_path / 'two.csv.zip'}",
                 f"output={tmp_path / 's.zarr'}"]) != 0
    err = capsys.readouterr().err
    assert "two.csv.zip" in err and "holds 2 (a.csv, b.csv)" in err
    assert not (tmp_path / "s.zarr").exists()


def test_a_zst_output_without_zstandard_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """pandas writes .zst only with the zstandard package: without it impute trained for
    minutes, then failed with a traceback. Now a usage error naming the fix, before work
    (impute, and the same check in predict and infill)."""
    import builtins

    from encoderkit.data.textfiles import check_codec
    from encoderkit.errors import UsageError

    real = builtins.__import__

    def no_zstandard(name, *args, **kw):
        if name == "zstandard":
            raise ImportError("No module named 'zstandard'")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_zstandard)
    _, src = _holed(tmp_path)
    work = tmp_path / "work"
    assert main(["impute", f"input={src}", f"output={tmp_path / 'f.csv.zst'}", f"run_dir={work}", *TINY]) == 2
    err = capsys.readouterr().err
    assert "zstandard" in err and "f.csv.zst" in err and "Traceback" not in err
    assert not (tmp_path / "f.csv.zst").exists() and not (work / "input.zarr").exists()
    with pytest.raises(UsageError, match="zstandard"):
        check_codec(str(tmp_path / "p.csv.zst"))
    check_codec(str(tmp_path / "p.csv.gz"))  # the standard library's codecs: nothing to check


def test_a_zst_series_file_without_zstandard_is_a_one_line_error(tmp_path, capsys):
    """pandas reads a .zst series file only with the zstandard package: without it, ingest
    and impute ended in a traceback ('this is a bug'); now a data error naming the file and
    the fix, and no store left behind. (pyarrow reads .zst tables by itself.)"""
    import importlib.util

    import pyarrow as pa

    if importlib.util.find_spec("zstandard") is not None:
        pytest.skip("zstandard is installed: the file reads")
    src = tmp_path / "s.csv.zst"
    with pa.CompressedOutputStream(str(src), "zstd") as fh:
        fh.write(("time,x\n" + "".join(f"{i},{np.sin(i / 4):.4f}\n" for i in range(40))).encode())
    assert main(["ingest", "domain=timeseries", f"input={src}", f"output={tmp_path / 's.zarr'}"]) == 1
    err = capsys.readouterr().err
    assert "s.csv.zst" in err and "zstandard" in err and "bug" not in err
    assert not (tmp_path / "s.zarr").exists()
