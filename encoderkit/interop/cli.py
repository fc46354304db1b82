"""``encoderkit export-hf | import-hf``.

    encoderkit export-hf <run or checkpoint> <out_dir> [overwrite=true]
    encoderkit import-hf <hf_dir> output=<run_dir> domain=<name> [store=<store>]
                         [domain.<option>=...] [model.<EncoderConfig field>=...]

``overwrite=true`` replaces an earlier export (export-hf) or an earlier import
(import-hf), never a folder of other files. Errors are ``EncoderkitError``s, printed
as one line by ``encoderkit.cli.main``.

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
from encoderkit.errors import DataError, EncoderkitError, OutputExistsError, UsageError

USAGE = {
    "export-hf": """usage: encoderkit export-hf <run or checkpoint> <out_dir> [overwrite=true]
       (or checkpoint=<run or checkpoint> output=<out_dir>)

Writes a Hugging Face ModernBERT directory (config.json, model.safetensors and the
tokenizer description) that transformers loads with from_pretrained.
  overwrite  replace an earlier export, never a folder of other files""",
    "import-hf": """usage: encoderkit import-hf <hf_dir> output=<run_dir> domain=<name> [store=<store>]
                         [domain.<option>=...] [model.<EncoderConfig field>=...] [overwrite=true]

