"""A blend that asks for the forest on a table too wide for it says so (an audit found a
table of 128 columns filled without the forest and without the categorical classifiers' vote,
and nothing said it: a user crossing 100 columns got another method silently)."""

from __future__ import annotations

import warnings

import pytest

from domains.tabular import blend


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(blend, "_SAID_TOO_WIDE", set())


def test_a_table_wider_than_the_cut_off_is_told_once():
    wide = blend.FOREST_MAX_COLUMNS + 1
    with pytest.warns(UserWarning, match=rf"{wide} columns, more than {blend.FOREST_MAX_COLUMNS}.*no classifier vote"):
        assert blend.forest_fits(wide, say=True) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert blend.forest_fits(wide, say=True) is False  # once per width and process


def test_a_table_at_the_cut_off_and_a_silent_check_say_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert blend.forest_fits(blend.FOREST_MAX_COLUMNS, say=True) is True
        assert blend.forest_fits(blend.FOREST_MAX_COLUMNS + 5) is False


def test_the_table_fill_asks_with_say(monkeypatch):
    from domains.tabular.filling import TableInfill

    class Wide(TableInfill):
        columns = [{"name": f"c{i}"} for i in range(blend.FOREST_MAX_COLUMNS + 2)]
    with pytest.warns(UserWarning, match="random-forest imputer is left out"):
        assert Wide()._estimators("iterative+forest") == ["iterative"]
