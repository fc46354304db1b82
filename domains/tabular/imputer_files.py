"""The classical imputers a table run's infill fits on its training rows, saved in the run
directory (``<run>/imputers/``) and loaded by later processes instead of fitted again.

Why: ``encoderkit infill`` of a run (and ``encoderkit.load(run).infill``) blends the encoder
with scikit-learn imputers fitted on the run's training store (``filling._training_imputers``),
and every new process paid that fit, which grows with the table's width (the linear chain:
0.8 s of CPU for 64 numeric columns x 1,000 rows, 9.1 s for 400). Nothing is loaded through
pickle: the files are skops (scikit-learn's secure format), read only when every type they
name is on ``ALLOWED``.

A kind's files: ``<kind>-<key>.skops`` (the fitted state) and ``<kind>-<key>.json`` (what it
was fitted on: the store's identity, the records read, a hash of the schema's columns, the
settings that shape the fit, the library versions; ``key`` is their hash, and the skops file's
size and sha256). The JSON is written last, each file by an atomic rename, so a file half
written (a process killed) is never read: without its JSON it does not exist. A kind fitted
on other data (a store re-ingested, other records, another scikit-learn) is fitted again,
said once, and its old files replaced. A run directory that cannot be written (read-only, a
full disk) fills as before and says so in one line.

Only the linear chain (``iterative``) is saved, and only where fitting it takes longer than
loading it would (``SAVE_MIN_SECONDS``): tables of a hundred columns and more, or many
categorical ones (their indicators), where the chain took 3.4 s (150 columns x 1,000 rows) to
9.1 s of CPU (400 columns) against 0.7 s and 1.75 s to check and load its 1.7 MB and 4.5 MB
file. The forest kind (IterativeImputer with extra trees) is never saved: loading it is no
faster than fitting it, and its file is large. Wall times of one busy 2-core machine (session
56, skops 0.16): breast_cancer (30 columns x 569 rows) fitted in 18.7 s, a 264 MB file (55 MB
deflated) written in 33 s (49 s) and checked and loaded in 19.2 s (24.5 s); 9 columns x
4,000 rows fitted in 6.7 s, 99 MB (24 MB) written in 14 s (12 s), checked and loaded in
10.4 s (6.3 s). The categorical step's forests are fitted on demand, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from encoderkit.errors import DataError

DIRECTORY = "imputers"  # inside the run directory
# A fit (with the read of the store's rows it needs) quicker than this is not saved: loading
# imports skops.io, which imports every scikit-learn estimator (``all_estimators``: 1.1-1.3 s
# of CPU in a process that has imported what infill imports, 2.8 s in one that has not), then
# checks and reads the file (CPU: 0.1 s for breast_cancer's chain, 0.4 s at 64 columns x 1,000
# rows, 1.75 s at 400 columns), against fits of 0.2 s, 0.8 s and 9.1 s: a chain of a few dozen
# numeric columns is quicker to fit again. Timed as the lesser of wall and CPU time: a busy
# machine stretches the wall clock of a quick fit, a threaded BLAS its CPU time.
SAVE_MIN_SECONDS = 3.0
FORMAT = 1  # of the saved state; raised when ``_state`` changes
SAVED_KINDS = ("iterative",)  # the forest's file loads no faster than it fits (module docstring)
# Every type a saved linear chain holds (``skops.io.get_untrusted_types`` names the ones skops
# does not trust by default; the others are listed too, should a later skops stop trusting
# them). A file naming any other type is refused, never loaded.
ALLOWED = (
    "builtins.dict", "builtins.list", "builtins.str",
    "numpy.dtype", "numpy.float64", "numpy.int64", "numpy.ndarray", "numpy.random.mtrand.RandomState",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._iterative.IterativeImputer",
    "sklearn.impute._iterative._ImputerTriplet",
    "domains.tabular.blend.LeanBayesianRidge",
)
_SAID: set[tuple[str, str]] = set()  # (folder, what): each notice once per process


class ImputerFileRefused(DataError):
    """A saved imputer file that names a type outside ``ALLOWED``: never loaded, and not
    replaced silently either (someone put it there)."""


def fitted_imputers(run_dir: str | os.PathLike | None, store: Any, n: int, kind: str,
                    schema: Mapping[str, Any], blank: Callable[[], Any],
                    rows: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Any:
    """The ``FittedImputers`` of ``kind`` fitted on the first ``n`` records of ``store``: loaded
    from ``run_dir``'s saved files when they were fitted on the same rows, else fitted
    (``blank()`` fitted on ``rows()``, the store's matrices) and saved there. ``run_dir`` None
    (no run: ``impute``, a domain built in Python) or a kind not saved: fitted, as before."""
    if run_dir is None or kind not in SAVED_KINDS:
        return blank().fit(*rows())
    folder = Path(run_dir) / DIRECTORY
    about = fitted_on(store, n, kind, schema, blank().seed)
    key = _key(about)
    loaded = _loaded(folder, kind, about, key, blank)
    if loaded is not None:
        return loaded
    wall, cpu = time.perf_counter(), time.process_time()
    fitted = blank().fit(*rows())
    if min(time.perf_counter() - wall, time.process_time() - cpu) >= SAVE_MIN_SECONDS:
        _save(folder, kind, key, about, _state(fitted))
    else:  # quicker to fit again than to load; an older fit's files would only mislead
        _drop_others(folder, kind, key)
    return fitted


def fitted_on(store: Any, n: int, kind: str, schema: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """What decides a fit: its records, the schema's columns, the settings that shape it and
    the libraries that compute it (a newer scikit-learn may fit otherwise)."""
    import scipy
    import sklearn

    from domains.tabular import blend, filling

    columns = json.dumps(schema.get("columns", []), sort_keys=True, default=str)
    settings = {name: getattr(module, name) for module, names in (
        (blend, ("GUARD_WIDTHS", "ONEHOT_MAX_CATEGORIES", "ONEHOT_MAX_COLUMNS", "ITERATIVE_MAX_PREDICTORS",
                 "REPLAY_ROUNDS")),
        (filling, ("REFERENCE_CELLS", "REFERENCE_MIN_ROWS", "REFERENCE_MAX_ROWS", "REFERENCE_BLOCKS")))
        for name in names}
    return {"format": FORMAT, "kind": kind, "store_identity": str(store.identity), "records": int(n),
            "columns_sha256": hashlib.sha256(columns.encode()).hexdigest(), "seed": int(seed),
            "settings": settings,
            "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "scipy": scipy.__version__}}


def _key(about: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(about, sort_keys=True).encode()).hexdigest()[:16]


def _files(folder: Path, kind: str, key: str) -> tuple[Path, Path]:
    return folder / f"{kind}-{key}.skops", folder / f"{kind}-{key}.json"


def _state(fitted: Any) -> dict[str, Any]:
    """What ``FittedImputers.fit`` learnt for a kind without forests (the linear chain)."""
    return {"codes": fitted.codes_, "models": {k: list(m) for k, m in fitted.models_.items()}}


def _restored(blank: Callable[[], Any], state: Any) -> Any:
    """``blank()`` holding ``state``; a ``ValueError`` for a state of another shape (the file
    is then fitted again)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (a process that fitted none)
    from sklearn.impute import IterativeImputer

    models = state.get("models") if isinstance(state, dict) else None
    fitted = blank()
    if not isinstance(models, dict) or not isinstance(state.get("codes"), np.ndarray) or any(
            k not in fitted.kinds or not isinstance(m, list) or len(m) != 4
            or not all(isinstance(a, np.ndarray) for a in m[:3]) or not isinstance(m[3], IterativeImputer)
            for k, m in models.items()):
        raise ValueError("not a saved linear chain of this format")
    fitted.codes_ = state["codes"]
    fitted.models_ = {k: tuple(m) for k, m in models.items()}
    fitted.forests = None
    return fitted


def _say(folder: Path, what: str, text: str) -> None:
    if (str(folder), what) not in _SAID:
        _SAID.add((str(folder), what))
        warnings.warn(text, stacklevel=5)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        about = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return about if isinstance(about, dict) else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _loaded(folder: Path, kind: str, about: Mapping[str, Any], key: str, blank: Callable[[], Any]) -> Any:
    """The saved imputers of ``kind`` and ``key``, or None (not saved, fitted on other data, or
    damaged: each then fitted again, said once). Raises ``ImputerFileRefused`` for a file
    naming a type outside ``ALLOWED``."""
    data, meta = _files(folder, kind, key)
    record = _read_json(meta)
    if record is None:
        _say_other_fit(folder, kind, key, about)
        return None
    try:
        intact = record.get("file_bytes") == data.stat().st_size and record.get("file_sha256") == _sha256(data)
    except OSError:
        intact = False
    if not intact:
        return _damaged(folder, data, kind, f"it does not match its {meta.name}")
    try:
        import skops.io as sio  # here: its import costs a second (``SAVE_MIN_SECONDS``)
    except ImportError:
        return _damaged(folder, data, kind, "skops is not installed")
    try:
        found = sio.get_untrusted_types(file=data)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        return _damaged(folder, data, kind, " ".join(str(e).split()))
    refused = sorted(set(found) - set(ALLOWED))
    if refused:
        raise ImputerFileRefused(f"holds types that a saved imputer never holds ({', '.join(refused[:5])}"
                                 f"{' ...' if len(refused) > 5 else ''}): not loaded; delete the file to "
                                 f"have the imputer fitted and saved again", file=data)
    try:
        return _restored(blank, sio.load(data, trusted=list(found)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as e:
        return _damaged(folder, data, kind, " ".join(str(e).split()))


def _damaged(folder: Path, data: Path, kind: str, why: str) -> None:
    """A saved file that cannot be used (replaced once this fit is saved): said once."""
    _say(folder, f"damaged {data.name}", f"{data}: cannot use the saved {kind} imputer ({why}): "
         f"fitted again on the run's training rows")


def _say_other_fit(folder: Path, kind: str, key: str, about: Mapping[str, Any]) -> None:
    """A saved ``kind`` fitted on other data than this fill's (its files replaced once this fit
    is saved): say what differs, once."""
    if not folder.is_dir():
        return
    for meta in sorted(folder.glob(f"{kind}-*.json")):
        old = _read_json(meta)
        if old is None or not isinstance(old.get("fitted_on"), dict) or meta.name == f"{kind}-{key}.json":
            continue
        differs = [what for what, field in (("the store's records", "store_identity"), ("the records read", "records"),
                                             ("the schema's columns", "columns_sha256"), ("the settings", "settings"),
                                             ("the library versions", "versions"), ("the file format", "format"))
                   if old["fitted_on"].get(field) != about.get(field)]
        _say(folder, f"other fit {kind}: {differs}", f"{meta.with_suffix('.skops')}: the saved {kind} imputer "
             f"does not match this fill ({', '.join(differs) or 'its fit'} differ): fitted again")
        return


def _save(folder: Path, kind: str, key: str, about: Mapping[str, Any], state: Mapping[str, Any]) -> None:
    """Write ``state`` and its JSON atomically (each written beside, then renamed; the JSON
    last), then remove ``kind``'s files of other fits. Never fails the fill: a folder that
    cannot be written (or a Python without skops) is said once."""
    problem = _saved_or_why(folder, kind, key, about, state)
    if problem is not None:
        _say(folder, "unwritable", f"cannot save the fitted {kind} imputer in {folder} ({problem}): "
             f"each infill of this run fits it again")


def _saved_or_why(folder: Path, kind: str, key: str, about: Mapping[str, Any],
                  state: Mapping[str, Any]) -> str | None:
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        return e.strerror or type(e).__name__
    if not os.access(folder, os.W_OK):  # a read-only run directory: not even serialised
        return "not writable"
    try:
        import skops
        import skops.io as sio
    except ImportError:
        return "skops is not installed"
    data, meta = _files(folder, kind, key)
    blob = sio.dumps(state, compression=zipfile.ZIP_DEFLATED)  # the chain: 1.9 MB -> 0.2 MB
    record = {"fitted_on": dict(about), "key": key, "file_bytes": len(blob),
              "file_sha256": hashlib.sha256(blob).hexdigest(), "skops": skops.__version__}
    try:
        _write(data, blob)
        _write(meta, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    except OSError as e:
        return e.strerror or type(e).__name__
    _drop_others(folder, kind, key)
    return None


def _drop_others(folder: Path, kind: str, key: str) -> None:
    """Remove ``kind``'s files of fits other than ``key`` (where the folder lets us)."""
    for old in folder.glob(f"{kind}-*.*") if folder.is_dir() else []:
        if old.suffix in (".skops", ".json") and old.stem != f"{kind}-{key}":
            try:
                old.unlink(missing_ok=True)
            except OSError:
                return


def _write(path: Path, blob: bytes) -> None:
    # a name of its own beside ``path``, created with the umask's modes (mkstemp's 0600 would
    # hide the file from the other users of a shared run directory)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
