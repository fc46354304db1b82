"""Three rules of reading a table that misfired on ordinary data (``domains/tabular``):

- ``numcodes.py``: decimals are codes only when two spellings differ by trailing zeros of
  the fraction (``3.1`` / ``3.10``); ``-0.0`` beside ``0.0`` (pandas writes a rounded
  negative so) and ``1`` beside ``1.0`` are one number;
- ``words.py``: ``NA`` in a text column is a value only when the file writes its holes empty
  (a column of numbers, or that text column itself, written bare: ``quoting.py``); R's ``write.csv``
  (numbers complete, ``NA`` for a missing text, ``""`` for an empty one) shows nothing, so its
  ``NA`` stays missing; a word kept is warned at ingest (``impute`` prints warnings only);
- ``bigints.py``: integers beyond int64 spread over several lengths (amounts in wei) are
  numbers, filled as such with the observed cells kept as written; ids, codes and hashes
  stay out of the model or categories.

References: hand-made files and their cells as written (csv module / pandas as text),
hand-computed cases, numpy's own random draws."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.tabular.domain import TabularDomain
from domains.tabular.numcodes import collapsing
from domains.tabular.reading import read_table
from encoderkit.data.ingest import ingest


def _kinds(frame: pd.DataFrame) -> dict[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.0})
    return {c["name"]: c["kind"] for c in domain.columns}


def _random_predict(domain: TabularDomain):
    def predict(examples):  # any outputs: decode keeps numbers inside the column's range
        lay, rng, out = domain.layout, np.random.default_rng(1), []
        for e in examples:
            k = int(e.predict.sum())
            out.append({"cat_logits": rng.normal(size=(k, lay.num_cat_rows)),
                        "bin_logits": rng.normal(size=(k, lay.num_bins)), "value": rng.normal(size=(k, 1))})
        return out
    return predict


# ------------------------------------------------------------------ decimals: codes or numbers

def test_rounded_column_crossing_zero_and_1_beside_1_0_stay_numbers(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": np.round(x, 3), "delta": np.round(x + rng.normal(0, 0.3, 200), 1),
                          "n": np.where(np.arange(200) % 2 == 0, "1", "1.0")})
    frame.loc[::20, "delta"] = np.nan
    path = tmp_path / "deltas.csv"
    frame.to_csv(path, index=False)
    written = path.read_text()
    assert ",-0.0," in written and ",0.0," in written  # both spellings of zero
    assert collapsing(["-0.0", "0.0"] * 10) is None and collapsing(["1", "1.0"] * 10) is None
    read = read_table(str(path)).frame
    assert read["delta"].dtype.kind == "f" and read["n"].dtype.kind in "fi"
    # the numbers as written (pandas' own reading of the file)
    np.testing.assert_array_equal(read["delta"].to_numpy(), pd.read_csv(path)["delta"].to_numpy())
    kinds = _kinds(read)
    assert kinds["delta"] == "numeric"


def test_version_codes_stay_codes_named_by_their_own_pair():
    cells = ["3.1", "3.10", "3.9", "-0.0", "0.0"] * 6  # the pair said: 3.1 / 3.10, not the zeros
    assert collapsing(cells) == ("3.1", "3.10")
    assert collapsing(["2.5", "2.50", "4.0"] * 6) == ("2.5", "2.50")
    assert collapsing(["-3.1", "3.10"] * 6) is None  # the sign differs: no spelling of one code
    frame = pd.DataFrame({"v": pd.Series(cells, dtype=object), "x": np.arange(float(len(cells)))})
    assert _kinds(frame)["v"] == "categorical"


def test_decimal_codes_file_is_read_as_text(tmp_path):
    path = tmp_path / "v.csv"
    cells = ["3.1", "3.10", "3.9", "-0.0", "0.0"] * 8
    path.write_text("v,x\n" + "".join(f"{c},{i}\n" for i, c in enumerate(cells)))
    read = read_table(str(path)).frame  # 3.1 and 3.10 written: codes, -0.0 kept as written
    assert list(read["v"].astype(object)) == cells
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TabularDomain.from_frame(read, {"validation_fraction": 0.0})
    said = [str(w.message) for w in caught if "'v'" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("column 'v': '3.1' and '3.10' are one number but two values")


# ------------------------------------------------------------------ NA words

def _r_style(path: Path) -> Path:
    """R's write.csv: numbers complete, region NA for a missing one, note "" (empty text)."""
    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        fh.write('"age","income","region","note"\n')
        for i in range(120):
            region = "NA" if i % 9 == 0 else '"' + str(rng.choice(["north", "south", "east"])) + '"'
            note = '""' if i % 4 == 0 else '"' + str(rng.choice(["ok", "late"])) + '"'
            fh.write(f"{18 + i % 60},{1000.5 + i},{region},{note}\n")
    return path


def test_r_write_csv_na_stays_missing_and_is_said(tmp_path):
    path = _r_style(tmp_path / "r.csv")
    res = read_table(str(path))
    written = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert res.frame["region"].isna().sum() == int((written["region"] == "NA").sum()) == 14
    said = [m for m in res.messages if "'region'" in m]
    assert len(said) == 1 and "14 cell(s) 'NA' read as missing" in said[0] and "keep_words=[NA]" in said[0]
    assert res.kept_words == []


