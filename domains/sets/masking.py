"""Training masks of the sets domain: whole elements hidden (their item and features; the
position stays known) or single features (``mask_elements``, ``mask_features``).

A mixin of ``SetsDomain`` (it reads ``self.options``, ``has_ids`` and ``num_features``);
split out so the domain module keeps to one job per file.
"""

from __future__ import annotations

import numpy as np

from encoderkit.data.masking import choose_random
from encoderkit.domain import Example, MaskedExample, Masker

from .ingest import IGNORE, MASK, NUM_SPECIAL


class SetsMasking:
    """The maskers of ``SetsDomain`` (``maskers``: ``random``, and ``feature`` for sets with
    features)."""

    @property
    def maskers(self) -> dict[str, Masker]:
        out: dict[str, Masker] = {"random": self.mask_elements}
        if self.num_features:
            out["feature"] = self.mask_features
        return out

    def _id_targets(self, ids: np.ndarray) -> np.ndarray:
        # specials (missing -> [MASK], [UNK], [CLS], [ELEM]) are never id targets
        return np.where(ids >= NUM_SPECIAL, ids, IGNORE).astype(np.int64)

    def _masked(self, example: Example, predict: np.ndarray, inputs: dict[str, np.ndarray],
                targets: dict[str, np.ndarray]) -> MaskedExample:
        return MaskedExample(inputs=inputs, positions=example.positions, targets=targets,
                             predict=predict, record=example.record, window=example.window,
                             start=example.start, context=example.context)

    def mask_elements(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        """Hide whole elements (rate ``mask_rate``): id -> [MASK], features -> unobserved.
        Coordinates stay: the position is known, the content is predicted."""
        f = example.fields
        ids = f["ids"]
        id_target = self._id_targets(ids)
        has_target = id_target != IGNORE
        if self.num_features:
            has_target = has_target | f["observed"].any(axis=1)
        predict = choose_random(has_target, float(self.options["mask_rate"]), rng)
        inputs = {"ids": np.where(predict, MASK, ids)}
        if "rel_pos" in f:  # where an element is is known; what it is, is predicted
            inputs["rel_pos"] = f["rel_pos"]
        targets: dict[str, np.ndarray] = {}
        if self.has_ids:
            targets["ids"] = id_target[predict]
        if self.num_features:
            inputs["features"] = np.where(predict[:, None], 0.0, f["features"]).astype(np.float32)
            inputs["observed"] = f["observed"] & ~predict[:, None]
            targets["features"] = f["features"][predict]
            targets["feature_mask"] = f["observed"][predict]
        return self._masked(example, predict, inputs, targets)

    def mask_features(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        """Hide single observed features (rate ``feature_mask_rate``); ids stay visible."""
        f = example.fields
        observed = f["observed"]
        hidden = choose_random(observed.reshape(-1), float(self.options["feature_mask_rate"]),
                               rng).reshape(observed.shape)
        predict = hidden.any(axis=1)
        inputs = {"ids": f["ids"],
                  "features": np.where(hidden, 0.0, f["features"]).astype(np.float32),
                  "observed": observed & ~hidden}
        if "rel_pos" in f:
            inputs["rel_pos"] = f["rel_pos"]
        targets = {"features": f["features"][predict], "feature_mask": hidden[predict]}
        if self.has_ids:
            targets["ids"] = np.full(int(predict.sum()), IGNORE, dtype=np.int64)
        return self._masked(example, predict, inputs, targets)
