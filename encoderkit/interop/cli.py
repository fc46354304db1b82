"""``encoderkit export-hf | import-hf``.

    encoderkit export-hf <run or checkpoint> <out_dir> [overwrite=true]
    encoderkit import-hf <hf_dir> output=<run_dir> domain=<name> [store=<store>]
                         [domain.<option>=...] [model.<EncoderConfig field>=...]

``import-hf`` writes ``<run_dir>/checkpoints/0/`` (model.safetensors + state.json):
the ModernBERT weights in an encoderkit model of the given domain, loadable with
``encoderkit.load``. To continue pretraining from a ModernBERT directory, give it
to ``encoderkit pretrain run.init_from=<hf_dir>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from encoderkit.cliutil import dispatch

USAGE = __doc__


def _split(argv: list[str], positional: tuple[str, ...]) -> dict[str, str]:
    """``key=value`` words plus bare words filling ``positional`` names in order."""
    named: dict[str, str] = {}
    free = list(positional)
    for word in argv:
        if "=" in word:
            k, v = word.split("=", 1)
            named[k.lstrip("+")] = v
        elif free:
            named[free.pop(0)] = word
        else:
            raise ValueError(f"unexpected argument {word!r}")
    return named


def _value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text) if text else ""


def _export(argv: list[str]) -> int:
    from encoderkit.interop.hf import export_hf

    args = _split(argv, ("checkpoint", "output"))
    unknown = set(args) - {"checkpoint", "output", "overwrite"}
    if unknown:
        raise ValueError(f"export-hf: unknown parameter(s) {sorted(unknown)}; usage:\n{USAGE}")
    for key in ("checkpoint", "output"):
        if key not in args:
            raise ValueError(f"export-hf: missing {key} (usage: encoderkit export-hf <run> <out_dir>)")
    out = export_hf(args["checkpoint"], args["output"], overwrite=bool(_value(args.get("overwrite", "false"))))
    arch = json.loads((out / "config.json").read_text())["architectures"][0]
    auto = {"ModernBertForMaskedLM": "AutoModelForMaskedLM",
            "ModernBertForTokenClassification": "AutoModelForTokenClassification"}.get(
        arch, "AutoModelForSequenceClassification")
    print(f"wrote Hugging Face {arch} to {out} (transformers.{auto}.from_pretrained({str(out)!r}))")
    return 0


def _import(argv: list[str]) -> int:
    from encoderkit.interop.hf import config_from_hf, init_from_hf, read_hf_config
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.registry import get_domain
    from encoderkit.train import checkpoint as ckpt

    args = _split(argv, ("hf_dir",))
    domain_opts = {k.split(".", 1)[1]: _value(v) for k, v in args.items() if k.startswith("domain.")}
    model_opts = {k.split(".", 1)[1]: _value(v) for k, v in args.items() if k.startswith("model.")}
    plain = {k: v for k, v in args.items() if "." not in k}
    unknown = set(plain) - {"hf_dir", "output", "domain", "store", "overwrite"}
    if unknown:
        raise ValueError(f"import-hf: unknown parameter(s) {sorted(unknown)}; usage:\n{USAGE}")
    for key in ("hf_dir", "output", "domain"):
        if key not in plain:
            raise ValueError(f"import-hf: missing required parameter {key}=...; usage:\n{USAGE}")
    schema: dict[str, Any] = {}
    if plain.get("store"):
        from encoderkit.data.store import RecordStore

        store = RecordStore(plain["store"])
        if store.domain != plain["domain"]:
            raise ValueError(f"import-hf: store {plain['store']} holds {store.domain!r} records, not "
                             f"{plain['domain']!r}")
        schema = store.schema
    domain = get_domain(plain["domain"])(schema, **domain_opts)
    config = config_from_hf(read_hf_config(plain["hf_dir"]), **model_opts)
    model = MaskedEncoderModel(domain, config)
    message = init_from_hf(model, plain["hf_dir"])
    run_dir = Path(plain["output"])
    ckpt_dir = run_dir / "checkpoints"
    if ckpt.latest_checkpoint(ckpt_dir) is not None and not _value(plain.get("overwrite", "false")):
        raise FileExistsError(f"import-hf: {run_dir} already holds checkpoints; pass overwrite=true")
    state = {"step": 0, "tokens": 0, "model_config": config.to_dict(), "domain": domain.describe(),
             "init_from": str(plain["hf_dir"]), "init_message": message}
    path = ckpt.save_checkpoint(ckpt_dir, 0, ckpt.model_state(model), {}, [], json.loads(json.dumps(state)),
                                keep=0)
    print(message)
    print(f"wrote {path} (load it with encoderkit.load({str(run_dir)!r}))")
    return 0


COMMANDS = {"export-hf": _export, "import-hf": _import}


def run(command: str, argv: list[str]) -> int:
    return dispatch(COMMANDS, USAGE, command, argv)
