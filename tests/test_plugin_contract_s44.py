"""The domain contract as a third-party plug-in meets it (audit s44): plug-in domains are
registered in-process here (``registry._local``, undone after each test), never installed.

Each test names the property it checks: position widths against ``rope_axes``; ``embed
pooling=cls`` at ``cls_position`` (refused without one, built-in domains included);
``domain=<plug-in>`` with no yaml; one-line errors for what a plug-in leaves out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import testdomain as td
from encoderkit import cli, registry
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.data.store import StoreWriter
from encoderkit.domain import ContractError, Domain, Example, NotSupportedError
from encoderkit.errors import UsageError
from encoderkit.infer import Pretrained
from encoderkit.modeling import MaskedEncoderModel

CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48,
                       local_window=8, backend="sdpa", rope_axes=1)
TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.steps=2", "train.eval_every=0", "train.checkpoint_every=0", "train.log_every=1",
        "train.progress=false", "data.max_tokens=256", "data.max_seqlen=64", "run.device=cpu"]


class Plug(td.TrainTestDomain):
    """A plug-in with only the required methods (no yaml, no read_input, no infill)."""

    name = "s44-plug"


class NoAxes(Plug):
    """Returns 1-D positions [L, 1] but leaves rope_axes at the base class's 0."""

    name = "s44-noaxes"
    rope_axes = 0


class FlatPositions(Plug):
    """Returns [L] positions, not [L, 1]."""

    name = "s44-flat"

    def featurize(self, record):
        ex = super().featurize(record)
        return Example(fields=ex.fields, positions=ex.positions[:, 0])


class TwoAxes(Plug):
    """Returns [L, 2] positions with rope_axes = 1: the second axis would be dropped."""

    name = "s44-twoaxes"

    def featurize(self, record):
        ex = super().featurize(record)
        return Example(fields=ex.fields, positions=np.concatenate([ex.positions, ex.positions * 3], 1))


class ClsAt2(Plug):
    """Its [CLS]-like pooling element is token 2 of every window."""

    name = "s44-cls2"
    cls_position = 2


@pytest.fixture
def plug(monkeypatch):
    """Register domain classes in this process for one test (as a plug-in's entry point would)."""
    def add(*classes):
        for c in classes:
            monkeypatch.setitem(registry._local, c.name, c)
    return add


def _store(path: Path, name: str, n: int = 24) -> str:
    with StoreWriter(path, name) as w:
        for i, ids in enumerate(td.make_records(n, seed=1)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    return str(path)


def _pretrained(domain: Domain, rope_axes: int = 1) -> Pretrained:
    torch.manual_seed(0)
    config = dataclasses.replace(CONFIG, rope_axes=rope_axes, global_every=1)
    return Pretrained(MaskedEncoderModel(domain, config), domain, config, max_seqlen=64)


def _records(n: int = 4) -> list[dict]:
    rng = np.random.default_rng(2)  # distinct ids, so tokens 0 and 2 have different states
    return [{"ids": rng.integers(2, td.VOCAB, size=int(rng.integers(8, 30))), "id": f"r{i}"}
            for i in range(n)]


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith(f"encoderkit {command}: error:")]
    assert lines and "Traceback" not in err and cli.BUG_LINE not in err, err
    return lines[-1]


# ---- finding 1: positions against rope_axes ---------------------------------------------

def test_pretrain_refuses_positions_wider_than_rope_axes_naming_class_width_and_axes(plug, tmp_path, capsys):
    plug(NoAxes)
    store = _store(tmp_path / "s.zarr", NoAxes.name)
    rc = cli.main(["pretrain", f"domain.name={NoAxes.name}", f"data.store={store}",
                   f"run.dir={tmp_path / 'run'}", *TINY])
    line = _one_line_error(capsys, "pretrain")
    assert rc == 1
    assert "NoAxes" in line and "width 1" in line and "rope_axes is 0" in line
    assert not (tmp_path / "run").exists()  # refused before the run starts (review s44)


