"""Logic written twice, merged (session 54): period labels (``encoderkit.period_labels``: the table
reader's and the series reader's ``_period_start`` had diverged), pandas' name of a blank
header cell (``textfiles.UNNAMED``: three patterns, each missing a form another had), the
ModernBERT truncated-normal init (``core.init.trunc_normal_``: the tabular and timeseries
modules had their own) and ``STATE_FILE``. Each test compares against hand-computed values."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

# ----------------------------------------------------------------------------- period labels
LABELS = [("1959Q1", "1959-01-01"), ("Q3 1959", "1959-07-01"), ("1959-q4", "1959-10-01"),
          ("1949M01", "1949-01-01"), ("1949m12", "1949-12-01"), ("2020-W05", "2020-01-27"),
          ("2020W53", "2020-12-28")]


@pytest.mark.parametrize("label, day", LABELS)
def test_table_and_series_readers_read_a_period_label_as_the_same_instant(label, day):
    from domains.tabular.datetext import text_dates
    from domains.timeseries.times import period_starts

    series = period_starts(pd.Series([label, label]))
    table = text_dates(pd.Series([label, label]))
    assert series.tolist() == [pd.Timestamp(day)] * 2
    assert table.tolist() == [pd.Timestamp(day, tz="UTC")] * 2


def test_one_period_reading_with_the_differences_each_reader_needs():
    import domains.tabular.datetext as datetext
    import domains.timeseries.times as times
    from encoderkit import period_labels as periods

    # one implementation (two before: tabular's with a year guard, timeseries' without)
    assert times.period_start is periods.period_start and datetext.period_start is periods.period_start
    # a table stores dates as int64 nanoseconds: 2290 is beyond them; a series' times only order
    assert datetext.text_dates(pd.Series(["2290Q1", "2290Q2"])) is None
    assert times.period_starts(pd.Series(["2290Q1", "2290Q2"])).tolist() == [
        pd.Timestamp("2290-01-01"), pd.Timestamp("2290-04-01")]
    # 2024-03 is a month label in a table's text column; in a series, pandas' date (beside 2024-03-15)
    assert datetext.text_dates(pd.Series(["2024-03", "2024-04"])).tolist() == [
        pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-04-01", tz="UTC")]
    assert times.period_starts(pd.Series(["2024-03", "2024-04"])) is None
    with pytest.raises(ValueError, match="holds '2021-W53', which is no ISO week like the other times"):
        times.period_starts(pd.Series(["2020-W05", "2020-W06", "2020-W07", "2021-W53"]), "t")


# ----------------------------------------------------------------------------- blank header names
@pytest.mark.parametrize("name, blank", [("Unnamed: 2", True), ("Unnamed: 2.1", True),
                                         ("Unnamed: 0_level_0", True), ("Unnamed", False),
                                         ("x Unnamed: 2", False), ("Unnamed: 2x", False)])
def test_every_reader_takes_pandas_blank_header_names_alike(name, blank):
    import encoderkit.impute_cells as impute_cells
    import encoderkit.tasks.label_files as label_files
    from domains.timeseries.layout import _nameless
    from encoderkit.data import textfiles

    assert not hasattr(impute_cells, "_UNNAMED") and not hasattr(label_files, "_UNNAMED")
    assert bool(textfiles.UNNAMED.fullmatch(name)) is blank
    assert _nameless(name) is blank  # the series layout missed "Unnamed: 2.1"
    # the labels reader drops such a column when it holds row numbers (it missed "Unnamed: 2.1")
    frame = pd.DataFrame({name: [0, 1, 2], "label": ["a", "b", "a"]})
    assert label_files._row_numbers(frame, name) is blank


# ----------------------------------------------------------------------------- init and STATE_FILE
def test_domain_modules_init_through_the_core_function_bit_for_bit():
    import domains.tabular.modules as tab
    import domains.timeseries.modules as ts
    from encoderkit.core.init import trunc_normal_

    assert tab.trunc_normal_ is trunc_normal_ and ts.trunc_normal_ is trunc_normal_  # one definition
    torch.manual_seed(3)
    emb = ts.PatchEmbedder(4, 16, 0.03, channels=3, window_stats=True)
    # the reference: torch's own draws in the module's order. nn.Linear draws its default init first; the truncated normal then replaces the weight,
    # so the reference replays those draws too
    torch.manual_seed(3)
    nn.Linear(8, 16)
    proj = torch.empty(16, 8)
    nn.init.trunc_normal_(proj, mean=0.0, std=0.03, a=-0.06, b=0.06)
    chan = torch.empty(3, 16)
    nn.init.normal_(chan)  # nn.Embedding's own init, replaced
    nn.init.trunc_normal_(chan, mean=0.0, std=0.03, a=-0.06, b=0.06)
    torch.testing.assert_close(emb.proj.weight.detach(), proj, rtol=0, atol=0)
    torch.testing.assert_close(emb.channel_embeddings.weight.detach(), chan, rtol=0, atol=0)


def test_state_file_is_defined_once():
    from encoderkit.train import checkpoint, checkpoint_live, compose_compat

    assert checkpoint.STATE_FILE == "state.json"
    assert "STATE_FILE =" not in open(checkpoint.__file__).read()
    assert "STATE_FILE =" not in open(compose_compat.__file__).read()
    assert checkpoint_live.STATE_FILE is checkpoint.STATE_FILE is compose_compat.STATE_FILE
