"""A table given to predict / embed / infill in another form than the one trained on: code
columns as text ('6' for the category 6, as ``read_csv(dtype=str)`` or ``astype(str)``
gives), Arrow and nullable dtypes, arrays without column names. Each read the cells wrong
or said something the user could not act on (audit s43)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from domains.tabular import TabularDomain
from domains.tabular.schema import encode_frame, infer_schema, numeric_values
from encoderkit.errors import DataError


def train_frame(n: int = 70) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"pid": np.arange(n) % 7,  # codes 0..6: categorical, ints in the schema
                         "age": rng.integers(20, 80, n).astype(float),
                         "word": np.array(["a", "b", "c", "d", "e"])[np.arange(n) % 5],
                         "flag": np.arange(n) % 2 == 0})


def domain() -> TabularDomain:
    d = TabularDomain.from_frame(train_frame())
    kinds = {c["name"]: c["kind"] for c in d.schema["columns"]}
    assert kinds == {"pid": "categorical", "age": "numeric", "word": "categorical", "flag": "categorical"}
    return d


def codes(d: TabularDomain, frame: pd.DataFrame, column: str) -> np.ndarray:
    j = [c["name"] for c in d.schema["columns"]].index(column)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a known value is read without a word
        return encode_frame(frame, d.schema).cat[:, j]


@pytest.mark.parametrize("form", ["text", "text with .0", "spaced text", "float", "np.int64",
                                  "string", "string[pyarrow]", "arrow string", "category of text"])
def test_a_code_column_in_any_form_reads_as_its_categories(form):
    d = domain()
    x = train_frame()
    want = codes(d, x, "pid")
    assert (want > 0).all()
    pid = x["pid"]
    given = {"text": pid.astype(str), "text with .0": pid.astype(float).astype(str),
             "spaced text": " " + pid.astype(str) + " ", "float": pid.astype(float),
             "np.int64": pd.Series(list(pid.to_numpy()), dtype=object),
             "string": pid.astype(str).astype("string"),
             "string[pyarrow]": pid.astype(str).astype("string[pyarrow]"),
             "arrow string": pid.astype(str).astype(pd.ArrowDtype(pa.string())),
             "category of text": pid.astype(str).astype("category")}[form]
    assert (codes(d, x.assign(pid=given), "pid") == want).all()


def test_text_categories_match_their_text_and_booleans_as_ingest_stores_them():
    d = domain()
    x = train_frame()
    assert (codes(d, x.assign(word=x["word"].astype("string[pyarrow]")), "word") == codes(d, x, "word")).all()
    flag = codes(d, x, "flag")
    for form in (x["flag"].astype(str), x["flag"].astype(str).str.lower(), x["flag"].astype(int),
                 x["flag"].astype("boolean"), x["flag"].astype(pd.ArrowDtype(pa.bool_()))):
        assert (codes(d, x.assign(flag=form), "flag") == flag).all()


def test_a_number_cell_matches_the_category_written_as_that_number():
    # trained on text codes (read_csv(dtype=str)); given numbers: 6 and 6.0 are the category '6'
    d = TabularDomain.from_frame(train_frame().assign(pid=lambda f: f["pid"].astype(str)),
                                 ingest_options={"columns": {"pid": "categorical"}})
    assert d.schema["columns"][0]["categories"] == list("0123456")
    x = train_frame()
    want = codes(d, x.assign(pid=x["pid"].astype(str)), "pid")
    assert (want > 0).all()
    assert (codes(d, x.assign(pid=x["pid"].astype(float)), "pid") == want).all()


def test_values_the_schema_does_not_know_are_said_once_per_column_and_missing_cells_not():
    d = domain()
    x = train_frame().head(10).copy()
    x["pid"] = [9, 9, 8, None, None, 1, 2, 3, 4, 5]
    x["word"] = ["zz", None, "a", "b", "c", "d", "e", "a", "b", "c"]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        enc = encode_frame(x, d.schema)
    texts = [str(w.message) for w in said]
    assert len(texts) == 2, texts
    pid = next(t for t in texts if "'pid'" in t)
    assert "3 of its 8" in pid and "9" in pid and "8" in pid and "unknown category" in pid
    assert "not as a missing cell" in pid and "check that the column" not in pid
    assert any("'word'" in t and "1 of its 9" in t and "'zz'" in t for t in texts)
    assert (enc.cat[:3, 0] == 0).all() and enc.observed[:3, 0].all()  # unknown, not missing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encode_frame(train_frame().assign(pid=np.nan), d.schema)  # all missing: nothing to say
    with pytest.warns(UserWarning, match=r"'pid': 70 of its 70 .*check that the column holds"):
        encode_frame(train_frame().assign(pid="x"), d.schema)  # mostly unknown: a likely mistake


def fake_predict(d: TabularDomain):
    """The model's outputs for a masked example: every logit 0 (the first category, the
    middle bin), so that infill runs without training a model."""
    lay = d.layout

    def predict(examples):
        out = []
        for m in examples:
            p = int(np.sum(m.predict))
            out.append({"cat_logits": np.zeros((p, lay.num_cat_rows)),
                        "bin_logits": np.zeros((p, lay.num_bins)), "value": np.zeros(p)})
        return out
    return predict


def holes(x: pd.DataFrame, column: str) -> pd.DataFrame:
    x = x.copy()
    x.loc[[1, 4], column] = None
    return x


def quiet_infill(d: TabularDomain, x: pd.DataFrame) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return d.infill(x, fake_predict(d))


def test_the_fills_of_a_text_column_of_codes_are_text():
    d = domain()
    x = holes(train_frame().head(12).assign(pid=lambda f: f["pid"].astype(str).astype(object)), "pid")
    out = quiet_infill(d, x)["pid"]
    assert [type(v) for v in out] == [str] * 12  # '0', not 0, beside the observed '1'
    assert out.loc[1] == "0"
    # a column writing its numbers with a point keeps writing them so (astype(str) of floats)
    y = holes(train_frame().head(12).assign(pid=lambda f: f["pid"].astype(float).astype(str)), "pid")
    assert quiet_infill(d, y).loc[1, "pid"] == "0.0"


def test_a_category_column_of_text_is_filled_with_its_text_categories():
    d = domain()
    x = train_frame().head(12).assign(pid=lambda f: f["pid"].astype(str).astype("category"))
    x.loc[[1, 4], "pid"] = np.nan
    out = quiet_infill(d, x)["pid"]
    assert out.loc[1] == "0" and all(isinstance(c, str) for c in out.cat.categories)


def test_the_fills_of_a_string_column_of_whole_numbers_are_whole_numbers():
    d = domain()
    x = train_frame().head(12).assign(age=lambda f: f["age"].map(lambda v: f"{v:g}").astype("string"))
    x.loc[[2, 5], "age"] = pd.NA
    out = quiet_infill(d, x)["age"]
    assert out.dtype == x["age"].dtype
    assert out.str.fullmatch(r"\d+").all(), list(out)  # '49', not '49.0'


NULLABLE = {
    "arrow string": pd.Series(["a", "1.5", None], dtype=pd.ArrowDtype(pa.string())),
    "arrow large_string": pd.Series(["a", "1.5", None], dtype=pd.ArrowDtype(pa.large_string())),
    "string[pyarrow]": pd.Series(["a", "1.5", None], dtype="string[pyarrow]"),
    "string": pd.Series(["a", "1.5", None], dtype="string"),
    "arrow int": pd.Series([None, 1.5, None], dtype=pd.ArrowDtype(pa.float64())),
    "arrow bool": pd.Series([None, True, None], dtype=pd.ArrowDtype(pa.bool_())),
    "Float64": pd.Series([pd.NA, 1.5, pd.NA], dtype="Float64"),
    "boolean": pd.Series([pd.NA, True, pd.NA], dtype="boolean"),
}


@pytest.mark.parametrize("name", list(NULLABLE))
def test_numbers_of_any_arrow_or_nullable_column_are_float64_with_nan(name):
    v = numeric_values(NULLABLE[name])
    assert v.dtype == np.float64 and isinstance(v, np.ndarray)
    assert np.isnan(v[[0, 2]]).all() and v[1] in (1.5, 1.0)


@pytest.mark.parametrize("dtype", [pd.ArrowDtype(pa.string()), pd.ArrowDtype(pa.large_string()),
                                   "string[pyarrow]", "string"])
def test_a_text_column_read_with_the_arrow_backend_is_categories(dtype):
    words = pd.Series(["student", "farming", "white collar", None] * 10, dtype=dtype)
    frame = pd.DataFrame({"occupation": words, "age": np.arange(40.0)})
    schema, _ = infer_schema(frame, np.ones(40, dtype=bool))
    assert schema["columns"][0]["kind"] == "categorical"
    assert schema["columns"][0]["categories"] == ["farming", "student", "white collar"]


def test_an_array_or_unnamed_columns_are_told_to_come_with_the_columns_names():
    d = domain()
    x = train_frame()
    for data in (x.to_numpy(), pd.DataFrame(x.to_numpy())):
        with pytest.raises(DataError) as e:
            d.to_records(data)
        said = str(e.value)
        assert "c0" not in said and "no column names" in said
        assert "['pid', 'age', 'word', 'flag']" in said and "DataFrame" in said
