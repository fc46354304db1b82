"""LP-FT (``task.lp_fraction``): the encoder stays bitwise fixed for the first
round(lp_fraction x steps) optimizer steps while the head trains exactly as with a frozen
encoder, then the encoder moves; a run killed on either side of the switch resumes to the
uninterrupted run's weights; bad values are one-line config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from conftest import ft_overrides
from encoderkit.tasks import finetune
from encoderkit.train.config import ConfigError, compose_finetune

ENCODER = ("embedder.", "encoder.")


def _weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / str(step) / "model.safetensors"))


@pytest.fixture(scope="module")
def pretrained(labelled_store, tmp_path_factory):
    from encoderkit.train import pretrain

    store = labelled_store[0]
    run = pretrain(td.tiny_overrides(store, str(tmp_path_factory.mktemp("pre") / "pre"), steps=2))
    return run, _weights(run, 2)


def test_encoder_fixed_during_lp_and_head_trains_as_if_frozen(labelled_store, pretrained, tmp_path):
    store, _, _, labels = labelled_store
    pre, pre_w = pretrained
    # 6 steps, lp_fraction 0.5: steps 1-3 probe, the encoder trains from step 4
    common = {"checkpoint": str(pre), "schedule.total": 6, "train.checkpoint_every": 1,
              "train.eval_every": 0, "train.keep": 10, "task.dropout": 0.0}
    lp = finetune(ft_overrides(store, str(tmp_path / "lp"), labels, steps=6,
                               **{**common, "task.lp_fraction": 0.5}))
    enc = [k for k in pre_w if k.startswith(ENCODER)]
    assert enc
    for step in (1, 2, 3):
        w = _weights(lp, step)
        assert all(torch.equal(w[k], pre_w[k]) for k in enc), step
    after = _weights(lp, 4)
    assert all(not torch.equal(after[k], pre_w[k]) for k in enc if k.endswith(".weight"))
    # the probing phase is a frozen-encoder run of the same schedule, to the bit
    frozen = finetune(ft_overrides(store, str(tmp_path / "frozen"), labels, steps=3,
                                   **{**common, "task.freeze_encoder": "true"}))
    head = [k for k in _weights(lp, 3) if not k.startswith(ENCODER)]
    assert head
    first, third = _weights(lp, 1), _weights(lp, 3)
    assert any(not torch.equal(first[k], third[k]) for k in head)  # the head moves
    for step in (1, 3):
        a, b = _weights(lp, step), _weights(frozen, step)
        assert all(torch.equal(a[k], b[k]) for k in head), step


def test_lp_zero_is_the_run_without_the_option(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    common = {"train.checkpoint_every": 0, "train.eval_every": 0}
    a = finetune(ft_overrides(store, str(tmp_path / "a"), labels, steps=3, **common))
    b = finetune(ft_overrides(store, str(tmp_path / "b"), labels, steps=3,
                              **{**common, "task.lp_fraction": 0.0}))
    wa, wb = _weights(a, 3), _weights(b, 3)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_resume_across_the_switch_is_bitwise(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    # the switch is at step 3 of 6: killed at step 2 (resumes through it) and at step 4 (after it)
    common = {"schedule.total": 6, "train.checkpoint_every": 2, "train.eval_every": 0,
              "task.lp_fraction": 0.5, "task.dropout": 0.2, "task.layer_decay": 0.8}
    a = finetune(ft_overrides(store, str(tmp_path / "a"), labels, steps=6, **common))
    b = tmp_path / "b"
    for stop in (2, 4, 6):
        finetune(ft_overrides(store, str(b), labels, steps=stop, **common))
    wa, wb = _weights(a, 6), _weights(b, 6)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.parametrize("extra,needle", [
    ({"task.lp_fraction": 1.0}, "task.lp_fraction"),
    ({"task.lp_fraction": -0.1}, "task.lp_fraction"),
    ({"task.lp_fraction": 0.3, "task.freeze_encoder": "true"}, "give one of them"),
])
def test_bad_lp_fraction_is_a_config_error(labelled_store, tmp_path, extra, needle):
    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match=needle):
        compose_finetune(ft_overrides(store, str(tmp_path / "x"), labels, **extra))


def test_lp_fraction_that_leaves_the_encoder_no_step_is_named(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    # round(0.9 x 2) = 2 of 2 steps: the encoder would never train
    with pytest.raises(ConfigError, match="never train"):
        finetune(ft_overrides(store, str(tmp_path / "x"), labels, steps=2,
                              **{"task.lp_fraction": 0.9, "train.eval_every": 0}))


def test_auto_is_the_domains_share_for_a_pretrained_encoder_on_record_labels():
    """``task.lp_fraction=auto``: the domain's ``finetune_lp_fraction`` (tabular 0.3, the
    others 0) for classification / regression / multilabel from a checkpoint; 0 from scratch,
    with a frozen encoder, and for token and contrastive tasks."""
    from domains.tabular import TabularDomain
    from encoderkit.registry import available_domains, get_domain
    from encoderkit.tasks.objective import lp_fraction_for

    assert TabularDomain.finetune_lp_fraction == 0.3
    for kind in ("classification", "regression", "multilabel"):
        assert lp_fraction_for(TabularDomain, kind, "/runs/pre", False) == 0.3
    assert lp_fraction_for(TabularDomain, "classification", "none", False) == 0.0
    assert lp_fraction_for(TabularDomain, "classification", "/runs/pre", True) == 0.0
    for kind in ("token_classification", "token_regression", "contrastive", "supervised_contrastive"):
        assert lp_fraction_for(TabularDomain, kind, "/runs/pre", False) == 0.0
    for name in available_domains():
        if name != "tabular":
            assert lp_fraction_for(get_domain(name), "classification", "/runs/pre", False) == 0.0, name


def test_auto_is_resolved_into_the_runs_config(labelled_store, tmp_path):
    import yaml

    store, _, _, labels = labelled_store
    run = finetune(ft_overrides(store, str(tmp_path / "a"), labels, steps=2,
                                **{"train.checkpoint_every": 0, "train.eval_every": 0}))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["task"]["lp_fraction"] == 0.0  # the test domain from scratch


@pytest.mark.parametrize("value", ["abc", "true"])
def test_lp_fraction_words_other_than_auto_are_refused(labelled_store, tmp_path, value):
    store, _, _, labels = labelled_store
    with pytest.raises(ConfigError, match="'auto' or a float"):
        compose_finetune(ft_overrides(store, str(tmp_path / "x"), labels, **{"task.lp_fraction": value}))
