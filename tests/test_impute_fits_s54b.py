"""The classical imputers of a table's fill are fitted once per imputer and training store
(session 54, helper b). ``encoderkit impute`` fills the held-back cells with the blend
(``iterative+forest``) and then with each candidate alone (``iterative``, ``forest``); the
fitted imputers were cached by the kinds asked for, so the held-back copy's linear chain and
forest were each fitted twice (breast_cancer: a ~6 s forest fit, and its memory, twice)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _table(n: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n), "u": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    return frame.mask(rng.random(frame.shape) < 0.1)


@pytest.fixture()
def domain(tmp_path, monkeypatch):
    from domains.tabular import filling
    from domains.tabular.domain import TabularDomain, ingest_frame
    from encoderkit.data.store import RecordStore

    from domains.tabular import blend

    monkeypatch.setattr(blend, "FOREST_TREES", 4)  # small forests: the fits are counted, not judged
    monkeypatch.setattr(blend, "CLASSIFIER_TREES", 8)
    store = str(tmp_path / "t.zarr")
    ingest_frame(_table(), store, verbose=False)
    dom = TabularDomain(RecordStore(store).schema)
    dom.training_store = store
    filling._FITTED.clear()
    yield dom
    filling._FITTED.clear()


def _counted(monkeypatch) -> list[tuple[str, ...]]:
    from domains.tabular import blend

    fits: list[tuple[str, ...]] = []
    fit = blend.FittedImputers.fit
    monkeypatch.setattr(blend.FittedImputers, "fit",
                        lambda self, *a: fits.append(tuple(self.kinds)) or fit(self, *a))
    return fits


def test_each_imputer_is_fitted_once_for_the_blend_and_the_candidates_alone(domain, monkeypatch):
    fits = _counted(monkeypatch)
    data = _table(40, seed=1)
    blended = domain._fill(data, None, "iterative+forest")
    iterative = domain._fill(data, None, "iterative")
    forest = domain._fill(data, None, "forest")
    # one fit of each kind (before: iterative+forest, then iterative and forest again)
    assert sorted(k for kinds in fits for k in kinds) == ["forest", "iterative"], fits
    # the fills are those of the imputers fitted together, as before (reference: a fresh
    # FittedImputers of both kinds on the same training rows, applied to the same rows)
    from domains.tabular.blend import FittedImputers
    from domains.tabular.filling import _store_matrices
    from domains.tabular.schema import encode_frame
    from encoderkit.data.store import RecordStore

    num, cat, observed = _store_matrices(RecordStore(domain.training_store), len(domain.columns))
    both = FittedImputers(["iterative", "forest"], domain.layout.is_numeric,
                          np.asarray(domain.layout.cat_sizes) - 1).fit(num, cat, observed)
    enc = encode_frame(data, domain.schema)
    holes = data[["a", "b", "u"]].isna().to_numpy()
    for kind, filled in (("iterative", iterative), ("forest", forest)):
        want = both.estimate(kind, enc.num, enc.cat, enc.observed)[:, :3]
        got = encode_frame(filled, domain.schema).num[:, :3]
        np.testing.assert_allclose(got[holes], want[holes], rtol=1e-5, atol=1e-5, err_msg=kind)
    mean = (encode_frame(iterative, domain.schema).num + encode_frame(forest, domain.schema).num) / 2
    np.testing.assert_allclose(encode_frame(blended, domain.schema).num[:, :3][holes], mean[:, :3][holes],
                               rtol=1e-5, atol=1e-5)
    # the categorical cells: the forest kind's classifiers, the blend's and the forest's alike
    gone = data["colour"].isna()
    assert gone.any() and blended["colour"][gone].notna().all()
    pd.testing.assert_series_equal(blended["colour"], forest["colour"])


@pytest.mark.slow  # an impute run: over 3 s on 2 cores (`make test-slow`, CI, runs it)
def test_an_impute_run_fits_each_imputer_once_on_the_held_back_copy_and_holds_one_forest(tmp_path, monkeypatch):
    """One run: the held-back copy's imputers once each (not once for the blend and again for
    each candidate alone), the file's once each, and when the file's forest is fitted the
    held-back copy's is no longer held (``release_training_imputers``): one forest's memory
    at a time, not three."""
    from domains.tabular import blend, filling
    from tests.test_impute import run_impute

    monkeypatch.setattr(blend, "FOREST_TREES", 4)
    monkeypatch.setattr(blend, "CLASSIFIER_TREES", 8)
    filling._FITTED.clear()
    blend._CACHE.clear()
    made = blend.classical_imputer
    fits: list[tuple[str, int]] = []  # (kind, forests held in the fitted cache meanwhile)

    def counted(kind, *args, **kw):
        fits.append((kind, sum("forest" in f.kinds for f in filling._FITTED.values())))
        return made(kind, *args, **kw)
    monkeypatch.setattr(blend, "classical_imputer", counted)
    src = tmp_path / "t.csv"
    _table(120, seed=2).to_csv(src, index=False)
    report = run_impute(src, tmp_path / "out.csv", "holdout=0.1")
    assert report.holdout_cells > 0 and report.choices
    # held-back copy: iterative, forest (FittedImputers); the file: iterative, forest (transductive)
    assert sorted(k for k, _ in fits) == ["forest", "forest", "iterative", "iterative"], fits
    file_forest = [held for k, held in fits if k == "forest"][-1]
    assert file_forest == 0, fits
    assert not filling._FITTED  # nothing of the run's (temporary) store is kept after it
    assert pd.read_csv(tmp_path / "out.csv").notna().all().all()
