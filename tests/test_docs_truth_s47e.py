"""What the help texts, docstrings and comments promise is what the code does (s47e):
continuing pretraining from an export of a shallow model, every default a `--help` shows
equal to the config a run gets, every option a command takes listed in its help, the
>64-categories rule of the tables' categorical vote said, and the examples' and comments'
references true."""

from __future__ import annotations

import ast
import inspect
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from encoderkit import cli
from encoderkit.core import EncoderConfig
from encoderkit.infer.pretrained import Pretrained
from encoderkit.interop.hf import HFInteropError, config_from_hf, export_hf, init_from_hf, read_hf_config
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import get_domain

ROOT = Path(__file__).resolve().parents[1]


def _help(command: str, capsys) -> str:
    assert cli.main([command, "--help"]) == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------- item 1: import-hf --help's promise


def _genomic(num_layers: int, seed: int = 0, **kw) -> tuple[MaskedEncoderModel, EncoderConfig]:
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=num_layers, intermediate_size=48,
                           local_window=8, backend="sdpa", **kw)
    torch.manual_seed(seed)
    return MaskedEncoderModel(get_domain("genomic")({}), config), config


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_pretraining_continues_from_an_export_of_a_model_no_deeper_than_global_every(tmp_path, num_layers):
    """`import-hf --help`: continue pretraining with run.init_from=<export>. A 2-layer model
    (global_every auto = 3) was refused: "global_every: HF 2 vs model 3"."""
    model, config = _genomic(num_layers)
    assert config.global_every == 3
    out = export_hf(Pretrained(model, get_domain("genomic")({}), config), tmp_path / "hf")
    assert config_from_hf(read_hf_config(out)).global_every == 3  # config.json says 3
    fresh, _ = _genomic(num_layers, seed=1)  # other weights until the import
    assert "loaded" in init_from_hf(fresh, out)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_layer_pattern_decides_not_the_number(tmp_path):
    """A config.json with layer_types only (transformers 5) of 2 layers [full, sliding] gives
    n = 2; a model of n = 3 has the same layers and loads; one of n = 1 (all global) differs."""
    import json

    model, config = _genomic(2)
    out = export_hf(Pretrained(model, get_domain("genomic")({}), config), tmp_path / "hf")
    body = json.loads((out / "config.json").read_text())
    del body["global_attn_every_n_layers"]
    (out / "config.json").write_text(json.dumps(body))
    assert config_from_hf(body).global_every == 2 and body["layer_types"] == ["full_attention",
                                                                              "sliding_attention"]
    assert "loaded" in init_from_hf(_genomic(2)[0], out)
    with pytest.raises(HFInteropError, match="global_every: HF 2 vs model 1"):
        init_from_hf(_genomic(2, global_every=1)[0], out)


# ---------------------------------------------------------------- item 13: refuse before warning


def test_export_refuses_an_unexportable_ensemble_without_the_first_member_warning(tmp_path):
    import testdomain as td

    from encoderkit.tasks.model import TaskModel
    from encoderkit.tasks.spec import TaskSpec

    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                           backend="sdpa", rope_axes=1)
    domain = td.TrainTestDomain({"vocab": td.VOCAB})
    model = TaskModel(domain, config, TaskSpec(type="contrastive"), temperature=0.1)
    source = SimpleNamespace(model=model, domain=domain, members=[object()], path=tmp_path / "run", step=0)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        with pytest.raises(HFInteropError, match="no transformers head"):
            export_hf(source, tmp_path / "hf")
    assert not [w for w in said if "first member" in str(w.message)]
    assert not (tmp_path / "hf").exists()


# ---------------------------------------------------------------- items 2, 4, 11: help defaults


def _key_lines(text: str) -> list[tuple[str, str]]:
    body = text.split("keys and defaults:\n", 1)[1]
    return [tuple(line.strip().split("=", 1)) for line in body.splitlines()
            if line.startswith("  ") and "=" in line and "<EncoderConfig field>" not in line]


