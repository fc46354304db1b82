"""The command line of ``encoderkit impute``: its usage text (``USAGE``), the words read as
its own parameters, pretrain overrides and ingest options (``parse``), and the entry that
``encoderkit.cli`` reaches through ``encoderkit.impute.run``. Split out of
``encoderkit/impute.py`` (the command itself), so each module keeps one job.
"""

from __future__ import annotations

from typing import Any, Sequence

from encoderkit.errors import UsageError

USAGE = """usage: encoderkit impute input=<file> output=<file> [domain=tabular|timeseries] [key=value ...]

Fits an encoder on the observed values of a table or series file and writes the file with
every missing cell filled (observed cells unchanged), then prints a summary: cells filled
per column / channel, the error on held-back observed cells next to a simple baseline, time.

  input      a table (.csv, .tsv, .tab, .txt, also compressed: .gz, .bz2, .xz, .zip, .zst; or
             .parquet) or a series file (.npy, .npz, or such a table with a time column or,
             Parquet, a DatetimeIndex)
  output     the filled file, a table as text or Parquet by its suffix (.csv, .tsv, compressed, .parquet),
             a series array as .npy / .npz (refused if it exists, unless overwrite=true)
  domain     tabular | timeseries; default from the file: .npy/.npz and CSV / TSV files whose first
             column is named time, date, timestamp, ... (or holds dates or periods: 1959Q1, 1959 Q1,
             1949M01, 2020-W05) are series, so are files of numbers and at most one series id with
             such a time column elsewhere, its times in order on a regular grid; others are tables
  holdout    share of the observed cells held back to measure the error (default 0.05; 0 = off);
             for series, in runs as long as the file's own gaps on average
  seed       seeds the hold-back draw, the model initialisation and the masking (default 0)
  n_models   models trained with seeds seed, seed+1, ... and averaged (default 1); run.seed= /
             data.seed= set the first model's instead (seed at 0), model k's that + k
  select     auto (default): per column / channel, compare on the held-back cells the model
             with classical candidates (series: linear interpolation, seasonal naive, seasonal
             climatology + anomaly; tables: IterativeImputer (numeric columns), the forest
             imputer (MissForest-style, numeric and categorical columns; tables of at most 100
             columns, categorical columns of at most 64 categories), the encoder alone, the
             model being their mean)
             and keep the model unless a candidate wins clearly: lower total error and more
             held-back runs / cells won than lost by a Wilcoxon signed-rank test (p < 0.05,
             encoderkit/selection.py); model: always the model's fill
  run_dir    keep the trained run(s) there (default: a temporary directory, removed); the folder
             then also keeps holed.<kind>, a full copy of the input (every column, identifiers
             included, the held-back cells blanked), and the stores of its values: keep it
             where the input may be kept
  overwrite  replace an existing output (default false; the plot's file too)
  plot       also draw the fill into this .png (default none): per series (at most 8) the observed
             line, the fills and the held-back cells' truth and fill; per numeric table column (at
             most 12, the worst first) the held-back truth against the fill, and the categorical
             columns' held-back accuracy (holdout=0: observed vs filled values per column)
  progress   progress bars and stage lines (default true)
  device     where the trained models fill the file and the held-back cells (default cpu; auto:
             a CUDA GPU if there is one, else the CPU; cuda, cuda:0, mps); training runs on
             run.device (default auto)
Pretraining overrides pass through (Hydra syntax): model=small, train.steps=2000,
optim.lr=1e-3, domain.patch=8, ... (defaults: configs/experiment/impute.yaml).
Other key=value pairs are ingest options of the domain (time_column=date, exclude=[id], ...).
"""

# The command's own parameters; words with a dot, and these config groups, go to pretrain.
OWN = {"input": None, "output": None, "domain": None, "holdout": 0.05, "seed": 0, "n_models": 1,
       "select": "auto", "run_dir": None, "overwrite": False, "progress": True, "device": "cpu",
       "plot": None}
GROUPS = ("model", "optim", "schedule", "data", "experiment", "train", "run")


