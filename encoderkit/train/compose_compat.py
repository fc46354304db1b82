"""Resuming a run composed before ``domain.name=<x>`` read the domain's yaml.

Until session 52 (commit 91c0499) ``pretrain domain.name=<x>`` and ``finetune checkpoint=none``
from a store composed no ``configs/domain/<x>.yaml``: the run trained with the domain's Python
defaults, and its config holds only the words typed (``{name: tabular, mask_rate: 0.2}``). The
same words now compose the yaml (``config._documented_domain``), so the resume of such a run
met a "different config" it could not set (``domain.cat_weight: checkpoint '<absent>'``). Such a
resume is composed as its run was: from the plain words, when the checkpoint's domain has no
key beyond theirs. A run composed with the yaml has all of its keys, so it is never read as
one of these (unless every key was typed, where both compositions are the same).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from encoderkit.train.checkpoint_live import STATE_FILE  # torch-free: composing loads no torch


def resumed_checkpoint(run: Any) -> Path | None:
    """The checkpoint a run of ``run`` (the ``run`` section) resumes: ``run.resume=<dir>``
    names it; ``auto`` takes the newest complete one of the run folder (``trainer.Trainer``'s
    folder rule: ``run.dir``, else ``runs/<run.name>``); None for ``never`` or none there."""
    resume = str(run.resume)
    if resume == "never":
        return None
    if resume != "auto":
        return Path(resume)
    folder = (Path(run.dir) if run.dir else Path("runs") / str(run.name)) / "checkpoints"
    if not folder.is_dir():
        return None
    # complete checkpoints as checkpoint.complete_checkpoints counts them: step-named, state written
    found = [p for p in folder.iterdir()
             if p.name.isdigit() and (p / STATE_FILE).is_file() and not p.is_symlink()]
    return max(found, key=lambda p: int(p.name)) if found else None


def resumed_domain(cfg: DictConfig) -> dict[str, Any] | None:
    """The ``domain`` section of the config the checkpoint ``cfg`` resumes was trained with
    (what the trainer's resume compares, ``checkpoint.config_diff``), or None: no resume, or a
    checkpoint whose state cannot be read (the trainer names that problem)."""
    try:
        path = resumed_checkpoint(cfg.run)
        if path is None:
            return None
        domain = json.loads((path / STATE_FILE).read_text())["config"]["domain"]
    except Exception:  # no run section, an unreadable or damaged state: not such a resume
        return None
    return domain if isinstance(domain, dict) else None


def composed_plain(saved: dict[str, Any] | None, plain: Any) -> bool:
    """Whether a checkpoint's domain ``saved`` was composed from the plain words whose domain
    is ``plain``: it has no key beyond theirs (values may differ: the resume then names the
    option that changed, not every key of the yaml)."""
    if saved is None or not isinstance(plain, dict):
        return False
    return set(saved) <= set(plain)


def plain_if_resumed(cfg: DictConfig, words: list[str], plain: list[str],
                     compose: Callable[[list[str]], tuple[DictConfig, dict[str, Any]]]
                     ) -> tuple[DictConfig, dict[str, Any]] | None:
    """The composition of the ``plain`` words (``compose``) where ``cfg``, composed from
    ``words`` (the domain's yaml chosen), resumes a checkpoint composed from them; else None.
    The plain words are composed only where there is a checkpoint to resume."""
    if words == plain:
        return None
    saved = resumed_domain(cfg)
    if saved is None:
        return None
    bare, picked = compose(plain)
    domain = bare.get("domain")
    return (bare, picked) if composed_plain(saved, OmegaConf.to_container(domain)
                                            if OmegaConf.is_dict(domain) else None) else None
