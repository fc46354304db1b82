"""Domain options that are numbers refuse booleans (``true`` is 1 to Python: `mean_span=true`
was read as 1.0) and the tabular ``window_overlap`` (tokens) refuses anything but an int >= 0
(it was not checked: ``True``, 1.5, -1 and 'abc' were taken and cast with ``int()`` later).
Reference: the same option given a number of the right type is accepted unchanged."""

from __future__ import annotations

import pytest

from encoderkit.registry import get_domain


@pytest.mark.parametrize("option,good", [("mean_span", 3.0), ("mask_rate", 0.5), ("partial_mask", 0.25),
                                         ("max_gap", 2.0)])
def test_series_options_refuse_a_boolean(option, good):
    cls = get_domain("timeseries")
    assert cls(None, **{option: good}).options[option] == good
    with pytest.raises(ValueError, match=rf"The '{option}' option of the timeseries domain must be .*True"):
        cls(None, **{option: True})


@pytest.fixture(scope="module")
def table_schema(tmp_path_factory):
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    root = tmp_path_factory.mktemp("tab")
    (root / "t.csv").write_text("a,b\n1.5,x\n2.5,y\n3.0,x\n")
    ingest("tabular", [str(root / "t.csv")], str(root / "t.zarr"), progress=False, verbose=False)
    return RecordStore(str(root / "t.zarr")).schema


@pytest.mark.parametrize("bad", [True, 1.5, -1, "abc"])
def test_table_window_overlap_is_a_whole_number_of_tokens(table_schema, bad):
    cls = get_domain("tabular")
    schema = table_schema
    assert cls(schema, window_overlap=4).options["window_overlap"] == 4
    with pytest.raises(ValueError, match=r"'window_overlap' option of the tabular domain must be an int >= 0"):
        cls(schema, window_overlap=bad)


@pytest.mark.parametrize("name", ["timeseries", "tabular"])
def test_a_masker_mixture_refuses_boolean_weights(name, table_schema):
    cls = get_domain(name)
    schema = None if name == "timeseries" else table_schema
    cls(schema, masker={"random": 1.0}).check_masker()  # a number is a weight
    with pytest.raises(ValueError, match=r"weights must be numbers >= 0|weights >= 0|must be a float"):
        cls(schema, masker={"random": True}).check_masker()


def test_the_base_masker_check_refuses_boolean_weights():
    """A plug-in domain without its own option checks (the test token domain)."""
    import testdomain as td

    cls = get_domain(td.NAME)
    schema = {"vocab": td.VOCAB}
    cls(schema, masker={"random": 2.0}).check_masker()
    with pytest.raises(ValueError, match="weights must be numbers >= 0"):
        cls(schema, masker={"random": True}).check_masker()
