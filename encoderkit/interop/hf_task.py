"""A fine-tuned ``TaskModel`` as transformers' ``ModernBertForSequenceClassification`` or
``ModernBertForTokenClassification``: the checks and the weights and ``config.json``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from encoderkit.interop.hf_config import hf_config, special_token_ids
from encoderkit.interop.hf_names import HFInteropError, encoder_problems, ours_to_hf_name

#: encoderkit task -> (transformers class, problem_type)
TASK_ARCHITECTURES = {
    "classification": ("ModernBertForSequenceClassification", "single_label_classification"),
    "multilabel": ("ModernBertForSequenceClassification", "multi_label_classification"),
    "regression": ("ModernBertForSequenceClassification", "regression"),
    "token_classification": ("ModernBertForTokenClassification", "single_label_classification"),
    "token_regression": ("ModernBertForTokenClassification", "regression"),
}

#: what transformers does not do with an exported task, said when it is exported (``export_hf``).
#: A token_regression export keeps its logits (they match encoderkit's), so it is written, not
#: refused: a transformers user reading predictions gets them right; only the loss is missing.
TASK_WARNINGS = {
    "token_regression": (
        "a token_regression run exports as ModernBertForTokenClassification (problem_type=regression), "
        "but transformers has no per-token regression loss: that class ignores problem_type and always "
        "uses cross-entropy, so model(labels=...) and transformers.Trainer fail on float labels (and read "
        "integer labels as classes). Its logits are the per-token predictions in standardised units "
        "(target_mean / target_std in config.json map them back); to fine-tune it in transformers, "
        "compute the MSE on the logits yourself"),
}


def check_task_exportable(model: nn.Module) -> None:
    """Refuse, naming the reasons, a fine-tuned model transformers cannot represent."""
    spec = model.spec
    problems = []
    if spec.type not in TASK_ARCHITECTURES:
        problems.append(f"task {spec.type!r} has no transformers head (exportable: "
                        f"{sorted(TASK_ARCHITECTURES)}; export the encoder of a contrastive run "
                        "from its pretrained run)")
    if spec.head != "mlp":
        problems.append("task.head=linear (transformers' classifiers always have the "
                        "dense -> GELU -> LayerNorm head; fine-tune with task.head=mlp)")
    if spec.pooling == "mean_std":
        problems.append("task.pooling=mean_std (transformers pools the mean or [CLS] only; "
                        "fine-tune with task.pooling=mean)")
    if spec.pooling == "cls" and getattr(model, "cls_position", None) != 0:
        problems.append("cls pooling needs the [CLS] element first in every window")
    problems += encoder_problems(model)
    unmapped = sorted(n for n, _ in model.named_parameters() if _task_hf_name(n) is None)
    if unmapped:
        problems.append(f"parameters with no ModernBERT counterpart: {unmapped[:8]}")
    if problems:
        raise HFInteropError("cannot export to Hugging Face ModernBERT: " + "; ".join(problems))


def _task_hf_name(name: str) -> str | None:
    if name in ("head.dense.weight", "head.norm.weight", "classifier.weight", "classifier.bias"):
        return name
    if name.startswith(("embedder.", "encoder.")):
        return ours_to_hf_name(name)
    return None


def task_hf(model: nn.Module, domain: Any) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """HF-named weights and ``config.json`` of a fine-tuned ``TaskModel``: transformers'
    ``ModernBertForSequenceClassification`` (pooling ``classifier_pooling`` = the task's) or
    ``ModernBertForTokenClassification``, ``id2label`` from the task's classes. Regression
    logits are the standardised targets (``encoderkit.target_mean`` / ``target_std`` in the
    config map them back)."""
    check_task_exportable(model)
    spec = model.spec
    tensors = {_task_hf_name(n): p.detach().to("cpu", torch.float32).contiguous().clone()
               for n, p in model.named_parameters()}
    vocab = model.embedder.tok_embeddings.num_embeddings
    config = hf_config(model.config, vocab, special_token_ids(domain), tied=False)
    arch, problem = TASK_ARCHITECTURES[spec.type]
    names = spec.classes if spec.type in ("classification", "multilabel", "token_classification") \
        else spec.targets
    config.update({
        "architectures": [arch],
        "problem_type": problem,
        "num_labels": len(names),
        "id2label": {str(i): str(c) for i, c in enumerate(names)},
        "label2id": {str(c): i for i, c in enumerate(names)},
        "classifier_pooling": spec.pooling,
        "classifier_dropout": float(spec.dropout),
    })
    if spec.type in ("regression", "token_regression"):
        config["target_mean"], config["target_std"] = list(spec.mean), list(spec.std)
    return tensors, config