def test_na_kept_where_a_number_column_writes_holes_empty_and_warned_at_ingest(tmp_path):
    path = tmp_path / "p.csv"  # pandas' to_csv: the number y leaves its holes empty
    rows = ["region,x,y"] + [f"{r},{i},{'' if i % 10 == 0 else i * 2}"
                             for i, r in enumerate(["NA", "EU", "APAC"] * 20)]
    path.write_text("\n".join(rows) + "\n")
    res = read_table(str(path))
    assert (res.frame["region"] == "NA").sum() == 20 and res.kept_words == ["NA"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ingest("tabular", str(path), str(tmp_path / "s.zarr"), progress=False, verbose=False)
    # a warning, as the schema's messages are: impute (ingest verbose=False) prints warnings only
    assert [str(w.message) for w in caught if "kept as a value" in str(w.message)] == \
        [f"{path}: column 'region': 20 cell(s) 'NA' kept as a value (the file's columns of numbers "
         f"leave their missing cells empty and hold no such word); missing_value=NA reads them as missing"]


def test_empty_text_cells_are_evidence_only_for_their_own_column_written_bare(tmp_path):
    path = tmp_path / "t.csv"  # the empty cells are another column's: R's write.table(quote=FALSE) so
    rows = ["region,note,x"] + [f"{r},{'' if i % 5 == 0 else 'ok'},{i}"  # writes "" beside NA
                                for i, r in enumerate(["NA", "EU", "APAC"] * 10)]
    path.write_text("\n".join(rows) + "\n")
    res = read_table(str(path))
    assert res.frame["region"].isna().sum() == 10 and res.kept_words == []
    own = tmp_path / "o.csv"  # region's own holes written empty, its text bare: pandas' to_csv
    rows = ["region,x"] + [f"{'' if i % 7 == 0 else r},{i}" for i, r in enumerate(["NA", "EU", "APAC"] * 10)]
    own.write_text("\n".join(rows) + "\n")
    res = read_table(str(own))
    assert (res.frame["region"] == "NA").sum() == 8 and res.frame["region"].isna().sum() == 5
    assert res.kept_words == ["NA"]
    quoted = tmp_path / "q.csv"  # R writes an empty string "" and every text quoted, NA bare
    cell = {"NA": "NA", "EU": '"EU"', "APAC": '"APAC"', "": '""', "ok": '"ok"'}
    rows = ['"region","note","x"'] + [f"{cell[r]},{cell['' if i % 5 == 0 else 'ok']},{i}"
                                      for i, r in enumerate(["NA", "EU", "APAC"] * 10)]
    quoted.write_text("\n".join(rows) + "\n")
    res = read_table(str(quoted))
    assert res.frame["region"].isna().sum() == 10 and res.kept_words == []


# ------------------------------------------------------------------ integers beyond int64

def _wei(path: Path, n: int = 400) -> Path:
    """ETH amounts in wei (lognormal: several lengths, some beyond 2**63), holes in them."""
    rng = np.random.default_rng(0)
    eth = np.round(rng.lognormal(0, 1.5, n), 4)
    wei = [str(int(round(e * 10 ** 4)) * 10 ** 14) for e in eth]
    gas = rng.integers(21000, 200000, n)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["gas", "value_wei"])
        for i, (g, w) in enumerate(zip(gas, wei)):
            out.writerow([g, "" if i % 20 == 7 else w])
    assert sum(int(w) > 2 ** 63 - 1 for w in wei) > 10
    return path


def test_amounts_beyond_int64_are_numbers_filled_with_observed_cells_kept(tmp_path):
    path = _wei(tmp_path / "wei.csv")
    frame = read_table(str(path)).frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.0})
    col = next(c for c in domain.columns if c["name"] == "value_wei")
    assert col["kind"] == "numeric"  # was 353 categories cut to 256
    assert any("value_wei" in str(w.message) and "amounts, modelled as numbers" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled = domain.infill(frame, _random_predict(domain))
    with open(path, newline="") as fh:
        written = [row["value_wei"] for row in csv.DictReader(fh)]
    hole = np.array([w == "" for w in written])
    assert list(filled["value_wei"][~hole]) == [w for w in written if w]  # exactly as written
    fills = [int(v) for v in filled["value_wei"][hole]]  # integers, inside the range seen
    seen = [int(w) for w in written if w]
    assert all(min(seen) * 0.99 <= v <= max(seen) * 1.01 for v in fills)


def test_distinct_amounts_are_no_identifier(tmp_path):
    amounts = [str(int(v) * 10 ** 12) for v in np.random.default_rng(3).lognormal(14, 2, 100)]
    assert len(set(amounts)) == 100 and max(map(int, amounts)) > 2 ** 63
    frame = pd.DataFrame({"amount": pd.Series(amounts + [None], dtype=object), "x": np.arange(101.0)})
    assert _kinds(frame)["amount"] == "numeric"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ids_codes_and_hashes_are_no_amounts(seed):
    from domains.tabular.bigints import magnitudes

    rng = np.random.default_rng(seed)
    hashes = [str(int(v) * 2 + 1) for v in rng.integers(0, 2 ** 63, 300, dtype=np.uint64)]
    assert len({len(h) for h in hashes}) > 1  # 19 and 20 digits about as often
    ids = [str(10 ** 22 + 7919 * k) for k in range(300)]
    codes = [str(2 ** 64 - 1 - int(k)) for k in rng.integers(0, 5, 300)]
    for values in (hashes, ids, codes):
        assert not magnitudes(pd.Series(values)), values[:2]
    frame = pd.DataFrame({"h": hashes, "code": codes, "x": rng.normal(size=300)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = TabularDomain.from_frame(frame, {"validation_fraction": 0.0})
    kinds = {c["name"]: c["kind"] for c in domain.columns}
    assert "h" not in kinds and kinds["code"] == "categorical"  # the hash: an identifier, left out
