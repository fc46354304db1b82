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

from finetune_common import Task, fixed_test_split, probe_predict, example_main

OVERRIDES = ["domain.unit=0.1", "domain.pooling_token=true", "data.max_seqlen=64"]


def histogram(sets: list[dict], bins: int, weighted: bool) -> np.ndarray:
    """Per set, a bins x bins histogram of its points over the 8x8 grid (order-free)."""
    out = np.zeros((len(sets), bins * bins))
    for i, s in enumerate(sets):
        w = s["features"][:, 0] if weighted else None
        h, _, _ = np.histogram2d(s["coords"][:, 0], s["coords"][:, 1], bins=bins,
                                 range=[[-0.5, 7.5], [-0.5, 7.5]], weights=w)
        out[i] = h.ravel()
    return out


def logreg(X: np.ndarray, y: np.ndarray):
    def anchor(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        return probe_predict(X, y, train, test, seed)
    return anchor


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
                anchors={"logistic regression, 4x4 point-count histogram": logreg(histogram(sets, 4, False), y),
                         "logistic regression, 8x8 intensity histogram (= raw image)":
                             logreg(histogram(sets, 8, True), y)},
                notes="1797 sets, 10 classes, 30% test")


def main() -> None:
    example_main(__doc__, "runs/finetune-sets", lambda out, _: [make_task(out)])


if __name__ == "__main__":
    main()
