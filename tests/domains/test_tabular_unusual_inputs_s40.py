"""Unusual tabular inputs at every reader (ingest, impute, predict / embed / infill on a
raw table): text in a column the schema reads as numbers, a tab-separated file named
.csv, infinite and float32-overflowing values, cells holding only spaces, and a header
cell with no name. Bad input is one clear error (or warning) naming the file, column and
row; nothing is silently read as something else."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular import TabularDomain
from domains.tabular.schema import check_ingest_options, encode_frame, infer_schema, read_table
from encoderkit.cli import main
from encoderkit.domain import IngestReport
from encoderkit.errors import DataError

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3", "progress=false"]


def numbers(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"f1": rng.normal(size=n), "f2": rng.normal(size=n),
                         "c": rng.choice(["x", "y", "z"], n)})


@pytest.fixture(scope="module")
def domain() -> TabularDomain:
    return TabularDomain.from_frame(numbers())


class ListWriter:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.records.append(dict(fields))
        return len(self.records) - 1


# ---------------------------------------------------------------- 1. text in a numeric column

def test_a_numeric_column_of_text_is_refused_at_predict_time(domain, tmp_path):
    """Every f1 cell 'cat': read as 40 missing cells, predictions as for an empty column
    (exit 0). A column the schema reads as numbers but mostly text is refused, as ingest
    would not have read it as numbers."""
    frame = numbers(seed=1)
    frame["f1"] = "cat"
    with pytest.raises(DataError, match=r"column 'f1': 40 of its 40 non-empty cells are not "
                                        r"numbers \(such as \['cat'\]"):
        domain.to_records(frame)
    with pytest.raises(DataError, match=r"column 'f1'"):
        domain.infill(frame, predict=lambda ex: [])
    path = tmp_path / "allcat.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as err:
        domain.read_records(str(path))
    assert str(path) in str(err.value)


def test_a_few_stray_words_in_a_numeric_column_are_a_warning_naming_column_row_and_count(domain, tmp_path):
    frame = numbers(seed=1)
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[3, "f2"] = "abc"
    frame.loc[7, "f2"] = "abc"
    with pytest.warns(UserWarning, match=r"column 'f2': 2 non-numeric cell\(s\) such as \['abc'\] "
                                         r"\(first at row 3\) read as missing"):
        recs = domain.to_records(frame)
    assert not recs[3]["observed"][1] and recs[4]["observed"][1]
    path = tmp_path / "onestr.csv"
    frame.to_csv(path, index=False)
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        domain.read_records(str(path))


def test_text_at_predict_time_follows_the_ingest_options(tmp_path):
    """``strict=true`` refuses one stray word at ingest: at predict too; a column forced
    numeric by ``columns={f1: numeric}`` may hold text at ingest: a warning at predict."""
    train = np.ones(40, dtype=bool)
    strict, _ = infer_schema(numbers(), train, strict=True)
    strict["ingest_options"] = check_ingest_options({"strict": True})
    frame = numbers(seed=2)
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[5, "f2"] = "?"
    with pytest.raises(DataError, match=r"column 'f2'.*strict"):
        encode_frame(frame, strict)
    forced_opts = {"columns": {"f1": "numeric"}}
    forced, _ = infer_schema(numbers(), train, **forced_opts)
    forced["ingest_options"] = check_ingest_options(forced_opts)
    frame = numbers(seed=2).assign(f1="cat")
    with pytest.warns(UserWarning, match=r"column 'f1': 40 non-numeric cell"):
        enc = encode_frame(frame, forced)
    assert not enc.observed[:, 0].any()


def test_ingest_reports_text_cells_once(tmp_path):
    """ingest's schema inference reports the stray words; encoding the same rows must not
    say it a second time."""
    frame = numbers()
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[4, "f2"] = "abc"
    report = IngestReport()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TabularDomain.ingest_frame(frame, ListWriter(), report, validation_fraction=0.0)
    said = [str(w.message) for w in caught if "'f2'" in str(w.message)]
    assert len(said) == 1, said


# ---------------------------------------------------------------- 2. delimiter hint

def test_a_tab_separated_csv_names_the_tab_visibly_and_the_fix_works(tmp_path):
    path = tmp_path / "tab.csv"
    numbers().to_csv(path, index=False, sep="\t")
    with pytest.raises(DataError) as err:
        read_table(str(path))
    msg = str(err.value)
    assert "delimiter='\\t'" in msg and "\t" not in msg.split("holds")[1], msg
    for typed in ("\\t", "tab", "'\\t'", "\t"):  # as a shell hands over delimiter='\t'
        opts = check_ingest_options({"delimiter": typed})
        assert opts["delimiter"] == "\t", typed
        assert read_table(str(path), opts["delimiter"]).frame.shape == (40, 3)


# ---------------------------------------------------------------- 3. numpy warnings

def test_an_infinite_value_is_one_error_without_numpy_warnings():
    frame = numbers()
    frame.loc[1, "f1"] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from numpy fails the test
        with pytest.raises(DataError, match=r"column 'f1' holds 1 infinite value.*row 1"):
            infer_schema(frame, np.ones(len(frame), dtype=bool))
        with pytest.raises(DataError, match=r"column 'f1' holds 1 infinite"):
            TabularDomain.ingest_frame(frame, ListWriter(), IngestReport())


def test_a_value_beyond_float32_once_standardised_is_refused_at_predict_time(domain):
    """Values around 1e300 in a column trained on values around 1: ``overflow encountered
    in cast``, the cell stored as inf, exit 0. As the readers of series and sets refuse a
    value float32 cannot hold, the column and row are named."""
    frame = numbers(seed=3)
    frame.loc[2, "f1"] = 1.5e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"column 'f1': 1 value\(s\) too large for float32.*"
                                            r"row 2: 1\.5e\+300"):
            domain.to_records(frame)
    frame.loc[2, "f1"] = 1e30  # far out, but float32 holds it once standardised: read
    assert domain.to_records(frame)[2]["observed"][0]


def test_huge_values_seen_in_training_still_ingest():
    """A column of values around 1e300 standardises to values near 1: kept, as before."""
    frame = numbers()
    frame["f1"] = frame["f1"] * 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = TabularDomain.ingest_frame(frame, ListWriter(), IngestReport(), validation_fraction=0.0)
    assert schema["columns"][0]["kind"] == "numeric"


# ---------------------------------------------------------------- 4. whitespace-only cells

def test_whitespace_only_cells_are_missing_in_every_reader(tmp_path):
    path = tmp_path / "padded.csv"
    path.write_text("a,b,c\n" + "".join(
        f"{v},{' ' if i in (2, 5) else i * 0.5},{'  ' if i == 3 else ' x '}\n"
        for i, v in enumerate([1.5, 2.25, 3.0, 4.5, 5.0, 6.75, 7.0, 8.5, 9.0, 10.25])))
    frame = read_table(str(path)).frame
    assert frame["b"].isna().tolist() == [i in (2, 5) for i in range(10)]
    assert frame["c"].isna().tolist() == [i == 3 for i in range(10)]
    assert pd.api.types.is_numeric_dtype(frame["b"].dtype)  # numbers, not text
    assert frame["c"].iloc[0] == " x "  # observed content as written: not stripped
    schema, messages = infer_schema(frame, np.ones(10, dtype=bool))
    assert {c["name"]: c["kind"] for c in schema["columns"]}["b"] == "numeric"
    assert not any("' '" in m for m in messages), messages
    one = tmp_path / "one.csv"  # one column: a line of spaces is a missing cell too
    one.write_text("a\n1.5\n   \n2.5\n")
    assert read_table(str(one), keep_rows=True).frame["a"].isna().tolist() == [False, True, False]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_fills_whitespace_only_cells(tmp_path, capsys):
    """Cells of spaces, numeric and categorical: impute said "no missing cell" or read
    ``' '`` as a category and a number column as text; they are holes, and filled."""
    frame = numbers(60)
    rows = [line.split(",") for line in frame.to_csv(index=False).splitlines()]
    rows[3][0], rows[8][1], rows[5][2] = " ", "   ", "  "  # data rows 2, 7 and 4
    src, out = tmp_path / "ws.csv", tmp_path / "filled.csv"
    src.write_text("\n".join(",".join(r) for r in rows) + "\n")
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 0
    said = capsys.readouterr()
    assert "non-numeric" not in said.out + said.err and "' '" not in said.out + said.err
    back = pd.read_csv(out, keep_default_na=False)
    assert pd.api.types.is_float_dtype(back["f1"]) and pd.api.types.is_float_dtype(back["f2"])
    assert back.loc[4, "c"] in {"x", "y", "z"}
    assert back.loc[0, "c"] == frame.loc[0, "c"] and back.loc[0, "f1"] == frame.loc[0, "f1"]


# ---------------------------------------------------------------- 5. a header cell with no name

@pytest.mark.parametrize("header,position", [("a,,c", 1), ("a, ,c", 1), (",a,c", 0)])
def test_a_column_with_no_name_is_read_under_its_blank_name(tmp_path, header, position):
    """The row index pandas writes by default (`df.to_csv(path)`, header `,a,b`) is such a
    column: it reads, under the name the header gives it; a nameless column without a value
    (a trailing separator) is dropped."""
    path = tmp_path / "noname.csv"
    path.write_text(header + "\n1,2,3\n4,,6\n")
    frame = read_table(str(path)).frame
    assert frame.shape == (2, 3) and not str(frame.columns[position]).strip()
    trailing = tmp_path / "trailing.csv"
    trailing.write_text("a,b,\n1,2,\n3,4,\n")
    assert list(read_table(str(trailing)).frame.columns) == ["a", "b"]


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_writes_a_blank_header_name_back_as_written(tmp_path, capsys):
    """The output's header said `a,Unnamed: 1,c` (pandas' name) for the file's `a,,c`; and a
    CSV written with pandas' row index (`,a,b`) imputes."""
    src, out = tmp_path / "noname.csv", tmp_path / "filled.csv"
    src.write_text("a,,c\n" + "".join(f"{i},{'' if i % 4 == 0 else i * 2},{i % 3}\n" for i in range(30)))
    assert main(["impute", f"input={src}", f"output={out}", *TINY]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "a,,c" and len(lines) == 31
    assert all(line.split(",")[1] for line in lines[1:])  # every hole filled
    indexed = tmp_path / "indexed.csv"
    pd.DataFrame({"x": np.arange(30.0), "y": [np.nan if i % 5 == 0 else i * 0.5 for i in range(30)]}).to_csv(indexed)
    filled = tmp_path / "indexed_filled.csv"
    assert main(["impute", f"input={indexed}", f"output={filled}", *TINY]) == 0
    assert filled.read_text().splitlines()[0] == ",x,y"
    assert pd.read_csv(filled, index_col=0)["y"].notna().all()