def test_embed_refuses_1d_and_extra_axis_positions():
    for cls in (FlatPositions, TwoAxes):
        pt = _pretrained(cls({}))
        with pytest.raises(ContractError, match=cls.__name__) as e:
            pt.embed(_records())
        assert "rope_axes" in str(e.value) and "\n" not in str(e.value)


def test_infill_predict_refuses_examples_with_wrong_positions():
    pt = _pretrained(Plug({}))
    ex = TwoAxes({}).featurize(_records(1)[0])
    with pytest.raises(ContractError, match=r"width 2.*rope_axes is 1"):
        pt.predict([Plug({}).unmasked(ex)])


# ---- finding 3: embed pooling=cls uses cls_position -------------------------------------

def test_embed_cls_pools_the_token_at_cls_position():
    pt = _pretrained(ClsAt2({}))
    records = _records()
    got = pt.embed(records, pooling="cls")
    d = pt.domain
    for r, vec in zip(records, got):
        with torch.no_grad():
            h = pt.model.encode(collate([d.unmasked(d.featurize(r))])).numpy()
        np.testing.assert_allclose(vec, h[2], atol=1e-5)
        assert not np.allclose(vec, h[0], atol=1e-5)


def test_embed_cls_is_refused_for_a_domain_without_cls():
    pt = _pretrained(Plug({}))
    with pytest.raises(UsageError, match=r"cls_position is None"):
        pt.embed(_records(), pooling="cls")


@pytest.mark.parametrize("name", ["genomic", "timeseries"])
def test_builtin_domains_without_cls_refuse_embed_cls(name):
    domain = registry.get_domain(name)({})
    assert domain.cls_position is None
    pt = _pretrained(domain, rope_axes=domain.rope_axes)
    with pytest.raises(UsageError, match=r"has none \(its cls_position is None\)"):
        pt.embed(domain.sample_infill_input(), pooling="cls")


def test_tabular_has_no_cls_and_sets_has_one_only_with_its_pooling_token():
    from domains.sets import SetsDomain
    from domains.sets.digits import load_digit_sets
    from domains.sets.ingest import ingest_objects
    from encoderkit.domain import IngestReport

    assert registry.get_domain("tabular").cls_position is None

    class Writer:
        def __init__(self):
            self.records = []

        def append(self, fields, meta=None, id=None):
            self.records.append({**{k: np.asarray(v) for k, v in fields.items()}, "id": id})
            return len(self.records) - 1

    writer = Writer()
    schema = ingest_objects(load_digit_sets(limit=4)[0], writer, IngestReport())
    with pytest.raises(UsageError, match="cls_position"):
        _pretrained(SetsDomain(schema), rope_axes=2).embed(writer.records, pooling="cls")
    domain = SetsDomain(schema, pooling_token=True)
    assert domain.cls_position == 0
    pt = _pretrained(domain, rope_axes=domain.rope_axes)
    got = pt.embed(writer.records, pooling="cls")  # unchanged: the first element of each set
    for r, vec in zip(writer.records, got):
        with torch.no_grad():
            h = pt.model.encode(collate([domain.unmasked(domain.featurize(r))])).numpy()
        np.testing.assert_allclose(vec, h[0], atol=1e-5)


# ---- finding 5: domain=<plug-in> with no yaml; finding 7: one-line errors ----------------

@pytest.fixture
def plug_run(plug, tmp_path):
    """A plug-in pretrained through the CLI as a user writes it: ``domain=<name>``."""
    plug(Plug)
    store = _store(tmp_path / "s.zarr", Plug.name)
    rc = cli.main(["pretrain", f"domain={Plug.name}", f"data.store={store}",
                   f"run.dir={tmp_path / 'run'}", *TINY])
    assert rc == 0
    return tmp_path / "run", store


