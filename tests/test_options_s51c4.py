"""Options that cannot take effect in a run or an ingest are said, never ignored
(``encoderkit.option_effects``; audit c of session 51, F7-F10 and F13).

Each refusal is checked against a hand-worked fact of the domain: the ``column`` masker never
reads ``mask_rate``, a set without coordinates has rope_axes 0, an ``.npy`` array has no
columns, a Parquet file no field separator. A default never triggers, an applicable
non-default passes, and a user's own config file gets a warning instead of an error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.errors import UsageError
from encoderkit.train.config import ConfigError, compose, compose_finetune


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A table, sets with and without coordinates (tiny, ingested once)."""
    d = tmp_path_factory.mktemp("opt")
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40),
                  "c": rng.choice(["x", "y"], 40)}).to_csv(d / "t.csv", index=False)
    rows = [(f"s{k}", f"i{rng.integers(0, 5)}", float(rng.normal()), float(rng.normal()))
            for k in range(12) for _ in range(4)]
    sets = pd.DataFrame(rows, columns=["set", "id", "x", "y"])
    sets[["set", "id"]].to_csv(d / "plain.csv", index=False)
    sets.to_csv(d / "coords.csv", index=False)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, domain, src, opts in (("table", "tabular", "t.csv", {}),
                                        ("sets", "sets", "plain.csv", {}),
                                        ("xy", "sets", "coords.csv", {"coord_columns": ["x", "y"]})):
            out[name] = str(d / f"{name}.zarr")
            ingest(domain, [str(d / src)], out[name], progress=False, verbose=False, **opts)
    return out


def _refused(words, key, composer=compose, genomic=False):
    if genomic:  # the class attribute the lead adds in domains/genomic/domain.py (kept if there)
        from domains.genomic.domain import GenomicDomain
        from domains.genomic.option_scope import OPTION_SCOPE

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(GenomicDomain, "option_scope", OPTION_SCOPE, raising=False)
            return _refused(words, key, composer)
    with pytest.raises(ConfigError) as e:
        composer(words)
    assert e.value.key == key and "has no effect" in str(e.value), str(e.value)
    assert e.value.exit_code == 2
    return str(e.value)


# ---- F7: a rate of a masker that is not chosen ------------------------------------------
def test_rate_of_unchosen_masker_refused(stores):
    msg = _refused(["domain=tabular", f"data.store={stores['table']}", "domain.masker=column",
                    "domain.mask_rate=0.9"], "domain.mask_rate")
    assert "random masker" in msg
    _refused(["domain=tabular", f"data.store={stores['table']}", "domain.masker=random",
              "domain.column_max_fraction=0.9"], "domain.column_max_fraction")
    _refused(["domain=timeseries", "data.store=x.zarr", "domain.mean_span=5"], "domain.mean_span")
    _refused(["domain=genomic", "data.store=x.zarr", "domain.masker=random", "domain.span_mean=5"],
             "domain.span_mean", genomic=True)


def test_masker_rates_accepted_where_read_or_default(stores):
    base = ["domain=tabular", f"data.store={stores['table']}"]
    # the shipped mixture {random: 0.7, column: 0.3} reads both
    assert compose(base + ["domain.mask_rate=0.9"]).domain.mask_rate == 0.9
    assert compose(base + ["domain.column_max_fraction=0.9"]).domain.column_max_fraction == 0.9
    # the default value, typed, changes nothing: never refused
    assert compose(base + ["domain.masker=column", "domain.mask_rate=0.3"]).domain.masker == "column"
    _refused(base + ["domain.masker={random: 0.0, column: 1.0}", "domain.mask_rate=0.5"], "domain.mask_rate")
    assert compose(["domain=timeseries", "data.store=x.zarr", "domain.masker=span", "domain.mean_span=5"])


# ---- F8: position options without positions ---------------------------------------------
@pytest.mark.parametrize("word", ["domain.jitter=5.0", "domain.offset_bands=0"])
def test_coordinate_options_of_sets_without_coordinates_refused(stores, word):
    msg = _refused(["domain=sets", f"data.store={stores['sets']}", word], word.split("=")[0])
    assert "no positions" in msg


def test_coordinate_options_accepted_with_coordinates_or_default(stores):
    cfg = compose(["domain=sets", f"data.store={stores['xy']}", "domain.jitter=5.0",
                   "domain.random_rotation=true", "domain.offset_bands=0"])
    assert cfg.domain.jitter == 5.0
    assert compose(["domain=sets", f"data.store={stores['sets']}", "domain.jitter=0.0",
                    "domain.offset_bands=6"]).domain.jitter == 0.0
    # the coordinates turned off: no positions again
    _refused(["domain=sets", f"data.store={stores['xy']}", "domain.use_coordinates=false",
              "domain.jitter=5.0"], "domain.jitter")


def test_encoder_window_and_theta_of_a_table_without_positions(stores):
    """Warned, not refused: one model description serves runs on different data."""
    base = ["domain=tabular", f"data.store={stores['table']}"]
    for word in ("model.local_window=4", "model.rope_theta_global=7.0"):
        with pytest.warns(UserWarning, match=rf"{word.split('=')[0]}=\S+ has no effect.*no positions"):
            compose(base + [word])
    # positions (column index): both read; tiny's own window, typed: the default
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compose(base + ["domain.column_positions=true", "model.local_window=4",
                               "model.rope_theta_global=7.0"]).model.local_window == 4
        assert compose(base + ["model.local_window=32"]).model.local_window == 32
    # local layers by hand (global_every > 1) read the window even without positions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert compose(base + ["model.global_every=2", "model.local_window=4"])


