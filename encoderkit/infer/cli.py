"""``encoderkit embed | infill | probe key=value ...`` (Hydra-override style arguments).

Each command has its own usage text (``--help``). Errors are raised as
``EncoderkitError`` subclasses and reported by ``encoderkit.cli.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from encoderkit.cliutil import check_device, dispatch
from encoderkit.errors import (DataError, EncoderkitError, InputNotFoundError, UsageError, data_error, reading,
                               refuse_stream)
from encoderkit.infer.infill_files import named as _named
from encoderkit.overrides import parse_args  # predict, evaluate and tests import it from here

EMBED_USAGE = """usage: encoderkit embed checkpoint=<run or checkpoint> input=<store dir or raw file> output=<path.zarr|.npy>
                       [pooling=mean|mean_std|cls|none] [max_tokens=16384] [max_seqlen=<run's window>]
                       [device=cpu|auto] [overwrite=false] [progress=true|false] [<ingest option>=value ...]

Embeddings of every record of a record store or of a raw file the run's domain reads.
A raw file is read as the run's store was ingested: an ingest option given again (a
series' time_column, say) must be the one the run used.
  pooling    mean / cls: one vector per record ([N, d]); mean_std: the mean and standard
             deviation of the record's token states ([N, 2d]); none: one per token (.zarr only).
             A record longer than max_seqlen is cut into windows (the last one ends at the
             record's end, so it may overlap the one before): mean / mean_std pool every
             window's tokens (an overlapped token once per window), cls weighs the windows'
             [CLS] states (the domain's cls_position; refused for a domain without one) by
             length, none averages a token over the windows holding it
  output     .npy ([N, d], ids in <stem>.ids.npy) or .zarr (embeddings, ids[, offsets])
  overwrite  replace an output encoderkit wrote before (never anything else)
  device     cpu, cuda, cuda:0, mps, or auto (a CUDA GPU when there is one, else the CPU)
"""

PROBE_USAGE = """usage: encoderkit probe embeddings=<.zarr|.npy|.csv> labels=<.csv|.npy> [task=classification|regression]
                       [label_column=label] [folds=5] [seed=0] [baseline=<features file>]

Linear probe of embeddings with nested cross-validation (scikit-learn). Labels are matched
to embeddings by an 'id' column when both have ids, by row order when neither has; labels with
an 'id' column for embeddings without ids (a .npy copied without its .ids.npy) are refused.
"""


def infill_usage() -> str:
    """``infill --help``: the options and, per registered domain, its input formats and infill options."""
    from encoderkit.registry import available_domains, get_domain

    lines = ["usage: encoderkit infill checkpoint=<run or checkpoint> input=<raw file> output=<file>",
             "                        [overwrite=false] [device=cpu|auto] [store=<training store>]",
             "                        [<infill option>=value ...]",
             "",
             "Fills what is missing in a raw file with the run's model and writes it back in the",
             "input's format; observed values are unchanged. output must not exist unless",
             "overwrite=true (which replaces a single file only). The file is read as the run's",
             "store was ingested: an ingest option given again (a series' time_column, say) must",
             "be the one the run used. Fills that learn from data beside the model (a table's blend",
             "with scikit-learn imputers, domain.infill_blend) learn it from the run's training",
             "store (data.store of its config): each record is filled as it would be alone.",
             "  store    table runs only (other domains refuse it): the run's training store,",
             "           where loading does not find it (the store the checkpoint recorded, or",
             "           data.store read from the folder training ran in, the run folder or the",
             "           folders above it); a relative path is read from the directory this",
             "           command runs in",
             "",
             "per domain: input formats; infill options (set at infill time)"]
    for name in available_domains():
        try:
            cls = get_domain(name)
        except Exception as e:  # a broken plug-in must not hide the others' help
            lines.append(f"  {name}: cannot load ({type(e).__name__})")
            continue
        formats = getattr(cls, "input_formats", "") or "(not documented)"
        opts = getattr(cls, "infill_options", {}) or {}
        lines.append(f"  {name}: {formats}")
        if opts:
            lines.append(f"      options: {', '.join(f'{k} (domain.{v})' for k, v in opts.items())}")
    return "\n".join(lines)


def on_device(asked: Any, device: Any) -> str:
    """What a summary line adds where ``device=auto`` chose the device: which it chose."""
    return f" (device=auto: {device})" if str(asked).strip().lower() == "auto" else ""


def _input_path(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise InputNotFoundError("input does not exist", file=text, key="input")
    refuse_stream(text, key="input")  # before the checkpoint loads: read more than once
    return path


def check_ingest_options(domain: Any, given: Mapping[str, Any], own: Mapping[str, Any]) -> None:
    """The words of embed that are none of its own parameters: the run's ingest options a user
    repeats (``split_read_options``: refused where they contradict the run); others unknown."""
    from encoderkit.infer.pretrained import split_read_options

    unknown = sorted(split_read_options(domain, given))
    if unknown:
        allowed = sorted(own) + sorted(domain.read_options())
        raise UsageError(f"unknown parameter {unknown[0]!r}; allowed: {allowed}", key=unknown[0])


def _embed(argv: list[str]) -> int:
    from encoderkit.infer import load
    from encoderkit.infer.load import pick_device

    base = {"checkpoint": "", "input": "", "output": "", "pooling": "mean", "max_tokens": None,
            "max_seqlen": None, "device": "cpu", "overwrite": False, "progress": None}
    named = [w.split("=", 1)[0].lstrip("+") for w in argv if "=" in w]
    # ingest options (time_column=...) are the domain's: known once the checkpoint names it
    args = parse_args(argv, base, ("checkpoint", "input", "output"), "embed",
                      extra=tuple(k for k in named if k not in base), flags=("progress",))
    from encoderkit.infer.embed import check_pooling
    from encoderkit.tasks.spec import pooled_width

    try:
        check_pooling(args["pooling"])
    except ValueError as e:
        raise UsageError(str(e), key="pooling") from None
    for key in ("max_tokens", "max_seqlen"):  # 0 or -4 ran with the default, abc blamed the store
        v = args[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise UsageError(f"The {key!r} parameter must be an int >= 1 (or left out: the run's own). "
                             f"Got {v!r} instead.", key=key)
    source = _input_path(args["input"])
    from encoderkit.outputs import same_file

    out = Path(str(args["output"]))
    ids = out.with_name(out.name[: -len(out.suffix)] + ".ids.npy") if out.suffix == ".npy" else None
    if "://" not in str(args["output"]) and any(same_file(p, source) for p in (out, ids) if p is not None):
        # overwrite=true replaced a series .npy with its embeddings (exit 0)
        raise UsageError("output is the input; write the embeddings elsewhere", file=str(args["output"]),
                         key="output")
    device = pick_device(args["device"])
    check_device(device)  # device=cuda without CUDA failed inside torch
    from encoderkit.data.store_zarr import url_package_problem

    if missing := url_package_problem(args["output"]):  # output=s3://... without s3fs: before the run loads
        raise UsageError(f"output {args['output']}: {missing}", key="output")
    model = load(args["checkpoint"], device=device)
    check_pooling(args["pooling"], model.domain)  # cls without a [CLS]: before reading the input
    check_ingest_options(model.domain, {k: args[k] for k in named if k not in base}, base)
    if source.is_dir():
        data: Any = source
    else:
        with reading(source):
            data = model.domain.read_records(str(source))  # named as ingest names them
    try:
        path = model.embed(data, pooling=args["pooling"], max_tokens=args["max_tokens"],
                           max_seqlen=args["max_seqlen"], out=args["output"], overwrite=args["overwrite"],
                           progress=args["progress"])
    except EncoderkitError as e:
        raise _named(e, source)
    except OSError as e:
        from encoderkit.outputs import write_error

        raise write_error(e, args["output"]) from e
    except (ValueError, KeyError) as e:  # the domain's word on records it cannot use
        raise data_error(e, source) from e
    dim = pooled_width(args["pooling"], model.config.hidden_size)
    print(f"wrote embeddings ({args['pooling']} pooling, dim {dim}) to {path}{on_device(args['device'], device)}")
    return 0


def _infill(argv: list[str]) -> int:
    from encoderkit.infer import load
    from encoderkit.infer.infill_files import check_infill_paths, infill_to_file
    from encoderkit.infer.load import pick_device

    base = {"checkpoint": "", "input": "", "output": "", "device": "cpu", "overwrite": False}
    named = [w.split("=", 1)[0].lstrip("+") for w in argv if "=" in w]
    # infill options are the domain's: known only once the checkpoint names the domain
    args = parse_args(argv, base, ("checkpoint", "input", "output"), "infill",
                      extra=tuple(k for k in named if k not in base))
    # the same checks and fill as Pretrained.infill(path, output=...): the same bytes
    source, output = check_infill_paths(args["input"], args["output"], args["overwrite"])
    device = pick_device(args["device"])
    check_device(device)  # device=cuda without CUDA failed inside torch
    options = {k: args[k] for k in named if k not in base}
    model = load(args["checkpoint"], device=device)
    infill_to_file(model, source, output, options)
    print(f"wrote infilled {model.domain.name} data to {output}{on_device(args['device'], device)}")
    return 0


def read_labels(path: str, ids: np.ndarray | None, n: int, column: str | None) -> np.ndarray:
    """Labels aligned with the embeddings' rows: by ``id`` when both sides have ids, by order
    when the labels have none (labels with ids for embeddings without: refused)."""
    file = Path(path)
    if not file.exists():
        raise InputNotFoundError("labels file does not exist", file=path, key="labels")
    # a CSV is one pandas read (labels=<(cut -d, -f1,3 x.csv) works); np.load seeks back
    with reading(file, once=file.suffix.lower() != ".npy"):
        y = _read_labels(file, ids, n, column)
    y = np.asarray(y)
    if y.dtype == object or y.dtype.kind == "f":
        import pandas as pd

        missing = np.flatnonzero(pd.isna(y))
        if missing.size:
            first = int(missing[0])
            which = f"row {first}" + (f" (id {ids[first]!r})" if ids is not None else "")
            raise DataError(f"the label of {which} is missing (NaN / empty); {missing.size} row(s) have "
                            f"no label: drop them or fill them in", file=path)
    return y


# in a column of numeric labels, these words are holes (as in a table's number column)
HOLE_WORDS = frozenset({"NA", "N/A", "n/a", "nan", "NaN", "null", "NULL", "#N/A"})


def _read_labels(file: Path, ids: np.ndarray | None, n: int, column: str | None) -> np.ndarray:
    path = str(file)
    if file.suffix.lower() == ".npy":
        y = np.load(file, allow_pickle=False)
        if y.ndim != 1:
            raise DataError(f"labels must be a 1-D array; got shape {y.shape}", file=path)
    else:
        import pandas as pd

        # round_trip: a regression label as float(text) (the default parser can be one step off);
        # ids as written, as finetune's labels reader takes them: "007" is not 7, "NA" no NaN
        # labels as finetune reads them: only an empty cell is missing ("NA" is a class, as it
        # is in a finetune labels file, not a NaN that np.asarray turned into a class 'nan')
        from encoderkit.data import textfiles

        sep = "\t" if file.suffix.lower() == ".tsv" else ","
        # the checks finetune's labels reader makes: a name that belies the bytes, a header
        # joined by another separator, a row longer or shorter than the header
        textfiles.check_compression(file)
        textfiles.check_row_widths(file, sep)
        # index_col=False: rows ending with a separator the header lacks made pandas take the
        # ids for the index, each label one column over
        frame = pd.read_csv(file, sep=sep,
                            float_precision="round_trip", converters={"id": str},
                            keep_default_na=False, na_values=[""], index_col=False)
        others = [c for c in frame.columns if c != "id"]
        if column is None:
            column = "label" if "label" in frame.columns else (others[0] if len(others) == 1 else None)
        if column is None or column not in frame.columns:
            raise UsageError(f"choose the label column with label_column=...; it has "
                             f"columns {list(frame.columns)}", file=path, key="label_column")
        if "id" in frame.columns and ids is not None:
            # matched as finetune matches them: the cell's text, spaces around it aside ("007, A")
            table = dict(zip(frame["id"].astype(str).str.strip(), frame[column]))
            missing = [str(i) for i in ids if str(i).strip() not in table]
            if missing:
                raise DataError(f"{len(missing)} embedding ids have no label "
                                f"(first: {missing[:3]})", file=path)
            y = pd.Series([table[str(i).strip()] for i in ids])
        elif "id" in frame.columns:
            # the labels name their records, the embeddings do not say which record each row is
            # (a .npy copied without its .ids.npy): matched by order, a labels file sorted or
            # filtered otherwise paired labels with other records (r2 0.97 -> -0.03, exit 0)
            raise DataError(f"names its records by id (an 'id' column), but the embeddings carry no "
                            f"ids to match them with (a .npy's ids are in <stem>.ids.npy beside it; "
                            f"copy that file along), so the {len(frame)} labels would be paired with "
                            f"the embeddings' rows by order; to match them by order, drop the 'id' "
                            f"column", file=path, key="labels")
        else:
            y = frame[column]
        if not pd.api.types.is_numeric_dtype(y):  # numbers with 'NA' holes (R): the words are holes there
            numbers = pd.to_numeric(y, errors="coerce")
            words = y.notna() & numbers.isna()
            if words.any() and numbers.notna().any() and y[words].astype(str).str.strip().isin(HOLE_WORDS).all():
                y = numbers
        empty = np.flatnonzero(y.isna().to_numpy())
        if empty.size:
            raise DataError(f"{empty.size} of the {len(y)} labels are empty (first for embedding row "
                            f"{int(empty[0])}); probe needs a label for every embedding: leave those "
                            f"records out of the embeddings, or label them", file=path)
        y = y.to_numpy() if pd.api.types.is_numeric_dtype(y) else np.asarray(y.tolist())
    if len(y) != n:
        raise DataError(f"has {len(y)} labels but the embeddings have {n} rows", file=path)
    return y


def _probe(argv: list[str]) -> int:
    from encoderkit.infer.probe import TASKS, format_results, probe, read_embeddings

    args = parse_args(argv, {"embeddings": "", "labels": "", "task": "classification", "label_column": None,
                             "folds": 5, "seed": 0, "baseline": None},
                      ("embeddings", "labels"), "probe", text=("label_column", "baseline"))
    if args["task"] not in TASKS:
        raise UsageError(f"The 'task' parameter of probe must be one of {list(TASKS)}. "
                         f"Got {args['task']!r} instead.", key="task")
    for key in ("folds", "seed"):
        if not isinstance(args[key], int) or isinstance(args[key], bool):
            raise UsageError(f"The {key!r} parameter of probe must be an integer. Got {args[key]!r} instead.",
                             key=key)
    X, ids = read_embeddings(args["embeddings"])
    y = read_labels(args["labels"], ids, len(X), args["label_column"])
    try:
        results = {"embeddings": probe(X, y, args["task"], folds=args["folds"], seed=args["seed"])}
        if args["baseline"]:
            B, bids = read_embeddings(str(args["baseline"]))
            if len(B) != len(X):
                raise DataError(f"baseline has {len(B)} rows, embeddings {len(X)}", file=args["baseline"])
            if ids is not None and bids is not None and not np.array_equal(ids, bids):
                raise DataError("baseline rows are not in the same record order (ids differ)",
                                file=args["baseline"])
            results["baseline"] = probe(B, y, args["task"], folds=args["folds"], seed=args["seed"],
                                        name="baseline")
    except ValueError as e:  # what the probe's checks and scikit-learn say about the data
        if isinstance(e, (DataError, UsageError)):
            raise
        raise data_error(e, f"{args['embeddings']} / {args['labels']}") from e
    print(format_results(results))
    return 0


COMMANDS = {"embed": _embed, "infill": _infill, "probe": _probe}


def run(command: str, argv: list[str]) -> int:
    usage = {"embed": EMBED_USAGE, "probe": PROBE_USAGE}
    if command == "infill" and any(a in ("-h", "--help") for a in argv):
        usage["infill"] = infill_usage()
    return dispatch(COMMANDS, usage, command, argv)
