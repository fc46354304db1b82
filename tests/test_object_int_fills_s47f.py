"""An object column of Python ints with holes (ints read from JSON, a list with None): its
fills come back as ints like its observed cells, not floats (2.0) beside them."""

import numpy as np
import pandas as pd

from domains.tabular.schema import fill_column


def test_fills_of_an_object_column_of_ints_are_ints():
    column = pd.Series([1, None, 3, None], dtype=object)
    out = fill_column(column, np.array([2.0, 3.0]), np.array([False, True, False, True]))
    assert out.tolist() == [1, 2, 3, 3]
    assert [type(v) for v in out] == [int] * 4  # to_csv writes 2, not 2.0
    mixed = fill_column(pd.Series([1.5, None], dtype=object), np.array([2.0]), np.array([False, True]))
    assert isinstance(mixed[1], float)  # a column of floats keeps float fills


def test_encoder_imputer_fills_an_object_column_of_ints_with_ints():
    from encoderkit.sklearn import EncoderImputer

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    frame["grade"] = pd.Series([None if i % 9 == 0 else int(v) for i, v in enumerate(rng.integers(1, 4, 40))],
                               dtype=object)
    out = EncoderImputer(model="tiny", steps=3, random_state=0, select="model", blend="none",
                         overrides=("run.device=cpu", "data.max_tokens=256", "data.max_seqlen=16")).fit_transform(frame)
    assert {type(v) for v in out["grade"]} == {int}
