"""``task.augment``: auto applies the domain's label-safe augmentation to sequence tasks in
training, true its full augmentation, false neither; evaluation and token tasks never."""

from __future__ import annotations

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit.tasks.objective import Prepare
from encoderkit.tasks.spec import TaskSpec


class Recording(TimeSeriesDomain):
    """The time-series domain, recording which augmentation ran."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.calls: list[str] = []

    def augment(self, example, rng):
        self.calls.append("augment")
        return super().augment(example, rng)

    def safe_augment(self, example, rng):
        self.calls.append("safe")
        return super().safe_augment(example, rng)


@pytest.mark.parametrize("mode, train, task, expect", [
    ("auto", True, "classification", ["safe"]),
    (True, True, "classification", ["augment"]),
    (False, True, "classification", []),
    ("auto", False, "classification", []),  # validation / predict
    ("auto", True, "token_classification", []),
    (True, True, "token_regression", []),
])
def test_which_augmentation_runs(mode, train, task, expect):
    d = Recording({}, patch=4)
    example = d.featurize({"values": np.arange(40, dtype=np.float32), "channels": 1, "length": 40})
    y = np.zeros((1, 10), dtype=np.int64) if task.startswith("token") else np.zeros(1, dtype=np.int64)
    if task == "token_regression":
        y = np.zeros((1, 10, 1), dtype=np.float32)
    example.record = 0
    Prepare(d, TaskSpec(type=task), y, mode, "labels.csv", np.array(["a"]))(
        example, np.random.default_rng(0), train)
    assert d.calls == expect


def test_series_safe_augmentation_is_a_grid_phase_and_keeps_the_label():
    """The time-series label-safe augmentation is the grid shift (whatever grid_shift says):
    over draws the window loses 0..3 leading samples, never a label."""
    d = TimeSeriesDomain({}, patch=4)  # grid_shift off: pretraining would not shift
    example = d.featurize({"values": np.arange(40, dtype=np.float32), "channels": 1, "length": 40})
    example.record = 0
    firsts = set()
    for k in range(30):
        m = Prepare(d, TaskSpec(type="classification"), np.array([2]), "auto", "l.csv",
                    np.array(["a"]))(example, np.random.default_rng(k), True)
        assert m.labels["y"].tolist() == [2] and m.labels["mask"].tolist() == [True]
        firsts.add(float(d.safe_augment(example, np.random.default_rng(k)).fields["values"][0, 0]))
    assert firsts == {0.0, 1.0, 2.0, 3.0}
    assert d.augment(example, np.random.default_rng(0)) is example


def test_augment_option_is_validated(labelled_store, tmp_path):
    from conftest import ft_overrides
    from encoderkit.train.config import ConfigError, compose_finetune

    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match="task.augment"):
        compose_finetune(ft_overrides(store, str(tmp_path / "x"), labels, **{"task.augment": "sometimes"}))
    assert compose_finetune(ft_overrides(store, str(tmp_path / "y"), labels)).task.augment == "auto"
