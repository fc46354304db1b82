"""``task.head_init=probe`` (the default from a pretrained checkpoint): the head's last linear
layer starts as a converged linear probe.

Before the first fine-tuning step, the training split is embedded with the pretrained
encoder (eval mode, record-level pooled states through the head's hidden layers, exactly the
features ``TaskModel.output`` feeds its classifier), and scikit-learn fits the classifier on
them: ``LogisticRegressionCV`` for classes, ``RidgeCV`` on the standardised targets for
regression, the L2 strength chosen by cross-validation on the training records, on the
features as they are (see ``fit_linear``). The fitted weights are copied into ``classifier``.

Why: on a few dozen labelled records, a converged, cross-validated linear probe on frozen
embeddings often beats fine-tuning the whole encoder, which starts from a random head whose
first gradients distort the pretrained features (LP-FT, Kumar et al. 2022, fits the probe
to convergence first for this reason; ``task.lp_fraction`` trains the head by SGD instead,
which does not reach the probe in a sane budget: benchmarks/RESULTS.md). The probe-initialised
model is also evaluated at step 0 and competes for ``best/`` (``TaskObjective``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from encoderkit.session_state import warnings_kept

HEAD_INITS = ("random", "probe")
PROBE_TASKS = ("classification", "regression")
AUTO = "auto"
# the head's lr multiplier with each start: a random head learns fast (10x) while the encoder
# moves gently; a fitted probe is already where the head should be, and at 10x it walks
# away from it within the first steps (benchmarks/RESULTS.md, "Fine-tuning small labelled
# sets": the probe at head_lr 10 gave diabetes nothing; "The probe head as the default")
HEAD_LR_FOR = {"random": 10.0, "probe": 1.0}
# task.pooling / task.dropout = auto: transformers' ModernBERT classifier head, unless the
# domain's `finetune_probe_head` says otherwise for a probe-initialised head
HEAD_DEFAULTS = {"pooling": "mean", "dropout": 0.1}
CV_FOLDS = 3
# the probe is fitted on at most this many training records (a random subset beyond): the
# embedding pass and the cross-validated fit stay a small fraction of a large run's cost
MAX_PROBE_RECORDS = 20_000


def resolve_head(task: Any, checkpoint: Any, strategy: str, domain: Any = None) -> None:
    """``task.head_init`` / ``task.head_lr`` / ``task.pooling`` / ``task.dropout`` = ``auto``
    -> values, in place.

    ``head_init=auto`` is ``probe`` when a pretrained checkpoint is fine-tuned on one label
    per record (classification, regression) and ``random`` otherwise: from scratch there are
    no features worth a probe, other task types have no linear probe, and under FSDP the
    head is sharded. ``head_lr=auto`` follows the start (``HEAD_LR_FOR``). ``pooling`` and
    ``dropout``: ``HEAD_DEFAULTS``, or with the probe start the domain class's
    ``finetune_probe_head`` (``domain``, a ``Domain`` subclass, or None)."""
    if task.head_init == AUTO:
        pretrained = checkpoint not in (None, "none")
        probe = pretrained and task.type in PROBE_TASKS and strategy != "fsdp"
        task.head_init = "probe" if probe else "random"
    if task.head_lr == AUTO and task.head_init in HEAD_LR_FOR:
        task.head_lr = HEAD_LR_FOR[task.head_init]
    chosen = dict(HEAD_DEFAULTS)
    if task.head_init == "probe" and domain is not None:
        chosen.update(getattr(domain, "finetune_probe_head", {}))
    for key, value in chosen.items():
        if task[key] == AUTO:
            task[key] = value


def probe_indices(train: np.ndarray, seed: int, limit: int = MAX_PROBE_RECORDS) -> np.ndarray:
    """The training records the probe is fitted on: all, or a seeded random ``limit`` of them."""
    train = np.asarray(train)
    if len(train) <= limit:
        return train
    return np.sort(np.random.default_rng(seed).choice(train, size=limit, replace=False))


def record_features(objective: Any, trainer: Any) -> tuple[list[int], np.ndarray]:
    """(record indices, ``[n, d]`` inputs of the classifier) of the training records the
    probe is fitted on (``probe_indices``)."""
    from encoderkit.tasks.outputs import collect

    model = objective.model
    classifier = model.classifier
    model.classifier = nn.Identity()  # collect then returns the classifier's inputs
    indices = probe_indices(objective.train_indices, int(trainer.cfg.run.seed))
    try:
        records, feats = collect(model, objective.eval_loader(indices, trainer),
                                 trainer.device, trainer._autocast)
    finally:
        model.classifier = classifier
    # the eval loader shards records over ranks: every rank fits on all of them
    gathered = trainer._gather((records, feats))
    records = [r for g in gathered for r in g[0]]
    feats = [f for g in gathered for f in g[1]]
    if not records:
        return [], np.zeros((0, 0))
    order = np.argsort(records, kind="stable")
    return [records[i] for i in order], np.stack([feats[i] for i in order]).astype(np.float64)


def fit_linear(spec_type: str, X: np.ndarray, y: np.ndarray, n_out: int, seed: int,
               class_weights: np.ndarray | None = None,
               standardize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(weight [n_out, d], bias [n_out])`` of a cross-validated L2 probe on ``X``.

    Not standardised by default, on purpose: a probe fitted on standardised features puts
    large raw weights on the low-variance dimensions, and fine-tuning moves exactly those
    features, so the logits blow up within the first steps (measured: validation loss 12.8
    at step 50 on ArrowHead). The L2 penalty on raw weights keeps the head smooth in the
    features that fine-tuning changes. ``standardize`` (a run that never trains,
    ``train.steps=0``): the probe is fitted on standardised features, the usual linear probe
    whose penalty treats every dimension alike, and the scaling is folded into the returned
    weights, so they apply to ``X`` as it is. Classification: ``y`` holds class indices in
    ``[0, n_out)`` (a class absent from the training split keeps weight 0 and a very low
    bias); regression: ``y`` is ``[n, n_out]`` standardised targets. ``class_weights`` (per
    class, ``task.class_weights``) weigh the probe's loss as they weigh fine-tuning's."""
    if standardize:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X)  # a constant dimension keeps scale 1 (and weight ~0)
        weight, bias = _fit_raw(spec_type, scaler.transform(X), y, n_out, seed, class_weights)
        weight = weight / scaler.scale_
        return weight, bias - weight @ scaler.mean_
    return _fit_raw(spec_type, X, y, n_out, seed, class_weights)


