"""A loaded tabular run's ``infill`` fills each row as a function of that row (audit s44,
finding 1). Its default blend averages the encoder with IterativeImputer and a forest
imputer; those were fitted on the rows being filled, so reversing a file's rows changed 308
of 330 fills and a row filled alone came out two thirds its column's mean. They are now
fitted on the run's training store. Real data: scikit-learn's wine; a tiny model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from domains.tabular.blend import FittedImputers, classical_estimate
from domains.tabular.schema import encode_frame
from domains.tabular.domain import ingest_frame

from .sample_store import TINY_MODEL


def wine_with_holes() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.drop(columns="target")
    rng = np.random.default_rng(44)
    return frame.mask(rng.random(frame.shape) < 0.12)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from encoderkit.train import pretrain

    root = tmp_path_factory.mktemp("wine")
    store = str(root / "wine.zarr")
    ingest_frame(wine_with_holes(), store, verbose=False)
    return pretrain(["domain=tabular", f"data.store={store}", f"run.dir={root / 'run'}",
                     "train.steps=6", "train.progress=false", "train.eval_every=0",
                     "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL]), store


def test_a_row_is_filled_alike_alone_in_any_order_and_among_others(run):
    from encoderkit.infer.load import load

    model = load(run[0])
    assert model.domain.options["infill_blend"] == "iterative+forest"  # the default under test
    data = wine_with_holes()
    together = model.infill(data)
    reversed_ = model.infill(data.iloc[::-1]).loc[data.index]
    holed = np.flatnonzero(data["proline"].isna().to_numpy())[:6]  # rows whose proline is filled
    alone = pd.concat([model.infill(data.iloc[[r]]) for r in holed])
    # the encoder's own outputs differ in the last float32 bits with the batch's packing
    np.testing.assert_allclose(reversed_.to_numpy(), together.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(alone.to_numpy(), together.iloc[holed].to_numpy(), rtol=1e-4)
    # a row alone is no longer pulled to its column's mean: some fill of proline is far from it
    mean = data["proline"].mean()
    gaps = np.abs(alone["proline"].to_numpy() - mean)
    assert gaps.size == 6 and gaps.max() > 30, gaps
    assert model.domain.training_store is None  # the loaded run's domain is left as it was


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_fitted_imputers_reproduce_the_transductive_estimate_on_their_own_rows(run, monkeypatch):
    """Fitted on a table and applied to the same rows, the imputers give what the
    transductive ``classical_estimate`` with as many rounds gives (scikit-learn's fit /
    transform replays the rounds of fit_transform)."""
    from domains.tabular import blend
    from encoderkit.infer.load import load

    made = blend.classical_imputer

    def rounds_as_fitted(kind, *args, **kw):  # the linear chain's REPLAY_ROUNDS, as FittedImputers
        imputer = made(kind, *args, **kw)
        return imputer.set_params(max_iter=blend.REPLAY_ROUNDS) if kind == "iterative" else imputer
    monkeypatch.setattr(blend, "classical_imputer", rounds_as_fitted)
    blend._CACHE.clear()

    domain = load(run[0]).domain
    enc = encode_frame(wine_with_holes(), domain.schema)
    num = enc.num.astype(np.float64)
    is_numeric = domain.layout.is_numeric
    fitted = FittedImputers(["iterative", "forest"], is_numeric,
                            np.asarray(domain.layout.cat_sizes) - 1).fit(num, enc.cat, enc.observed)
    try:
        for kind in ("iterative", "forest"):
            want = classical_estimate(kind, num, enc.cat, enc.observed, is_numeric)
            got = fitted.estimate(kind, num, enc.cat, enc.observed)
            holes = ~enc.observed
            np.testing.assert_allclose(got[holes], want[holes], rtol=1e-6, atol=1e-6, err_msg=kind)
    finally:
        blend._CACHE.clear()  # estimates of the patched chain are no one else's


def test_a_store_of_the_same_columns_but_other_rows_is_not_taken_for_the_training_store(run, tmp_path):
    """(review s44) The store path of a run's config is relative to where it trained; another
    store with the same column names (other rows, other statistics) found from elsewhere was
    taken as the training store without a word."""
    from encoderkit.infer.load import load

    model = load(run[0])
    other = str(tmp_path / "other.zarr")
    ingest_frame(wine_with_holes().iloc[:60], other, verbose=False)
    model.store = other
    with pytest.warns(UserWarning, match="holds another table than the run was trained on"):
        model.infill(wine_with_holes().iloc[:10])


def test_a_missing_training_store_is_said_and_the_rows_filled_are_used(run, tmp_path):
    from encoderkit.infer.load import load

    model = load(run[0])
    model.store = str(tmp_path / "moved.zarr")
    data = wine_with_holes().iloc[:40]
    with pytest.warns(UserWarning, match="training store .*moved.zarr cannot be read"):
        filled = model.infill(data)
    model.domain.training_store = None  # as impute fills: the rows being filled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = model.domain.infill(data, model.predict)
    pd.testing.assert_frame_equal(filled, same)


def test_the_blend_is_an_infill_option(run):
    """``infill_blend`` at infill time (the fit on the training rows costs seconds to a minute
    per command on wide tables): ``none`` is the encoder alone, as a run trained with it."""
    from encoderkit.infer.load import load

    model = load(run[0])
    data = wine_with_holes().iloc[:30]
    alone = model.infill(data, infill_blend="none")
    model.domain.options["infill_blend"] = "none"  # the encoder alone, without the option
    pd.testing.assert_frame_equal(alone, model.domain.infill(data, model.predict))
    assert not alone.equals(load(run[0]).infill(data))  # the default blends


def test_the_training_rows_are_blocks_spread_over_the_store_within_a_cells_budget():
    """(review s44) Up to 40,000 cells' worth of rows (1,000 .. 4,000), read as 20 runs of
    consecutive rows from the store's start to its end; every row of a small store."""
    from domains.tabular.filling import _store_matrices

    class Store:
        def __init__(self, n: int, c: int) -> None:
            self.n, self.c, self.calls = n, c, []

        def __len__(self) -> int:
            return self.n

        def read_range(self, start: int, stop: int, ids: bool = True) -> list[dict]:
            self.calls.append((start, stop))
            return [{"column": np.arange(self.c), "num": np.full(self.c, float(i)),
                     "cat": np.zeros(self.c, dtype=np.int64), "observed": np.ones(self.c, dtype=bool)}
                    for i in range(start, stop)]

    narrow = Store(10_000, 9)  # 40,000 // 9 = 4,444 -> 4,000 rows: 20 blocks of 200
    num, _, _ = _store_matrices(narrow, 9)
    assert len(narrow.calls) == 20 and all(b - a == 200 for a, b in narrow.calls)
    assert narrow.calls[0] == (0, 200) and narrow.calls[-1] == (9_800, 10_000)
    assert num.shape == (4_000, 9) and num[0, 0] == 0 and num[-1, 0] == 9_999
    wide = Store(10_000, 100)  # 400 rows' worth -> the floor, 1,000 rows: 20 blocks of 50
    assert _store_matrices(wide, 100)[0].shape == (1_000, 100)
    small = Store(700, 9)
    assert _store_matrices(small, 9)[0].shape == (700, 9) and small.calls == [(0, 700)]
