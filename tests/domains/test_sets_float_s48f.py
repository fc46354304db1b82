"""Sets domain: features at the edges of float precision. A feature of values ~1e-30 was
left unscaled (std 1.0: a spread under 1e-8 in absolute terms counted as constant) and
filled ~0.1; a feature of 1234567890123.456 + k was stored in float32 (one number for
every k) with a variance that cancelled, and filled 1234567954432.0 everywhere. The
schema's statistics are checked against numpy's float64 mean / std of the values as read,
and the fills against mean + prediction * std."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.sets import SetsDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore, StoreWriter

N_SETS, PER_SET = 8, 6


def write_csv(tmp_path: Path, columns: dict[str, list[str]]) -> str:
    """A long-format file of N_SETS sets; ``columns`` maps a feature name to its cells (text,
    '' = missing) in row order."""
    rng = np.random.default_rng(0)
    n = N_SETS * PER_SET
    frame = pd.DataFrame({"set": [f"s{i // PER_SET}" for i in range(n)],
                          "x": [f"{v:.3f}" for v in rng.normal(size=n)],
                          "y": [f"{v:.3f}" for v in rng.normal(size=n)], **columns})
    path = tmp_path / "sets.csv"
    frame.to_csv(path, index=False)
    return str(path)


def ingest_csv(tmp_path: Path, path: str) -> RecordStore:
    # every set on the train side: the statistics are those of every observed value
    ingest("sets", [path], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           set_column="set", validation_fraction=0.0)
    return RecordStore(str(tmp_path / "s.zarr"))


def cells(values: np.ndarray, form: str, missing_every: int = 7) -> list[str]:
    return ["" if i % missing_every == 3 else format(v, form) for i, v in enumerate(values)]


def edge_columns() -> dict[str, list[str]]:
    rng = np.random.default_rng(1)
    n = N_SETS * PER_SET
    return {"tiny": cells(rng.uniform(1, 9, n) * 1e-30, ".4e"),  # spread ~2e-30, far below 1e-8
            "digits": cells(1234567890123.456 + np.arange(n) % 12, ".3f"),  # 16 digits, spread 3.5
            "huge": cells(rng.uniform(1, 9, n) * 1e30, ".4e"),
            "plain": cells(rng.normal(size=n), ".4f")}


def parsed(path: str) -> pd.DataFrame:
    """The file's cells as Python's ``float`` reads each text (correctly rounded float64)."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    return text.drop(columns="set").map(lambda c: float(c) if c else np.nan).assign(set=text["set"])


def read_back(path: str, name: str) -> np.ndarray:
    """The column's observed values (float64)."""
    v = parsed(path)[name].to_numpy(dtype=np.float64)
    return v[~np.isnan(v)]


def fake_predict(domain: SetsDomain, value: float):
    """Head outputs of ``value`` (normalised units) at every predicted element."""
    def predict(examples):
        return [{"features": np.full((int(ex.predict.sum()), domain.num_features), value, np.float32)}
                for ex in examples]
    return predict


def test_feature_statistics_match_numpy_near_zero_and_far_from_it(tmp_path):
    path = write_csv(tmp_path, edge_columns())
    schema = ingest_csv(tmp_path, path).schema
    for j, name in enumerate(schema["feature_names"]):
        v = read_back(path, name)
        assert schema["feature_mean"][j] == pytest.approx(np.mean(v), rel=1e-12), name
        # the digits column: E[x^2] - mean^2 at 1.2e12 kept nothing of a spread of 3.5
        assert schema["feature_std"][j] == pytest.approx(np.std(v), rel=1e-6), name


def test_stores_keep_every_digit_and_old_float32_stores_read_as_before(tmp_path):
    path = write_csv(tmp_path, edge_columns())
    store = ingest_csv(tmp_path, path)
    frame = parsed(path)
    names = store.schema["feature_names"]
    first = frame[frame["set"] == "s0"][names].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(store[0]["features"], first)  # float32 made 12 values one
    # a store written before held float32 features: read and normalised as then, with its schema
    old = str(tmp_path / "old.zarr")
    with StoreWriter(old, "sets") as writer:
        for i in range(len(store)):
            rec = store[i]
            fields = {k: rec[k] for k in store.field_names}
            writer.append({**fields, "features": rec["features"].astype(np.float32)}, id=rec["id"])
        writer.finalize(store.schema, {})
    back = RecordStore(old)
    assert back[0]["features"].dtype == np.float32
    domain = SetsDomain(back.schema)
    mean, std = np.asarray(back.schema["feature_mean"]), np.asarray(back.schema["feature_std"])
    raw = back[0]["features"].astype(np.float64)
    expected = np.where(np.isnan(raw), 0.0, (raw - mean) / std).astype(np.float32)
    np.testing.assert_array_equal(domain.featurize(back[0]).fields["features"], expected)


@pytest.mark.parametrize("value", [-1.0, 0.0, 0.5])
def test_fills_are_mean_plus_prediction_times_std_inside_the_observed_range(tmp_path, value):
    path = write_csv(tmp_path, edge_columns())
    domain = SetsDomain(ingest_csv(tmp_path, path).schema)
    frame = domain.read_input(path)
    out = domain.infill(frame, fake_predict(domain, value))
    for name in domain.schema["feature_names"]:
        missing = frame[name].isna().to_numpy()
        v = read_back(path, name)
        fills = out[name].to_numpy(dtype=np.float64)[missing]
        np.testing.assert_allclose(fills, np.mean(v) + value * np.std(v), rtol=1e-12)
        assert ((fills >= v.min()) & (fills <= v.max())).all(), name
        np.testing.assert_array_equal(out[name].to_numpy()[~missing], frame[name].to_numpy()[~missing])


def test_a_constant_feature_is_filled_with_its_constant_and_otherwise_in_its_own_units(tmp_path):
    """A feature the training sets hold at one value, observed only at it in the sets being
    filled, is filled with it, whatever the model says (session 56: a constant 2.0 was filled
    1.74 .. 2.32 after a short training). Sets that show it at another value get the model's
    fill, in the feature's own units: its magnitude is its scale, so a fill off the constant is
    off by a share of it (0.5 * 3e-30), not by 0.5."""
    n = N_SETS * PER_SET
    path = write_csv(tmp_path, {"tiny": cells(np.full(n, 3e-30), ".1e"),
                                "five": cells(np.full(n, 5.0), ".1f"),
                                "zero": cells(np.zeros(n), ".1f")})
    schema = ingest_csv(tmp_path, path).schema
    assert schema["feature_mean"] == [3e-30, 5.0, 0.0]
    assert schema["feature_std"] == [3e-30, 5.0, 1.0]
    domain = SetsDomain(schema)
    frame = domain.read_input(path)
    missing = frame["tiny"].isna().to_numpy()
    out = domain.infill(frame, fake_predict(domain, 0.5))
    for name, constant in (("tiny", 3e-30), ("five", 5.0), ("zero", 0.0)):
        assert (out[name].to_numpy()[missing] == constant).all(), name
    other = frame.copy()
    other.loc[~missing, "tiny"], other.loc[~missing, "five"] = 6e-30, 6.0
    out = domain.infill(other, fake_predict(domain, 0.5))
    np.testing.assert_allclose(out["tiny"].to_numpy()[missing], 4.5e-30, rtol=1e-12)
    np.testing.assert_allclose(out["five"].to_numpy()[missing], 7.5, rtol=1e-12)
    assert (out["zero"].to_numpy()[missing] == 0.0).all()
