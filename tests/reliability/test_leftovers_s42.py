"""Session-42 leftovers: ``embed`` / ``infill`` of a raw series file take the ingest options
the run's store was ingested with (``time_column=time`` again) and refuse one that
contradicts it; a series file is read back with the store's ``missing_value``; ``embed`` of
a FASTA file skips a record without bases as ingest does, with a warning naming it; and
``FineTuned.evaluate`` refuses labels whose index pairs with nothing in data without rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import UsageError
from encoderkit.infer import load

from .conftest import refuses_cleanly

# ---------------------------------------------------------------- 1. ingest options again


def test_embed_cli_accepts_the_runs_time_column_and_refuses_another(runs, tmp_path, capsys):
    """Was: "unknown parameter 'time_column'" for the very option the store was ingested with."""
    t = runs["timeseries"]
    assert RecordStore(str(t.store)).schema["time_column"] == "time"
    plain, same = tmp_path / "plain.npy", tmp_path / "same.npy"
    assert main(["embed", f"checkpoint={t.dir}", f"input={t.raw[0]}", f"output={plain}"]) == 0
    assert main(["embed", f"checkpoint={t.dir}", f"input={t.raw[0]}", f"output={same}", "time_column=time"]) == 0
    np.testing.assert_array_equal(np.load(same), np.load(plain))
    refuses_cleanly(capsys, tmp_path, ["embed", f"checkpoint={t.dir}", f"input={t.raw[0]}",
                                       f"output={tmp_path / 'other.npy'}", "time_column=date"],
                    2, "time_column=date contradicts the run", "ingested with time_column=time")
    refuses_cleanly(capsys, tmp_path, ["embed", f"checkpoint={t.dir}", f"input={t.raw[0]}",
                                       f"output={tmp_path / 'other.npy'}", "channels=[co2]"],
                    2, "unknown parameter 'channels'", "time_column")


def test_infill_cli_accepts_the_runs_time_column_and_refuses_another(runs, tmp_path, capsys):
    t = runs["timeseries"]
    plain, same = tmp_path / "plain.csv", tmp_path / "same.csv"
    assert main(["infill", f"checkpoint={t.dir}", f"input={t.raw[0]}", f"output={plain}", "window=16"]) == 0
    assert main(["infill", f"checkpoint={t.dir}", f"input={t.raw[0]}", f"output={same}",
                 "time_column=time", "series_column=null", "window=16"]) == 0
    assert same.read_text() == plain.read_text()
    refuses_cleanly(capsys, tmp_path, ["infill", f"checkpoint={t.dir}", f"input={t.raw[0]}",
                                       f"output={tmp_path / 'other.csv'}", "series_column=site"],
                    2, "series_column=site contradicts the run", "ingested with series_column=null")


def test_python_embed_and_infill_take_the_runs_ingest_options(runs):
    t = runs["timeseries"]
    model = load(t.dir)
    np.testing.assert_array_equal(model.embed(str(t.raw[0]), time_column="time"), model.embed(str(t.raw[0])))
    with pytest.raises(UsageError, match="time_column=date contradicts the run.*time_column=time"):
        model.embed(str(t.raw[0]), time_column="date")
    with pytest.raises(UsageError, match=r"embed\(\) got unknown parameter\(s\) \['pooling_size'\]"):
        model.embed(str(t.raw[0]), pooling_size=3)
    frame = model.domain.read_input(str(t.raw[0]))
    pd.testing.assert_frame_equal(model.infill(frame, time_column="time"), model.infill(frame))
    with pytest.raises(UsageError, match="time_column=date contradicts the run"):
        model.infill(frame, time_column="date")
    with pytest.raises(UsageError, match=r"unknown infill option\(s\) \['channels'\].*ingest options"):
        model.infill(frame, channels=["co2"])


def test_a_series_file_is_read_back_with_the_stores_missing_value(tmp_path):
    """Was: ingest read -999 as missing, embed / infill of the same file as a value."""
    from domains.timeseries.domain import TimeSeriesDomain

    src = tmp_path / "s.csv"
    src.write_text("time,x\n1,1\n2,-999\n3,3\n4,4\n")
    store = tmp_path / "s.zarr"
    ingest("timeseries", [str(src)], str(store), progress=False, verbose=False, time_column="time",
           missing_value=-999)
    domain = TimeSeriesDomain(RecordStore(str(store)).schema)
    x = domain._series(domain.read_records(str(src))[0])
    np.testing.assert_array_equal(np.isnan(x), np.isnan(domain._series(RecordStore(str(store))[0])))
    assert domain.read_options()["missing_value"] == -999


# ---------------------------------------------------------------- 2. FASTA record without bases

def test_embed_of_a_fasta_skips_a_record_without_bases_as_ingest_does(runs, tmp_path):
    """Was: "record 1 (id 'empty') has no tokens; it cannot be embedded" (ingest skips it)."""
    g = runs["genomic"]
    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGTACGTAC\n>empty\n>b\nGGGCCCAAATTT\n>last\n")
    ingest("genomic", [str(fa)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    stored = [r["id"] for r in RecordStore(str(tmp_path / "s.zarr")).read_many(np.arange(2))]
    out = tmp_path / "e.npy"
    with pytest.warns(UserWarning, match=r"skipped 2 empty record\(s\).*'empty', 'last'"):
        assert main(["embed", f"checkpoint={g.dir}", f"input={fa}", f"output={out}"]) == 0
    assert np.load(out).shape[0] == 2
    assert list(np.load(tmp_path / "e.ids.npy", allow_pickle=True)) == stored == ["a", "b"]
    with pytest.warns(UserWarning, match="'empty', 'last'"):
        assert load(g.dir).embed(str(fa)).shape[0] == 2


# ---------------------------------------------------------------- 3. labels indexed for nothing

@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """A 3-step fine-tuned run of the test token domain, its records (dicts without an index)
    and their labels."""
    import testdomain as td
    from encoderkit.tasks import finetune

    tmp = tmp_path_factory.mktemp("ft42")
    store = td.write_store(tmp / "store.zarr", n=40, seed=1)
    s = RecordStore(store)
    records = [s[i] for i in range(len(s))]
    y = np.asarray([int(r["ids"][1] != r["ids"][0]) for r in records])
    pd.DataFrame({"id": [r["id"] for r in records], "label": y}).to_csv(tmp / "labels.csv", index=False)
    overrides = [o for o in td.tiny_overrides(store, str(tmp / "ft"), steps=3)
                 if not o.startswith("data.val_fraction")]
    run = finetune(overrides + ["checkpoint=none", f"task.labels={tmp / 'labels.csv'}", "task.ensemble=1"])
    return load(run), [{"ids": r["ids"]} for r in records], y


def test_evaluate_refuses_a_labels_index_that_data_without_rows_cannot_line_up(finetuned):
    """Was: a shuffled Series (or one indexed 100..139) was scored by position without a word."""
    model, data, y = finetuned
    by_position = model.evaluate(data, y, verbose=False)
    assert model.evaluate(data, pd.Series(y), verbose=False) == by_position
    assert model.evaluate(data, pd.DataFrame({"label": y}), verbose=False) == by_position
    for labels in (pd.Series(y, index=np.arange(100, 140)), pd.Series(y).sample(frac=1.0, random_state=0),
                   pd.DataFrame({"label": y}).iloc[::-1]):
        with pytest.raises(UsageError, match=r"labels\.to_numpy\(\).*by position"):
            model.evaluate(data, labels, verbose=False)


# ---------------------------------------------------------------- 4. evaluate prints (documented)

def test_evaluate_prints_its_table_unless_verbose_is_false(finetuned, capsys):
    model, data, y = finetuned
    assert "printed when ``verbose``" in " ".join(type(model).evaluate.__doc__.split())
    capsys.readouterr()
    model.evaluate(data, y, verbose=False)
    assert capsys.readouterr().out == ""
    model.evaluate(data, y)
    assert "accuracy" in capsys.readouterr().out
