"""The Python API leaves the caller's session as it found it (``encoderkit/session_state.py``):
torch's, numpy's and ``random``'s generators, the deterministic-algorithms flag, the default
dtype and grad mode, the warnings filters, matplotlib's backend and open figures, the user's
own Hydra session; and two fits in two threads give what each gives alone."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from encoderkit.train import pretrain
from encoderkit.train.config import ConfigError


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return td.write_store(tmp_path_factory.mktemp("store") / "store.zarr", n=32)


def _fit(store: str, run: Path, seed: int = 0, steps: int = 3) -> Path:
    return pretrain(td.tiny_overrides(store, str(run), steps=steps, **{"run.seed": seed}))


def _weights(run: Path, step: int = 3) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / str(step) / "model.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def alone(store, tmp_path_factory) -> dict[int, Path]:
    """The reference: a fit of each seed run on its own, in this thread."""
    d = tmp_path_factory.mktemp("alone")
    return {seed: _fit(store, d / f"seed{seed}", seed) for seed in (0, 1)}


@pytest.fixture(scope="module")
def session(store, tmp_path_factory) -> dict:
    """A fit, then its resume (which sets the checkpoint's generators), in a user's session:
    seeded generators drawn from in between, an svg backend with a figure open, the user's
    own Hydra initialised; then a fit with a typo in its overrides. What the session looked
    like after; the test session's own state given back."""
    import matplotlib
    import matplotlib.pyplot as plt
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    d = tmp_path_factory.mktemp("session")
    (d / "conf").mkdir()
    (d / "conf" / "mine.yaml").write_text("lr: 0.1\nname: mine\n")
    backend, saved = matplotlib.get_backend(), (torch.get_rng_state(), np.random.get_state(), random.getstate())
    matplotlib.use("svg")
    fig = plt.figure()
    GlobalHydra.instance().clear()
    initialize_config_dir(str(d / "conf"), version_base=None)
    out: dict = {}
    try:
        torch.manual_seed(123), np.random.seed(7), random.seed(7)
        out["seed"] = torch.initial_seed()
        _fit(store, d / "run", steps=2)
        torch.rand(5), np.random.rand(5), random.random()
        _fit(store, d / "run", steps=3)
        out["draws"] = (torch.rand(3), np.random.rand(3), random.random())
        out["seed_after"] = torch.initial_seed()
        out["backend"], out["figures"] = matplotlib.get_backend(), plt.get_fignums() == [fig.number]
        out["png"] = (d / "run" / "loss.png").read_bytes()[:8]
        out["hydra"] = GlobalHydra.instance().is_initialized() and dict(compose("mine"))
        with pytest.raises(ConfigError):
            pretrain(td.tiny_overrides(store, str(d / "typo"), **{"train.no_such_key": 1}))
        out["hydra_after_error"] = GlobalHydra.instance().is_initialized() and dict(compose("mine"))
    finally:
        plt.close(fig)
        matplotlib.use(backend)
        GlobalHydra.instance().clear()
        torch.set_rng_state(saved[0]), np.random.set_state(saved[1]), random.setstate(saved[2])
    return out


def test_fit_and_resume_leave_the_callers_generators(session):
    torch.manual_seed(123), np.random.seed(7), random.seed(7)
    torch.rand(5), np.random.rand(5), random.random()  # what the user drew between the fits
    t, n, r = session["draws"]
    assert torch.equal(t, torch.rand(3))  # the run seeded torch with run.seed=0 before
    assert np.array_equal(n, np.random.rand(3))  # the resume set the checkpoint's states before
    assert r == random.random()
    assert session["seed_after"] == session["seed"] == 123


def test_training_leaves_matplotlib_backend_and_figures(session):
    assert session["backend"] == "svg"
    assert session["figures"]
    assert session["png"] == b"\x89PNG\r\n\x1a\n"  # the run's loss.png is drawn all the same


def test_fit_keeps_the_users_hydra_session(session):
    assert session["hydra"] == {"lr": 0.1, "name": "mine"}
    assert session["hydra_after_error"] == {"lr": 0.1, "name": "mine"}


def test_series_plot_leaves_matplotlib_backend(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from domains.timeseries import plot_infill

    backend = matplotlib.get_backend()
    matplotlib.use("svg")
    fig = plt.figure()
    try:
        plot_infill(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0]), str(tmp_path / "p.png"))
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == [fig.number]
    finally:
        plt.close(fig)
        matplotlib.use(backend)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_leaves_the_callers_generator(alone):
    from encoderkit.infer import load

    torch.manual_seed(5)
    load(alone[0])  # builds a randomly initialised model, then loads the weights into it
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))


