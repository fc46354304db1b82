"""The pretraining and fine-tuning config's typed schema: one dataclass per section, which
``encoderkit.train.config.validate`` merges the composed config into (unknown keys and wrong
types are refused there), and ``ConfigError``, the one-line error a config problem raises.
Re-exported by ``encoderkit.train.config``, where callers import them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from encoderkit.errors import UsageError


class ConfigError(UsageError):
    """A config problem, reported as one line naming the key (exit code 2)."""


@dataclass
class RunConfig:
    dir: Optional[str] = None
    name: str = "run"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    resume: str = "auto"
    init_from: Optional[str] = None


@dataclass
class TrainConfig:
    # an int, or "auto": ceil(auto_epochs x training tokens / tokens per step) clamped to
    # [auto_min_steps, auto_max_steps] (encoderkit/train/budget.py explains the rule)
    steps: Any = 1000
    auto_epochs: float = 100.0
    auto_min_steps: int = 200
    auto_max_steps: int = 20000
    tokens_per_step: int = 0
    log_every: int = 10
    eval_every: int = 200
    eval_tokens: int = 65536
    checkpoint_every: int = 200
    keep: int = 3
    grad_clip: float = 0.0
    strategy: str = "ddp"
    progress: bool = True
    plot: bool = True  # loss.png in the run folder (false: a run nobody looks at, impute's)


@dataclass
class DataConfig:
    store: str = "???"
    val_fraction: float = 0.05
    # an int, or "auto" (encoderkit finetune): a batch sized by the labelled training split
    # (encoderkit/train/budget.py explains the rule)
    max_tokens: Any = 8192
    max_seqlen: int = 1024
    num_workers: int = 0
    seed: int = 0
    read: str = "auto"
    buffer_mb: float = 128.0


@dataclass
class OptimConfig:
    name: str = "stableadamw"
    lr: float = 8e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    weight_decay: float = 1e-5
    foreach: Optional[bool] = None


@dataclass
class ScheduleConfig:
    name: str = "wsd"
    unit: str = "steps"
    total: Optional[float] = None
    warmup: Optional[float] = None
    warmup_fraction: float = 0.05
    decay: Optional[float] = None
    decay_fraction: float = 0.2
    shape: str = "1-sqrt"
    final_ratio: float = 0.0
    batch_warmup_tokens: int = 0
    batch_warmup_start: int = 0


@dataclass
class PretrainConfig:
    # model and domain are open: model = preset + any EncoderConfig field (checked when the
    # config is built), domain = name + the domain's own options (checked by the domain).
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "tiny"})
    domain: dict[str, Any] = field(default_factory=lambda: {"name": "???"})
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class TaskConfig:
    type: str = "classification"
    labels: Optional[str] = None
    label_column: Optional[str] = None
    label_names: Optional[list[str]] = None
    val_fraction: float = 0.1
    split: Optional[str] = None
    group_column: Optional[str] = None  # a labels-file column: validation keeps each group whole
    seed: int = 0
    pooling: str = "mean"  # auto | mean | mean_std | cls (auto: resolve_head)
    head: str = "mlp"
    projection: str = "mlp"
    dropout: Any = 0.1  # auto | a float in [0, 1) (auto: resolve_head)
    class_weights: Any = None
    freeze_encoder: bool = False
    lp_fraction: Any = "auto"  # auto | a float in [0, 1) (configs/task/*.yaml)
    head_init: str = "random"  # auto | random | probe (encoderkit/tasks/head_init.py)
    mlm_weight: float = 0.0  # contrastive: weight of the masked-LM loss beside InfoNCE
    head_lr: Any = 1.0  # auto | a float > 0 (auto: resolve_head in encoderkit/tasks/head_init.py)
    layer_decay: float = 1.0
    patience: int = 0
    metric: str = "auto"
    temperature: float = 0.05
    learn_temperature: bool = True
    augment: Any = "auto"  # auto | true | false (configs/task/*.yaml)
    ensemble: Any = 1  # auto | members (encoderkit/tasks/ensemble.py)
    ensemble_probe: bool = True  # an ensemble's extra member: the frozen encoder's linear probe


@dataclass
class FinetuneConfig(PretrainConfig):
    checkpoint: str = "???"
    task: TaskConfig = field(default_factory=TaskConfig)