def _resolved(config_name: str):
    """The config a run gets with nothing but its required keys given, resolved."""
    from omegaconf import OmegaConf

    from encoderkit.train.config import FinetuneConfig, _compose_raw, validate

    words = ["domain=genomic", "data.store=s.zarr"] + (["checkpoint=none"] if config_name == "finetune" else [])
    schema = FinetuneConfig if config_name == "finetune" else None
    cfg = validate(_compose_raw(words, config_name), *([schema] if schema else []))
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("command,config_name", [("pretrain", "config"), ("finetune", "finetune")])
def test_every_default_the_help_shows_is_the_one_a_run_gets(capsys, command, config_name):
    """Each `key=value` under "keys and defaults", typed as an override (Hydra's grammar), is
    the value of the composed config; each key is listed once."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = _key_lines(_help(command, capsys))
    keys = [k for k, _ in lines]
    assert len(keys) == len(set(keys)), "a key listed twice"
    resolved = _resolved(config_name)
    for key, value in lines:
        got = resolved
        for part in key.split("."):
            got = got[part]
        if "<" in value:  # an interpolation or a required key: checked below
            continue
        typed = OverridesParser.create().parse_overrides([f"{key}={value}"])[0].value()
        assert typed == got, (key, value, got)
    shown = dict(lines)
    assert shown["data.store"] == "<required>"
    if command == "pretrain":
        assert shown["run.name"] == "<domain>-<YYYYmmdd-HHMMSS>"
        assert re.fullmatch(r"genomic-\d{8}-\d{6}", resolved["run"]["name"])
        assert (shown["train.steps"], shown["optim.lr"], shown["data.max_tokens"]) == ("1000", "0.0008", "8192")
    else:
        assert shown["run.name"] == "finetune-<YYYYmmdd-HHMMSS>"
        assert re.fullmatch(r"finetune-\d{8}-\d{6}", resolved["run"]["name"])
        assert (shown["train.steps"], shown["optim.lr"], shown["data.max_tokens"]) == ("auto", "0.0003", "auto")


def test_finetune_help_is_user_help(capsys):
    out = _help("finetune", capsys)
    assert out.startswith("usage: encoderkit finetune checkpoint=")
    usage = out.split("\n\n", 1)[0]
    assert "train.steps=N" not in usage and "``" not in out and "finetune |" not in out
    assert "(auto: 1 from\n" not in out  # a yaml comment cut mid-sentence


def test_pretrain_help_names_the_default_preset_and_each_domains_options(capsys):
    from omegaconf import OmegaConf

    out = _help("pretrain", capsys)
    assert "tiny (default)" in out
    assert OmegaConf.load(ROOT / "configs" / "config.yaml").defaults[1] == {"model": "tiny"}
    for name in ("genomic", "tabular", "timeseries", "sets"):
        body = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "domain" / f"{name}.yaml"))
        body = body.get("domain", body) if isinstance(body.get("domain"), dict) else body
        listed = re.search(rf"^  {name}: (.*?)(?=^  \S|^$)", out, re.M | re.S).group(1)
        assert {k for k in body if k != "name"} == {w.strip() for w in listed.replace("\n", " ").split(",")}


# ---------------------------------------------------------------- item 6: ingest's own options


def test_ingest_help_lists_every_option_of_ingest(capsys):
    from encoderkit.data.ingest import ingest

    out = _help("ingest", capsys)
    own = [p for p in inspect.signature(ingest).parameters.values()
           if p.default is not inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    for p in own:
        if p.name != "verbose":  # the Python caller's switch; the CLI always prints the report
            assert re.search(rf"^  {p.name} {{2,}}\S", out, re.M), p.name


def test_a_typo_of_an_ingest_option_gets_its_spelling(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text("a,b\n1,x\n2,y\n3,x\n")
    assert cli.main(["ingest", "domain=tabular", f"input={src}", f"output={tmp_path / 's.zarr'}",
                     "worker=2", "progress=false"]) == 2
    err = capsys.readouterr().err
    assert "(did you mean 'workers'?)" in err and not (tmp_path / "s.zarr").exists()


# ---------------------------------------------------------------- item 8: impute's own options


def test_impute_help_lists_every_parameter_of_impute(capsys):
    from encoderkit.impute_cli import OWN

    out = _help("impute", capsys)
    for key in OWN:
        assert re.search(rf"^  {key} {{2,}}\S", out, re.M), key


# ---------------------------------------------------------------- item 7: the 64-categories rule


def test_a_column_of_too_many_categories_is_said_once(monkeypatch):
    from domains.tabular import blend

    monkeypatch.setattr(blend, "_SAID_MANY_CATEGORIES", set())
    rng = np.random.default_rng(0)
    n = 400
    is_numeric = np.array([True, False, False])
    sizes = np.array([0, blend.CLASSIFIER_MAX_CATEGORIES + 6, 5])
    num = np.stack([rng.normal(size=n), np.zeros(n), np.zeros(n)], axis=1).astype(np.float32)
    cat = np.stack([np.zeros(n), rng.integers(1, sizes[1] + 1, n), rng.integers(1, 6, n)], axis=1).astype(np.int64)
    observed = np.ones((n, 3), dtype=bool)
    for _ in range(2):  # a second fit of the same column says nothing more
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            forests = blend.CategoryForests(is_numeric, sizes, names=["x", "city", "kind"]).fit(num, cat, observed)
        notes = [str(w.message) for w in said if "categories" in str(w.message)]
        if _ == 0:
            assert len(notes) == 1 and "'city'" in notes[0] and "70 known categories" in notes[0]
        else:
            assert notes == []
    assert sorted(forests.forests_) == [2]  # the rule itself: no forest for 'city'


# ---------------------------------------------------------------- items 3, 12: examples, references


def _argparse_defaults(*files: Path) -> dict[str, str]:
    out = {}
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument" and node.args \
                    and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("--"):
                default = next((k.value for k in node.keywords if k.arg == "default"), None)
                try:
                    value = ast.literal_eval(default) if default is not None else None
                except ValueError:  # default=default_out, list(datasets): not a literal
                    continue
                if value is not None:
                    out[node.args[0].value] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_an_example_shows_its_own_defaults(example):
    doc = ast.get_docstring(ast.parse(example.read_text())) or ""
    shown = re.findall(r"\[(--[\w-]+) ([^\]\[]+)\]", doc)
    defaults = _argparse_defaults(example, ROOT / "examples" / "finetune_common.py")
    for flag, value in shown:  # a default that is no literal (--out of finetune_common) is skipped
        assert defaults.get(flag, value) == value, (example.name, flag, value, defaults.get(flag))


def test_every_quoted_results_section_exists():
    """`benchmarks/RESULTS.md "<section>"` in a comment, docstring or the README names a heading."""
    heads = " | ".join(" ".join(line.split()).lower() for line in
                       (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines() if line.startswith("#"))
    files = [ROOT / "README.md", *(ROOT / "configs").rglob("*.yaml"),
             *[p for d in ("encoderkit", "domains", "examples") for p in (ROOT / d).rglob("*.py")]]
    missing = []
    for file in files:
        text = re.sub(r"\n\s*(#\s*)?", " ", file.read_text())  # a reference wrapped over comment lines
        for name in re.findall(r"RESULTS(?:\.md)?[^\"\n]{0,30}?\"([^\"]+)\"", text):
            if " ".join(name.split()).lower() not in heads:
                missing.append((file.relative_to(ROOT).as_posix(), name))
    assert not missing


# ---------------------------------------------------------------- item 5: the contrastive window


def test_a_contrastive_runs_window_is_written_to_its_config(tmp_path):
    """README: a lowered data.max_seqlen is written to config.yaml. Contrastive training used
    windows of max_tokens // 16 = 512 tokens while config.yaml, and so embed, said 1024."""
    import yaml

    from encoderkit.data.ingest import ingest
    from encoderkit.infer import load
    from encoderkit.tasks import finetune
    from encoderkit.tasks.objective import MIN_CONTRASTIVE_PAIRS

    rng = np.random.default_rng(0)
    fasta = tmp_path / "g.fa"
    fasta.write_text("".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 700))}\n" for i in range(4)))
    ingest("genomic", [str(fasta)], str(tmp_path / "g.zarr"), progress=False, verbose=False)
    run = finetune(["checkpoint=none", "domain=genomic", f"data.store={tmp_path / 'g.zarr'}", "task=contrastive",
                    "train.steps=1", f"run.dir={tmp_path / 'run'}", "train.progress=false", "train.eval_every=0",
                    "model.num_layers=1", "model.hidden_size=32", "model.num_heads=2", "model.intermediate_size=32"])
    written = yaml.safe_load((Path(run) / "config.yaml").read_text())["data"]
    assert written["max_seqlen"] == written["max_tokens"] // (2 * MIN_CONTRASTIVE_PAIRS) == 8192 // 16
    assert load(run).max_seqlen == 512
