"""``encoderkit impute`` writes the fills of a date-time column in the file's own form:
pandas wrote ``2021-03-09 21:00:00+00:00`` (UTC, a space, seconds) into a column of
``2021-03-01T08:00:00+01:00``, and seconds into a column of minutes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from encoderkit.cli import main
from tests.test_impute import TINY


def test_fills_of_date_time_columns_keep_the_files_form_and_each_seasons_offset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 80
    t = pd.date_range("2021-03-20 08:00", periods=n, freq="5h", tz="Europe/Berlin")  # over 28 March
    x = np.arange(n) + rng.normal(0, 0.3, n)
    frame = pd.DataFrame({"x": x.round(3),
                          "when": [v.isoformat() for v in t],
                          "local": t.tz_localize(None).strftime("%Y-%m-%d %H:%M"),
                          "utc": t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")})
    holes = [4, 9, 30, 55, 70]  # before and after the clocks change (row ~38)
    for c in ("when", "local", "utc"):
        frame.loc[holes, c] = ""
    src, out = tmp_path / "t.csv", tmp_path / "f.csv"
    frame.to_csv(src, index=False)
    code = main(["impute", f"input={src}", f"output={out}", "domain=tabular", "seed=0", *TINY])
    assert code == 0, capsys.readouterr().err
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    kept = np.setdiff1d(np.arange(n), holes)
    for c in ("when", "local", "utc"):
        assert back[c][kept].tolist() == frame[c][kept].tolist()
    for v in back["when"][holes]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00", v), v
        stamp = pd.Timestamp(v)
        assert stamp.utcoffset() == stamp.tz_convert("Europe/Berlin").utcoffset(), v  # the season's offset
    assert back["local"][holes].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d").all(), back["local"][holes].tolist()
    assert back["utc"][holes].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all(), back["utc"][holes].tolist()
