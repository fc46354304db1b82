"""Fixed costs of every command and call (session 51, helper a2; audit a).

1. ``encoderkit.load`` built the model on the meta device first (its check against the weights)
   and ran its initialisation there; torch's Python meta kernels (``normal_``, ``arange`` then
   arithmetic, ``cat``) import ``torch._dynamo`` on first use: ~1.2 s CPU of every embed / infill
   / predict / evaluate. ``modeling.meta_build_cheap`` builds the same meta model without them;
   real builds are untouched. References: the plain meta build (names, shapes, dtypes), the plain
   real build (bit for bit), the checkpoint's safetensors file, a fresh interpreter's modules.
2. ``encode_frame`` paid pandas' fixed costs per column (``Index.map``, ``to_numeric``,
   ``notna``): 2 ms for one row. Reference: the general path (the fast paths switched off) on
   mixed tables with holes, categories, dates, unknown values and the errors.
3. ``bin_index`` converted the schema's list and clipped on every masked example. Reference: the
   function as it was, copied here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import testdomain as td
from domains.tabular import TabularDomain, encoding
from domains.tabular.encoding import BinEdges, bin_index, encode_frame
from domains.tabular.schema import infer_schema
from encoderkit.core import EncoderConfig
from encoderkit.data.store import RecordStore
from encoderkit.domain import Example
from encoderkit.errors import DataError
from encoderkit.infer.load import load
from encoderkit.modeling import MaskedEncoderModel, meta_build_cheap
from encoderkit.registry import get_domain
from encoderkit.train import pretrain
from encoderkit.train.model_size import meta_parameters
from tests.domains.sample_store import ingest_sample

REPO = Path(__file__).resolve().parents[1]
BUILT_IN = ["genomic", "sets", "tabular", "timeseries"]


# ---------------------------------------------------------------- 1. the meta build

@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("samples")
    out = {}
    for name in BUILT_IN:
        (root / name).mkdir()
        out[name] = ingest_sample(name, root / name)
    return out


def _config(domain, mode: str = "axial") -> EncoderConfig:
    return EncoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                         rope_axes=domain.rope_axes, rope_mode=mode, backend="sdpa")


def _domain(name: str, store: str):
    return get_domain(name)(RecordStore(store).schema)


def _layout(model: nn.Module) -> dict[str, tuple]:
    """Every parameter and buffer (non-persistent ones too): shape, dtype, requires_grad."""
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return {k: (tuple(t.shape), t.dtype, t.requires_grad) for k, t in tensors.items()}


# the sets domain's note on window order (coordinates in input order) is no concern here
pytestmark = pytest.mark.filterwarnings("ignore:sets with coordinates")


@pytest.mark.parametrize("mode", ["axial", "mixed"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_the_cheap_meta_build_holds_the_plain_meta_builds_tensors(stores, name, mode):
    domain = _domain(name, stores[name])
    if mode == "mixed" and domain.rope_axes == 0:
        pytest.skip("no rotary frequencies to learn without positions")
    config = _config(domain, mode)
    build = lambda: MaskedEncoderModel(domain, config)  # noqa: E731
    plain, count = meta_parameters(build)
    with meta_build_cheap():
        cheap, cheap_count = meta_parameters(build)
    assert cheap_count == count
    assert _layout(cheap) == _layout(plain)
    assert list(cheap.state_dict()) == list(plain.state_dict())
    # what it made on CPU (small computed buffers) holds the real build's values
    real = build()
    real_tensors = {**dict(real.named_parameters()), **dict(real.named_buffers())}
    for key, t in {**dict(cheap.named_buffers())}.items():
        if not t.is_meta:
            assert torch.equal(t, real_tensors[key]), key


@pytest.mark.parametrize("name", BUILT_IN)
def test_a_real_build_under_it_is_the_plain_build_bit_for_bit(stores, name):
    domain = _domain(name, stores[name])
    config = _config(domain)
    torch.manual_seed(3)
    plain = MaskedEncoderModel(domain, config)
    after_plain = torch.get_rng_state()
    torch.manual_seed(3)
    with meta_build_cheap():
        cheap = MaskedEncoderModel(domain, config)
    assert torch.equal(torch.get_rng_state(), after_plain)  # the same draws, no more, no fewer
    a = {**dict(plain.named_parameters()), **dict(plain.named_buffers())}
    b = {**dict(cheap.named_parameters()), **dict(cheap.named_buffers())}
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


class _Mixed(nn.Module):
    """An ``__init__`` that meets a small computed tensor with a large parameter, and computes
    a large buffer: the first runs on meta as before, the second is never allocated."""

    def __init__(self) -> None:
        super().__init__()
        self.big = nn.Parameter(torch.empty(4, 1 << 17))  # [4, 131072]: beyond the CPU bound
        nn.init.trunc_normal_(self.big, std=0.02, a=-0.04, b=0.04)
        scale = torch.arange(4.0)[:, None]  # small: made on CPU in the cheap build
        self.register_buffer("scaled", (self.big * scale).detach(), persistent=False)
        self.register_buffer("steps", torch.arange(1 << 22, dtype=torch.float32))
        self.register_buffer("tiny", torch.linspace(0, 1, 5) ** 2)


def test_a_small_cpu_value_meeting_a_meta_tensor_runs_on_meta_and_large_ones_stay_there():
    plain, count = meta_parameters(_Mixed)
    with meta_build_cheap():
        cheap, cheap_count = meta_parameters(_Mixed)
    assert cheap_count == count and _layout(cheap) == _layout(plain)
    assert cheap.big.is_meta and cheap.scaled.is_meta and cheap.steps.is_meta
    assert torch.equal(cheap.tiny, torch.linspace(0, 1, 5) ** 2)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 2-step run of the test domain (rotary positions, truncated-normal initialisation)."""
    root = tmp_path_factory.mktemp("run")
    store = td.write_store(root / "store.zarr", n=32)
    pretrain(td.tiny_overrides(store, str(root / "run"), steps=2,
                               **{"train.eval_every": 0, "train.checkpoint_every": 2}))
    return root / "run"