@pytest.mark.parametrize("grad_off", [torch.no_grad, torch.inference_mode], ids=["no_grad", "inference_mode"])
def test_fit_with_gradients_off_trains_as_with_them_on(store, alone, tmp_path, grad_off):
    with grad_off():
        run = _fit(store, tmp_path / "run")
        assert not torch.is_grad_enabled()  # the caller's mode is back
    assert _same(_weights(run), _weights(alone[0]))


@pytest.fixture(scope="module")
def threaded(store, tmp_path_factory):
    """Fits of seeds 0 (A) and 1 (B) in two threads, interleaved on purpose: A waits at its
    model build until B has started (B seeds torch, and saves the deterministic flag A has
    just set), and B waits at its own until A is done. Without the session lock both draw
    their initial weights from one generator, and B restores A's flag last."""
    import encoderkit.train.trainer as trainer_module
    from encoderkit.train.config import compose

    d = tmp_path_factory.mktemp("threads")
    a_building, b_building, a_done = threading.Event(), threading.Event(), threading.Event()
    real = trainer_module.make_objective

    def interleaved(trainer):
        if trainer.cfg.run.seed == 0:
            a_building.set()
            b_building.wait(timeout=3)  # with the lock, B waits for A: this times out
        else:
            b_building.set()
            a_done.wait(timeout=30)
        return real(trainer)

    # composed here: B reaches its model build well within A's wait
    configs = {seed: compose(td.tiny_overrides(store, str(d / f"seed{seed}"), steps=3, **{"run.seed": seed}))
               for seed in (0, 1)}
    runs: dict[int, Path] = {}

    def fit(seed: int) -> None:
        runs[seed] = trainer_module.Trainer(configs[seed]).fit()
        if seed == 0:
            a_done.set()

    flag = torch.are_deterministic_algorithms_enabled()
    trainer_module.make_objective = interleaved
    try:
        a = threading.Thread(target=fit, args=(0,))
        a.start()
        a_building.wait(timeout=30)
        b = threading.Thread(target=fit, args=(1,))
        b.start()
        a.join(), b.join()
    finally:
        trainer_module.make_objective = real
    after = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(flag)
    return runs, flag, after


def test_two_fits_in_threads_match_each_alone(threaded, alone):
    runs, _, _ = threaded
    assert sorted(runs) == [0, 1]
    for seed in (0, 1):
        assert _same(_weights(runs[seed]), _weights(alone[seed])), seed


def test_two_fits_in_threads_leave_the_deterministic_flag(threaded):
    _, before, after = threaded
    assert not before and not after


def test_quiet_sections_in_threads_leave_the_warnings_filters():
    """Two ``without_unknown_values`` sections entered A, B and left A, B: with
    ``catch_warnings`` alone, B restores the filters A had set, for good."""
    import warnings

    from encoderkit.errors import UnknownValueWarning, without_unknown_values

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    quiet_a = without_unknown_values(lambda: (a_in.set(), b_in.wait(timeout=1)))
    quiet_b = without_unknown_values(lambda: (b_in.set(), a_out.wait(timeout=10)))
    before = list(warnings.filters)
    a = threading.Thread(target=lambda: (quiet_a(), a_out.set()))
    a.start()
    a_in.wait(timeout=10)
    b = threading.Thread(target=quiet_b)
    b.start()
    a.join(), b.join()
    assert warnings.filters == before
    with pytest.warns(UnknownValueWarning):  # and the user still hears it
        warnings.warn("unknown", UnknownValueWarning)


@pytest.fixture(scope="module")
def table_store(tmp_path_factory) -> str:
    from encoderkit.data.ingest import ingest

    d = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "y": rng.normal(size=40),
                          "c": rng.choice(["a", "b", "c"], size=40)})
    frame.loc[::7, "x"] = np.nan
    frame.to_csv(d / "t.csv", index=False)
    ingest("tabular", str(d / "t.csv"), str(d / "t.zarr"), progress=False, verbose=False)
    return str(d / "t.zarr")


