"""Fine-tuning on labelled point sets: scikit-learn's bundled digits (1797 8x8 images,
10 classes) as 2-D point sets (every pixel > 0 is an element at its (column, row),
intensity is its feature), a stratified 30% test split drawn once.

    .venv/bin/python examples/finetune_sets.py [--out runs/finetune-sets] [--seeds 0 1 2]

Compared side by side (protocol in ``finetune_common.py``): the fine-tuned pretrained
encoder, the same from scratch, frozen-embedding probes (masked-LM and contrastive
with element-subset + rigid-motion views), and the classical features for a point
set, order-free histograms with logistic regression: a 4x4 point-count histogram,
and the 8x8 intensity-weighted histogram, which for digits IS the raw image (an upper
reference no set encoder is expected to reach with these budgets).
Settings as in ``examples/sets_digits.py``: ``unit=0.1`` (one pixel = 10 rotary
steps), a learned [CLS] element.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finetune_common import Task, example_main, fixed_test_split, logreg_anchor
from sets_digits import histogram

OVERRIDES = ["domain.unit=0.1", "domain.pooling_token=true", "data.max_seqlen=64"]


def make_task(workdir: Path) -> Task:
    from domains.sets import ingest_sets
    from domains.sets.digits import load_digit_sets

    sets, labels = load_digit_sets()
    y = labels.astype(str)
    store = workdir / "digits.zarr"
    if not store.exists():
        ingest_sets(sets, str(store), feature_names=["intensity"])
    ids = np.asarray([s["name"] for s in sets])
    return Task(name="digits", domain="sets", store=str(store), ids=ids, labels=y,
                test=fixed_test_split(y), pretrain_store=str(store), overrides=list(OVERRIDES),
                anchors={"logistic regression, 4x4 point-count histogram": logreg_anchor(histogram(sets, 4, False), y),
                         "logistic regression, 8x8 intensity histogram (= raw image)":
                             logreg_anchor(histogram(sets, 8, True), y)},
                notes="1797 sets, 10 classes, 30% test")


def main() -> None:
    example_main(__doc__, "runs/finetune-sets", lambda out, _: [make_task(out)])


if __name__ == "__main__":
    main()