# ---- F10: genomic ingest options and an over-long window at pretrain -----------------------
@pytest.fixture
def genomic_scope(monkeypatch):
    from domains.genomic.domain import GenomicDomain
    from domains.genomic.option_scope import OPTION_SCOPE

    # the class attribute the lead adds in domains/genomic/domain.py (kept if already there)
    monkeypatch.setattr(GenomicDomain, "option_scope", OPTION_SCOPE, raising=False)


@pytest.mark.parametrize("word", ["domain.min_length=5000", "domain.format=fastq"])
def test_genomic_ingest_options_refused_at_pretrain(genomic_scope, word):
    msg = _refused(["domain=genomic", "data.store=x.zarr", word], word.split("=")[0])
    assert "ingest option" in msg


def test_genomic_window_beyond_max_seqlen(genomic_scope):
    base = ["domain=genomic", "data.store=x.zarr", "data.max_seqlen=512", "data.max_tokens=2048"]
    assert "data.max_seqlen=512" in _refused(base + ["domain.window=1024"], "domain.window")
    assert compose(base + ["domain.window=256"]).domain.window == 256
    # defaults typed, and options their conditions hold for
    assert compose(base + ["domain.format=auto", "domain.min_length=1", "domain.tokens=kmer", "domain.k=4",
                           "domain.masker=span", "domain.span_mean=5"]).domain.k == 4
    _refused(base + ["domain.k=4"], "domain.k")
    _refused(base + ["domain.masker=kmer", "domain.tokens=kmer", "domain.mask_kmer=3"], "domain.mask_kmer")


# ---- provenance: finetune words, a user's file, a sweep of configs ---------------------------
def test_finetune_words_refused(stores):
    _refused(["checkpoint=none", "domain=tabular", f"data.store={stores['table']}", "task.label_column=c",
              "domain.masker=column", "domain.mask_rate=0.9"], "domain.mask_rate", compose_finetune)


def test_users_config_file_warns_instead(stores, tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndomain:\n  masker: column\n  mask_rate: 0.9\n")
    words = ["domain=tabular", f"data.store={stores['table']}", f"hydra.searchpath=[file://{tmp_path}]",
             "experiment=mine"]
    with pytest.warns(UserWarning, match=r"domain.mask_rate=0.9 has no effect.*mine.yaml"):
        cfg = compose(words)
    assert cfg.domain.mask_rate == 0.9


# ---- F9: ingest options no input kind reads -----------------------------------------------
def test_timeseries_table_options_refused_for_arrays(tmp_path):
    src = tmp_path / "ts.npy"
    np.save(src, np.sin(np.arange(3 * 2 * 50).reshape(3, 2, 50) / 7.0))
    for opts in ({"time_column": "t"}, {"channels": ["a", "b"]}, {"delimiter": ";"}, {"decimal": ","}):
        out = tmp_path / f"{next(iter(opts))}.zarr"
        with pytest.raises(UsageError) as e:
            ingest("timeseries", [str(src)], str(out), progress=False, verbose=False, **opts)
        assert e.value.key == next(iter(opts)) and "npy" in str(e.value)
        assert not out.exists()  # nothing written, no schema recording the option
    ok = tmp_path / "ok.zarr"  # defaults, typed, pass
    ingest("timeseries", [str(src)], str(ok), progress=False, verbose=False, time_column=None, decimal="auto")
    assert ok.exists()
    # a CSV reads them: accepted and recorded
    table = tmp_path / "ts.csv"
    pd.DataFrame({"t": range(30), "a": np.sin(np.arange(30.0))}).to_csv(table, sep=";", index=False)
    from encoderkit.data.store import RecordStore

    ingest("timeseries", [str(table)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           time_column="t", delimiter=";")
    assert RecordStore(str(tmp_path / "s.zarr")).schema["time_column"] == "t"


def test_tabular_parquet_refuses_text_options(tmp_path):
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": ["x", "y", "x"]})
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False, sep=";")
    for key, value in (("delimiter", ";"), ("decimal", ","), ("keep_words", ["NA"])):
        with pytest.raises(UsageError) as e:
            ingest("tabular", [str(tmp_path / "t.parquet")], str(tmp_path / "p.zarr"), progress=False,
                   verbose=False, **{key: value})
        assert e.value.key == key and "parquet" in str(e.value)
    ingest("tabular", [str(tmp_path / "t.csv")], str(tmp_path / "c.zarr"), progress=False, verbose=False,
           delimiter=";")  # a text table reads it
    # several inputs: one text file among them reads it
    ingest("tabular", [str(tmp_path / "t.parquet"), str(tmp_path / "t.csv")], str(tmp_path / "pc.zarr"),
           progress=False, verbose=False, delimiter=";")


# ---- F13: drop_columns is documented where the other options are --------------------------
def test_drop_columns_listed_in_help_and_yaml():
    from encoderkit.train.help import domain_options

    assert "drop_columns" in domain_options()["tabular"]
    from domains.tabular.runtime_options import OPTION_DEFAULTS

    shipped = compose(["domain=tabular", "data.store=x.zarr"]).domain
    assert shipped.drop_columns == OPTION_DEFAULTS["drop_columns"]
    assert set(shipped) - {"name"} == set(OPTION_DEFAULTS)  # one list of option names