def parse(argv: Sequence[str]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """Words -> (own parameters, pretrain overrides, ingest options)."""
    own: dict[str, Any] = dict(OWN)
    passed: list[str] = []
    rest: list[str] = []
    ingest_options: dict[str, Any] = {}
    for word in argv:
        if "=" not in word:
            raise UsageError(f"impute: unexpected argument {word!r}; arguments are key=value")
        key = word.split("=", 1)[0].lstrip("+~")
        if key == "delimiter":  # raw text: Hydra's grammar refuses ';' and ','
            ingest_options[key] = _delimiter(word.split("=", 1)[1])
            continue
        (passed if "." in key or key in GROUPS else rest).append(word)
    try:
        from encoderkit.overrides import parse

        parsed = parse(rest)  # données.csv quoted; columns={Größe: numeric}: keys Hydra cannot spell
    except Exception as e:  # hydra's grammar errors name the offending word
        raise UsageError(f"impute: cannot parse arguments: {' '.join(str(e).split())}") from None
    from encoderkit.overrides import refuse_sweeps

    refuse_sweeps(parsed, "impute")
    for o in parsed:
        key, value = o.key_or_group, o.value()
        if key in OWN:
            own[key] = value
        else:
            _check_not_own(key)
            ingest_options[key] = value
    for key in ("input", "output"):
        if own[key] is None:
            raise UsageError(f"impute: missing required parameter {key}=...", key=key)
    for key in ("overwrite", "progress"):
        if not isinstance(own[key], bool):
            raise UsageError(f"The {key!r} parameter must be true or false. Got {own[key]!r} instead.",
                             key=key)
    for key in ("input", "output", "run_dir", "domain", "device", "select", "plot"):
        if own[key] is not None:
            own[key] = str(own[key])
    # a typo in a pretraining key (train.stpes=5) is refused by ``impute`` itself, before it
    # looks at the input: composed once there, not here and again there
    return own, passed, ingest_options


# A word that is none of impute's parameters is an ingest option of the domain, refused by the
# domain only once the file is read ("cannot read x.csv as tabular: unknown tabular ingest
# option(s) ['holdotu']", exit 1). One this close to a parameter is its typo: said at once. No
# ingest option of tabular or timeseries comes within 0.6 of a parameter (split_seed / seed: 0.57).
OWN_TYPO_CUTOFF = 0.8


def _check_not_own(key: str) -> None:
    """Refuse ``key`` when it is a misspelled parameter of impute (``holdotu``, ``n_model``)."""
    import difflib

    near = difflib.get_close_matches(key, list(OWN), n=1, cutoff=OWN_TYPO_CUTOFF)
    if near:
        raise UsageError(f"impute: unknown parameter {key!r} (did you mean {near[0]!r}?); the options "
                         f"of impute: encoderkit impute --help", key=key)


def _delimiter(text: str) -> str | None:
    """The ``delimiter=`` word's value as the user means it. Why not Hydra's grammar: a shell
    turns ``delimiter=';'`` (the fix the reader's error message gives) into ``delimiter=;``,
    which the grammar refuses, as it refuses ``,``; and a tab is typed as ``\\t`` or ``tab``."""
    value = text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text
    value = {"\\t": "\t", "tab": "\t"}.get(value, value)
    if value in ("null", "none", "None"):
        return None
    if len(value) != 1:
        raise UsageError(f"The 'delimiter' parameter must be one character (`;`, `|`, `\\t` or `tab` for a "
                         f"tab). Got {text!r} instead.", key="delimiter")
    return value


def word(name: str) -> str:
    """``name`` as one item of a command-line list: bare where Hydra reads it back as that
    text, else quoted (an empty name, spaces, brackets, commas)."""
    import re

    return name if re.fullmatch(r"[A-Za-z_][\w.-]*", name) else "'" + name.replace("'", "\\'") + "'"


def run(command: str, argv: list[str]) -> int:
    """CLI entry (``encoderkit impute ...``); errors are reported by ``encoderkit.cli.main``."""
    if not argv or any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE)
        return 0
    from encoderkit.impute import impute  # the command imports this module: looked up at the call

    own, passed, ingest_options = parse(argv)
    report = impute(own.pop("input"), own.pop("output"), overrides=passed, **own, **ingest_options)
    print(report.summary())
    return 0
