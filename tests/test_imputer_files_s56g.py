"""The linear chain a table run's infill fits on its training rows is saved in the run
directory (``domains/tabular/imputer_files.py``, skops, never pickle) and loaded by later
processes instead of fitted again (session 56, helper g): every ``encoderkit infill`` paid
the fit before (21 s of CPU for 1,000 columns x 1,000 rows; the file loads in 4.3 s). A loaded fit fills bit for bit as the fit
it saved; a file naming a type outside the allow-list is refused; one fitted on other data
(a store re-ingested, another scikit-learn) is fitted again; a run directory that cannot be
written fills as before."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=n), "u": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n)})
    return frame.mask(rng.random(frame.shape) < 0.15)


def _ingest(path: Path, seed: int) -> str:
    from domains.tabular.domain import ingest_frame

    ingest_frame(_table(120, seed), str(path), verbose=False)
    return str(path)


@pytest.fixture()
def run(tmp_path, monkeypatch):
    """A table's training store, its domain and an empty run directory; the caches cleared."""
    from domains.tabular import filling, imputer_files
    from domains.tabular.domain import TabularDomain
    from encoderkit.data.store import RecordStore

    store = _ingest(tmp_path / "train.zarr", seed=0)
    dom = TabularDomain(RecordStore(store).schema)
    dom.training_store = store
    dom.run_dir = str(tmp_path / "run")
    (tmp_path / "run").mkdir()
    monkeypatch.setattr(imputer_files, "_SAID", set())
    monkeypatch.setattr(imputer_files, "SAVE_MIN_SECONDS", 0.0)  # these small fits are saved too
    filling._FITTED.clear()
    yield dom
    filling._FITTED.clear()


_RUN = object()  # ``_fit``'s default: the domain's run directory


def _fit(dom, run_dir=_RUN, store=None):
    """``imputer_files.fitted_imputers`` as ``filling._fitted_kinds`` calls it (the chain);
    ``run_dir`` None: no run directory (fitted, nothing saved or loaded)."""
    from domains.tabular.blend import FittedImputers
    from domains.tabular.filling import _store_matrices
    from domains.tabular.imputer_files import fitted_imputers
    from encoderkit.data.store import RecordStore

    store = RecordStore(store or dom.training_store)

    def blank():
        return FittedImputers(["iterative"], dom.layout.is_numeric, np.asarray(dom.layout.cat_sizes) - 1,
                              names=[c["name"] for c in dom.columns])
    return fitted_imputers(dom.run_dir if run_dir is _RUN else run_dir, store, len(store), "iterative",
                           dom.schema, blank, lambda: _store_matrices(store, len(dom.columns), len(store)))


@pytest.fixture(autouse=True, scope="module")
def _skops_imported():
    """``import skops.io`` imports every scikit-learn estimator (~1.2 s CPU): paid once here,
    not in the first test's time."""
    import skops.io  # noqa: F401 (imported for its cost)


def _estimate(dom, fitted) -> np.ndarray:
    from domains.tabular.schema import encode_frame

    enc = encode_frame(_table(50, seed=9), dom.schema)
    return fitted.estimate("iterative", enc.num, enc.cat, enc.observed)


def _no_fit(monkeypatch):
    from domains.tabular import blend

    def refuse(self, *a):
        raise AssertionError("fitted again")
    monkeypatch.setattr(blend.FittedImputers, "fit", refuse)


def _saved(dom) -> list[str]:
    folder = Path(dom.run_dir) / "imputers"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_loaded_chain_estimates_bit_for_bit_as_the_fit_it_saved(run, monkeypatch):
    fitted = _fit(run)
    names = _saved(run)
    assert [Path(n).suffix for n in names] == [".json", ".skops"], names
    want = _estimate(run, fitted)
    # a new process: nothing in memory, and no fit allowed
    _no_fit(monkeypatch)
    loaded = _fit(run)
    assert loaded is not fitted
    np.testing.assert_array_equal(_estimate(run, loaded), want)  # every bit
    about = json.loads((Path(run.run_dir) / "imputers" / names[0]).read_text())
    assert about["fitted_on"]["records"] == 120 and about["fitted_on"]["kind"] == "iterative"
    assert about["file_sha256"] == hashlib.sha256((Path(run.run_dir) / "imputers" / names[1]).read_bytes()).hexdigest()