_FRESH = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import testdomain  # registers the test domain
import encoderkit
from encoderkit.infer.load import model_build
from encoderkit.modeling import MaskedEncoderModel, meta_build_cheap
from encoderkit.core import EncoderConfig
from encoderkit.data.store import RecordStore
from encoderkit.registry import get_domain
from encoderkit.train.model_size import meta_parameters
stores = json.loads(sys.argv[4])
domains = {n: get_domain(n)(RecordStore(s).schema) for n, s in stores.items()}
before = "torch._dynamo" in sys.modules
for d in domains.values():
    config = EncoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                           rope_axes=d.rope_axes, backend="sdpa")
    with model_build(), meta_build_cheap():
        meta_parameters(lambda: MaskedEncoderModel(d, config))
model = encoderkit.load(sys.argv[3])
print(json.dumps({"before": before, "after": "torch._dynamo" in sys.modules}))
"""


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_load_and_every_domains_meta_build_import_no_torch_dynamo(run, stores):
    out = subprocess.run([sys.executable, "-c", _FRESH, str(REPO), str(REPO / "tests"), str(run),
                          json.dumps(stores)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"before": False, "after": False}


def test_the_loaded_model_is_its_weights_file_and_the_callers_generators_stay(run):
    torch.manual_seed(11)
    state = torch.get_rng_state()
    model = load(run)
    assert torch.equal(torch.get_rng_state(), state)
    weights = load_file(str(model.path / "model.safetensors"))
    got = model.model.state_dict()
    assert weights.keys() <= got.keys()
    for key, t in weights.items():
        assert torch.equal(got[key], t), key
    plain = MaskedEncoderModel(model.domain, model.config)  # non-persistent buffers: from the config
    for key, t in plain.named_buffers():
        assert torch.equal(dict(model.model.named_buffers())[key], t), key


# ---------------------------------------------------------------- 2. encode_frame of small frames

def _general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``encode_frame`` as before: pandas' own calls for every column."""
    def names(frame):
        return ({str(k): k for k in frame.columns},
                [str(k) for k in frame.columns[frame.columns.map(str).duplicated()]])

    monkeypatch.setattr(encoding, "_plain_numbers", lambda s: None)
    monkeypatch.setattr(encoding, "_given", lambda s, cells: s.notna().to_numpy())
    monkeypatch.setattr(encoding, "_column_names", names)