Starts a run from a Hugging Face ModernBERT directory: writes <run_dir>/checkpoints/0/
(model.safetensors + state.json), loadable with encoderkit.load. To continue pretraining
from it, give the directory to `encoderkit pretrain run.init_from=<hf_dir>`.
  store      a record store of the domain whose schema (vocabulary, columns, normalisation)
             the model is built with; default: the domain's defaults
  overwrite  replace an earlier import, never a folder of other files""",
}


# each command's own keys and defaults: a key whose default is a string (a path, the domain's
# name) keeps the text typed, as store does (IMPORT_TEXT), whose default None lets store=null
# mean no store
EXPORT_KEYS: dict[str, Any] = {"checkpoint": "", "output": "", "overwrite": False}
IMPORT_KEYS: dict[str, Any] = {"hf_dir": "", "output": "", "domain": "", "store": None, "overwrite": False}
# import-hf's open groups: domain.<option>=... and model.<EncoderConfig field>=...
IMPORT_GROUPS = ("domain.", "model.")
IMPORT_TEXT = ("store",)


def _words(argv: list[str], command: str, keys: dict[str, Any], required: tuple[str, ...],
           positional: tuple[str, ...], groups: tuple[str, ...] = (),
           text: tuple[str, ...] = ()) -> dict[str, Any]:
    """``argv`` read as every other command reads its words (``encoderkit.overrides.parse_args``:
    Hydra's grammar, quoted paths unquoted, ``yes`` / ``no`` no booleans), bare words filling
    ``positional``; ``text`` keys keep the text typed, as a key whose default is a string does.
    A key that is none of ``keys`` nor in one of ``groups`` is refused first, in the list form
    the typo suggester (``cliutil.explain_key_error``) points at."""
    from encoderkit.overrides import parse_args

    typed = [w.split("=", 1)[0].lstrip("+") for w in argv if "=" in w]
    unknown = sorted({k for k in typed if k not in keys and not k.startswith(groups)})
    if unknown:
        raise UsageError(f"unknown parameter(s) {unknown}; see encoderkit {command} --help", key=unknown[0])
    opened = tuple(dict.fromkeys(k for k in typed if k.startswith(groups)))
    return parse_args(argv, keys, required, command, positional=positional, extra=opened, text=text)


def _group(args: dict[str, Any], group: str) -> dict[str, Any]:
    """The ``<group>.<name>=value`` words of ``args`` as ``{name: value}``."""
    return {k.split(".", 1)[1]: v for k, v in args.items() if k.startswith(group + ".")}


def _export(argv: list[str]) -> int:
    from encoderkit.interop.hf import export_hf

    args = _words(argv, "export-hf", EXPORT_KEYS, ("checkpoint", "output"), ("checkpoint", "output"))
    overwrite = args["overwrite"]
    from encoderkit.outputs import check_output, is_hf_export

    # before loading the model: a refused output costs nothing
    check_output(args["output"], overwrite, what="a Hugging Face export written by encoderkit",
                 recognise=is_hf_export)
    out = export_hf(args["checkpoint"], args["output"], overwrite=overwrite)
    arch = json.loads((out / "config.json").read_text())["architectures"][0]
    auto = {"ModernBertForMaskedLM": "AutoModelForMaskedLM",
            "ModernBertForTokenClassification": "AutoModelForTokenClassification"}.get(
        arch, "AutoModelForSequenceClassification")
    print(f"wrote Hugging Face {arch} to {out} (transformers.{auto}.from_pretrained({str(out)!r}))")
    return 0


def _import(argv: list[str]) -> int:
    from encoderkit.interop.hf import config_from_hf, init_from_hf, read_hf_config
    from encoderkit.interop.hf_files import checked_header
    from encoderkit.registry import get_domain
    from encoderkit.train import checkpoint as ckpt

    args = _words(argv, "import-hf", IMPORT_KEYS, ("hf_dir", "output", "domain"), ("hf_dir",),
                  IMPORT_GROUPS, IMPORT_TEXT)
    domain_opts, model_opts = _group(args, "domain"), _group(args, "model")
    plain = {k: args[k] for k in IMPORT_KEYS}
    overwrite = plain["overwrite"]
    run_dir = Path(plain["output"])
    ckpt_dir = run_dir / "checkpoints"
    from encoderkit.outputs import check_parent

    check_parent(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DataError("is a file; import-hf writes a run directory", file=run_dir, key="output")
    if ckpt.complete_checkpoints(ckpt_dir) and not overwrite:
        raise OutputExistsError("already holds checkpoints; pass overwrite=true", file=run_dir)
    schema: dict[str, Any] = {}
    if plain.get("store"):
        from encoderkit.data.store import RecordStore

        store = RecordStore(plain["store"])
        if store.domain != plain["domain"]:
            raise UsageError(f"store {plain['store']} holds {store.domain!r} records, not "
                             f"{plain['domain']!r}", key="domain")
        schema = store.schema
    try:
        domain = get_domain(plain["domain"])(schema, **domain_opts)
    except EncoderkitError:
        raise
    except (ValueError, TypeError, KeyError) as e:  # a bad domain option: the domain names it
        if not plain.get("store") and _schema_refusal(plain["domain"]) == str(e):
            # what the domain says of an empty schema ("format_version None ... re-ingest")
            # speaks of a store the user never gave: ask for one. Only that: a refusal of the
            # options themselves (domain.bogus=1, which the domain names before it reads a
            # schema) is said as the domain says it, not hidden behind "pass store="
            raise UsageError(f"domain {plain['domain']!r} is built from a record store's schema (its "
                             f"vocabulary, columns or normalisation): pass store=<a {plain['domain']} store>",
                             key="store") from None
        raise UsageError(f"domain {plain['domain']!r}: {' '.join(str(e).split())}") from None
    config_file = Path(plain["hf_dir"]) / "config.json"
    hf = read_hf_config(plain["hf_dir"])
    shapes = checked_header(plain["hf_dir"], hf)  # before config.json's sizes build anything
    try:
        config = config_from_hf(hf, **model_opts)
    except EncoderkitError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise DataError(f"cannot build a model from it: {type(e).__name__}: {' '.join(str(e).split())}",
                        file=config_file) from None
    model = _build_checked(domain, config, plain["hf_dir"], shapes)
    try:
        message = init_from_hf(model, plain["hf_dir"], chosen=model_opts)
    except EncoderkitError:
        raise
    except Exception as e:  # safetensors' own error type for a damaged weights file
        raise DataError(f"cannot load its weights: {type(e).__name__}: {' '.join(str(e).split())}",
                        file=plain["hf_dir"]) from None
    state = {"step": 0, "tokens": 0, "model_config": config.to_dict(), "domain": domain.describe(),
             "init_from": str(plain["hf_dir"]), "init_message": message}
    path = ckpt.save_checkpoint(ckpt_dir, 0, ckpt.model_state(model), {}, [], json.loads(json.dumps(state)),
                                keep=0)
    print(message)
    print(f"wrote {path} (load it with encoderkit.load({str(run_dir)!r}))")
    return 0


def _schema_refusal(name: str) -> str | None:
    """What domain ``name`` says when built from an empty schema with its default options
    (None: it builds). A build with the user's options failing in the same words failed
    on the schema; in other words, on the options."""
    from encoderkit.registry import get_domain

    try:
        get_domain(name)({})
    except (ValueError, TypeError, KeyError) as e:
        return str(e)
    return None


def _build_checked(domain: Any, config: Any, hf_dir: str, shapes: dict[str, tuple[int, ...]]) -> Any:
    """The model of ``config``, built only once it agrees with the weights' headers
    (``shapes``) and fits this machine (``hf_files``: a small upload claiming a huge model)."""
    from encoderkit.interop.hf import check_exportable
    from encoderkit.interop.hf_domain import check_importable_domain
    from encoderkit.interop.hf_files import check_shapes, check_sizes
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.train.model_size import allocation, meta_parameters, size_problem

    config_file = Path(hf_dir) / "config.json"
    # first: a domain whose model can never be a ModernBERT (before advice on its rope axes)
    check_importable_domain(domain, config)
    # model.<field>= overrides included: no meta build of a layer count the weights lack
    check_sizes({k: getattr(config, k) for k in ("hidden_size", "num_layers", "intermediate_size")},
                shapes, f"{config_file} with the model.<field> overrides",
                "a model.<field> override must keep the sizes of the weights")
    try:
        meta, parameters = meta_parameters(lambda: MaskedEncoderModel(domain, config))
    except ValueError as e:  # the domain and the config disagree (rope axes)
        raise DataError(f"cannot build a model from it: {' '.join(str(e).split())}", file=config_file) from None
    check_exportable(meta)
    check_shapes(meta, hf_dir, shapes)
    problem = size_problem(parameters)
    if problem:
        raise DataError(problem, file=config_file)
    with allocation(parameters, lambda message: DataError(message, file=config_file)):
        return MaskedEncoderModel(domain, config)


COMMANDS = {"export-hf": _export, "import-hf": _import}


def run(command: str, argv: list[str]) -> int:
    return dispatch(COMMANDS, USAGE, command, argv)
