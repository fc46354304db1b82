"""The ``task`` section of ``encoderkit finetune``'s config: names, ranges and the
combinations that cannot train, each a one-line ``ConfigError`` naming the key (checked
once the config is composed and the head resolved, ``compose_finetune``)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from encoderkit.tasks.spec import CONTRASTIVE_TASKS, SEQUENCE_TASKS, TASK_TYPES, TOKEN_TASKS
from encoderkit.train.config import ConfigError, TaskConfig, _bad

# task options only some task types read: (the types that read it, what it does there). Given to
# another type with a value other than its default, it was accepted and did nothing (contrastive
# with task.head=linear task.dropout=0.5 trained the same model as without them)
_HEADED = SEQUENCE_TASKS + TOKEN_TASKS
_LABELLED = tuple(t for t in TASK_TYPES if t != "contrastive")
_READ_BY: dict[str, tuple[tuple[str, ...], str]] = {
    "head": (_HEADED, "sets the layers between the encoder and the prediction"),
    "dropout": (_HEADED, "sets the dropout before the prediction layer"),
    "class_weights": (("classification", "token_classification"), "weighs the classes in the loss"),
    "pooling": (SEQUENCE_TASKS + CONTRASTIVE_TASKS, "pools a record's token states into one vector"),
    "projection": (CONTRASTIVE_TASKS, "sets the head between the pooled embedding and the contrastive loss"),
    "temperature": (CONTRASTIVE_TASKS, "sets the contrastive loss's softmax temperature"),
    "learn_temperature": (CONTRASTIVE_TASKS, "learns the contrastive loss's temperature"),
    "labels": (_LABELLED, "names the labels file (contrastive trains on two views of each record)"),
    "label_column": (_LABELLED, "takes the label from the table (contrastive trains without labels)"),
}


def _not_read(t: DictConfig) -> None:
    """A task option the task type does not read, set to other than its default: a usage error
    naming the option and the type; its default is no error, since every task file carries
    the keys."""
    defaults = TaskConfig()
    for key, (types, what) in _READ_BY.items():
        value, default = t[key], getattr(defaults, key)
        if t.type in types or value == default or (key == "dropout" and value == "auto"):
            continue
        shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        raise ConfigError(f"task.{key}={shown} does not apply to task.type={t.type}: it {what}, for "
                          f"task.type {' / '.join(types)}; leave it out (default: "
                          f"{'null' if default is None else default})",
                          key=f"task.{key}")
    if t.label_names is not None and not t.labels:
        where = ("task.label_column takes the label from the table" if t.label_column
                 else "there is no labels file")
        raise ConfigError(f"task.label_names={list(t.label_names)} chooses columns of the labels file "
                          f"(task.labels=<file>); here {where}: leave it out", key="task.label_names")


def _no_validation(c: DictConfig) -> None:
    """``task.patience`` / ``task.metric`` act on validation, which ``train.eval_every=0`` never
    runs: said once, since the run is otherwise sound (it keeps its last step)."""
    t = c.task
    given = [f"task.{k}={t[k]}" for k, off in (("patience", 0), ("metric", "auto")) if t[k] != off]
    from encoderkit.tasks import _MEMBERS  # an ensemble's other members: said with the first

    if given and c.train.eval_every == 0 and not _MEMBERS.get():
        import warnings

        verb = "acts" if len(given) == 1 else "act"
        warnings.warn(f"{' and '.join(given)} {verb} on validation, and train.eval_every=0 runs none: "
                      f"no best/ checkpoint is chosen and the run does not stop early (set "
                      f"train.eval_every=<steps>)", stacklevel=4)


def check_task(c: DictConfig) -> None:
    from encoderkit.tasks.ensemble import check_ensemble
    from encoderkit.tasks.head_init import HEAD_INITS, PROBE_TASKS
    from encoderkit.tasks.metrics import METRICS
    from encoderkit.tasks.spec import HEADS, POOLINGS, PROJECTIONS

    t = c.task
    if t.type not in TASK_TYPES:
        raise _bad("task.type", f"one of {list(TASK_TYPES)}", t.type)
    if t.head_init not in HEAD_INITS:
        raise _bad("task.head_init", f"one of {['auto', *HEAD_INITS]}", t.head_init)
    if t.pooling not in POOLINGS:
        raise _bad("task.pooling", f"one of {list(POOLINGS)}", t.pooling)
    if t.pooling == "mean_std" and t.type not in SEQUENCE_TASKS:
        # a contrastive embedding is compared (and probed) as the pooled vector itself, and a
        # token task reads each token's own state: neither has a head to take the spread
        raise ConfigError(f"task.pooling=mean_std feeds the mean and spread of the token states "
                          f"to a task head; task.type={t.type} is not one of {list(SEQUENCE_TASKS)}")
    if t.head not in HEADS:
        raise _bad("task.head", f"one of {list(HEADS)}", t.head)
    if t.projection not in PROJECTIONS:
        raise _bad("task.projection", f"one of {list(PROJECTIONS)}", t.projection)
    if not 0.0 <= t.val_fraction < 1.0:
        raise _bad("task.val_fraction", "a float in the range [0, 1)", t.val_fraction)
    if isinstance(t.dropout, (bool, str)) or not 0.0 <= t.dropout < 1.0:
        raise _bad("task.dropout", "a float in the range [0, 1)", t.dropout)
    for key in ("head_lr", "layer_decay", "temperature"):
        value = OmegaConf.select(c, f"task.{key}")
        if isinstance(value, (bool, str)) or not value > 0:
            raise _bad(f"task.{key}", "auto or a float > 0" if key == "head_lr" else "a float > 0", value)
    lp = t.lp_fraction
    if lp != "auto" and (isinstance(lp, (bool, str)) or not 0.0 <= lp < 1.0):
        raise _bad("task.lp_fraction", "'auto' or a float in the range [0, 1) (the encoder must train "
                   "for some of the steps; task.freeze_encoder=true never trains it)", t.lp_fraction)
    if lp != "auto" and lp > 0 and t.freeze_encoder:
        raise ConfigError(f"task.lp_fraction={t.lp_fraction} starts training the encoder after "
                          "that fraction of the steps, task.freeze_encoder=true never does: "
                          "give one of them")
    if t.head_init == "probe" and t.type not in PROBE_TASKS:
        raise ConfigError(f"task.head_init=probe fits a linear probe for one label per record; "
                          f"task.type={t.type} is not one of {list(PROBE_TASKS)}")
    if c.train.steps == 0 and (t.head_init != "probe" or t.head != "linear"):
        raise ConfigError("train.steps=0 trains nothing: it keeps the pretrained encoder and fits "
                          "a linear probe as the head, which needs task.head=linear and "
                          "task.head_init=probe (a pretrained checkpoint, task.type "
                          f"{' or '.join(PROBE_TASKS)}); got task.head={t.head}, "
                          f"task.head_init={t.head_init}")
    if isinstance(t.mlm_weight, bool) or not float(t.mlm_weight) >= 0.0:
        raise _bad("task.mlm_weight", "a float >= 0", t.mlm_weight)
    if float(t.mlm_weight) > 0 and t.type != "contrastive":
        raise ConfigError(f"task.mlm_weight keeps the masked-LM loss during a contrastive stage; "
                          f"task.type={t.type} is not contrastive")
    if t.augment not in (True, False, "auto"):
        raise _bad("task.augment", "auto (the domain's label-safe augmentation), true (its full "
                   "training augmentation) or false", t.augment)
    expected = check_ensemble(t.ensemble, t.type)
    if c.train.steps == 0 and t.ensemble not in ("auto", 1):
        expected = "auto or 1 with train.steps=0 (every member would fit the same probe)"
    if expected:
        raise _bad("task.ensemble", expected, t.ensemble)
    if t.patience < 0:
        raise _bad("task.patience", "an int >= 0 (0 = no early stopping)", t.patience)
    reported = METRICS[t.type]
    if t.metric != "auto" and t.metric not in reported:
        # a name validation does not report never picks a best/ checkpoint nor stops early
        raise _bad("task.metric", f"auto or one of {list(reported)} (what validation reports for "
                   f"task.type={t.type})", t.metric)
    if not 0 <= t.seed < 2 ** 32:  # scikit-learn's splitters take no other seed
        raise _bad("task.seed", "an int in the range [0, 2**32)", t.seed)
    if t.labels and t.label_column:
        raise ConfigError("give either task.labels=<file> or task.label_column=<column>, not both")
    if t.labels and not Path(t.labels).is_file():
        from encoderkit.errors import InputNotFoundError

        raise InputNotFoundError(f"task.labels file {t.labels!r} does not exist", file=t.labels,
                                 key="task.labels")
    if t.split and not Path(t.split).is_file():
        from encoderkit.errors import InputNotFoundError

        raise InputNotFoundError(f"task.split file {t.split!r} does not exist", file=t.split,
                                 key="task.split")
    if t.group_column is not None:
        where = ("task.label_column takes labels from the table, which has no groups to read"
                 if t.label_column else "task.split fixes the split itself" if t.split
                 else "task.type=contrastive reads no labels file" if t.type == "contrastive"
                 else "there is no labels file" if not t.labels else "")
        if where:
            raise ConfigError(f"task.group_column={t.group_column!r} names a column of the labels "
                              f"file (task.labels=<file>) that groups records for the validation "
                              f"split; here {where}")
    _not_read(t)
    _no_validation(c)
    if t.type in ("token_classification", "token_regression") and t.label_column:
        raise ConfigError(f"task.label_column gives one label per record; task.type={t.type} "
                          "needs per-token labels in task.labels=<file>")
