"""Runs written by an older encoderkit keep meaning what they meant when written: an option
absent from a saved run's domain takes the value that reproduces the older behaviour
(``Domain.saved_run_defaults``), while a new run records today's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import UsageError
from encoderkit.impute import check_run_dir
from encoderkit.infer.load import run_domain
from encoderkit.infer.pretrained import split_read_options
from encoderkit.registry import build_domain
from encoderkit.train.checkpoint import MANIFEST_FILE, STATE_FILE, config_diff, file_digest


def record(x: np.ndarray) -> dict:
    x = np.atleast_2d(x)
    return {"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0], "length": x.shape[1]}


def window_stats_of(domain: TimeSeriesDomain, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean, scale and the ``stats`` input of every token of a whole series, nothing hidden."""
    m = domain.unmasked(domain.featurize(record(x)))
    return m.context["mean"], m.context["scale"], m.inputs["stats"]


# channel 0 flat at 5 (a level, no spread); channel 1 the values 1, 3, 1, 3, ... (mean 2, std 1)
SERIES = np.stack([np.full(8, 5.0), np.tile([1.0, 3.0], 4)])


def saved(domain: TimeSeriesDomain, drop: str) -> dict:
    """The domain as a run written before ``drop`` existed saved it."""
    description = domain.describe()
    return {**description, "options": {k: v for k, v in description["options"].items() if k != drop}}


def test_a_run_saved_before_flat_scale_scales_a_flat_channel_by_one(monkeypatch):
    """Runs written before df0e720 scaled a flat window by 1; runs of the commits between it and
    the option's recording used the record's scale: a key-less run is read as the first, and
    the first flat window says which option reads it as the second."""
    from domains.timeseries import masking

    new = TimeSeriesDomain({"max_channels": 2, "format_version": 1}, patch=4, window_stats=True)
    assert new.describe()["options"]["flat_scale"] == "record"  # recorded in new runs
    old = build_domain(saved(new, "flat_scale"))
    assert old.options["flat_scale"] == "unrecorded"
    monkeypatch.setattr(masking, "_SAID_UNRECORDED", [])
    with pytest.warns(UserWarning, match="domain.flat_scale=record"):
        mean, scale, stats = window_stats_of(old, SERIES)
    # by hand: flat channel mean 5, scale 1 (as before the magnitude rule); the other 2 and 1
    np.testing.assert_allclose(mean, [5.0, 2.0])
    np.testing.assert_allclose(scale, [1.0, 1.0])
    # the stats input the model read then: asinh(5 / 1), log 1 = 0
    np.testing.assert_allclose(stats[0], [np.arcsinh(5.0), 0.0], rtol=1e-6)


def test_a_new_run_scales_a_flat_channel_by_its_magnitude():
    new = build_domain(TimeSeriesDomain({"max_channels": 2, "format_version": 1}, patch=4,
                                        window_stats=True).describe())
    assert new.options["flat_scale"] == "record"
    mean, scale, stats = window_stats_of(new, SERIES)
    np.testing.assert_allclose(mean, [5.0, 2.0])
    np.testing.assert_allclose(scale, [5.0, 1.0])  # |5| for the flat channel
    np.testing.assert_allclose(stats[0], [np.arcsinh(1.0), np.log(5.0)], rtol=1e-6)


def test_flat_scale_one_keeps_a_window_without_visible_samples_at_zero_and_one():
    """A channel with no observed sample in the window: the older (0, 1), not the record's."""
    old = TimeSeriesDomain({"max_channels": 2, "format_version": 1}, patch=4, flat_scale="one")
    x = SERIES.copy()
    x[0] = np.nan
    mean, scale, _ = window_stats_of(old, x)
    np.testing.assert_allclose(mean, [0.0, 2.0])
    np.testing.assert_allclose(scale, [1.0, 1.0])


def test_flat_scale_takes_only_its_values():
    with pytest.raises(ValueError, match="'flat_scale' option of the timeseries domain must be one of"):
        TimeSeriesDomain({}, flat_scale="magnitude")


def old_impute_run(root: Path) -> Path:
    """The run_dir an impute wrote before its marker file: holed copy, stores, models."""
    run = root / "run"
    for folder in ("input.zarr", "train.zarr", "model0", "model1"):
        (run / folder).mkdir(parents=True)
        (run / folder / "zarr.json").write_text("{}")
    (run / "holed.csv").write_text("a,b\n1,\n")
    return run


def test_an_impute_run_dir_without_the_marker_is_impute_s_own(tmp_path: Path):
    run = old_impute_run(tmp_path)
    with pytest.raises(UsageError, match="holds an earlier impute's run; pass overwrite=true"):
        check_run_dir(run, overwrite=False)
    check_run_dir(run, overwrite=True)
    assert list(run.iterdir()) == []  # emptied, as a marked run is

    for extra in ("notes.txt", "holed.tsv"):  # anything else: still a user's folder, kept
        run = old_impute_run(tmp_path / extra)
        (run / extra).write_text("mine")
        with pytest.raises(UsageError, match="is a folder that is not an impute's run"):
            check_run_dir(run, overwrite=True)
        assert (run / extra).read_text() == "mine"


def long_table(path: Path, extra: bool) -> Path:
    """A long series table (series, t, value), 3 series of 6 samples; ``extra``: a number
    column beside it that ingest was never given (it must not become a channel)."""
    rows = [(f"s{i}", t, float(i * 10 + t * (i + 1))) for i in range(3) for t in range(6)]
    frame = pd.DataFrame(rows, columns=["series", "t", "value"])
    if extra:
        frame["temp"] = np.arange(len(frame)) % 7 * 1.0
    frame.to_csv(path, index=False)
    return path