@pytest.mark.slow  # a fresh interpreter: ~5 s of imports
def test_a_fresh_process_loads_what_this_one_saved_bit_for_bit(run, tmp_path):
    """A process that fitted nothing (no scikit-learn imported yet) loads the saved chain: its
    estimates are this process's, every bit."""
    import subprocess
    import sys

    want = _estimate(run, _fit(run))
    out = tmp_path / "loaded.npy"
    code = (
        "import sys, numpy as np\n"
        "import test_imputer_files_s56g as t\n"
        "from domains.tabular import blend\n"
        "from domains.tabular.domain import TabularDomain\n"
        "from encoderkit.data.store import RecordStore\n"
        "store, run_dir, out = sys.argv[1:]\n"
        "dom = TabularDomain(RecordStore(store).schema)\n"
        "dom.training_store, dom.run_dir = store, run_dir\n"
        "def refuse(self, *a):\n"
        "    raise SystemExit('fitted again')\n"
        "blend.FittedImputers.fit = refuse\n"
        "np.save(out, t._estimate(dom, t._fit(dom)))\n")
    done = subprocess.run([sys.executable, "-c", code, run.training_store, run.run_dir, str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(np.load(out), want)


class Planted:
    """A type no saved imputer holds (loading it would import and build what the file names)."""


def test_a_file_naming_a_type_off_the_allow_list_is_refused_unloaded(run, monkeypatch):
    import skops.io as sio

    from domains.tabular import imputer_files

    _fit(run)
    folder = Path(run.run_dir) / "imputers"
    data = next(folder.glob("*.skops"))
    meta = data.with_suffix(".json")
    # planted: a state whose imputer is an object of a type no saved imputer holds, with a JSON
    # that matches it (as whoever planted it would write)
    state = sio.load(data, trusted=sio.get_untrusted_types(file=data))
    state["models"]["iterative"][3] = Planted()
    blob = sio.dumps(state)
    data.write_bytes(blob)
    record = json.loads(meta.read_text())
    record.update(file_bytes=len(blob), file_sha256=hashlib.sha256(blob).hexdigest())
    meta.write_text(json.dumps(record))
    monkeypatch.setattr(sio, "load", lambda *a, **k: pytest.fail("an untrusted file was loaded"))
    with pytest.raises(imputer_files.ImputerFileRefused) as e:
        _fit(run)
    text = str(e.value)
    assert str(data) in text and "Planted" in text and "\n" not in text
    assert data.read_bytes() == blob  # kept as found, for whoever looks into it


def test_a_fit_on_other_records_or_another_scikit_learn_is_fitted_again_and_said_once(run, tmp_path, monkeypatch):
    import sklearn

    from domains.tabular import blend

    first = _fit(run)
    old = _saved(run)
    # the store re-ingested from other rows (same columns: the schema's statistics aside)
    other = _ingest(tmp_path / "other.zarr", seed=1)
    fits = []
    fit = blend.FittedImputers.fit
    monkeypatch.setattr(blend.FittedImputers, "fit", lambda self, *a: fits.append(1) or fit(self, *a))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = _fit(run, store=other)
        _fit(run, store=other)  # now saved: loaded, nothing said
    said = [str(w.message) for w in caught]
    assert fits == [1]
    assert len(said) == 1 and "does not match this fill" in said[0] and "store's records" in said[0], said
    new = _saved(run)
    assert len(new) == 2 and not set(new) & set(old)  # the old fit's files replaced
    assert not np.array_equal(_estimate(run, first), _estimate(run, second))
    # another scikit-learn: the same records fitted again
    monkeypatch.setattr(sklearn, "__version__", "0.0.1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(run, store=other)
    assert fits == [1, 1]
    assert any("library versions" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_a_run_directory_that_refuses_the_write_still_fills_and_says_one_line(run, monkeypatch):
    want = _estimate(run, _fit(run, run_dir=None))  # the reference: fitted, no run directory

    def refuse(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(os, "replace", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _fit(run)
        _fit(run)  # the second fill: not said again
    np.testing.assert_array_equal(_estimate(run, got), want)
    said = [str(w.message) for w in caught]
    assert len(said) == 1 and "Read-only file system" in said[0] and "\n" not in said[0], said
    assert _saved(run) == []  # no temporary file left behind
    # a run directory that is a file (no folder can be made in it)
    file = Path(run.run_dir).parent / "plain-file"
    file.write_text("x")
    with pytest.warns(UserWarning, match="Not a directory"):
        np.testing.assert_array_equal(_estimate(run, _fit(run, run_dir=str(file))), want)


def test_a_damaged_file_is_fitted_again(run, monkeypatch):
    want = _estimate(run, _fit(run))
    data = next((Path(run.run_dir) / "imputers").glob("*.skops"))
    data.write_bytes(data.read_bytes()[:100])  # cut short
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = _fit(run)
    assert any("cannot use the saved" in str(w.message) for w in caught), [str(w.message) for w in caught]
    np.testing.assert_array_equal(_estimate(run, got), want)
    _no_fit(monkeypatch)
    np.testing.assert_array_equal(_estimate(run, _fit(run)), want)  # saved again, whole


def test_a_fit_quicker_than_a_load_is_not_saved_and_an_older_fit_is_dropped(run, monkeypatch):
    from domains.tabular import imputer_files

    _fit(run)
    monkeypatch.setattr(imputer_files, "SAVE_MIN_SECONDS", 1e9)
    _fit(run)  # loaded: kept
    assert len(_saved(run)) == 2
    monkeypatch.setattr(imputer_files, "_SAID", set())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "does not match this fill": the scikit-learn below
        monkeypatch.setattr("sklearn.__version__", "0.0.1")
        _fit(run)
    assert _saved(run) == []  # the fit of another scikit-learn dropped, the quick one not saved


def test_a_checkpoint_names_its_run_directory():
    from encoderkit.infer.pretrained import Pretrained

    def run_dir(path):
        return Pretrained.run_dir(SimpleNamespace(path=path))
    assert run_dir(Path("/x/runs/r1/checkpoints/200")) == "/x/runs/r1"
    assert run_dir(Path("/x/runs/r1/best")) == "/x/runs/r1"
    assert run_dir(Path("/x/elsewhere/ckpt")) is None  # a checkpoint outside a run: nothing kept
    assert run_dir(None) is None


def _hooked() -> bool:
    import inspect

    from domains.tabular.filling import TableInfill

    return "fitted_imputers" in inspect.getsource(TableInfill._fitted_kinds)


@pytest.mark.skipif(not _hooked(), reason="filling._fitted_kinds does not call imputer_files yet "
                                          "(session 56 helper g's hook)")
def test_a_second_process_fills_bit_for_bit_without_fitting_the_chain(run, monkeypatch):
    from domains.tabular import blend, filling

    monkeypatch.setattr(blend, "FOREST_TREES", 4)
    monkeypatch.setattr(blend, "CLASSIFIER_TREES", 8)
    data = _table(40, seed=3)
    want = run._fill(data, None, "iterative+forest")
    assert any(n.startswith("iterative-") and n.endswith(".skops") for n in _saved(run))
    assert not any(n.startswith("forest") for n in _saved(run))  # the forest: not saved (see imputer_files)
    filling._FITTED.clear()  # a new process
    fits = []
    fit = blend.FittedImputers.fit
    monkeypatch.setattr(blend.FittedImputers, "fit", lambda self, *a: fits.append(self.kinds) or fit(self, *a))
    got = run._fill(data, None, "iterative+forest")
    assert fits == [["forest"]]  # the chain loaded
    pd.testing.assert_frame_equal(got, want, check_exact=True)