def _fit_raw(spec_type: str, X: np.ndarray, y: np.ndarray, n_out: int, seed: int,
             class_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV

    d = X.shape[1]
    if spec_type == "regression":
        ridge = RidgeCV(alphas=np.logspace(-3, 4, 15)).fit(X, y.reshape(len(y), -1))
        return (np.asarray(ridge.coef_, dtype=np.float64).reshape(n_out, d),
                np.asarray(ridge.intercept_, dtype=np.float64).reshape(n_out))
    present, counts = np.unique(y, return_counts=True)
    weight, bias = np.zeros((n_out, d)), np.full(n_out, -30.0)  # absent classes: never predicted
    if len(present) == 1:
        bias[present[0]] = 0.0
        return weight, bias
    folds = int(min(CV_FOLDS, counts.min()))
    weights = None if class_weights is None else {int(c): float(class_weights[c]) for c in present}
    with warnings_kept():
        # convergence, and scikit-learn's notices of changing defaults: the fit is what it is
        warnings.simplefilter("ignore")
        if folds >= 2:
            clf = LogisticRegressionCV(Cs=np.logspace(-3, 3, 13), cv=folds, max_iter=3000,
                                       random_state=seed, class_weight=weights).fit(X, y)
        else:  # a class with one training record: no CV, scikit-learn's default strength
            clf = LogisticRegression(max_iter=3000, class_weight=weights).fit(X, y)
    c, b = np.asarray(clf.coef_, np.float64), np.asarray(clf.intercept_, np.float64)
    if len(present) == 2:  # one logit for the second class: softmax over (0, z) is its sigmoid
        c, b = np.vstack([np.zeros(d), c[0]]), np.array([0.0, b[0]])
    weight[present], bias[present] = c, b
    return weight, bias


def init_head_from_probe(objective: Any, trainer: Any) -> dict[str, float]:
    """Fit and copy the probe into ``objective.model.classifier``; returns what to log."""
    spec = objective.spec
    records, X = record_features(objective, trainer)
    if not records:
        return {}
    y = np.asarray(objective.y_model)[records]
    if spec.type == "classification":
        keep = y >= 0
        n_out = len(spec.classes)
    else:
        y = y.reshape(len(records), -1)
        keep = ~np.isnan(y).any(1)
        n_out = y.shape[1]
    X, y = X[keep], y[keep]
    if len(X) < 2:
        return {}
    cw = objective.class_weights  # None for regression
    weight, bias = fit_linear(spec.type, X, y, n_out, int(trainer.cfg.run.seed),
                              None if cw is None else np.asarray(cw, dtype=np.float64),
                              standardize=trainer.cfg.train.steps == 0)
    lin = objective.model.classifier
    if not isinstance(lin, nn.Linear) or tuple(lin.weight.shape) != weight.shape:
        raise RuntimeError(f"task.head_init=probe: the classifier is {lin}, not a linear map "
                           f"{weight.shape[1]} -> {weight.shape[0]}")
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weight, dtype=lin.weight.dtype))
        lin.bias.copy_(torch.as_tensor(bias, dtype=lin.bias.dtype))
    return {"head_init_records": float(len(X))}
