"""The ingest summary counts alike however a store is written (audit s45 repro, finding 5):
one process printed a series store's tokens as patches beside its samples, ``workers=2``
printed the samples as "tokens" (and no samples), and ``append=true`` said the records
already there held "816 tokens" that were samples. Real data: statsmodels' El Nino sea
temperatures, one series of 12 monthly values per year (patch=auto: 2 samples a token)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore


def _years(root: Path) -> list[str]:
    """Two .npy files of yearly series [N, 1, 12]: 30 years, then 31."""
    import statsmodels.api as sm

    months = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy(np.float64)
    paths = []
    for name, part in (("a.npy", months[:30]), ("b.npy", months[30:])):
        np.save(root / name, part[:, None, :])
        paths.append(str(root / name))
    return paths


def _counts(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(tokens|samples|records written): (\d+)$", out, re.M)}


def test_one_process_workers_and_append_count_tokens_and_samples_alike(tmp_path, capsys):
    a, b = _years(tmp_path)
    # by hand: a year is 12 samples, 6 tokens of 2 samples
    ingest("timeseries", [a, b], str(tmp_path / "one.zarr"), progress=False)
    one = _counts(capsys.readouterr().out)
    assert one == {"records written": 61, "tokens": 61 * 6, "samples": 61 * 12}
    ingest("timeseries", [a, b], str(tmp_path / "two.zarr"), progress=False, workers=2)
    assert _counts(capsys.readouterr().out) == one
    ingest("timeseries", [a], str(tmp_path / "app.zarr"), progress=False)
    assert _counts(capsys.readouterr().out) == {"records written": 30, "tokens": 180, "samples": 360}
    ingest("timeseries", [b], str(tmp_path / "app.zarr"), progress=False, append=True)
    out = capsys.readouterr().out
    assert "(30 records, 360 samples already there)" in out.splitlines()[0]
    assert _counts(out) == {"records written": 31, "tokens": 186, "samples": 372}
    for name in ("one", "two", "app"):  # the stores hold the samples as their tokens
        assert RecordStore(str(tmp_path / f"{name}.zarr")).num_tokens == 61 * 12


def test_a_parallel_sets_ingest_describes_its_columns_once(tmp_path, capsys):
    """A sets store's description (which columns are coordinates, features, items) is no
    total: two files parsed by two workers say it once, as one process does. (Parallel sets
    parts must give one schema, statistics and validation split included: here two copies.)"""
    from domains.sets.digits import digit_frame, load_digit_sets

    frame = digit_frame(load_digit_sets(limit=12)[0])
    paths = [str(tmp_path / "d0.csv"), str(tmp_path / "d1.csv")]
    frame.to_csv(paths[0], index=False)
    frame.to_csv(paths[1], index=False)
    ingest("sets", paths, str(tmp_path / "one.zarr"), progress=False)
    one = capsys.readouterr().out
    ingest("sets", paths, str(tmp_path / "two.zarr"), progress=False, workers=2)
    two = capsys.readouterr().out
    described = [line for line in one.splitlines() if line.startswith(("coordinate", "feature", "items"))]
    assert described == ["coordinate columns [x, y]: 2", "feature columns [intensity]: 1",
                         "items (no item column): 0"]
    assert [line for line in two.splitlines() if line in described] == described
    assert pd.Series(two.splitlines()).isin(described).sum() == 3  # once each
