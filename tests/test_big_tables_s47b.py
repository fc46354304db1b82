"""A large raw table through infill without every row's example and prediction held at once
(session 47, helper b). ``encoderkit infill`` of a table built an example per row with a hole,
held all of them and all the predictions, and ran the blend's imputers over every row at once
(a 2M-row CSV: 4.5 GB at peak). The fill now calls the model one batch at a time, the batches
it packed from all the examples (so the same fills, bit for bit), and the imputers fitted on
the run's training rows work on ``FILL_ROWS`` rows at a time, at fixed places of the table.

Reference: the whole-file path put together from its public pieces (``model.infill`` of the
table read whole, ``as_written``, ``write_output``), on a small file cut into tiny blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domains.tabular.domain import ingest_frame

TINY_MODEL = ["model.hidden_size=32", "model.num_layers=2", "model.num_heads=2", "model.intermediate_size=64"]


def table(n: int = 240, seed: int = 47) -> pd.DataFrame:
    """Numbers written with trailing zeros, counts, two category columns; 10% holes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "x": np.round(10 * x + 50, 2),
        "y": np.round(3 * x + rng.normal(size=n), 3),
        "count": rng.integers(0, 40, n),
        "colour": np.where(x > 0.4, "red", np.where(x < -0.4, "blue", "green")),
        "flag": rng.choice(["yes", "no"], n),
    })
    return frame.astype(object).mask(rng.random(frame.shape) < 0.1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from encoderkit.train import pretrain

    root = tmp_path_factory.mktemp("big_tables")
    store = str(root / "t.zarr")
    ingest_frame(table(), store, verbose=False)
    return pretrain(["domain=tabular", f"data.store={store}", f"run.dir={root / 'run'}",
                     "train.steps=4", "train.progress=false", "train.eval_every=0",
                     "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])


def whole_file(model, source: str, output: str) -> bytes:
    """The file filled as the whole-file path fills it: read whole, one ``infill``, each cell
    the fill left alone as the file writes it, written in the input's format."""
    from encoderkit.impute_cells import as_written
    from encoderkit.infer.infill_files import read_delimiter

    data = model.domain.read_input(source)
    filled = as_written(source, output, data, model.infill(data), read_delimiter(model.domain),
                        model.domain.read_decimal)
    model.domain.write_output(filled, output)
    with open(output, "rb") as fh:
        return fh.read()


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_file_is_filled_a_batch_at_a_time_into_the_bytes_of_the_whole_file_path(run, tmp_path, monkeypatch):
    from domains.tabular import blend, filling
    from encoderkit.infer.load import load

    monkeypatch.setattr(filling, "FILL_ROWS", 7)  # blocks of the blend's imputers end mid-table
    source = tmp_path / "holes.csv"
    table(300, seed=3).to_csv(source, index=False)
    model = load(run)
    assert model.domain.options["infill_blend"] == "iterative+forest"  # the default under test
    model.max_tokens = 26  # 5 columns a row: batches of 5 rows, 40-odd of them here
    reference = whole_file(model, str(source), str(tmp_path / "whole.csv"))

    calls: list[int] = []
    predict = model.predict
    model.predict = lambda examples, **kw: calls.append(len(examples)) or predict(examples, **kw)
    rows: list[int] = []
    estimate = blend.FittedImputers.estimate
    monkeypatch.setattr(blend.FittedImputers, "estimate",
                        lambda self, kind, num, *a: rows.append(len(num)) or estimate(self, kind, num, *a))
    out = model.infill(str(source), output=tmp_path / "streamed.csv")
    assert out.read_bytes() == reference
    assert len(calls) > 10 and max(calls) == 5 and sum(calls) == (table(300, seed=3).isna().any(axis=1)).sum()
    assert rows and max(rows) <= 7

    # the CLI writes the same bytes
    from encoderkit.cli import main

    monkeypatch.setattr(filling, "FILL_ROWS", 1 << 16)
    assert main(["infill", f"checkpoint={run}", f"input={source}", f"output={tmp_path / 'cli.csv'}"]) == 0
    assert pd.read_csv(tmp_path / "cli.csv").shape == (300, 5)


def test_blocks_change_no_category_and_numbers_only_in_their_last_bits(run, monkeypatch):
    """The forests vote on each row alone: blocks change no category. The linear chain's
    products are summed by BLAS in an order that depends on the rows given at once: within
    1e-12 relative (a table of at most FILL_ROWS rows is one block, as before)."""
    from domains.tabular import filling
    from encoderkit.infer.load import load

    model = load(run)
    data = table(200, seed=5)
    whole = model.infill(data)
    monkeypatch.setattr(filling, "FILL_ROWS", 3)
    blocks = model.infill(data)
    pd.testing.assert_frame_equal(blocks[["colour", "flag", "count"]], whole[["colour", "flag", "count"]])
    np.testing.assert_allclose(blocks[["x", "y"]].to_numpy(float), whole[["x", "y"]].to_numpy(float),
                               rtol=1e-12)
    assert blocks.notna().all().all()


# ---------------------------------------------------------------- predict / embed of a raw file

def training_text() -> str:
    """A table ingested with missing_value=-999: numbers, a text column with NA words kept
    as a value (its number columns write holes empty), categories."""
    rows = ["x,region,grade,n"]
    for i in range(120):
        rows.append(f"{i % 17 * 1.5:.2f},{['NA', 'EU', 'AS'][i % 3]},{'abc'[i % 3]},{i % 11}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore
    from domains.tabular.domain import TabularDomain

    root = tmp_path_factory.mktemp("records")
    src = root / "train.csv"
    src.write_text(training_text())
    ingest("tabular", [str(src)], str(root / "s.zarr"), progress=False, verbose=False, missing_value=-999)
    return TabularDomain(RecordStore(str(root / "s.zarr")).schema)


def new_text() -> str:
    """Rows to predict: a '.' among numbers, a -999, a category the store lacks, an empty
    cell, NA; a column the schema lacks (ignored) and none of 'n' (absent: said)."""
    rows = ["grade,x,region,extra"]
    for i in range(90):
        x = "." if i == 4 else "-999" if i == 7 else "" if i == 9 else f"{i * 0.25:.2f}"
        rows.append(f"{'abcz'[i % 4]},{x},{['NA', 'EU', ''][i % 3]},{i}")
    return "\n".join(rows) + "\n"


def said(read) -> tuple[object, list[str]]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = read()
    return out, [str(w.message) for w in caught]


def same_records(a, b) -> None:
    assert a.ids == b.ids
    for name in ("cat", "num", "observed", "present"):
        np.testing.assert_array_equal(getattr(a.enc, name), getattr(b.enc, name), err_msg=name)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_a_large_file_is_read_a_column_at_a_time_into_the_records_read_whole_gives(domain, tmp_path,
                                                                                   monkeypatch, suffix):
    from domains.tabular import columnrecords, streaming

    path = tmp_path / f"new{suffix}"
    if suffix == ".parquet":
        pd.read_csv(pd.io.common.StringIO(new_text()), dtype={"x": str}).to_parquet(path, index=False)
    else:
        import gzip

        data = new_text().encode()
        path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    whole, whole_said = said(lambda: domain.to_records(domain.read_input(str(path)), source=str(path)))
    assert any("no category" in m for m in whole_said) and any("absent" in m for m in whole_said)

    by_column = []
    made = columnrecords.records_by_column
    monkeypatch.setattr(streaming, "STREAM_BYTES", 64)  # this file is "large"
    monkeypatch.setattr("domains.tabular.domain.records_by_column",
                        lambda *a: by_column.append(1) or made(*a))
    records, records_said = said(lambda: domain.read_records(str(path)))
    assert by_column == [1]
    same_records(records, whole)
    assert records_said == whole_said


def test_a_compressed_file_holding_more_text_than_it_claims_is_read_by_column(domain, tmp_path, monkeypatch):
    """gzip states only its last member's size: two members, the last one short, claim a small
    table. Read whole without a bound, such a file was read whatever its text (the records of
    a 2 GB text took 14 GB); it is now held to the bound and read a column at a time past it."""
    import gzip

    from domains.tabular import streaming

    text = new_text()
    head, tail = text[:-40], text[-40:]
    path = tmp_path / "parts.csv.gz"
    path.write_bytes(gzip.compress(head.encode()) + gzip.compress(tail.encode()))
    monkeypatch.setattr(streaming, "STREAM_BYTES", 600)
    assert not streaming.streams([str(path)])  # the claim: 40 bytes
    limits = []
    read_table = __import__("domains.tabular.domain", fromlist=["read_table"]).read_table
    monkeypatch.setattr("domains.tabular.domain.read_table",
                        lambda *a, **kw: limits.append(kw.get("limit")) or read_table(*a, **kw))
    records, _ = said(lambda: domain.read_records(str(path)))
    assert limits == [600]  # held to the bound, then read by column
    (tmp_path / "plain.csv").write_text(text)
    monkeypatch.setattr(streaming, "STREAM_BYTES", 1 << 26)
    whole, _ = said(lambda: domain.read_records(str(tmp_path / "plain.csv")))
    same_records(records, whole)


@pytest.mark.parametrize("damage, words", [
    (lambda t: t.replace("\nb,0.25,EU,1\n", "\nb,0.25,EU,1,9\n"), "wrong number of fields"),
    (lambda t: t.replace("\nb,0.25,EU,1\n", "\ngrade,x,region,extra\n"), "repeats the header"),
])
def test_a_large_file_is_refused_as_reading_it_whole_refuses_it(domain, tmp_path, monkeypatch, damage, words):
    from encoderkit.errors import DataError
    from domains.tabular import streaming

    import warnings

    def refused(read) -> tuple[str, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(DataError, match=words) as err:
                read()
        return str(err.value), [str(w.message) for w in caught]
    from domains.tabular import columnrecords

    path = tmp_path / "bad.csv"
    path.write_text(damage(new_text()))
    whole = refused(lambda: domain.read_records(str(path)))
    monkeypatch.setattr(streaming, "STREAM_BYTES", 64)
    tables = []
    made = columnrecords.TextColumns
    monkeypatch.setattr(columnrecords, "TextColumns", lambda *a: tables.append(made(*a)) or tables[-1])
    assert refused(lambda: domain.read_records(str(path))) == whole
    assert len(tables) == 1  # read by column


def test_a_column_read_twice_is_refused_in_one_line_read_whole_or_by_column(domain, tmp_path, monkeypatch):
    """A header naming a schema column twice: reading whole, frame[name] was a frame of both
    and predict / embed / infill stopped on an AttributeError (a traceback)."""
    from encoderkit.errors import DataError
    from domains.tabular import streaming

    path = tmp_path / "twice.csv"
    path.write_text("x,grade,x\n" + "".join(f"{i}.5,a,{i}\n" for i in range(30)))
    with pytest.raises(DataError, match="column 'x' appears more than once") as whole:
        domain.read_records(str(path))
    monkeypatch.setattr(streaming, "STREAM_BYTES", 64)
    with pytest.raises(DataError, match="column 'x' appears more than once") as by_column:
        domain.read_records(str(path))
    assert str(whole.value) == str(by_column.value)


# ---------------------------------------------------------------- ingest of several files

def _arrays(group) -> dict[str, np.ndarray]:
    import zarr

    out = {}
    for key, member in group.members():
        out.update({f"{key}/{k}": v for k, v in _arrays(member).items()} if isinstance(member, zarr.Group)
                   else {key: member[...]})
    return out


def _ingest(monkeypatch, sources, out, stream: bool, **options):
    """Ingest ``sources`` streamed or whole: the store's arrays and attributes, the report, the
    warnings, and whether it was streamed."""
    import json
    import warnings

    import zarr

    from domains.tabular import streaming
    from encoderkit.data.ingest import ingest

    monkeypatch.setattr(streaming, "STREAM_BYTES", 1 if stream else 1 << 62)
    monkeypatch.setattr(streaming, "WRITE_ROWS", 5)
    joined = []
    real = streaming.JoinedColumns.survey
    monkeypatch.setattr(streaming.JoinedColumns, "survey", lambda self, o: joined.append(1) or real(self, o))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = ingest("tabular", [str(s) for s in sources], str(out), progress=False, verbose=False, **options)
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    for block in attrs.values():
        if isinstance(block, dict) and isinstance(block.get("provenance"), dict):
            block["provenance"].pop("created_unix", None)
    return (_arrays(zarr.open_group(str(out), mode="r")), json.dumps(attrs, sort_keys=True, default=str),
            (report.warnings, dict(report.skipped), report.records, report.tokens),
            [str(w.message) for w in caught], bool(joined))


def test_several_files_are_ingested_a_column_at_a_time_into_the_store_read_whole_writes(tmp_path, monkeypatch):
    """``input=a.csv,b.parquet,c.csv.gz``: each file read on its own, then joined by column name.
    Read whole, every file's frame was held and then a joined copy; now a column at a time.
    The files differ in their columns (one lacks 'score', one adds 'note'), their types (an
    integer column with holes in one file, floats in another), their holes ('.', NA, -1) and
    ragged rows and empty rows: the same store, report and warnings."""
    import gzip

    rng = np.random.default_rng(7)
    a = tmp_path / "a.csv"
    lines = ["id,score,kind,n"] + [f"{i},{'.' if i % 9 == 0 else round(rng.normal(), 3)},"
                                   f"{['NA', 'x', 'y'][i % 3]},{'' if i % 5 == 0 else i % 7}" for i in range(60)]
    a.write_text("\n".join(lines[:20] + ["1,2,3,4,5"] + lines[20:] + [",,,"]) + "\n")
    b = tmp_path / "b.parquet"
    pd.DataFrame({"kind": rng.choice(["x", "y", "z"], 40), "n": rng.normal(size=40).round(2),
                  "id": np.arange(100, 140), "note": ["q"] * 40}).to_parquet(b, index=False)
    c = tmp_path / "c.csv.gz"
    c.write_bytes(gzip.compress(("n,kind,id,score\n" + "".join(
        f"{i % 4},{'-1' if i % 6 == 0 else 'y'},{200 + i},{i / 8}\n" for i in range(50))).encode()))
    sources = [a, b, c]
    whole = _ingest(monkeypatch, sources, tmp_path / "whole.zarr", False, missing_value=-1)
    streamed = _ingest(monkeypatch, sources, tmp_path / "streamed.zarr", True, missing_value=-1)
    assert not whole[4] and streamed[4]
    assert whole[0].keys() == streamed[0].keys()
    for key in whole[0]:
        assert whole[0][key].dtype == streamed[0][key].dtype, key
        np.testing.assert_array_equal(whole[0][key], streamed[0][key], err_msg=key)
    assert whole[1:4] == streamed[1:4]
    assert whole[2][1] == {"ragged row (wrong number of fields)": 1, "row entirely missing": 1}
    assert whole[2][2] == 60 + 40 + 50


def test_a_file_naming_a_column_twice_among_several_is_refused_in_one_line(tmp_path, monkeypatch):
    from encoderkit.errors import DataError
    from domains.tabular import streaming
    from encoderkit.data.ingest import ingest

    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    (tmp_path / "b.csv").write_text("a,b,a\n1,2,3\n")
    for size in (1 << 62, 1):  # read whole (was a pandas InvalidIndexError traceback), then streamed
        monkeypatch.setattr(streaming, "STREAM_BYTES", size)
        with pytest.raises(DataError, match="b.csv: column 'a' appears more than once"):
            ingest("tabular", [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], str(tmp_path / f"{size}.zarr"),
                   progress=False, verbose=False)


# ---------------------------------------------------------------- predict of many rows

@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    from encoderkit.tasks import finetune

    root = tmp_path_factory.mktemp("tuned")
    store = str(root / "t.zarr")
    ingest_frame(table(), store, verbose=False)
    return finetune(["checkpoint=none", "domain=tabular", f"data.store={store}", f"run.dir={root / 'ft'}",
                     "task.label_column=flag", "task.ensemble=1", "train.steps=2", "train.eval_every=0",
                     "train.checkpoint_every=0", "train.progress=false", "run.device=cpu", "data.max_tokens=512",
                     "data.max_seqlen=64",
                     *TINY_MODEL])


def test_predict_runs_the_head_on_a_bounded_number_of_records(tuned, tmp_path, monkeypatch):
    """``collect`` held every record's pooled state until the head ran on all of them at the
    end (3 GB of a 2M-row predict's 3.8 GB); it now runs on ``HEAD_RECORDS`` records at a
    time. The batches are the same: ids and classes equal, probabilities to the head's last
    bits; a large raw file read by column predicts the same frame as read whole."""
    from domains.tabular import streaming
    from encoderkit.infer.load import load
    from encoderkit.tasks import outputs, predict

    source = tmp_path / "new.csv"
    table(90, seed=9).drop(columns="flag").to_csv(source, index=False)
    model = load(tuned)
    model.max_tokens = 24  # a few rows a batch
    whole = model.predict(str(source))
    sizes = []
    real = outputs.collect
    monkeypatch.setattr("encoderkit.tasks.outputs.collect",
                        lambda *a, **k: (lambda r: sizes.append(len(r[0])) or r)(real(*a, **k)))
    monkeypatch.setattr(predict, "HEAD_RECORDS", 10)
    monkeypatch.setattr(streaming, "STREAM_BYTES", 64)  # and the file read a column at a time
    parts = model.predict(str(source))
    # a batch holds 16 rows (4 tokens each, the label column left out, in max_seqlen's 64)
    assert len(sizes) >= 4 and max(sizes) < 10 + 16 and sum(sizes) == 90
    pd.testing.assert_frame_equal(parts.drop(columns=parts.filter(like="proba_").columns),
                                  whole.drop(columns=whole.filter(like="proba_").columns))
    np.testing.assert_allclose(parts.filter(like="proba_").to_numpy(), whole.filter(like="proba_").to_numpy(),
                               rtol=1e-6)