def old_long_store(tmp_path: Path) -> Path:
    """A long-format store as an encoderkit before 8439892 wrote it: the schema without
    value_column, which its provenance's ingest options alone record."""
    out = tmp_path / "l.zarr"
    ingest("timeseries", [str(long_table(tmp_path / "ts.csv", False))], str(out), progress=False,
           verbose=False, series_column="series", time_column="t", value_column="value")
    meta = out / "zarr.json"
    doc = json.loads(meta.read_text())
    block = doc["attributes"]["encoderkit"]
    block["schema"].pop("value_column")
    assert block["provenance"]["options"]["value_column"] == "value"
    meta.write_text(json.dumps(doc))
    return out


def test_a_raw_long_file_is_read_as_an_old_store_was_ingested(tmp_path: Path):
    store = old_long_store(tmp_path)
    saved = RecordStore(str(store))
    description = {"name": "timeseries", "schema": saved.schema,
                   "options": {**TimeSeriesDomain(saved.schema).options, "value_column": None}}
    assert build_domain(description).options["value_column"] is None  # the saved schema alone
    domain = run_domain(description, str(store))
    assert domain.options["value_column"] == "value"
    records = domain.read_records(str(long_table(tmp_path / "extra.csv", True)))
    assert len(records) == len(saved)
    for read, kept in zip(records, saved.read_many(np.arange(len(saved)))):
        assert int(read["channels"]) == 1  # the value column alone, not temp beside it
        np.testing.assert_array_equal(read["values"], kept["values"])
    # the store gone: the saved schema, and a value_column given is refused without a false
    # claim about how the store was ingested
    shutil.rmtree(store)
    gone = run_domain(description, str(store))
    assert gone.options["value_column"] is None
    with pytest.raises(UsageError, match="reads raw files without value_column") as e:
        split_read_options(gone, {"value_column": "value"})
    assert "ingested with value_column=null" not in str(e.value)


def test_config_diff_reads_an_older_checkpoint_as_loading_its_run_does():
    saved = {"domain": {"name": "timeseries", "patch": 4}, "train": {"steps": 10}}
    now = {"domain": {"name": "timeseries", "patch": 4, "channel_embedding": "auto",
                      "decimal": "auto", "delimiter": None}, "train": {"steps": 20}}
    reading = TimeSeriesDomain({}).read_options()
    # decimal / delimiter only steer how raw files are read: absent, they are no difference;
    # channel_embedding absent is the value that reproduces the older run, named to pass
    assert config_diff(saved, now, reading) == [
        "domain.channel_embedding: checkpoint False (written before the key existed: "
        "domain.channel_embedding=false resumes it), now 'auto'"]
    assert config_diff(saved, {**now, "domain": {**now["domain"], "channel_embedding": False}},
                       reading) == []
    # a read option the checkpoint has, changed, still differs (as does one given without it)
    assert config_diff({"domain": {**saved["domain"], "decimal": ","}}, now, reading) == [
        "domain.channel_embedding: checkpoint False (written before the key existed: "
        "domain.channel_embedding=false resumes it), now 'auto'",
        "domain.decimal: checkpoint ',', now 'auto'"]


def as_older_checkpoint(checkpoint: Path, drop: tuple[str, ...]) -> None:
    """The checkpoint as an encoderkit without the domain keys ``drop`` wrote it: its config
    lacks them (its manifest rewritten to match, as that version would have written it)."""
    state = json.loads((checkpoint / STATE_FILE).read_text())
    state["config"]["domain"] = {k: v for k, v in state["config"]["domain"].items() if k not in drop}
    (checkpoint / STATE_FILE).write_text(json.dumps(state))
    manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
    manifest["files"][STATE_FILE] = file_digest(checkpoint / STATE_FILE)
    (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_an_older_run_resumes(tmp_path: Path, capsys: pytest.CaptureFixture):
    from encoderkit.cli import main

    rng = np.random.default_rng(0)
    store = str(tmp_path / "s.zarr")
    TimeSeriesDomain.ingest_arrays([rng.normal(size=(2, 32)) for _ in range(8)], store)
    run = tmp_path / "run"
    args = ["pretrain", "domain=timeseries", f"data.store={store}", f"run.dir={run}", "model=tiny",
            "model.hidden_size=32", "model.num_layers=1", "model.num_heads=2",
            "model.intermediate_size=64", "data.max_tokens=256", "data.max_seqlen=64", "train.progress=false",
            "domain.patch=4", "domain.channel_embedding=false"]
    assert main([*args, "train.steps=2"]) == 0
    # a run from before decimal / delimiter and channel_embedding existed
    as_older_checkpoint(run / "checkpoints" / "2", ("decimal", "delimiter", "channel_embedding"))
    without = [a for a in args if not a.startswith("domain.channel_embedding")]
    capsys.readouterr()
    assert main([*without, "train.steps=4"]) != 0
    err = capsys.readouterr().err
    assert "domain.channel_embedding=false resumes it" in err and "older encoderkit" in err
    assert "decimal" not in err and "delimiter" not in err and "run.resume=never" not in err
    assert main([*args, "train.steps=4"]) == 0  # with the value named: it goes on
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2", "4"]
