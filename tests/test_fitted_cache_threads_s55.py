"""The tabular fill's cache of classical imputers fitted on a run's training store
(``domains/tabular/filling._FITTED``) is shared by the threads of one process (a service
holding several runs, notebook threads). Unguarded, one thread's eviction deleted another's
entry between its insert and its read; the KeyError was read as "the training store cannot be
read", and that fill silently used imputers fitted on the rows being filled instead (every
filled cell of a wine table changed, by up to 213 units; session 55)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n), "u": rng.normal(size=n)})
    return frame.mask(rng.random(frame.shape) < 0.1)


@pytest.fixture()
def domains(tmp_path, monkeypatch):
    from domains.tabular import blend, filling
    from domains.tabular.domain import TabularDomain, ingest_frame
    from encoderkit.data.store import RecordStore

    monkeypatch.setattr(blend, "FOREST_TREES", 4)
    monkeypatch.setattr(filling, "FITTED_ENTRIES", 1)  # each call's second kind evicts the first
    out = []
    for k in range(2):
        store = str(tmp_path / f"t{k}.zarr")
        ingest_frame(_table(80, seed=k), store, verbose=False)
        dom = TabularDomain(RecordStore(store).schema)
        dom.training_store = store
        out.append(dom)
    filling._FITTED.clear()
    yield out
    filling._FITTED.clear()


@pytest.mark.slow  # waits 2 s by design (the guarded thread times its pause out)
def test_an_eviction_by_another_thread_does_not_change_a_fill(domains, monkeypatch):
    from domains.tabular import blend, filling

    first, second = domains
    data = _table(30, seed=5)
    want = first._fill(data, None, "iterative+forest")  # alone: the reference
    filling._FITTED.clear()

    # Thread A pauses inside its second fit (the forest, after its linear chain is cached)
    # until thread B has filled with the other store, whose fits evict A's entry. Guarded, B
    # waits for A instead, and A goes on when its pause times out.
    paused, b_done = threading.Event(), threading.Event()
    fit = blend.FittedImputers.fit

    def slow_fit(self, *a):
        if threading.current_thread().name == "A" and self.kinds == ["forest"]:
            paused.set()
            b_done.wait(timeout=2.0)
        return fit(self, *a)

    monkeypatch.setattr(blend.FittedImputers, "fit", slow_fit)
    got, errors = {}, []

    def run_a():
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got["a"] = first._fill(data, None, "iterative+forest")
        got["said"] = [str(w.message) for w in caught if "training store" in str(w.message)]

    def run_b():
        paused.wait(timeout=10)
        try:
            second._fill(data, None, "iterative+forest")
        except Exception as e:  # reported by the assertion below
            errors.append(e)
        b_done.set()

    threads = [threading.Thread(target=run_a, name="A"), threading.Thread(target=run_b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert got["said"] == []  # no "cannot be read" fallback
    pd.testing.assert_frame_equal(got["a"], want)


def test_the_estimate_cache_survives_another_threads_eviction(monkeypatch):
    """``blend._CACHE`` (the estimates of the last tables filled): a hit looked the key up,
    then moved it to the end; another thread's eviction in between was a KeyError."""
    from collections import OrderedDict

    from domains.tabular import blend

    looked, evicted = threading.Event(), threading.Event()

    class Pausing(OrderedDict):
        def __contains__(self, key):
            found = super().__contains__(key)
            if threading.current_thread().name == "reader":
                looked.set()
                evicted.wait(timeout=1.0)  # guarded: the evicting thread waits for this one
            return found

    monkeypatch.setattr(blend, "_CACHE", Pausing())
    monkeypatch.setattr(blend, "_CACHE_SIZE", 1)
    blend._remember("table-a", np.arange(3.0))
    got, errors = {}, []

    def read():
        try:
            got["a"] = blend._recalled("table-a")
        except Exception as e:  # reported by the assertion below
            errors.append(e)

    def evict():
        looked.wait(timeout=10)
        blend._remember("table-b", np.ones(3))  # size 1: table-a goes
        evicted.set()

    threads = [threading.Thread(target=read, name="reader"), threading.Thread(target=evict)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    np.testing.assert_array_equal(got["a"], np.arange(3.0))
    assert list(blend._CACHE) == ["table-b"]
