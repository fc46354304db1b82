"""The ``Domain`` contract declares what the callers ask for (s48c): ``infill_candidates(data,
predict, only=None)`` and ``infill_batched(data, predict, max_tokens)`` (default: ``infill``).

A plug-in overriding ``infill_candidates`` the old way (no ``only``) still imputes: it is
called without ``only`` and makes all its fills; a new-signature one is given the names
wanted; a domain without its own ``infill_batched`` fills a file through the base default,
with the fills of ``infill``. The contract module loads without torch, and a class that is
not a ``Domain`` is refused at registration as an entry point's is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import testdomain as td
from encoderkit import registry
from encoderkit.core import EncoderConfig
from encoderkit.domain import Domain, MaskedExample
from encoderkit.impute_candidates import candidate_fills
from encoderkit.infer import Pretrained
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.outputs import atomic_write

DATA = np.array([1.0, np.nan, 3.0, np.nan])
MODEL_FILL = np.array([1.0, 2.0, 3.0, 2.0])


def _filled_with(value: float) -> np.ndarray:
    return np.where(np.isnan(DATA), value, DATA)


class _Model:
    """What ``candidate_fills`` reads of a loaded model: ``infill_domain`` and ``predict``."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    def infill_domain(self, options):
        return self.domain

    def predict(self, masked):
        raise AssertionError("no candidate here runs the model")


class OldSignature(td.TrainTestDomain):
    """A plug-in written before ``only`` existed."""

    name = "s48c-old"

    def __init__(self, schema, **options):
        super().__init__(schema, **options)
        self.calls = 0

    def infill_candidates(self, data, predict):
        self.calls += 1
        return {"zeros": _filled_with(0.0), "nines": _filled_with(9.0)}


class _OldMixin:
    """The old override coming from a mixin that is no ``Domain`` (the class that resolves it
    is not the one whose body defines it)."""

    def infill_candidates(self, data, predict):
        return {"zeros": _filled_with(0.0), "nines": _filled_with(9.0)}


class OldFromMixin(_OldMixin, td.TrainTestDomain):
    name = "s48c-old-mixin"


class CatchAll(td.TrainTestDomain):
    """``**kwargs`` is not taken to mean ``only``: such a method may pass them on."""

    name = "s48c-catchall"

    def infill_candidates(self, data, predict, **kwargs):
        assert not kwargs, kwargs
        return {"zeros": _filled_with(0.0)}


class NewSignature(td.TrainTestDomain):
    """A plug-in that makes only the fills asked for."""

    name = "s48c-new"

    def __init__(self, schema, **options):
        super().__init__(schema, **options)
        self.asked: list = []

    def infill_candidates(self, data, predict, only=None):
        self.asked.append(None if only is None else set(only))
        made = {"zeros": lambda: _filled_with(0.0), "nines": lambda: _filled_with(9.0)}
        return {k: f() for k, f in made.items() if only is None or k in only}


class KeywordOnly(NewSignature):
    name = "s48c-kwonly"

    def infill_candidates(self, data, predict, *, only=None):
        return super().infill_candidates(data, predict, only=only)


def _fills(domain: Domain, wanted=None) -> dict:
    return candidate_fills([_Model(domain)], DATA, MODEL_FILL, False, None, (), wanted=wanted)


@pytest.mark.parametrize("cls", [OldSignature, OldFromMixin, CatchAll])
def test_old_signature_plugin_is_called_without_only_and_its_fills_are_kept(cls):
    domain = cls({})
    every = _fills(domain)
    chosen = _fills(domain, wanted={"model", "zeros"})  # the file's fill: "zeros" was chosen
    np.testing.assert_array_equal(every["model"], MODEL_FILL)
    for out in (every, chosen):  # all of its own, as before `only` (the caller picks "zeros")
        np.testing.assert_array_equal(out["zeros"], [1.0, 0.0, 3.0, 0.0])
        if cls is not CatchAll:
            np.testing.assert_array_equal(out["nines"], [1.0, 9.0, 3.0, 9.0])
    assert set(_fills(domain, wanted={"model"})) == {"model"}  # nothing of its own wanted


@pytest.mark.parametrize("cls", [NewSignature, KeywordOnly])
def test_new_signature_plugin_is_given_only_the_names_wanted(cls):
    domain = cls({})
    every = _fills(domain)
    chosen = _fills(domain, wanted={"model", "linear", "nines"})  # linear: the command's, not the domain's
    assert domain.asked == [None, {"nines"}]
    assert set(every) == {"model", "zeros", "nines"} and set(chosen) == {"model", "nines"}
    np.testing.assert_array_equal(chosen["nines"], every["nines"])
    np.testing.assert_array_equal(chosen["nines"], [1.0, 9.0, 3.0, 9.0])
    assert set(_fills(domain, wanted={"model"})) == {"model"} and len(domain.asked) == 2  # no call


