"""A sets run with item ids writes a .npz holding an empty set (audit b, session 52): the
empty set has no ids (``_raw_sets`` gives missing ids only to sets with elements), and
``write_output`` iterated ``None`` ("a bug in encoderkit" from ``encoderkit infill``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from domains.sets import SetsDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.infer.load import run_domain


def test_an_empty_set_without_ids_is_written_as_an_empty_set(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame([{"set": f"s{i}", "item": ["pear", "apple", "fig"][k % 3], "f1": rng.normal(),
                           "f2": rng.normal()} for i in range(12) for k in range(3)])
    frame.to_csv(tmp_path / "train.csv", index=False)
    ingest("sets", [str(tmp_path / "train.csv")], str(tmp_path / "s.zarr"), progress=False, verbose=False,
           id_column="item")
    domain = run_domain(SetsDomain(RecordStore(str(tmp_path / "s.zarr")).schema).describe(),
                        str(tmp_path / "s.zarr"))
    assert domain.has_ids
    sets = [{"ids": ["pear", None], "features": np.array([[0.1, 0.2], [0.3, 0.4]])},
            {"features": np.zeros((0, 2))},
            {"ids": ["fig"], "features": np.array([[0.5, 0.6]])}]
    domain.write_output(sets, str(tmp_path / "out.npz"))
    with np.load(tmp_path / "out.npz") as out:
        assert out["offsets"].tolist() == [0, 2, 2, 3]
        assert out["ids"].tolist() == ["pear", "", "fig"]
        np.testing.assert_array_equal(out["features"], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
