"""Two mends of the s48k reading rules that need ``reading.py`` and ``schema.py``:

- ``reading._head``: a ``.csv.zst`` is sampled (by pyarrow's decoder, as its CSV reader
  reads it), so the bare-``NA`` rule and the leading-zero codes read it as the same ``.csv``;
- ``schema.column_entry``: a column of integers beyond int64 left out as an identifier by its
  leading digits alone (``bigids.spread_ids``) is said with ``columns={<name>: numeric}``,
  which then models it as numbers.

References: the same file uncompressed, read by the same reader and by pandas; the values as
written."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

from domains.tabular.bigids import spread_ids
from domains.tabular.bigints import magnitudes
from domains.tabular.reading import read_table
from domains.tabular.schema import infer_schema


def _zst(path, text: str) -> None:
    with pa.CompressedOutputStream(str(path), "zstd") as out:
        out.write(text.encode())


def test_a_zst_file_reads_as_the_same_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    region = rng.choice(np.array(["NA", "EU", "APAC", None], dtype=object), n, p=[0.3, 0.3, 0.3, 0.1])
    frame = pd.DataFrame({"region": region, "zip": [f"0{2139 + i}" for i in range(n)], "x": rng.normal(size=n).round(3)})
    text = frame.to_csv(index=False)
    (tmp_path / "p.csv").write_text(text)
    _zst(tmp_path / "p.csv.zst", text)
    plain, packed = read_table(str(tmp_path / "p.csv")), read_table(str(tmp_path / "p.csv.zst"))
    reference = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False, na_values={"region": [""]})
    for res in (plain, packed):
        got = res.frame["region"].astype(object)
        assert got.isna().tolist() == reference["region"].isna().tolist()  # was: 17 NA more missing in .zst
        assert int((got == "NA").sum()) == 17 and res.kept_words == ["NA"]
        assert res.frame["zip"].astype(str).tolist() == reference["zip"].tolist()  # was: 2139 in .zst


def _amounts_read_as_ids() -> pd.Series:
    """30 lognormal amounts beyond int64 (sigma 2) that the leading-digit rule reads as ids."""
    rng = np.random.default_rng(5)
    while True:
        s = pd.Series([str(int(v)) for v in np.exp(rng.normal(np.log(1e21), 2.0, 30))], dtype=object)
        if magnitudes(s) and spread_ids(s):
            return s


def test_amounts_read_as_ids_are_said_with_the_numeric_override():
    balance = _amounts_read_as_ids()
    frame = pd.DataFrame({"balance": balance, "k": np.arange(30) % 3})
    train = np.ones(30, dtype=bool)
    schema, said = infer_schema(frame, train)
    assert [c["name"] for c in schema["columns"]] == ["k"]
    message = next(m for m in said if "'balance' is an identifier" in m)
    assert "'columns={balance: numeric}' models them as numbers" in message  # was: only categorical named
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema, _ = infer_schema(frame, train, columns={"balance": "numeric"})
    entry = next(c for c in schema["columns"] if c["name"] == "balance")
    assert entry["kind"] == "numeric"
    mean = float(np.mean([float(v) for v in balance]))
    assert np.isclose(entry["mean"], mean, rtol=1e-9)
