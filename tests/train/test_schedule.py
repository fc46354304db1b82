"""WSD schedule and batch-size warmup against their formulas at chosen points."""

from __future__ import annotations

import math

import pytest

from encoderkit.train.schedule import WSD, BatchWarmup


def test_wsd_warmup_and_stable_phase():
    s = WSD(total=100, warmup=10, decay=20, shape="linear", final_ratio=0.1)
    assert s(0) == 0.0
    assert s(5) == pytest.approx(0.5)
    assert s(10) == 1.0
    assert s(79.999) == 1.0


@pytest.mark.parametrize("shape,expected_mid", [
    ("linear", 0.1 + 0.9 * 0.5),
    ("cosine", 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))),
    ("1-sqrt", 0.1 + 0.9 * (1 - math.sqrt(0.5))),
])
def test_wsd_decay_shapes(shape, expected_mid):
    s = WSD(total=100, warmup=10, decay=20, shape=shape, final_ratio=0.1)
    assert s(80) == pytest.approx(1.0)
    assert s(90) == pytest.approx(expected_mid)
    assert s(100) == pytest.approx(0.1)  # every shape ends at the final ratio
    assert s(150) == pytest.approx(0.1)


def test_wsd_in_tokens_quarter_point():
    s = WSD(total=1_000_000, warmup=100_000, decay=400_000, shape="1-sqrt", final_ratio=0.0,
            unit="tokens")
    assert s(25_000) == pytest.approx(0.25)
    assert s(700_000) == pytest.approx(1 - math.sqrt(0.25))


def test_wsd_rejects_bad_shape_and_lengths():
    with pytest.raises(ValueError, match="decay_shape"):
        WSD(total=10, shape="exp")
    with pytest.raises(ValueError, match="warmup \\+ decay"):
        WSD(total=10, warmup=6, decay=6)


def test_batch_warmup_ramp():
    b = BatchWarmup(target=4096, start=1024, tokens=10_000, multiple=512)
    assert b(0) == 1024
    assert b(5_000) == 2560  # 1024 + 3072 * 0.5 = 2560, a multiple of 512
    assert b(6_000) == 2560  # 2867.2 rounds down to 2560
    assert b(10_000) == 4096
    assert BatchWarmup(target=4096)(0) == 4096


def test_delayed_schedule_holds_then_compresses_into_the_rest():
    from encoderkit.train.schedule import Delayed

    inner = WSD(total=100, warmup=10, decay=20, shape="linear", final_ratio=0.0)
    d = Delayed(inner, start=40)
    assert d(0) == 0.0 and d(40) == 0.0  # held: steps 1-40 do not move the group
    # 60 steps left, the inner schedule's 100 compressed into them: its own warmup of 6
    assert d(43) == pytest.approx(0.5)
    assert d(46) == pytest.approx(1.0)
    assert d(87.9) == pytest.approx(1.0)
    assert d(94) == pytest.approx(0.5)  # decay over the last 12, ending with inner's
    assert d(100) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="start < total"):
        Delayed(inner, start=100)