def test_float64_default_dtype_trains_float32_models(table_store, tmp_path):
    from encoderkit.infer import load

    words = ["domain=tabular", f"data.store={table_store}", "model=tiny", "train.steps=3",
             "train.progress=false", "run.device=cpu", "data.max_tokens=512", "data.max_seqlen=64"]
    reference = pretrain([*words, f"run.dir={tmp_path / 'float32'}"])
    frame = pd.read_csv(Path(table_store).parent / "t.csv")
    expected = load(reference).embed(frame)
    loaded_before = load(reference)
    torch.set_default_dtype(torch.float64)
    try:
        run = pretrain([*words, f"run.dir={tmp_path / 'float64'}"])
        assert torch.get_default_dtype() == torch.float64  # the session's, back
        model = load(run)
        assert {p.dtype for p in model.model.parameters()} == {torch.float32}
        assert np.array_equal(model.embed(frame), expected)  # the same run as under float32
        assert np.array_equal(loaded_before.embed(frame), expected)  # a model loaded before the switch
    finally:
        torch.set_default_dtype(torch.float32)
    assert _same(_weights(run), _weights(reference))


# ------------------------------------------------------------------ EncoderImputer
IMPUTER = dict(model="tiny", steps=3, random_state=0, select="model", blend="none",
               overrides=("run.device=cpu", "data.max_tokens=256", "data.max_seqlen=16"))


@pytest.fixture(scope="module")
def holes() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40), "c": rng.normal(size=40)})
    return frame.mask(rng.random(frame.shape) < 0.15)


@pytest.fixture(scope="module")
def fitted(holes):
    """An imputer fitted in this thread under float32, and its fills of the table."""
    from encoderkit.sklearn import EncoderImputer

    imputer = EncoderImputer(**IMPUTER)
    return imputer, imputer.fit_transform(holes)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_imputer_fits_in_threads_leave_the_warnings_filters(holes, fitted, monkeypatch):
    """fit_transform records the warnings of fit in a ``catch_warnings`` around the whole fit:
    A's and B's, entered A, B and left A, B, left B's filters (A's 'always') in the session."""
    import warnings

    import encoderkit.impute as impute
    from encoderkit.sklearn import EncoderImputer

    real = impute.fit_models
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()
    order = iter("AB")

    def interleaved(*args, **kwargs):
        if next(order) == "A":
            a_in.set()
            b_in.wait(timeout=1)  # with the lock, B waits for A: this times out
        else:
            b_in.set()
            a_done.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(impute, "fit_models", interleaved)
    out: dict[str, pd.DataFrame] = {}

    def fit(name: str) -> None:
        out[name] = EncoderImputer(**IMPUTER).fit_transform(holes)
        if name == "A":
            a_done.set()

    before = list(warnings.filters)
    a = threading.Thread(target=fit, args=("A",))
    a.start()
    a_in.wait(timeout=60)
    b = threading.Thread(target=fit, args=("B",))
    b.start()
    a.join(), b.join()
    assert warnings.filters == before
    for name in "AB":
        pd.testing.assert_frame_equal(out[name], fitted[1])


@pytest.mark.parametrize("failure", ["config", "interrupt"])
def test_failed_refit_leaves_the_previous_fit(holes, fitted, monkeypatch, failure):
    import copy

    from sklearn.exceptions import NotFittedError

    import encoderkit.impute as impute
    from encoderkit.sklearn import EncoderImputer

    imputer = copy.copy(fitted[0])  # a shallow copy: the fitted models are the fixture's objects
    attributes = dict(vars(imputer))
    if failure == "config":
        imputer.set_params(overrides=("train.no_such_key=1",))
        expected: type[BaseException] = ConfigError
    else:
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(impute, "fit_models", interrupted)
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        imputer.fit(holes[["a", "b"]].rename(columns={"a": "x"}))
    now = vars(imputer)
    assert now.keys() == attributes.keys()
    assert all(now[k] is v for k, v in attributes.items() if k != "overrides")  # the previous fit's
    imputer.set_params(overrides=IMPUTER["overrides"])
    pd.testing.assert_frame_equal(imputer.transform(holes), fitted[1])
    # a first fit that fails leaves the estimator unfitted
    fresh = EncoderImputer(**{**IMPUTER, "overrides": ("train.no_such_key=1",)} if failure == "config" else IMPUTER)
    with pytest.raises(expected):
        fresh.fit(holes)
    assert not [k for k in vars(fresh) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        fresh.transform(holes)


def test_imputer_under_float64_default_dtype(holes, fitted):
    import pickle

    from encoderkit.sklearn import EncoderImputer

    blob = pickle.dumps(fitted[0])
    torch.set_default_dtype(torch.float64)
    try:
        pd.testing.assert_frame_equal(pickle.loads(blob).transform(holes), fitted[1])  # rebuilt as float32
        pd.testing.assert_frame_equal(EncoderImputer(**IMPUTER).fit_transform(holes), fitted[1])
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
