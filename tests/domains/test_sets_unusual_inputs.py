"""Sets domain: unusual inputs are refused at ingest with one line naming the file, the
set / line and the problem, and leave no store behind; valid inputs ingest as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from domains.sets import SetsDomain
from domains.sets.io import COORD_EXTENT_MAX
from encoderkit.core.rope import Rotary
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError

F32_MAX = float(np.finfo(np.float32).max)


def write(tmp_path: Path, text: str, name: str = "sets.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def ingest_file(tmp_path: Path, path: str, **options) -> RecordStore:
    ingest("sets", [path], str(tmp_path / "s.zarr"), progress=False, verbose=False, **options)
    return RecordStore(str(tmp_path / "s.zarr"))


def refused(tmp_path: Path, path: str, **options) -> str:
    """The one-line message of the DataError ingest raises; no store is left behind."""
    with pytest.raises(DataError) as info:
        ingest_file(tmp_path, path, **options)
    assert not (tmp_path / "s.zarr").exists()
    message = str(info.value)
    assert "\n" not in message and path in message
    return message


# ---- coordinates the model cannot hold as float32 positions ------------------------------

def test_coordinates_whose_extent_overflows_float32_positions_are_refused(tmp_path):
    rows = "".join(f"0,{i * 1e300!r},{0.2 * i!r},{i % 3}\n" for i in range(4))
    path = write(tmp_path, "set,x,y,f\n" + rows)
    message = refused(tmp_path, path)
    # the elements with the largest and the smallest x, by element and line
    assert "set '0'" in message and "'x'" in message and "rescale" in message
    assert "element 3 (line 5)" in message and "3e+300" in message and "element 0 (line 2)" in message


@pytest.mark.parametrize("low, high", [(-1e308, 1e308), (0.0, 2 * COORD_EXTENT_MAX)])
def test_refused_extent_in_every_reader(tmp_path, low, high):
    """The same check for .npz and Python sets, and for spans whose float64 difference
    itself overflows; the coordinate is named by the file's / option's names."""
    coords = np.array([[low, 0.0], [0.0, 1.0], [high, 2.0]])
    npz = tmp_path / "sets.npz"
    np.savez(npz, offsets=np.array([0, 3]), coords=coords, features=np.ones(3),
             coord_names=np.array(["east", "north"]), set_ids=np.array(["s"]))
    message = refused(tmp_path, str(npz))
    assert "set 's'" in message and "'east'" in message and "element 2" in message
    from domains.sets import ingest_sets
    with pytest.raises(DataError, match=r"set '0'.*element 2.*'x'"):
        ingest_sets([{"coords": coords, "features": np.ones(3)}], str(tmp_path / "p.zarr"))
    assert not (tmp_path / "p.zarr").exists()


def test_largest_allowed_extent_keeps_positions_views_and_rotary_finite(tmp_path):
    """The bound is the one that breaks: at it, featurize, augment, the contrastive views
    and the rotary tables (axial and mixed) are all finite."""
    e = COORD_EXTENT_MAX
    rows = [f"0,{x!r},{y!r},{f}\n" for x, y, f in [(0.0, 0.0, 1), (e, 0.0, 2), (e, e, 3),
                                                     (0.0, e, 4), (e / 2, e / 3, 5)]]
    store = ingest_file(tmp_path, write(tmp_path, "set,x,y,f\n" + "".join(rows)))
    assert store[0]["coords"][:, 0].max() == pytest.approx(e, rel=1e-15)  # stored as float64
    domain = SetsDomain(store.schema, random_rotation=True, jitter=0.5)
    rng = np.random.default_rng(0)
    example = domain.featurize({**store[0], "_index": 0})
    positions = [example.positions, domain.augment(example, rng).positions,
                 *(v.positions for v in domain.views(example, rng))]
    for pos in positions:
        assert np.isfinite(pos).all()
        for mode in ("axial", "mixed"):
            rotary = Rotary(8, [2, 2], [100.0, 100.0], mode=mode, num_heads=2)
            cos, sin = rotary(torch.as_tensor(pos))
            assert torch.isfinite(cos).all() and torch.isfinite(sin).all()


def test_large_absolute_coordinates_with_a_small_extent_still_ingest(tmp_path):
    """Map-like coordinates (far from 0, close to each other) are what the float64 store
    and the per-set origin are for: accepted, stored exactly."""
    path = write(tmp_path, "set,x,y,f\n0,5e39,1e6,1\n0,5.0000000001e39,1.000001e6,2\n1,-1e38,3,3\n")
    store = ingest_file(tmp_path, path)
    assert store[0]["coords"][1, 0] == pytest.approx(5.0000000001e39, rel=1e-15) and len(store) == 2


# ---- a numeric column with stray text -----------------------------------------------------

def test_stray_text_in_a_numeric_feature_column_is_named(tmp_path):
    path = write(tmp_path, "set,x,y,f,g\n0,0,0,0,0\n0,1,1,1,1\n0,2,2,abc,2\n1,3,3,3,3\n")
    message = refused(tmp_path, path)
    assert "'f'" in message and "line 4" in message and "'abc'" in message
    assert "feature_columns=[g]" in message  # how to leave the column out


def test_stray_text_in_the_only_feature_column_is_named_not_a_missing_target(tmp_path):
    path = write(tmp_path, "set,x,y,f\n0,0,0,0\n0,1,1,abc\n0,2,2,2\n")
    message = refused(tmp_path, path)
    assert "'f'" in message and "line 3" in message and "'abc'" in message
    assert "neither item ids nor features" not in message


def test_excluding_the_column_with_feature_columns_ingests(tmp_path):
    path = write(tmp_path, "set,x,y,f,g\n0,0,0,0,0\n0,1,1,1,1\n0,2,2,abc,2\n")
    store = ingest_file(tmp_path, path, feature_columns=["g"])
    assert store.schema["feature_names"] == ["g"]


def test_text_columns_are_still_left_out_and_valid_files_ingest_as_before(tmp_path):
    """A column of text (a label, a name) is no feature; numbers with holes and 'NA' are."""
    path = write(tmp_path, "set,x,y,label,f,g\n0,0,0,cat,1,NA\n0,1,1,dog,,2\n"
                           "1,2,2,cat,3,3\n1,3,3,7,4,4\n")
    store = ingest_file(tmp_path, path)
    s = store.schema
    assert s["feature_names"] == ["f", "g"] and s["coord_names"] == ["x", "y"]
    np.testing.assert_array_equal(store[0]["features"], np.array([[1, np.nan], [np.nan, 2]], np.float32))
    np.testing.assert_array_equal(store[1]["coords"], [[2.0, 2.0], [3.0, 3.0]])


# ---- a duplicated column name in the header -----------------------------------------------

@pytest.mark.parametrize("header, column", [("set,x,x,f", "x"), ("set,x,y,f,f", "f"),
                                            ("set,set,x,y,f", "set")])
def test_duplicated_header_names_are_refused_naming_the_column(tmp_path, header, column):
    width = header.count(",") + 1
    rows = "".join(",".join(["0"] + [str(i + j) for j in range(width - 1)]) + "\n" for i in range(3))
    message = refused(tmp_path, write(tmp_path, header + "\n" + rows))
    assert f"{column!r}" in message and "header" in message
    assert "coord_columns" not in message and f"{column}.1" not in message


def test_duplicated_header_is_refused_at_inference_too(tmp_path):
    store = ingest_file(tmp_path, write(tmp_path, "set,x,y,f\n0,0,0,1\n0,1,1,2\n"))
    domain = SetsDomain(store.schema)
    bad = write(tmp_path, "set,x,y,f,f\n0,0,0,1,1\n", name="new.csv")
    with pytest.raises(DataError, match=r"new\.csv.*header.*'f' 2 times"):
        domain.read_input(bad)


# ---- a .tsv file (the sets reader accepts the suffix) -------------------------------------

def test_tsv_files_are_read_and_written_tab_separated(tmp_path):
    path = write(tmp_path, "set\tx\ty\tf\n0\t0\t0\t1\n0\t1\t1\t\n1\t2\t2\t3\n", name="sets.tsv")
    store = ingest_file(tmp_path, path)
    assert store.schema["feature_names"] == ["f"] and store.schema["coord_names"] == ["x", "y"]
    domain = SetsDomain(store.schema)
    frame = domain.read_input(path)
    out = str(tmp_path / "out.tsv")
    domain.write_output(frame, out)
    assert Path(out).read_text().splitlines()[0] == "set\tx\ty\tf"
