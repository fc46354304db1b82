"""``TaskSpec``: what a fine-tuned model predicts, saved in every checkpoint's
``state.json`` (``"task"``) so inference rebuilds the head and its output columns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

SEQUENCE_TASKS = ("classification", "multilabel", "regression")
TOKEN_TASKS = ("token_classification", "token_regression")
CONTRASTIVE_TASKS = ("contrastive", "supervised_contrastive")
TASK_TYPES = SEQUENCE_TASKS + TOKEN_TASKS + CONTRASTIVE_TASKS
# the tasks whose labels are classes (their names saved in ``classes``)
CLASSIFICATION_TASKS = ("classification", "token_classification", "supervised_contrastive")
# those that predict one class per sequence / token (softmax logits, accuracy, class columns)
CLASS_TASKS = ("classification", "token_classification")
REGRESSION_TASKS = ("regression", "token_regression")
POOLINGS = ("mean", "cls", "mean_std")


def pooled_width(pooling: str, hidden: int) -> int:
    """Width of a pooled vector (one token's for ``none``): ``mean_std`` is the mean and the
    spread side by side."""
    return 2 * hidden if pooling == "mean_std" else hidden
HEADS = ("mlp", "linear")
PROJECTIONS = ("mlp", "linear", "none")
# what ensemble members must share; not the targets' mean / std, which each member takes from
# the records it was fitted on (the probe member from all labelled ones) to report its own
# predictions in original units
OUTPUT_FIELDS = ("type", "classes", "targets", "label_column", "group_column")


@dataclass
class TaskSpec:
    type: str
    classes: list[str] = field(default_factory=list)  # class / label names (classification, multilabel)
    # what the class labels were (``int``, ``float``, ``bool``, ``str``; labels.class_kind), so
    # predict returns 1, not '1', for int labels; "" in runs saved before (labels.class_values)
    class_kind: str = ""
    targets: list[str] = field(default_factory=list)  # regression target names
    mean: list[float] = field(default_factory=list)  # regression: train-split mean per target
    std: list[float] = field(default_factory=list)  # regression: train-split std per target
    pooling: str = "mean"
    head: str = "mlp"
    # contrastive tasks: the head between the pooled embedding and the loss (SimCLR's g),
    # dropped when embedding; "none" in runs saved before the projection existed
    projection: str = "none"
    # contrastive tasks: weight of the masked-LM loss kept beside InfoNCE (the pretraining
    # head rides along; 0 = InfoNCE alone, as in runs saved before the option existed)
    mlm_weight: float = 0.0
    dropout: float = 0.0
    label_column: str | None = None
    # the labels file's group column (task.group_column): not a label when evaluating
    group_column: str | None = None
    metric: str = "auto"

    @property
    def token_level(self) -> bool:
        return self.type in TOKEN_TASKS

    @property
    def contrastive(self) -> bool:
        return self.type in CONTRASTIVE_TASKS

    def pooled_size(self, hidden: int) -> int:
        return pooled_width(self.pooling, hidden)

    @property
    def num_outputs(self) -> int:
        if self.type in ("classification", "token_classification", "multilabel"):
            return len(self.classes)
        if self.type in REGRESSION_TASKS:
            return len(self.targets)
        return 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def outputs(self) -> dict[str, Any]:
        """What the predictions mean (type, classes / targets), without how the head computes
        them: ensemble members agree on this (the probe member has a linear head, may pool
        differently and standardises its targets over more records)."""
        return {k: v for k, v in self.to_dict().items() if k in OUTPUT_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
