"""The plausible-fills rule applied once per fill, where the fill is final (session 56, helper
b): ``encoderkit impute`` applies it to the file it assembles (``plausible_fills``), and the
table domain's own fill leaves it to it (``plausible_fills.deferred``); a domain's fill
outside such a section (``encoderkit infill`` of a run) still applies it.

Applied twice, the two passes decided from different values and changed fills: the domain's
pass counted the run's training range (in impute, the file itself) as evidence of its own, so
a count observed in fewer than ``MIN_EVIDENCE`` rows was clipped at 0 where the rule, decided
once from the file, leaves it alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.plausible_fills import MIN_EVIDENCE, deferred, is_deferred, plausible_fills
from tests.test_plausible_fills_s54g import TINY, _at_edge, _chain_table, _table_domain


def test_a_table_domains_fill_leaves_the_rule_to_a_deferring_caller_and_applies_it_otherwise():
    frame = _chain_table()
    domain = _table_domain(frame.iloc[:40], infill_blend="iterative")
    predict = _at_edge(domain, 0)
    assert not is_deferred()
    with deferred():
        assert is_deferred()
        raw = domain.infill(frame, predict)
    assert not is_deferred()
    bounded = domain.infill(frame, predict)
    assert raw.loc[40, "y"] < -1.0 and bounded.loc[40, "y"] == 0.0  # the chain's fill, then the rule's
    assert raw.loc[42, "p"] > 1.0 and bounded.loc[42, "p"] == 1.0
    # the rule applied once to the raw fill, from the same rows, is the domain's own pass here
    # (40 training rows: the training range adds nothing the rows do not show)
    pd.testing.assert_frame_equal(plausible_fills(frame, raw), bounded)


@pytest.mark.slow  # an impute run, over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_decides_the_rule_once_from_the_file(tmp_path, monkeypatch):
    """y observed in fewer than MIN_EVIDENCE rows, its fill at x = -60 far below 0: the rule,
    decided from the file alone, has too little evidence to bound y, and the fill is written as
    the chain made it; the domain's pass (with the training range as evidence) is not run."""
    import domains.tabular.plausible as tabular_plausible
    from encoderkit.impute import impute

    frame = _chain_table()
    few = MIN_EVIDENCE - 2
    frame.loc[few:, "y"] = np.nan  # y seen in rows 0 .. few - 1 only
    src, out = tmp_path / "chain.csv", tmp_path / "filled.csv"
    frame.to_csv(src, index=False)
    calls = []
    original = tabular_plausible.plausible_values
    monkeypatch.setattr(tabular_plausible, "plausible_values", lambda *a: calls.append(1) or original(*a))
    words = [w for w in TINY if w != "progress=false"] + ["domain.infill_blend=iterative"]
    impute(str(src), str(out), select="model", holdout=0.0, seed=0, progress=False, overrides=words)
    got = pd.read_csv(out)
    assert calls == []  # the domain's pass: deferred to impute's own, on the file assembled
    assert got.loc[40, "y"] < -1.0  # clipped at 0 by the domain's pass before
    assert got.loc[42, "p"] == 1.0 and got.loc[43, "p"] == 0.0  # 44 observed p: bounded, once
    pd.testing.assert_frame_equal(got.where(frame.notna()), frame.where(frame.notna()))


def test_a_series_domains_fill_leaves_the_rule_to_a_deferring_caller_and_applies_it_otherwise():
    """The series domain bounded each series by its own values while impute's final pass pools a
    channel over every series: the model's candidate faced two rules, the baselines one (lead,
    session 56). In impute's deferred section the domain now leaves the rule to impute."""
    from domains.timeseries.domain import TimeSeriesDomain

    t = np.arange(96, dtype=np.float64)
    x = np.stack([2.0 + np.sin(t / 5.0), np.sin(t / 5.0)])  # channel 0 >= 1
    x[:, 40:44] = np.nan
    domain = TimeSeriesDomain({}, patch=4, short_fallback=8, infill_shifts=1)

    def plunge(masked):  # every hidden patch 50 scales below the level
        return [{"values": np.full((int(m.predict.sum()), domain.patch), -50.0, np.float32)} for m in masked]
    with deferred():
        raw = domain.infill(x, plunge)
    bounded = domain.infill(x, plunge)
    assert (raw[0, 40:44] < -1.0).all()  # as the model made it: impute bounds it, once
    np.testing.assert_array_equal(bounded[0, 40:44], 0.0)
    np.testing.assert_array_equal(plausible_fills(x, raw), bounded)
