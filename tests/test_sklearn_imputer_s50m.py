"""EncoderImputer as a scikit-learn user meets it (audit d of session 50):

- a text column holding a blank or unit-only cell (``""``, ``" "``, ``"%"``, ``"$"``, a no-break
  space) crashed ingest with ``IndexError`` (``textforms._number_form``);
- an ``X`` whose columns are all missing (a ``ColumnTransformer``'s sparse columns) raised
  "no usable column" where scikit-learn's imputers return no column (or keep them);
- ``return_std`` said 0 (exact) at the cells of a kept empty column, which stay missing;
- an all-missing row got other values alone than in a batch (``IterativeImputer.transform``
  skips its chain when no cell of the batch is observed);
- the warnings named an array's column ``c3`` (the user's is ``x3``), said "dropped" of a
  column ``keep_empty_features`` keeps, and pointed at a line of encoderkit;
- a category unknown at ``transform`` was said twice, in fit-time words.

Fits train a tiny model for 3 steps: behaviour, not quality."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer

from encoderkit.data.textforms import _formatted_numbers, _number_form
from encoderkit.cli import main
from encoderkit.errors import UnknownValueWarning
from encoderkit.sklearn import EncoderImputer, _ingest_frame
from tests.test_sklearn import imputer

BLANKS = ["", " ", "%", "$", "\xa0", "\u202f%"]


def said(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and every warning it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, caught


def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": a + 0.3 * rng.normal(size=n), "c": rng.normal(size=n),
                          "k": np.where(a > 0.3, "hi", np.where(a < -0.3, "lo", "mid")).astype(object),
                          "e": np.nan})
    for c in "abck":
        frame.loc[rng.random(n) < 0.15, c] = np.nan
    return frame


@pytest.fixture(scope="module")
def fitted() -> EncoderImputer:
    """Two models, the default blend (iterative+forest) and selection, column ``e`` empty
    and kept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return imputer(n_models=2, keep_empty_features=True).fit(table())


# ---------------------------------------------------------------- F1: blank and unit-only text cells

@pytest.mark.parametrize("cell", BLANKS)
def test_a_blank_or_unit_only_cell_is_no_number(cell):
    # hand-checked: nothing of a number is left once the blanks and units go
    assert _number_form(cell) is None
    assert _formatted_numbers(["1,234", "2,345", cell], share=0.5) is True  # 2 of 3 are numbers
    assert _number_form("- 5") == ("plain", False) and _number_form("-$5") == ("plain", True)


@pytest.mark.parametrize("cell", BLANKS)
def test_fit_ingests_a_text_column_with_blank_cells(tmp_path, cell):
    """The store EncoderImputer.fit writes: the cell is a category of its own, as any text."""
    from encoderkit.data.store import RecordStore

    frame = pd.DataFrame({"x": np.arange(40.0), "t": pd.Series(["a", "b", cell, "a"] * 10, dtype=object)})
    _ingest_frame(frame, str(tmp_path / "s.zarr"), {})
    columns = {c["name"]: c for c in RecordStore(str(tmp_path / "s.zarr")).schema["columns"]}
    assert columns["t"]["kind"] == "categorical" and cell in columns["t"]["categories"]


def test_cli_ingest_of_a_percent_cell(tmp_path, capsys):
    """The CLI's reader, the same schema inference (``encoderkit impute`` crashed there too)."""
    rng = np.random.default_rng(0)
    rows = [f"{'' if i % 7 == 0 else round(rng.normal(), 4)},{rng.normal():.4f},{['a', 'b', '%', 'a'][i % 4]}"
            for i in range(40)]
    src = tmp_path / "pct.csv"
    src.write_text("x,y,t\n" + "\n".join(rows) + "\n")
    assert main(["ingest", "domain=tabular", f"input={src}", f"output={tmp_path / 's.zarr'}",
                 "progress=false"]) == 0, capsys.readouterr().err
    from encoderkit.data.store import RecordStore

    columns = {c["name"]: c for c in RecordStore(str(tmp_path / "s.zarr")).schema["columns"]}
    assert columns["t"]["categories"] == ["%", "a", "b"]


# ---------------------------------------------------------------- F2: nothing observed at fit

def test_all_missing_columns_give_what_simple_imputer_gives():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30), "s1": np.nan, "s2": np.nan})
    for keep in (False, True):
        ours = ColumnTransformer([("imp", EncoderImputer(keep_empty_features=keep), ["s1", "s2"])],
                                 remainder="passthrough").set_output(transform="pandas")
        ref = ColumnTransformer([("imp", SimpleImputer(keep_empty_features=keep), ["s1", "s2"])],
                                remainder="passthrough").set_output(transform="pandas")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out, want = ours.fit_transform(frame), ref.fit_transform(frame)
        assert out.columns.tolist() == want.columns.tolist()
        assert out[["remainder__a", "remainder__b"]].equals(want[["remainder__a", "remainder__b"]])
        if keep:  # kept, still missing (README; SimpleImputer writes 0 there)
            assert out[["imp__s1", "imp__s2"]].isna().all().all()