def test_the_base_class_declares_only_and_infill_batched():
    import inspect

    only = inspect.signature(Domain.infill_candidates).parameters["only"]
    assert only.default is None
    assert list(inspect.signature(Domain.infill_batched).parameters) == ["self", "data", "predict", "max_tokens"]
    assert Domain({}).infill_candidates(DATA, None, only={"x"}) == {}


# ---- infill_batched: a domain without its own fills a file through the base default ----

MISSING = -1


class LineFill(td.TrainTestDomain):
    """Reads lines of ids with ``?`` for a missing one; fills each with the model's likeliest id."""

    name = "s48c-lines"

    def read_input(self, path: str) -> list[np.ndarray]:
        rows = Path(path).read_text().split("\n")
        return [np.array([MISSING if w == "?" else int(w) for w in r.split()], dtype=np.int64) for r in rows if r]

    def infill(self, data, predict):
        rows = [np.asarray(r, dtype=np.int64) for r in data]
        masked = [MaskedExample(inputs={"ids": np.where(r == MISSING, td.MASK_ID, r)},
                                positions=np.arange(len(r), dtype=np.int32)[:, None], targets={},
                                predict=r == MISSING, record=i) for i, r in enumerate(rows)]
        out = []
        for r, p in zip(rows, predict(masked)):
            r = r.copy()
            r[r == MISSING] = p["ids"][:, 2:].argmax(-1) + 2  # data ids only
            out.append(r)
        return out

    def write_output(self, data, path: str) -> None:
        text = "".join(" ".join(str(int(v)) for v in r) + "\n" for r in data)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def _pretrained(domain: Domain) -> Pretrained:
    torch.manual_seed(0)
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                           local_window=8, backend="sdpa", rope_axes=1, global_every=1)
    return Pretrained(MaskedEncoderModel(domain, config), domain, config, max_seqlen=64)


def test_domain_without_infill_batched_fills_a_file_through_the_base_default_as_infill(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    rows = [rng.integers(2, td.VOCAB, size=int(rng.integers(6, 20))) for _ in range(5)]
    holes = [rng.random(len(r)) < 0.3 for r in rows]
    for h in holes:
        h[0] = True  # every row has a hole
    src = tmp_path / "ids.txt"
    src.write_text("".join(" ".join("?" if m else str(v) for v, m in zip(r, h)) + "\n" for r, h in zip(rows, holes)))
    model = _pretrained(LineFill({}))
    seen = []
    base = Domain.infill_batched

    def spy(self, data, predict, max_tokens):
        seen.append((type(self).__name__, max_tokens))
        return base(self, data, predict, max_tokens)

    monkeypatch.setattr(Domain, "infill_batched", spy)
    out = model.infill(str(src), output=tmp_path / "filled.txt")
    assert seen == [("LineFill", model.max_tokens)]  # the file went through infill_batched
    want = model.infill(LineFill({}).read_input(str(src)))  # the in-memory fill: the reference
    got = LineFill({}).read_input(str(out))
    assert len(got) == len(want) == len(rows)
    for g, w, r, h in zip(got, want, rows, holes):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(g[~h], r[~h])  # observed ids unchanged
        assert ((g[h] >= 2) & (g[h] < td.VOCAB)).all()


# ---- what a domain is, and what loading the contract costs ----------------------------

def test_register_domain_refuses_a_class_that_is_not_a_domain(monkeypatch):
    monkeypatch.setattr(registry, "_local", dict(registry._local))

    class Duck:  # the methods a plug-in author might think are enough
        name = "s48c-duck"

        def featurize(self, record):
            return record

    with pytest.raises(TypeError, match=r"Duck.*subclass of encoderkit.domain.Domain"):
        registry.register_domain(Duck)
    assert "s48c-duck" not in registry._local
    assert registry.register_domain(OldSignature) is OldSignature  # a Domain still registers


def test_the_domain_contract_loads_without_torch():
    code = ("import json, sys\nimport encoderkit.domain, encoderkit.registry, encoderkit.impute_candidates\n"
            "import encoderkit.infer.infill_files\n"
            "print(json.dumps(['torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False]