def _encoded(frame, schema, **kw):
    """``encode_frame``'s arrays and warnings, or its error's text."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            enc = encode_frame(frame, schema, **kw)
        except DataError as e:
            return ("error", str(e))
    return (enc.cat, enc.num, enc.observed, enc.present, [str(w.message) for w in said])


def _same(a, b) -> None:
    if isinstance(a[0], str) or isinstance(b[0], str):  # an error: the same words
        assert a == b
        return
    for x, y in zip(a[:4], b[:4]):
        assert x.dtype == y.dtype and np.array_equal(x, y)  # float32 bits: no NaN among them
    assert a[4] == b[4]


def _training_frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "flt": rng.normal(5.0, 2.0, n), "f32": rng.normal(size=n).astype(np.float32),
        "big_int": rng.integers(0, 1000, n), "nullable": pd.array(rng.integers(0, 500, n), dtype="Int64"),
        "small_int": rng.integers(0, 4, n), "flag": rng.random(n) < 0.5,
        "color": rng.choice(["red", "green", "blue"], n),
        "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
        "day": [f"2021-03-{d:02d}" for d in rng.integers(1, 29, n)],
        "code": rng.choice(["01", "02", "7"], n),
    })


def _test_frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    base = _training_frame(40).sample(frac=1.0, random_state=2).reset_index(drop=True)
    holes = base.astype(object)
    for col in holes.columns:  # about a quarter of each column's cells missing
        holes.loc[rng.random(len(holes)) < 0.25, col] = rng.choice([None, np.nan])
    holes.loc[3, "color"] = "purple"  # unknown category
    holes.loc[5, "small_int"] = "2"  # a category as text
    typed = base.copy()
    typed["flt"] = typed["flt"].where(rng.random(len(typed)) > 0.3)  # NaN holes, float64
    typed["nullable"] = typed["nullable"].astype("Int64").mask(rng.random(len(typed)) < 0.3)
    typed["color"] = typed["color"].astype("string").mask(rng.random(len(typed)) < 0.3)
    typed["code"] = pd.Categorical(typed["code"].mask(rng.random(len(typed)) < 0.3))
    typed["small_int"] = typed["small_int"].astype(np.int32)
    typed["big_int"] = typed["big_int"].astype(np.uint16)
    typed["when"] = typed["when"].mask(rng.random(len(typed)) < 0.3)  # NaT
    arrow = base.convert_dtypes(dtype_backend="pyarrow")
    text = base.astype(str)  # what read_csv(dtype=str) gives
    return {"holes": holes, "typed": typed, "arrow": arrow, "text": text, "reordered": base[base.columns[::-1]]}


@pytest.fixture(scope="module")
def schema() -> dict:
    frame = _training_frame()
    return infer_schema(frame, np.ones(len(frame), dtype=bool))[0]


@pytest.mark.parametrize("kind", ["holes", "typed", "arrow", "text", "reordered"])
def test_encode_frame_of_each_row_and_of_the_table_is_the_general_paths(schema, kind, monkeypatch):
    frame = _test_frames()[kind]
    parts = [frame] + [frame.iloc[i:i + 1] for i in range(0, len(frame), 3)]
    got = [_encoded(part, schema, source="t.csv") for part in parts]
    _general_path(monkeypatch)
    for part, mine in zip(parts, got):
        _same(mine, _encoded(part, schema, source="t.csv"))


def test_encode_frame_errors_and_odd_headers_are_the_general_paths(schema, monkeypatch):
    base = _training_frame(6)
    inf = base.assign(flt=[1.0, np.inf, 2.0, 3.0, 4.0, 5.0])
    words = base.assign(flt=["1.5", "abc", "2", "3", "4", "5"])  # one text cell: a warning
    twice = pd.concat([base, base[["color"]]], axis=1)  # 'color' twice
    numbered = infer_schema(pd.DataFrame({0: [1.0, 2.0, 3.0], 1: ["a", "b", "a"]}), np.ones(3, dtype=bool))[0]
    labels = pd.DataFrame({0: [2.5, np.nan], 1: ["b", "z"]})
    cases = [(inf, schema), (words, schema), (twice, schema), (labels, numbered), (labels.iloc[:1], numbered)]
    got = [_encoded(frame, s) for frame, s in cases]
    assert got[0][0] == "error" and "infinite" in got[0][1]
    assert got[2][0] == "error" and "more than once" in got[2][1]
    _general_path(monkeypatch)
    for (frame, s), mine in zip(cases, got):
        _same(mine, _encoded(frame, s))


# ---------------------------------------------------------------- 3. bin_index per masked example

def _old_bin_index(z, edges):
    """``encoding.bin_index`` before session 51, the reference."""
    e = np.asarray(edges, dtype=np.float64)
    return np.clip(np.searchsorted(e, z, side="right") - 1, 0, max(e.size - 2, 0))


_EDGES = {
    "none": [], "one": [0.5], "constant": [1.0, 1.0], "hand": [-1.0, 0.0, 0.5, 2.0],
    "quantiles": np.unique(np.random.default_rng(0).normal(size=17)).tolist(),
    "ties_inside": [-1.0, 0.0, 0.0, 0.0, 3.0], "infinite": [-np.inf, 0.0, np.inf],
    "unsorted": [0.0, 2.0, 1.0, 3.0], "nan_edge": [0.0, np.nan, 1.0],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_EDGES))
def test_prepared_edges_give_the_old_functions_bins(name, dtype):
    edges = _EDGES[name]
    e = np.asarray(edges, dtype=np.float64)
    finite = e[np.isfinite(e)]
    z = np.concatenate([
        np.random.default_rng(1).normal(0, 2, 500), e, np.nextafter(finite, np.inf),
        np.nextafter(finite, -np.inf), [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30],
    ]).astype(dtype)
    want = _old_bin_index(z, edges)
    for got in (bin_index(z, BinEdges(edges)), bin_index(z, edges)):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    for x in z[:5].tolist() + [float("nan")]:  # one value at a time, as a scalar
        assert bin_index(x, BinEdges(edges)) == _old_bin_index(x, edges)


def test_masked_examples_carry_the_old_functions_bins():
    frame = _training_frame(200)
    domain = TabularDomain.from_frame(frame, mask_rate=0.5)
    rng = np.random.default_rng(0)
    checked = 0
    for record in domain.to_records(frame):
        example: Example = domain.featurize(record)
        masked = domain.mask(example, rng)
        col = masked.targets["column"]
        for k, j in enumerate(col.tolist()):
            if domain.columns[j]["kind"] == "numeric":
                want = _old_bin_index(masked.targets["num"][k:k + 1], domain.columns[j]["edges"])
                assert masked.targets["bin"][k] == want[0]
                checked += 1
    assert checked > 100
