"""``TaskModel``: the domain embedder + the core encoder + a task head.

Parameter names: ``embedder.*`` and ``encoder.*`` as in ``MaskedEncoderModel`` (so a
pretrained checkpoint loads into them), then ``head.*`` / ``classifier.*`` as in
transformers' ``ModernBertForSequenceClassification`` (``head`` is empty for
``task.head=linear``); contrastive tasks have a ``logit_scale`` (1 / temperature,
stored as its log) and a ``projection`` (``task.projection``) instead.

Regression heads predict standardised targets (train-split mean / std in the
``TaskSpec``); ``objective_eval.to_prediction`` maps them back to original units.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from encoderkit.batch import PackedBatch
from encoderkit.core import Encoder, EncoderConfig
from encoderkit.domain import Domain, HeadOutput
from encoderkit.modeling import drawn_from, gather_predicted, loaded_part
from encoderkit.tasks import heads as H
from encoderkit.tasks.spec import CLASS_TASKS, TaskSpec


# the words a fine-tuning head's seed is derived from, with run.seed (``head_seed``)
HEAD_STREAM = "encoderkit.tasks.head"


def head_seed(run_seed: int) -> int:
    """The seed of a fine-tuning run's new head (``TaskModel``'s ``seed``): from ``run.seed``
    (an ensemble member's is ``run.seed + i``, so each member draws its own head), through
    numpy's ``SeedSequence`` so that the head's stream is not the one ``torch.manual_seed(run.seed)``
    gives the encoder of a run from scratch."""
    words = np.frombuffer(HEAD_STREAM.encode(), dtype=np.uint8).tolist()
    low, high = np.random.SeedSequence([int(run_seed) & (2**64 - 1), *words]).generate_state(2)
    return int(low) | int(high) << 32


class TaskModel(nn.Module):
    """``pretrained``: the embedder and encoder (and a contrastive stage's pretraining head)
    are then loaded from a checkpoint in full (``load_encoder_weights``), so their random
    initialisation is not drawn (``modeling.loaded_part``: a ``base`` model's took 11 s on one
    CPU thread) and their values are undefined until loaded. The new head (classifier, its
    dense layer, a contrastive projection) is drawn from a generator of its own seeded with
    ``seed`` (``head_seed`` of run.seed): the same head whether the encoder was drawn or
    loaded, and the caller's generator is not drawn from for it."""

    def __init__(self, domain: Domain, config: EncoderConfig, spec: TaskSpec, *,
                 class_weights: np.ndarray | None = None, temperature: float = 0.05,
                 learn_temperature: bool = True, seed: int = 0, pretrained: bool = False) -> None:
        super().__init__()
        if config.rope_axes != domain.rope_axes:
            raise ValueError(f"model.rope_axes={config.rope_axes} but domain {domain.name!r} "
                             f"uses {domain.rope_axes} position axes")
        self.config, self.spec = config, spec
        self.cls_position = domain.cls_position
        # from scratch (no checkpoint): drawn from the run's generator, as a pretraining run's
        with loaded_part() if pretrained else nullcontext():
            self.embedder = domain.embedder(config)
            self.encoder = Encoder(config)
        std = config.initializer_range
        if spec.contrastive:
            value = torch.tensor(math.log(1.0 / temperature))
            if learn_temperature:
                self.logit_scale = nn.Parameter(value)
            else:
                self.register_buffer("logit_scale", value)
            with drawn_from(seed):
                self.projection = H.projection_head(spec.projection, config.hidden_size, config.norm_eps, std)
            if spec.mlm_weight > 0:  # the pretraining head, loaded with the encoder
                with loaded_part() if pretrained else nullcontext():
                    self.head = domain.head(config, self.embedder)
        else:
            # a token head reads one token's state; a sequence head the pooled state
            width = config.hidden_size if spec.token_level else spec.pooled_size(config.hidden_size)
            with drawn_from(seed):
                self.head = (H.PredictionHead(config.hidden_size, config.norm_eps, std, inputs=width)
                             if spec.head == "mlp" else nn.Identity())
                self.drop = nn.Dropout(spec.dropout)
                self.classifier = nn.Linear(config.hidden_size if spec.head == "mlp" else width,
                                            spec.num_outputs)
                H.trunc_normal_(self.classifier.weight, std)
                nn.init.zeros_(self.classifier.bias)
        # not saved: recomputed from the labels (resume) and unused at inference
        self.class_weights = None if class_weights is None else torch.as_tensor(class_weights,
                                                                                dtype=torch.float32)

    def compile(self, *args: Any, **kwargs: Any) -> None:  # noqa: D401 - nn.Module.compile signature
        self.encoder.compile(*args, **kwargs)

    def encode(self, batch: PackedBatch) -> Tensor:
        """Hidden states ``[T, d]`` of every token (``load(run).embed`` uses it)."""
        hidden = self.embedder(batch.inputs)
        return self.encoder(hidden, batch.positions, batch.cu_seqlens, batch.max_seqlen,
                            cu_seqlens_host=batch.cu_seqlens_host)

    def pool(self, hidden: Tensor, batch: PackedBatch) -> Tensor:
        return H.pool(hidden, batch, self.spec.pooling, self.cls_position)

    def output(self, x: Tensor) -> Tensor:
        """Head on pooled states ``[B, d]`` (sequence tasks) or token states ``[T, d]``.

        The last linear map runs in float32 under mixed precision: a probe head fitted on
        standardised features (``train.steps=0``) carries the features' mean in its bias, and
        in bfloat16 the cancellation of that shared part would swamp the per-record signal."""
        h = self.drop(self.head(x))
        with torch.autocast(device_type=h.device.type, enabled=False):
            return self.classifier(h.float())

    def project(self, z: Tensor) -> Tensor:
        """Contrastive tasks: pooled embeddings -> the space the loss compares."""
        return self.projection(z)

    def scale(self) -> Tensor:
        return self.logit_scale.exp().clamp(max=100.0)  # CLIP's cap on 1 / temperature

    def forward(self, batch: PackedBatch, with_targets: bool = True) -> HeadOutput:
        hidden = self.encode(batch)
        spec, labels = self.spec, batch.labels if with_targets else {}
        if spec.type == "contrastive":
            z = self.pool(hidden, batch)
            p = self.project(z)
            a, b = p[0::2], p[1::2]  # the loader keeps the two views of a record adjacent
            loss = H.info_nce(a, b, self.scale(), H.view_groups(batch))
            losses: dict[str, Tensor] = {}
            if spec.mlm_weight > 0 and with_targets and batch.targets:
                mlm = self.masked_lm(hidden, batch)
                losses = {"info_nce": loss.detach(), "mlm": mlm.detach()}
                loss = loss + spec.mlm_weight * mlm
            return HeadOutput(predictions={"pooled": z, "projected": p}, loss=loss, losses=losses,
                              metrics={"temperature": 1.0 / self.scale().detach()})
        if spec.type == "supervised_contrastive":
            z = self.pool(hidden, batch)
            out = HeadOutput(predictions={"pooled": z})
            if labels:
                m = labels["mask"]
                out.loss = H.supervised_contrastive(self.project(z[m]), labels["y"][m], self.scale())
                out.metrics = {"temperature": 1.0 / self.scale().detach()}
            return out
        x = hidden if spec.token_level else self.pool(hidden, batch)
        logits = self.output(x)
        out = HeadOutput(predictions={"logits": logits,
                                      **({} if spec.token_level else {"pooled": x})})
        if not labels:
            return out
        y, m = labels["y"], labels["mask"]
        if spec.type in CLASS_TASKS:
            out.loss = H.classification_loss(logits, y, m, self.class_weights)
            # reported on a batch without labelled units too (0, weighed by its 0 units): the
            # trainer sums each key over the ranks, and a key one rank lacks breaks that collective
            hit = (logits[m].argmax(-1) == y[m]).float()
            out.metrics = {"accuracy": hit.mean() if bool(m.any()) else hit.sum()}
        elif spec.type == "multilabel":
            out.loss = H.multilabel_loss(logits, y, m)
        else:
            out.loss = H.regression_loss(logits, y, m)
        return out

    def masked_lm(self, hidden: Tensor, batch: PackedBatch) -> Tensor:
        """The pretraining loss on the batch's masked tokens (``MaskedEncoderModel.forward``)."""
        predicted, weights = gather_predicted(hidden, batch)
        return self.head(predicted, batch.targets, weights).loss


def pretrained_fit(source: Any, num_layers: int) -> tuple[Any, Any]:
    """The checkpoint a fine-tuning run starts from (``checkpoint=``; None for ``none``) and
    the check of a ``meta`` ``TaskModel`` against its weights' header (``weights_fit``): the
    model comes from the checkpoint's state.json, and a false size claim in it built (and
    allocated) that model before the weights said otherwise. ``num_layers`` is checked first,
    then the core's tensors (``encoder.``), whose shapes state.json alone sets: the embedder's
    also follow the store's schema, which ``load_encoder_weights`` compares in its own words."""
    if source in (None, "none"):
        return None, None
    from encoderkit.infer.load import resolve_checkpoint
    from encoderkit.infer.weights_fit import check_fit, layers_checked

    path = resolve_checkpoint(source)
    shapes = layers_checked(path, num_layers)
    return path, lambda meta: check_fit(meta, shapes, path, ("encoder.",))


# differences named in the one-line refusal; the rest are counted
SHOWN_DIFFERENCES = 3


def check_pretrained_schema(domain: Domain, checkpoint: Any, store: Any) -> None:
    """Refuse, before any weight is loaded, a fine-tuning store whose schema would give the
    checkpoint's weights other meanings: a table ingested with its columns in another order
    (or one category replaced by another, the same count) has the shapes of the pretraining
    table, and each embedding row would be applied to another column or category with no
    error (``load_encoder_weights`` compares shapes only). The domain says what differs
    (``Domain.pretrained_schema_differences``); a checkpoint that stored no schema (older
    runs) or one of another domain is not compared."""
    from encoderkit.errors import DataError
    from encoderkit.registry import saved_options
    from encoderkit.train.checkpoint import read_state

    state = read_state(checkpoint)
    saved = state.get("domain")
    if not isinstance(saved, dict) or saved.get("name") != domain.name or not saved.get("schema"):
        return
    found = domain.pretrained_schema_differences({**saved, "options": saved_options(saved)})
    if not found:
        return
    more = len(found) - SHOWN_DIFFERENCES
    shown = "; ".join(found[:SHOWN_DIFFERENCES]) + (f"; and {more} more" if more > 0 else "")
    inputs = state.get("inputs")
    own = inputs.get("store") if isinstance(inputs, dict) else None
    # a subset re-ingested is no fix where the schema follows the data (a sets vocabulary is
    # ordered by frequency): the pretraining store itself always matches, its other records unlabelled
    raise DataError(f"store {store}: its schema differs from the one the checkpoint was pretrained "
                    f"on ({checkpoint}) in what the weights are indexed by, so they would be applied "
                    f"to other columns, categories, channels or tokens: {shown}. Fine-tune on the "
                    f"pretraining store itself ({f'data.store={own}' if own else 'its data.store'}) "
                    f"with a labels file whose id column names the records to learn from (records "
                    f"without a row are unlabelled: skipped), or on data ingested with the same columns "
                    f"(channels, items) in the same order and the same options as the pretraining "
                    f"data, with the checkpoint's domain options, or pretrain on this store", file=store)


def check_position_axes(domain: Domain, config: EncoderConfig, checkpoint: Any,
                        options: Mapping[str, Any]) -> None:
    """Refuse, as the usage error it is, a fine-tuning domain option that changes the rotary
    position axes the checkpoint's encoder was pretrained with (``domain.column_positions=true``
    on a table pretrained without): ``TaskModel`` said "model.rope_axes=0 but domain 'tabular'
    uses 1 position axes" (exit 1), naming an option the user never gave. ``options``: the run's
    domain options, compared with the checkpoint's to name the one that differs."""
    if config.rope_axes == domain.rope_axes:
        return
    from encoderkit.errors import UsageError
    from encoderkit.registry import saved_options
    from encoderkit.train.checkpoint import read_state

    saved = read_state(checkpoint).get("domain")
    before = saved_options(saved) if isinstance(saved, dict) and saved.get("name") == domain.name else {}
    differ = [f"domain.{k}={_word(options[k])} (the checkpoint's: {_word(before[k])})"
              for k in sorted(options)
              if k not in ("name", "drop_columns") and k in before and options[k] != before[k]]
    given = ", ".join(differ) or "the domain options"
    it = "it" if len(differ) == 1 else "them"
    raise UsageError(f"{given}: with {it} domain {domain.name!r} uses {domain.rope_axes} position axes, but "
                     f"checkpoint {checkpoint} was pretrained with {config.rope_axes} (model.rope_axes="
                     f"{config.rope_axes}); fine-tuning keeps the pretrained positions: leave {it} out, or "
                     f"pretrain with {it}", key="domain")


def _word(value: Any) -> str:
    """A value as typed on the command line (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_encoder_weights(model: TaskModel, tensors: dict[str, Tensor], source: str) -> None:
    """Copy a pretrained embedder + encoder into ``model`` (strict on those parts), and the
    pretraining head when a contrastive stage keeps the masked-LM loss (``mlm_weight``)."""
    from encoderkit.errors import DataError
    from encoderkit.train.checkpoint import untied_state

    parts = ("embedder.", "encoder.") + (("head.",) if model.spec.contrastive and model.spec.mlm_weight > 0 else ())
    # a tied weight (a head decoder sharing the input embedding) is stored once: its twin loads it
    wanted = {k: v for k, v in untied_state(model).items() if k.startswith(parts)}
    given = {k: v for k, v in tensors.items() if k.startswith(parts)}
    missing = sorted(set(wanted) - set(given))
    unexpected = sorted(set(given) - set(wanted))
    if missing or unexpected:
        raise DataError(f"pretrained weights do not fit the model: missing {missing[:4]}, "
                        f"unexpected {unexpected[:4]}", file=source)
    for k, v in given.items():
        if wanted[k].shape != v.shape:
            # the domain sizes these from the store's schema (a table's columns, a series'
            # channels, a vocabulary): the store was not ingested like the pretraining data
            raise DataError(f"pretrained weight {k} has shape {tuple(v.shape)}, the model "
                            f"{tuple(wanted[k].shape)}: the store's schema differs from the one "
                            f"the checkpoint was pretrained on (other columns, channels or "
                            f"categories?); fine-tune on data ingested with the same columns and "
                            f"options, or pretrain on this store", file=source)
    model.load_state_dict(given, strict=False)