def test_domain_equals_plugin_works_without_a_yaml(plug_run):
    from encoderkit.train.config import compose

    run, store = plug_run
    assert (run / "config.yaml").is_file()
    cfg = compose([f"domain={Plug.name}", f"data.store={store}", "domain.rate=0.2"])
    assert cfg.domain.name == Plug.name and cfg.domain.rate == 0.2
    # a built-in with a yaml still gets its yaml's defaults
    assert compose(["domain=genomic", "data.store=x"]).domain.tokens == "nucleotide"
    # the last domain= wins, whichever is the plug-in (review s44: both survived, mixed)
    mixed = compose(["domain=genomic", f"domain={Plug.name}", f"data.store={store}"])
    assert mixed.domain.name == Plug.name and "tokens" not in mixed.domain
    assert compose([f"domain={Plug.name}", "domain=genomic", "data.store=x"]).domain.name == "genomic"


def test_unknown_domain_is_one_line_listing_the_available_ones(plug, tmp_path, capsys):
    plug(Plug)
    rc = cli.main(["pretrain", "domain=no-such-domain", "data.store=x", f"run.dir={tmp_path / 'run'}"])
    line = _one_line_error(capsys, "pretrain")
    assert rc == 2 and "no-such-domain" in line and Plug.name in line and "genomic" in line
    assert not (tmp_path / "run").exists()


def test_raw_file_without_read_input_is_a_one_line_usage_error(plug_run, tmp_path, capsys):
    run, _ = plug_run
    raw = tmp_path / "seqs.txt"
    raw.write_text("ACDE\n")
    rc = cli.main(["embed", f"checkpoint={run}", f"input={raw}", f"output={tmp_path / 'e.npy'}"])
    line = _one_line_error(capsys, "embed")
    assert rc == 2 and "read_input" in line and Plug.name in line
    rc = cli.main(["infill", f"checkpoint={run}", f"input={raw}", f"output={tmp_path / 'o.txt'}"])
    line = _one_line_error(capsys, "infill")
    assert rc == 2 and "read_input" in line
    # and embed pooling=cls of this [CLS]-less plug-in, in one line before reading anything
    rc = cli.main(["embed", f"checkpoint={run}", f"input={raw}", f"output={tmp_path / 'e.npy'}", "pooling=cls"])
    assert rc == 2 and "cls_position" in _one_line_error(capsys, "embed")


def test_unknown_masker_is_refused_before_the_run_starts(plug, tmp_path, capsys):
    plug(Plug)
    store = _store(tmp_path / "s.zarr", Plug.name)
    run = tmp_path / "runs" / "bad"
    rc = cli.main(["pretrain", f"domain={Plug.name}", f"data.store={store}", f"run.dir={run}",
                   "domain.masker=span", *TINY])
    line = _one_line_error(capsys, "pretrain")
    assert rc == 2 and "'span'" in line and "random" in line
    assert not run.exists() and not (tmp_path / "runs").exists()
    rc = cli.main(["pretrain", f"domain={Plug.name}", f"data.store={store}", f"run.dir={run}",
                   "domain.masker={random: 1, spam: 1}", *TINY])
    assert rc == 2 and "'spam'" in _one_line_error(capsys, "pretrain") and not run.exists()


def test_base_class_errors_name_the_domain_and_the_method():
    class Bare(Domain):
        name = "s44-bare"

    d = Bare({})
    calls = {"featurize": lambda: d.featurize({}), "maskers": lambda: d.maskers,
             "embedder": lambda: d.embedder(CONFIG), "head": lambda: d.head(CONFIG),
             "decode": lambda: d.decode({}, None), "to_records": lambda: d.to_records([]),
             "infill": lambda: d.infill([], None), "read_input": lambda: d.read_input("x"),
             "write_output": lambda: d.write_output([], "x")}
    for method, call in calls.items():
        with pytest.raises(NotImplementedError) as e:
            call()
        assert "s44-bare" in str(e.value) and "Bare" in str(e.value) and method in str(e.value), str(e.value)
    # the optional ones are user-facing one-line errors
    with pytest.raises(NotSupportedError):
        d.infill([], None)
    assert isinstance(NotSupportedError("x"), UsageError)
