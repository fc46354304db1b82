"""The key=value words of embed / infill / probe / predict / evaluate (``encoderkit.infer.cli.
parse_args``) read as ingest and pretrain read theirs, by Hydra's override grammar (s49g).

Before: values were read as YAML and a path key kept the raw text, so a Hydra-quoted path
(``input='part (1).csv'``, which ingest takes) kept its quotes and was "not found",
``{sex:numeric}`` was a one-key dict ``{'sex:numeric': None}`` and ``yes`` / ``no`` were
booleans. The references are Hydra's own ``OverridesParser`` and the text a path was typed
as; the end-to-end tests compare a quoted path's output with the same file under a plain name.
Also: a typo's suggestion stays inside the keys the run allows (``columns`` on a table is not
``time_column``), and the sets domain refuses ``true`` where a number is expected.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit import cli
from encoderkit.errors import UsageError
from encoderkit.infer.cli import parse_args

BASE = {"checkpoint": "", "input": "", "output": "", "device": "cpu", "overwrite": False,
        "max_tokens": None}


def _hydra(word: str):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([word])[0].value()


def _parse(*words: str, extra: tuple[str, ...] = ()) -> dict:
    return parse_args(list(words), BASE, (), "embed", extra=extra)


@pytest.mark.parametrize("word, path", [
    ("input='part (1).csv'", "part (1).csv"),
    ('input="part (1), final.csv"', "part (1), final.csv"),
    ("output='f (2).csv'", "f (2).csv"),
    ("input='a,b.csv'", "a,b.csv"),
])
def test_a_quoted_path_is_the_text_inside_the_quotes(word, path):
    key = word.split("=", 1)[0]
    assert _parse(word)[key] == path


PATH_WORDS = ["input=1e3", "input=true", "input=null.csv", "input=null", "output=a,b.npy", "checkpoint=3",
              "input=part (1).csv"]


def test_a_path_key_keeps_the_text_typed_where_hydra_reads_a_number_boolean_or_sweep():
    for word in PATH_WORDS:
        key, typed = word.split("=", 1)
        assert _parse(word)[key] == typed, word


OPTION_WORDS = [
    ("columns={sex:numeric}", {"sex": "numeric"}),
    ("columns={sex: numeric}", {"sex": "numeric"}),
    ("missing_value=yes", "yes"),
    ("missing_value=no", "no"),
    ("missing_value=-999", -999),
    ("missing_value=0.5", 0.5),
    ("missing_value=null", None),
    ("keep_words=[NA,n/a]", ["NA", "n/a"]),
    ("delimiter=;", ";"),
    ("decimal=,", ","),
]


def test_an_option_is_read_as_hydra_reads_it():
    for word, expected in OPTION_WORDS:
        key = word.split("=", 1)[0]
        value = _parse(word, extra=(key,))[key]
        assert value == expected and type(value) is type(expected), word
        if word not in ("delimiter=;", "decimal=,"):  # those two the grammar reads only quoted
            assert value == _hydra(word), word


def test_own_numbers_and_booleans_as_hydra_reads_them_and_yes_no_refused():
    args = _parse("max_tokens=1_000", "overwrite=true")
    assert args["max_tokens"] == _hydra("max_tokens=1_000") == 1000 and args["overwrite"] is True
    for word in ("overwrite=yes", "overwrite=no"):  # words, not booleans (YAML 1.1 made them so)
        with pytest.raises(UsageError, match="must be true or false"):
            _parse(word)


def test_a_sweep_of_an_option_is_refused_as_ingest_refuses_it():
    with pytest.raises(UsageError, match=r"write a list in brackets: keep_words=\[NA,n/a\]"):
        _parse("keep_words=NA,n/a", extra=("keep_words",))


def test_probe_label_column_and_baseline_are_text():
    allowed = {"embeddings": "", "labels": "", "label_column": None, "baseline": None}
    args = parse_args(["embeddings=e.npy", "labels=l.csv", "label_column=2020", "baseline=null"],
                      allowed, (), "probe", text=("label_column", "baseline"))
    assert args["label_column"] == "2020" and args["baseline"] is None


@pytest.mark.parametrize("word", ["~input=a.csv", "input@x=a.csv"])
def test_a_deletion_or_package_is_no_parameter(word):
    with pytest.raises(UsageError, match="unknown parameter"):
        _parse(word, extra=(word.split("=", 1)[0],))


# ---- end to end on a tiny tabular run ----

TINY = ["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
        "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
        "train.steps=2", "train.eval_every=0", "train.checkpoint_every=0", "train.log_every=1",
        "train.progress=false", "data.max_tokens=1024", "data.max_seqlen=128", "run.device=cpu"]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    from encoderkit.data.ingest import ingest
    from encoderkit.train import pretrain

    root = tmp_path_factory.mktemp("t")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.normal(50, 10, 40).round(1), "sex": rng.integers(1, 3, 40),
                          "bmi": rng.normal(25, 4, 40).round(2)})
    frame.loc[[3, 7, 11], "bmi"] = np.nan
    frame.to_csv(root / "t.csv", index=False)
    ingest("tabular", [str(root / "t.csv")], str(root / "t.zarr"), progress=False, verbose=False)
    run = pretrain(["domain=tabular", f"data.store={root / 't.zarr'}", f"run.dir={root / 'run'}", *TINY])
    return Path(run), root / "t.csv"


def test_embed_and_infill_take_hydra_quoted_paths(table_run, tmp_path, monkeypatch):
    run, table = table_run
    monkeypatch.chdir(tmp_path)
    shutil.copy(table, "plain.csv")
    shutil.copy(table, "part (1), a.csv")
    assert cli.main(["embed", f"checkpoint={run}", "input=plain.csv", "output=plain.npy"]) == 0
    assert cli.main(["embed", f"checkpoint={run}", "input='part (1), a.csv'", "output='e (2).npy'"]) == 0
    np.testing.assert_array_equal(np.load("e (2).npy"), np.load("plain.npy"))
    assert cli.main(["infill", f"checkpoint={run}", "input=plain.csv", "output=plain_filled.csv"]) == 0
    assert cli.main(["infill", f"checkpoint={run}", "input='part (1), a.csv'", "output='f (2).csv'"]) == 0
    assert Path("f (2).csv").read_bytes() == Path("plain_filled.csv").read_bytes()


def test_an_unknown_key_suggests_only_keys_the_run_allows(table_run, tmp_path, capsys):
    run, table = table_run
    code = cli.main(["embed", f"checkpoint={run}", f"input={table}", f"output={tmp_path / 'e.npy'}",
                     "columns={sex:numeric}"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown parameter 'columns'" in err
    assert "time_column" not in err  # a series' ingest option, not one of a table's


# ---- sets domain: a boolean is no number ----

@pytest.fixture(scope="module")
def sets_schema(tmp_path_factory):
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore
    from encoderkit.registry import get_domain

    root = tmp_path_factory.mktemp("s")
    paths, options = get_domain("sets").sample_sources(str(root))
    ingest("sets", paths, str(root / "s.zarr"), progress=False, verbose=False, **options)
    return RecordStore(str(root / "s.zarr")).schema


@pytest.mark.parametrize("option, good", [("mask_rate", 0.5), ("feature_mask_rate", 1), ("unit", 2.0),
                                          ("jitter", 0.1), ("id_loss_weight", 1), ("curve_bits", 1),
                                          ("chunk_seed", 1)])
def test_sets_refuses_a_boolean_where_a_number_is_expected(sets_schema, option, good):
    from encoderkit.registry import get_domain

    cls = get_domain("sets")
    assert cls(sets_schema, **{option: good}).options[option] == good  # the number itself is fine
    with pytest.raises(ValueError, match=rf"The '{option}' option of the sets domain must be .* Got True"):
        cls(sets_schema, **{option: True})
