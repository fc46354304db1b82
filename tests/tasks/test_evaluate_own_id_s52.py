"""``evaluate`` of a fine-tuned run on its own raw table when the table holds an ``id`` column
ingest read as an identifier (audit y, session 52): the records' ids are ``row<i>``, and the
table's ``id`` column was joined against them ("id 'p0' matches no record"). Its rows are the
records, in order; the scores equal those of the same table without the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from tests.domains.sample_store import TINY_MODEL


@pytest.mark.parametrize("header", ["id", "ID"])
def test_evaluate_on_the_run_s_own_table_with_an_id_column(tmp_path, header):
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({header: [f"p{i}" for i in range(60)], "a": rng.normal(size=60),
                          "b": rng.integers(0, 5, 60), "y": rng.integers(0, 2, 60)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.drop(columns=header).to_csv(tmp_path / "t_noid.csv", index=False)
    ingest("tabular", [str(tmp_path / "t.csv")], str(tmp_path / "t.zarr"), progress=False, verbose=False)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={tmp_path / 't.zarr'}",
                    f"run.dir={tmp_path / 'ft'}", "task.label_column=y", "task.ensemble=1", "train.steps=2",
                    "train.checkpoint_every=0", "train.progress=false", "run.device=cpu",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    model = load(run)
    with_id = model.evaluate(str(tmp_path / "t.csv"), verbose=False)
    without = model.evaluate(str(tmp_path / "t_noid.csv"), verbose=False)
    assert dict(with_id) == dict(without) and dict(with_id)["records"] == 60
