"""``export-hf`` / ``import-hf`` read their key=value words as every other command does, by
Hydra's override grammar (``encoderkit.overrides.parse_args``, s49m).

Before: their words were split by hand and values read as YAML, so a Hydra-quoted path
(``checkpoint='r (1)'``, which embed and ingest take) kept its quotes and was "not found",
``overwrite=yes`` overwrote and ``overwrite=no`` did not (YAML 1.1 booleans),
``model.norm_eps=1e-6`` was the string '1e-6' (refused by EncoderConfig), a sweep
``model.mlp_dropout=0.1,0.2`` reached EncoderConfig as a string, and a bare word after
``checkpoint=<run>`` replaced the checkpoint instead of filling the output. The references
are the same command on the same files under plain names (byte-equal outputs) and Hydra's
own ``OverridesParser``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from encoderkit import cli
from encoderkit.core import EncoderConfig
from encoderkit.registry import available_domains, get_domain

pytest.importorskip("transformers")
pytestmark = pytest.mark.skipif("genomic" not in available_domains(), reason="genomic domain not registered")

CONFIG = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                       global_every=2, backend="sdpa")


def _hydra(word: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([word])[0].value()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A tiny genomic run saved as ``run`` and ``r (1)``, its export as ``hf`` and ``h (1)``,
    and a genomic store as ``s.zarr`` and ``s (1).zarr`` (the same bytes under each name)."""
    import shutil

    from encoderkit.data.ingest import ingest
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.train import checkpoint as ckpt

    root = tmp_path_factory.mktemp("interop")
    domain = get_domain("genomic")({})
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, CONFIG)
    state = {"step": 1, "model_config": CONFIG.to_dict(), "domain": domain.describe()}
    ckpt.save_checkpoint(root / "run" / "checkpoints", 1, ckpt.model_state(model), {}, [], state, keep=0)
    shutil.copytree(root / "run", root / "r (1)")
    assert cli.main(["export-hf", str(root / "run"), str(root / "hf")]) == 0
    shutil.copytree(root / "hf", root / "h (1)")
    paths, options = get_domain("genomic").sample_sources(str(root))
    ingest("genomic", paths, str(root / "s.zarr"), progress=False, verbose=False, **options)
    shutil.copytree(root / "s.zarr", root / "s (1).zarr")
    return root


def _bytes(folder: Path) -> dict[str, bytes]:
    """An export's files, but for the tokenizer note's ``run`` (the run's path as given)."""
    out = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    note = json.loads(out.pop("encoderkit_tokenizer.json"))
    assert Path(note.pop("run")).parent.parent.name in ("run", "r (1)")
    return {**out, "note": json.dumps(note, sort_keys=True).encode()}


