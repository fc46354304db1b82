"""Words pyarrow reads as a missing cell (``NA``, ``N/A``, ``null``) in a table's text columns
(``domains/tabular/words.py``): a category ``NA`` (North America) is a value when the file
leaves its holes empty and no number column holds such a word; otherwise missing, said per
column; ``keep_words`` keeps them; the choice is recorded in the schema, so a run reads a new
file the same way; the streamed ingest decides as the whole-file one. Reference: the cells
as written (pandas with ``keep_default_na=False``) and hand-made files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from domains.tabular import streaming
from domains.tabular.domain import TabularDomain
from domains.tabular.reading import read_table
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore


def _regions(path: Path, hole: str = "") -> Path:
    """60 rows: region NA / EU / APAC (NA: North America), y with a hole every 10th row
    written ``hole``."""
    rng = np.random.default_rng(0)
    region = rng.choice(["NA", "EU", "APAC"], 60)
    x = rng.normal(size=60).round(3)
    y = [hole if i % 10 == 0 else f"{v:.3f}" for i, v in enumerate(2 * x)]
    lines = ["region,x,y"] + [f"{r},{a},{b}" for r, a, b in zip(region, x, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _written(path: Path, column: str) -> pd.Series:
    return pd.read_csv(path, dtype=str, keep_default_na=False)[column]


def test_na_category_is_kept_where_the_file_leaves_holes_empty(tmp_path):
    path = _regions(tmp_path / "r.csv")
    res = read_table(str(path))
    truth = _written(path, "region")
    assert (res.frame["region"].astype(object).to_numpy() == truth.to_numpy()).all()
    assert res.kept_words == ["NA"]
    assert res.frame["y"].isna().sum() == 6  # the empty holes stay missing
    said = [m for m in res.messages if "'region'" in m]
    assert said and f"{int((truth == 'NA').sum())} cell(s) 'NA' kept as a value" in said[0]
    assert "missing_value=NA" in said[0]


def test_na_is_missing_where_numbers_write_holes_na_and_said_per_column(tmp_path):
    path = _regions(tmp_path / "r.csv", hole="NA")  # R's export: NA in the number column too
    res = read_table(str(path))
    truth = _written(path, "region")
    assert res.frame["region"].isna().sum() == int((truth == "NA").sum())
    assert res.kept_words == []
    said = [m for m in res.messages if "'region'" in m]
    assert len(said) == 1 and "'NA' read as missing" in said[0] and "keep_words=[NA]" in said[0]
    assert not [m for m in res.messages if "'y'" in m]  # a number column's NA: missing, no word
    kept = read_table(str(path), keep_words=["NA"])
    assert (kept.frame["region"].astype(object).to_numpy() == truth.to_numpy()).all()
    assert kept.frame["y"].isna().sum() == 6 and kept.frame["y"].dtype.kind == "f"


def test_serialised_holes_null_and_nan_stay_missing_unless_kept(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("name,x\nnull,1\nab,\nnan,3\nab,4\nnull,5\ncd,6\n")
    res = read_table(str(path))
    assert res.frame["name"].isna().sum() == 3  # 'null', 'nan': what a hole becomes as text
    assert any("'null' read as missing" in m for m in res.messages)
    kept = read_table(str(path), keep_words=["null"])
    assert list(kept.frame["name"].astype(object).fillna("<hole>")) == ["null", "ab", "<hole>", "ab", "null", "cd"]


def test_keep_words_option_is_checked():
    from domains.tabular.schema import check_ingest_options

    assert check_ingest_options({"keep_words": "NA"})["keep_words"] == ["NA"]
    with pytest.raises(ValueError, match="read as values already"):
        check_ingest_options({"keep_words": ["EU"]})
    with pytest.raises(ValueError, match="either a value or a missing cell"):
        check_ingest_options({"keep_words": ["NA"], "missing_value": "NA"})


def test_schema_records_the_words_kept_and_a_new_file_is_read_alike(tmp_path):
    path = _regions(tmp_path / "r.csv")
    ingest("tabular", str(path), str(tmp_path / "s.zarr"), progress=False, verbose=False)
    schema = RecordStore(str(tmp_path / "s.zarr")).schema
    assert schema["ingest_options"]["keep_words"] == ["NA"]
    region = next(c for c in schema["columns"] if c["name"] == "region")
    assert "NA" in region["categories"]
    new = tmp_path / "new.csv"  # no empty cell: alone, its NA would read as missing
    new.write_text("region,x,y\nNA,1.0,2.0\nEU,0.5,1.0\n")
    assert read_table(str(new)).frame["region"].isna().sum() == 1
    domain = TabularDomain(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # kept as recorded: nothing to say
        frame = domain.read_input(str(new))
    assert list(frame["region"].astype(object)) == ["NA", "EU"]


def _arrays(path: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(path), mode="r")
    out = {}

    def walk(g, prefix=""):
        for key, member in g.members():
            if isinstance(member, zarr.Group):
                walk(member, f"{prefix}{key}/")
            else:
                out[prefix + key] = member[...]
    walk(group)
    return out


@pytest.mark.parametrize("hole", ["", "NA"])
def test_streamed_ingest_decides_as_the_whole_file(tmp_path, monkeypatch, hole):
    path = _regions(tmp_path / "r.csv", hole=hole)
    stores = {}
    for stream in (False, True):
        monkeypatch.setattr(streaming, "STREAM_BYTES", 0 if stream else 1 << 62)
        out = tmp_path / f"s{int(stream)}.zarr"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the words are said as warnings too; the report is compared
            report = ingest("tabular", str(path), str(out), progress=False, verbose=False)
        stores[stream] = (_arrays(out), RecordStore(str(out)).schema, sorted(report.warnings))
    (a, sa, wa), (b, sb, wb) = stores[False], stores[True]
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert json.dumps(sa, sort_keys=True, default=str) == json.dumps(sb, sort_keys=True, default=str)
    assert [w for w in wa if "'NA'" in w] == [w for w in wb if "'NA'" in w] != []
    assert sa["ingest_options"]["keep_words"] == (["NA"] if hole == "" else [])
