"""Fine-tuning must not apply pretrained weights to other columns, categories, channels or
tokens (session 49, helper i).

``encoderkit finetune checkpoint=<run> data.store=<store>`` with a store ingested from a file
with the same columns in another order (or one category replaced by a new one, the same count;
or series channels in another order) loaded the pretrained embedder without a word: the shapes
match, and each row went to another column / category / channel (the same rows' embeddings
after a 1-step frozen-encoder fine-tune: cosine 0.40 to the pretrained encoder's). Now the
domain names the differences (``Domain.pretrained_schema_differences``) and finetune refuses
them in one line before any weight is loaded. Differences no weight reads (numeric statistics,
record counts) are accepted.

References: the differences are named from the files the stores were ingested from (the
columns / channels / items as written, the categories as sorted by hand); each accepted case
is checked to differ in the statistics it claims to ignore, so that it is not the same schema.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.registry import available_domains, build_domain, get_domain
from encoderkit.train.checkpoint import MANIFEST_FILE, STATE_FILE, file_digest
from tests.domains.sample_store import TINY_MODEL, ingest_sample


def _store(tmp, name: str, domain: str, frame: pd.DataFrame | None = None, text: str | None = None,
           suffix: str = ".csv", **options) -> str:
    src = tmp / f"{name}{suffix}"
    if frame is not None:
        frame.to_csv(src, index=False)
    else:
        src.write_text(text)
    out = tmp / f"{name}.zarr"
    ingest(domain, [str(src)], str(out), progress=False, verbose=False, **options)
    return str(out)


def _domain(store: str, **options):
    s = RecordStore(store)
    return get_domain(s.domain)(s.schema, **options)


def _differences(pretrained_store: str, store: str, **options) -> list[str]:
    """What a domain built on ``store`` says of a checkpoint pretrained on ``pretrained_store``
    (its ``describe()``, as state.json holds it)."""
    pretrained = _domain(pretrained_store, **options).describe()
    return _domain(store, **options).pretrained_schema_differences(pretrained)


# ---------------------------------------------------------------- tables

def _table(n: int, seed: int, colours=("red", "green", "blue"), scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.choice([20, 30, 40], n), "colour": rng.choice(list(colours), n),
                         "income": rng.lognormal(10, 0.5, n) * scale, "y": rng.choice(["a", "b"], n)})


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tables")
    frame = _table(120, 0)
    return {"tmp": tmp, "pre": _store(tmp, "pre", "tabular", frame),
            "reorder": _store(tmp, "reorder", "tabular", frame[["colour", "age", "income", "y"]]),
            # blue -> yellow: three colours still, sorted [green, red, yellow] against [blue, green, red]
            "swapcat": _store(tmp, "swapcat", "tabular", frame.replace({"colour": {"blue": "yellow"}})),
            # other rows, fewer, incomes three times as large: other statistics, the same meaning
            "other": _store(tmp, "other", "tabular", _table(80, 1, scale=3.0)),
            "kind": _store(tmp, "kind", "tabular", frame, columns={"age": "numeric"})}


def test_reordered_table_columns_are_named(tables):
    found = _differences(tables["pre"], tables["reorder"])
    assert found == ["column 'age' is 2nd in the store, 1st in pretraining",
                     "column 'colour' is 1st in the store, 2nd in pretraining"]


def test_a_replaced_category_of_the_same_count_is_named(tables):
    found = _differences(tables["pre"], tables["swapcat"])
    assert found == ["category 'blue' of 'colour' (1st in pretraining) is not in the store",
                     "category 'yellow' of 'colour' is new (3rd in the store)",
                     "category 'green' of 'colour' is 1st in the store, 2nd in pretraining",
                     "category 'red' of 'colour' is 2nd in the store, 3rd in pretraining"]


def test_a_column_of_another_kind_is_named(tables):
    assert _differences(tables["pre"], tables["kind"]) == [
        "column 'age' is numeric in the store, categorical in pretraining"]


def test_other_rows_with_other_numeric_statistics_are_accepted(tables):
    pre, other = (RecordStore(tables[k]).schema["columns"][2] for k in ("pre", "other"))
    assert other["mean"] > 2 * pre["mean"] and other["edges"] != pre["edges"]  # not the same schema
    assert len(RecordStore(tables["other"])) != len(RecordStore(tables["pre"]))
    assert _differences(tables["pre"], tables["other"]) == []


@pytest.fixture(scope="module")
def pretrained_table(tables):
    from encoderkit.train import pretrain

    run = tables["tmp"] / "run"
    pretrain(["domain=tabular", f"data.store={tables['pre']}", f"run.dir={run}", "train.steps=2",
              "train.progress=false", "run.device=cpu", "data.max_tokens=256", "data.max_seqlen=64",
              *TINY_MODEL])
    return run


def _finetune(run, store: str, out) -> None:
    from encoderkit.tasks import finetune

    finetune([f"checkpoint={run}", f"data.store={store}", f"run.dir={out}", "task=classification",
              "task.label_column=y", "task.ensemble=1", "train.steps=1", "train.progress=false",
              "run.device=cpu", "data.max_tokens=256", "data.max_seqlen=64"])


def test_finetune_refuses_a_reordered_store_in_one_line_naming_the_column(tables, pretrained_table):
    out = tables["tmp"] / "ft_reorder"
    with pytest.raises(DataError) as e:
        _finetune(pretrained_table, tables["reorder"], out)
    message = str(e.value)
    assert "\n" not in message and tables["reorder"] in message and str(pretrained_table) in message
    assert "column 'colour' is 1st in the store, 2nd in pretraining" in message
    assert "same order" in message  # what to do
    assert not (out / "checkpoints").exists()


def test_finetune_accepts_other_rows_and_skips_checkpoints_without_a_schema(tables, pretrained_table):
    _finetune(pretrained_table, tables["other"], tables["tmp"] / "ft_other")
    assert (tables["tmp"] / "ft_other" / "checkpoints").is_dir()
    # an older checkpoint that stored no schema: nothing to compare, the shapes decide as before
    old = tables["tmp"] / "old_run"
    shutil.copytree(pretrained_table, old)
    for checkpoint in old.glob("checkpoints/*"):  # rewritten as that version wrote it: manifest too
        body = json.loads((checkpoint / STATE_FILE).read_text())
        body["domain"].pop("schema")
        (checkpoint / STATE_FILE).write_text(json.dumps(body))
        manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
        manifest["files"][STATE_FILE] = file_digest(checkpoint / STATE_FILE)
        (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    _finetune(old, tables["swapcat"], tables["tmp"] / "ft_old")
    assert (tables["tmp"] / "ft_old" / "checkpoints").is_dir()


# ---------------------------------------------------------------- series

def _series(n_series: int, seed: int, order=("temp", "hum", "press"), level: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"device": f"d{s}", "time": t, "temp": level + rng.normal(), "hum": rng.normal(),
             "press": rng.normal()} for s in range(n_series) for t in range(24)]
    return pd.DataFrame(rows)[["device", "time", *order]]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("series")
    opts = {"time_column": "time", "series_column": "device"}
    return {"pre": _store(tmp, "pre", "timeseries", _series(6, 0), **opts),
            "reorder": _store(tmp, "reorder", "timeseries", _series(6, 0, ("press", "temp", "hum")), **opts),
            "other": _store(tmp, "other", "timeseries", _series(9, 1, level=50.0), **opts)}


def test_reordered_series_channels_are_named(series):
    assert _differences(series["pre"], series["reorder"]) == [
        "channel 'temp' is 2nd in the store, 1st in pretraining",
        "channel 'hum' is 3rd in the store, 2nd in pretraining",
        "channel 'press' is 1st in the store, 3rd in pretraining"]


def test_channel_independent_series_and_other_series_are_accepted(series):
    # every channel its own sequence with the same weights: no weight is a channel's
    assert _differences(series["pre"], series["reorder"], channel_independent=True) == []
    pre, other = (RecordStore(series[k]).schema for k in ("pre", "other"))
    assert pre["n_series"] != other["n_series"]
    assert _differences(series["pre"], series["other"]) == []


# ---------------------------------------------------------------- sets

def _sets(seed: int, top_share: float, features=("intensity", "size")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"set": f"s{s}", "x": float(rng.integers(0, 7)), "y": float(rng.integers(0, 7)),
             "half": "top" if rng.random() < top_share else "bottom",
             "intensity": rng.normal(10, 3), "size": rng.normal(2, 1)}
            for s in range(20) for _ in range(8)]
    return pd.DataFrame(rows)[["set", "x", "y", "half", *features]]


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sets")
    opts = {"id_column": "half", "coord_columns": ["x", "y"]}
    return {"pre": _store(tmp, "pre", "sets", _sets(0, 0.8), **opts),  # 'top' most frequent: id 4
            "flipped": _store(tmp, "flipped", "sets", _sets(0, 0.2), **opts),  # 'bottom' first
            "features": _store(tmp, "features", "sets", _sets(0, 0.8, ("size", "intensity")), **opts),
            "other": _store(tmp, "other", "sets", _sets(1, 0.7), **opts)}


def test_items_counted_otherwise_and_reordered_features_are_named(sets):
    assert _differences(sets["pre"], sets["flipped"]) == [
        "item 'top' is 2nd in the store's vocabulary, 1st in pretraining",
        "item 'bottom' is 1st in the store's vocabulary, 2nd in pretraining"]
    assert _differences(sets["pre"], sets["features"]) == [
        "feature 'intensity' is 2nd in the store, 1st in pretraining",
        "feature 'size' is 1st in the store, 2nd in pretraining"]


def test_other_sets_with_the_same_items_are_accepted(sets):
    pre, other = (RecordStore(sets[k]).schema for k in ("pre", "other"))
    assert pre["feature_mean"] != other["feature_mean"]
    assert _differences(sets["pre"], sets["other"]) == []


# ---------------------------------------------------------------- genomic

FASTA = ">a\nACGTACGTTTGACCANNACGTAGGCTAGCTAGGATCGATCG\n>b\nTTGACGATCGATCGGGCTAGCTAACGTRYACGT\n"


def test_genomic_tokens_renumbered_by_an_option_are_named(tmp_path):
    store = _store(tmp_path, "dna", "genomic", text=FASTA, suffix=".fa")
    other = _store(tmp_path, "dna2", "genomic", text=FASTA.replace("ACGTACGT", "GGGG"), suffix=".fa")
    pretrained = _domain(store, tokens="kmer", k=3).describe()
    # iupac=keep adds 10 single-base tokens before the k-mers: the same padded table size
    keep = _domain(store, tokens="kmer", k=3, iupac="keep")
    assert keep.vocab.padded_size == _domain(store, tokens="kmer", k=3).vocab.padded_size
    found = keep.pretrained_schema_differences(pretrained)
    assert found[0] == "domain.iupac='keep' in this run, 'collapse' in pretraining"
    assert "token 'R' is new (10th in this run's vocabulary)" in found
    # k-mer 'AAA' is id 4 + 5 = 9 (10th) under collapse, 4 + 15 = 19 (20th) under keep
    assert "token 'AAA' is 20th in this run's vocabulary, 10th in pretraining" in found
    assert _domain(other, tokens="kmer", k=3).pretrained_schema_differences(pretrained) == []


# ---------------------------------------------------------------- every registered domain

@pytest.mark.parametrize("name", available_domains())
def test_every_domain_accepts_its_own_schema(name, tmp_path):
    try:
        store = ingest_sample(name, tmp_path)
    except NotImplementedError:
        pytest.skip(f"domain {name!r} ships no sample data")
    domain = _domain(store)
    assert domain.pretrained_schema_differences(domain.describe()) == []
    # as finetune sees it: the checkpoint's description (JSON) against a domain on the store
    saved = json.loads(json.dumps(domain.describe()))
    assert build_domain(saved).pretrained_schema_differences(saved) == []
    assert domain.pretrained_schema_differences(saved) == []