def _main(capsys, argv: list[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_export_hf_takes_hydra_quoted_paths_and_a_bare_word_after_a_key(files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(files)
    reference = _bytes(files / "hf")  # export-hf run hf: plain names, bare words
    out = tmp_path / "e (2)"
    # before: exit 1, "'r (1)': checkpoint path does not exist"
    assert _main(capsys, ["export-hf", "checkpoint='r (1)'", f"output='{out}'"]) == (0, "")
    assert _bytes(out) == reference
    # before: exit 2, "missing output": the bare word replaced checkpoint=
    assert _main(capsys, ["export-hf", "checkpoint='r (1)'", str(tmp_path / "e3")]) == (0, "")
    assert _bytes(tmp_path / "e3") == reference
    assert _main(capsys, ["export-hf", f"output={tmp_path / 'e4'}", "r (1)"]) == (0, "")  # as before
    assert _bytes(tmp_path / "e4") == reference


@pytest.mark.parametrize("word", ["overwrite=yes", "overwrite=no"])
def test_overwrite_is_true_or_false_as_hydra_reads_them(files, tmp_path, capsys, word):
    assert isinstance(_hydra(word), str)  # the grammar reads a word, not a boolean
    out = tmp_path / "e"
    assert cli.main(["export-hf", str(files / "run"), str(out)]) == 0
    os.utime(out / "model.safetensors", ns=(0, 0))  # an earlier export, dated so a rewrite shows
    code, err = _main(capsys, ["export-hf", str(files / "run"), str(out), word])
    # before: overwrite=yes rewrote the export (exit 0), overwrite=no refused it as existing (exit 1)
    assert code == 2 and "The 'overwrite' parameter of export-hf must be true or false" in err
    assert (out / "model.safetensors").stat().st_mtime_ns == 0
    code, err = _main(capsys, ["import-hf", str(files / "hf"), f"output={tmp_path / 'i'}", "domain=genomic", word])
    assert code == 2 and "The 'overwrite' parameter of import-hf must be true or false" in err
    assert not (tmp_path / "i").exists()
    assert _hydra("overwrite=True") is True  # so True overwrites, as true does
    assert cli.main(["export-hf", str(files / "run"), str(out), "overwrite=True"]) == 0
    assert (out / "model.safetensors").stat().st_mtime_ns > 0


def _run_files(run: Path) -> dict[str, bytes]:
    """An imported run's weights and state.json but for the HF dir's path as given (``init_from``,
    and in ``init_message``)."""
    state = json.loads((run / "checkpoints" / "0" / "state.json").read_text())
    given = state.pop("init_from")
    assert Path(given).name in ("hf", "h (1)")
    state["init_message"] = state["init_message"].replace(given, "<hf>")
    return {"weights": (run / "checkpoints" / "0" / "model.safetensors").read_bytes(),
            "state": json.dumps(state, sort_keys=True).encode()}


def test_import_hf_takes_hydra_quoted_paths_and_keeps_path_text(files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["import-hf", str(files / "hf"), "output=plain", "domain=genomic",
                     f"store={files / 's.zarr'}"]) == 0
    reference = _run_files(tmp_path / "plain")
    # before: exit 1, "'h (1)'" is not a Hugging Face model directory (the quotes kept)
    code, _ = _main(capsys, ["import-hf", f"hf_dir='{files / 'h (1)'}'", "output='run (2)'", "domain=genomic",
                             f"store='{files / 's (1).zarr'}'"])
    assert code == 0 and _run_files(tmp_path / "run (2)") == reference
    # a path the grammar reads as a number or null stays the text typed (store=null: no store)
    assert _hydra("output=1e3") == 1000.0 and _hydra("store=null") is None
    assert cli.main(["import-hf", str(files / "h (1)"), "output=1e3", "domain=genomic", "store=null"]) == 0
    assert (tmp_path / "1e3" / "checkpoints" / "0" / "model.safetensors").is_file()


def test_import_hf_model_and_domain_options_are_read_by_the_grammar(files, tmp_path, capsys):
    from encoderkit.infer import load

    hf = str(files / "hf")
    # before: exit 1, "norm_eps ... must be a float ... Got '1e-6' instead" (YAML 1.1 read a string)
    assert cli.main(["import-hf", hf, f"output={tmp_path / 'a'}", "domain=genomic", "model.norm_eps=1e-6",
                     "domain.k=3", "domain.tokens=kmer"]) == 0
    run = load(tmp_path / "a")
    assert run.config.norm_eps == _hydra("x=1e-6") == 1e-6
    assert (run.domain.options["k"], run.domain.options["tokens"]) == (3, "kmer")
    # yes is a word, not True: the domain refuses the word itself (before: "Got True")
    code, err = _main(capsys, ["import-hf", hf, f"output={tmp_path / 'b'}", "domain=genomic", "domain.k=yes"])
    assert code == 2 and "Got 'yes' instead" in err
    # a sweep is refused as the other single-run commands refuse it (before: exit 1 from EncoderConfig)
    code, err = _main(capsys, ["import-hf", hf, f"output={tmp_path / 'c'}", "domain=genomic",
                               "model.mlp_dropout=0.1,0.2"])
    assert code == 2 and "model.mlp_dropout=0.1,0.2 is a sweep" in err
    code, err = _main(capsys, ["import-hf", hf, f"output={tmp_path / 'd'}", "domain=genomic",
                               "domain.k=3", "domain.k=4"])  # before: the last one won, silently
    assert code == 2 and "'domain.k' given twice" in err
    assert not any((tmp_path / n).exists() for n in "bcd")


def test_parse_args_lives_in_overrides_and_infer_cli_still_exports_it():
    from encoderkit.infer.cli import parse_args as from_infer
    from encoderkit.overrides import parse_args

    assert from_infer is parse_args
    args = parse_args(["output=o", "r (1)"], {"checkpoint": "", "output": "", "overwrite": False},
                      ("checkpoint", "output"), "export-hf", positional=("checkpoint", "output"))
    assert args == {"checkpoint": "r (1)", "output": "o", "overwrite": False}