@pytest.mark.parametrize("keep", [False, True])
def test_all_missing_array_fits_nothing_and_says_so(keep):
    x = np.full((5, 2), np.nan)
    est, caught = said(EncoderImputer(keep_empty_features=keep).fit, x)
    ref = SimpleImputer(keep_empty_features=keep).fit(x)
    assert est.models_ == [] and est.empty_features_ == ["c0", "c1"]
    assert est.get_feature_names_out().tolist() == ref.get_feature_names_out().tolist()
    new = np.array([[1.5, np.nan], [np.nan, np.nan]])
    out, spread = est.transform(new, return_std=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SimpleImputer's "Skipping features ..."
        assert out.shape == ref.transform(new).shape
    if keep:  # observed cells as given, the rest missing, their figure NaN (no fill), 0 where observed
        np.testing.assert_array_equal(out, new)
        np.testing.assert_array_equal(spread, np.where(np.isnan(new), np.nan, 0.0))
    msgs = [w for w in caught if "entirely missing at fit" in str(w.message)]
    assert len(msgs) == 1 and "['x0', 'x1']" in str(msgs[0].message) and "'c0'" not in str(msgs[0].message)
    assert ("kept in transform's output" if keep else "left out of transform's output") in str(msgs[0].message)
    assert msgs[0].filename == __file__  # the caller's line, not encoderkit's


def test_all_missing_frame_with_a_placeholder_keeps_dtypes():
    frame = pd.DataFrame({"n": [-1, -1, -1], "t": ["?", "?", "?"]})
    est = EncoderImputer(missing_values="?", keep_empty_features=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(frame.assign(n=np.nan))
    out = est.transform(frame.assign(t=["x", "?", "y"]))
    assert out["n"].tolist() == [-1, -1, -1] and out["n"].dtype == frame["n"].dtype
    assert out["t"].tolist()[::2] == ["x", "y"] and pd.isna(out["t"].iloc[1])


# ---------------------------------------------------------------- F3: no figure where nothing is filled

def test_return_std_is_nan_at_cells_never_filled(fitted):
    frame = table()
    filled, std = fitted.transform(frame, return_std=True)
    assert filled["e"].isna().all() and std["e"].isna().all()  # was 0: "exact"
    observed = frame.notna().to_numpy()
    assert (std.to_numpy(dtype=float)[observed] == 0).all()
    holes = frame[["a", "b", "c"]].isna().to_numpy()
    assert np.isfinite(std[["a", "b", "c"]].to_numpy(dtype=float)[holes]).all()


# ---------------------------------------------------------------- F4: row independence

def test_an_all_missing_row_is_filled_alone_as_in_a_batch(fitted):
    frame = table()
    empty = pd.DataFrame([[np.nan] * 4 + [np.nan]], columns=frame.columns).astype(frame.dtypes.to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = fitted.transform(empty)
        twice = fitted.transform(pd.concat([empty, empty], ignore_index=True))
        batch = fitted.transform(pd.concat([empty, frame.iloc[:7]], ignore_index=True))
        whole = fitted.transform(frame)
        again = fitted.transform(pd.concat([frame.iloc[:7], empty], ignore_index=True))
    numbers = ["a", "b", "c"]
    np.testing.assert_array_equal(alone[numbers].to_numpy(float)[0], batch[numbers].to_numpy(float)[0])
    np.testing.assert_array_equal(twice[numbers].to_numpy(float)[1], batch[numbers].to_numpy(float)[0])
    assert alone["k"].iloc[0] == batch["k"].iloc[0]
    # the rows with values: as in any other batch
    pd.testing.assert_frame_equal(again.iloc[:7], whole.iloc[:7])


# ---------------------------------------------------------------- F5: the user's names, the caller's line

def test_warnings_name_an_arrays_columns_as_feature_names_out():
    x = table()[["a", "b", "c", "e"]].to_numpy()
    est, caught = said(imputer(keep_empty_features=True, select="model", blend="none").fit, x)
    assert est.get_feature_names_out().tolist() == ["x0", "x1", "x2", "x3"]
    empty = [w for w in caught if "entirely missing" in str(w.message)]
    assert len(empty) == 1, [str(w.message) for w in caught]
    text = str(empty[0].message)
    assert "['x3']" in text and "'c3'" not in text and "dropped" not in text and "kept" in text
    assert empty[0].filename == __file__
    (_, std), caught = said(est.transform, x, return_std=True)
    none = [w for w in caught if "return_std has no figure" in str(w.message)]
    assert len(none) == 1 and "x0, x1, x2" in str(none[0].message) and "c0" not in str(none[0].message)
    assert none[0].filename == __file__
    assert np.isnan(std[:, 3]).all()


# ---------------------------------------------------------------- F6: an unknown category, said once

@pytest.mark.parametrize("return_std", [False, True])
def test_an_unknown_category_is_said_once_per_column_in_transform_words(fitted, return_std):
    new = table(seed=1).iloc[:20].copy()
    new.loc[new.index[:3], "k"] = "NEW"
    observed = int(new["k"].notna().sum())
    _, caught = said(fitted.transform, new, return_std=return_std)
    unknown = [w for w in caught if issubclass(w.category, UnknownValueWarning)]
    assert len(unknown) == 1, [str(w.message) for w in unknown]  # was 2 (encoder path, forest vote)
    text = str(unknown[0].message)
    assert text.startswith("EncoderImputer.transform: column 'k'") and f"3 of its {observed} " in text
    assert "['NEW']" in text and "seen only in the rows held out" not in text
    assert unknown[0].filename == __file__
