"""``encoderkit embed | infill | probe key=value ...`` (Hydra-override style arguments).

    encoderkit embed checkpoint=<run or checkpoint> input=<store dir or raw file> output=<path.zarr|.npy>
                     [pooling=mean|cls|none] [max_tokens=16384] [max_seqlen=...] [device=cpu] [overwrite=false]
    encoderkit infill checkpoint=<run> input=<raw file> output=<file> [device=cpu]
    encoderkit probe embeddings=<.zarr|.npy|.csv> labels=<.csv|.npy> task=classification|regression
                     [label_column=label] [folds=5] [seed=0] [baseline=<features file>]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.cliutil import dispatch

USAGE = __doc__


def parse_args(argv: list[str], allowed: dict[str, Any], required: tuple[str, ...], command: str,
               positional: tuple[str, ...] = ()) -> dict[str, Any]:
    """``key=value`` words -> dict (values parsed as YAML scalars, like Hydra overrides).
    Bare words fill ``positional`` names in order."""
    import yaml

    args: dict[str, Any] = {}
    free = list(positional)
    for word in argv:
        if "=" not in word:
            if not free:
                raise ValueError(f"{command}: unexpected argument {word!r}; arguments are key=value "
                                 f"with keys {sorted(allowed)}")
            args[free.pop(0)] = word
            continue
        key, value = word.split("=", 1)
        key = key.lstrip("+")
        if key not in allowed:
            raise ValueError(f"{command}: unknown parameter {key!r}; allowed: {sorted(allowed)}")
        parsed = yaml.safe_load(value) if value else ""
        # Paths and ids stay strings even when they look like numbers.
        args[key] = value if isinstance(allowed[key], str) and not isinstance(parsed, bool) else parsed
    for key in required:
        if key not in args:
            raise ValueError(f"{command}: missing required parameter {key}=...")
    return {**allowed, **args}


def _embed(argv: list[str]) -> int:
    from encoderkit.infer import load

    args = parse_args(argv, {"checkpoint": "", "input": "", "output": "", "pooling": "mean",
                             "max_tokens": None, "max_seqlen": None, "device": "cpu",
                             "overwrite": False, "progress": None},
                      ("checkpoint", "input", "output"), "embed")
    model = load(args["checkpoint"], device=args["device"])
    source = Path(args["input"])
    if not source.exists():
        raise FileNotFoundError(f"embed: input {str(source)!r} does not exist")
    data: Any = source if source.is_dir() else model.domain.read_input(str(source))
    path = model.embed(data, pooling=args["pooling"], max_tokens=args["max_tokens"],
                       max_seqlen=args["max_seqlen"], out=args["output"], overwrite=bool(args["overwrite"]),
                       progress=args["progress"])
    print(f"wrote embeddings ({args['pooling']} pooling, dim {model.config.hidden_size}) to {path}")
    return 0


def _infill(argv: list[str]) -> int:
    from encoderkit.infer import load

    args = parse_args(argv, {"checkpoint": "", "input": "", "output": "", "device": "cpu"},
                      ("checkpoint", "input", "output"), "infill")
    model = load(args["checkpoint"], device=args["device"])
    if not Path(args["input"]).exists():
        raise FileNotFoundError(f"infill: input {args['input']!r} does not exist")
    filled = model.infill(model.domain.read_input(args["input"]))
    model.domain.write_output(filled, args["output"])
    print(f"wrote infilled {model.domain.name} data to {args['output']}")
    return 0


def read_labels(path: str, ids: np.ndarray | None, n: int, column: str | None) -> np.ndarray:
    """Labels aligned with the embeddings' rows: by ``id`` when both sides have ids, else by order."""
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"probe: labels file {path!r} does not exist")
    if file.suffix.lower() == ".npy":
        y = np.load(file, allow_pickle=False)
    else:
        import pandas as pd

        frame = pd.read_csv(file, sep="\t" if file.suffix.lower() == ".tsv" else ",")
        others = [c for c in frame.columns if c != "id"]
        if column is None:
            column = "label" if "label" in frame.columns else (others[0] if len(others) == 1 else None)
        if column is None or column not in frame.columns:
            raise ValueError(f"probe: choose the label column with label_column=...; {path} has "
                             f"columns {list(frame.columns)}")
        if "id" in frame.columns and ids is not None:
            table = dict(zip(frame["id"].astype(str), frame[column]))
            missing = [i for i in ids if i not in table]
            if missing:
                raise ValueError(f"probe: {len(missing)} embedding ids have no label in {path} "
                                 f"(first: {missing[:3]})")
            return np.asarray([table[i] for i in ids])
        y = frame[column].to_numpy()
    if len(y) != n:
        raise ValueError(f"probe: {path} has {len(y)} labels but the embeddings have {n} rows")
    return y


def _probe(argv: list[str]) -> int:
    from encoderkit.infer.probe import TASKS, format_results, probe, read_embeddings

    args = parse_args(argv, {"embeddings": "", "labels": "", "task": "classification", "label_column": None,
                             "folds": 5, "seed": 0, "baseline": None},
                      ("embeddings", "labels"), "probe")
    if args["task"] not in TASKS:
        raise ValueError(f"The 'task' parameter of probe must be one of {list(TASKS)}. Got {args['task']!r} instead.")
    X, ids = read_embeddings(args["embeddings"])
    y = read_labels(args["labels"], ids, len(X), args["label_column"])
    results = {"embeddings": probe(X, y, args["task"], folds=int(args["folds"]), seed=int(args["seed"]))}
    if args["baseline"]:
        B, bids = read_embeddings(str(args["baseline"]))
        if len(B) != len(X):
            raise ValueError(f"probe: baseline {args['baseline']} has {len(B)} rows, embeddings {len(X)}")
        if ids is not None and bids is not None and not np.array_equal(ids, bids):
            raise ValueError("probe: baseline rows are not in the same record order (ids differ)")
        results["baseline"] = probe(B, y, args["task"], folds=int(args["folds"]), seed=int(args["seed"]),
                                    name="baseline")
    print(format_results(results))
    return 0


COMMANDS = {"embed": _embed, "infill": _infill, "probe": _probe}


def run(command: str, argv: list[str]) -> int:
    return dispatch(COMMANDS, USAGE, command, argv)
