"""The training loop: an objective's model (masked-token pretraining of
``MaskedEncoderModel``, or a fine-tuning task; see ``objective.py``) trained with
StableAdamW, a WSD schedule, gradient accumulation to a global token budget,
validation, metrics, plots and exactly resumable checkpoints.

Token budget: ``train.tokens_per_step`` counts *real* tokens (every packed token, not
only predicted ones). A step accumulates ``ceil(budget / (data.max_tokens x ranks))``
micro-batches per rank, so every rank runs the same number of forwards without a
host sync per micro-batch; the tokens actually seen are counted and logged.

The loss of a step is the mean over all predicted tokens (the objective's units:
labelled sequences for a sequence task) of all its micro-batches on all ranks: each
micro-batch's mean loss is weighted by its share of the units, so a 2-rank run
computes the same gradient as 1 rank with the same global batch.

``Trainer`` is set-up and the step loop; its resume (``trainer_resume.py``) and what it
writes into the run folder (``trainer_outputs.py``) are its two mixins.
"""

from __future__ import annotations

import math
import random
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from encoderkit import session_state
from encoderkit.core.attention import check_backend
from encoderkit.data.store_views import VIEW_TOKENS, reads_field_slices
from encoderkit.domain import check_positions
from encoderkit.outputs import write_text_atomic
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import distributed as D
from encoderkit.train.budget import resolve_steps
from encoderkit.train.config import ConfigError, encoder_config
from encoderkit.train.objective import make_objective
from encoderkit.train.optim import StableAdamW
from encoderkit.train.precision import cpu_has_native_bf16
from encoderkit.train.schedule import WSD, BatchWarmup, Delayed, overrun_line, plan_wsd
from encoderkit.train.trainer_outputs import TrainerOutputs, create_run_dir
from encoderkit.train.trainer_resume import INPUT_FILES, TrainerResume

__all__ = ["Trainer", "NonFiniteLossError", "INPUT_FILES"]


def first_record(store: Any, domain: Any) -> dict[str, Any]:
    """Record 0 of ``store``, whose first window's positions ``_build`` checks: a long record's
    token fields as views where ``domain`` reads them by the slice (a chromosome was read
    whole, 2 bytes a base, to cut one window)."""
    return store.read_many([0], views_above=VIEW_TOKENS if reads_field_slices(domain) else None)[0]


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss became NaN or infinite."""


class Trainer(TrainerResume, TrainerOutputs):
    """Builds everything from a validated config (see ``encoderkit.train.config``) and
    runs ``fit()``; returns the run directory."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.config_dict: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore

    # ------------------------------------------------------------------ set-up
    def _build(self) -> None:
        from encoderkit.data.store import RecordStore, StoreError
        from encoderkit.registry import get_domain

        cfg = self.cfg
        self.info, self.device = D.setup(cfg.run.device)
        run_dir = Path(cfg.run.dir) if cfg.run.dir else Path("runs") / cfg.run.name
        # the default name holds a timestamp each rank resolved on its own: rank 0's wins
        self.run_dir = Path(D.broadcast_object(str(run_dir), self.info))
        self.ckpt_dir = self.run_dir / "checkpoints"
        self._created: Path | None = None  # the topmost folder this run made (removed on a failed start)
        if self.info.is_main:
            self._created = create_run_dir(self.run_dir)
            # one run per directory: held until fit() returns (or the process ends)
            self._lock = ckpt.lock_run_dir(self.run_dir)
            ckpt.remove_stale(self.ckpt_dir)
            ckpt.remove_run_leftovers(self.run_dir)
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        precision = cfg.run.precision
        if precision == "auto":
            precision = "bf16" if self.device.type == "cuda" else "fp32"
        if precision == "bf16" and self.device.type == "cpu" and not cpu_has_native_bf16():
            warnings.warn("run.precision=bf16 on a CPU without native bf16 (AVX512-BF16 / AMX): "
                          "emulated, expect it to be no faster than fp32", stacklevel=2)
        self.precision = precision

        store_path = cfg.data.store
        # Any path zarr opens is a store (fsspec URLs such as s3://... too), so only a
        # local path is checked for existence here; RecordStore names other problems.
        if "://" not in str(store_path) and not Path(store_path).exists():
            raise ConfigError(f"The 'data.store' parameter must be an existing record store. "
                              f"Got {store_path!r} (not found).")
        try:
            self.store = RecordStore(store_path)
        except StoreError as e:
            raise ConfigError(f"The 'data.store' parameter is not a readable record store: {e}") from None
        options = {k: v for k, v in self.config_dict["domain"].items() if k != "name"}
        name = cfg.domain.name
        if getattr(self.store, "domain", name) != name:
            raise ConfigError(f"store {store_path} holds domain {self.store.domain!r} records "
                              f"but domain.name={name!r}")
        try:
            self.domain = get_domain(name)(self.store.schema, **options)
            if "task" not in cfg:  # pretraining masks: a masker typo fails before the run starts
                self.domain.check_masker()
        except KeyError as e:
            raise ConfigError(str(e.args[0] if e.args else e)) from None
        except (TypeError, ValueError) as e:  # a bad domain option: the domain names it
            raise ConfigError(f"domain {name!r}: {' '.join(str(e).split())}") from None
        if len(self.store):  # positions of the domain's width: refused before the run starts
            # the first window only (featurize_windows checks them): a chromosome is not tokenised whole
            first = self.domain.featurize_windows(first_record(self.store, self.domain), int(cfg.data.max_seqlen), 0)
            if len(first):
                check_positions(self.domain, first[0].positions)
        self.encoder_config = encoder_config(self.config_dict["model"], self.domain.rope_axes)
        # an attention backend this machine lacks: a usage error before the run starts (a failed
        # _build removes the run folder), not a traceback from the first forward pass
        check_backend(self.encoder_config.backend, self.device)

        torch.manual_seed(cfg.run.seed)  # identical initial weights on every rank
        # numpy's and Python's global generators too (given back after the fit, as torch's is):
        # a checkpoint records their states, which otherwise held whatever the process started with
        np.random.seed(cfg.run.seed)
        random.seed(cfg.run.seed)
        # the objective builds the model, the data splits and the training loader
        self.objective = make_objective(self)
        self.model = self.objective.model
        self.loader = self.objective.loader
        self.val_enabled = self.objective.val_enabled
        self.optimizer = self._make_optimizer(self.model)

        d = cfg.data
        t = cfg.train
        world = self.info.world_size
        self.tokens_per_step = t.tokens_per_step or d.max_tokens * world
        # train.steps=auto -> an int from the training split's size, before anything reads it
        t.steps = self.config_dict["train"]["steps"] = resolve_steps(
            cfg, self.store, self.domain, self.objective.train_indices, self.tokens_per_step,
            announce=self.info.is_main and bool(t.progress))  # said with the bar and stage lines
        self.schedule = plan_wsd(cfg.schedule, int(t.steps), self.tokens_per_step)  # total >= resolved steps
        self.group_schedules = self._group_schedules()
        s = cfg.schedule
        self.batch_warmup = BatchWarmup(target=self.tokens_per_step, start=s.batch_warmup_start,
                                        tokens=s.batch_warmup_tokens, multiple=d.max_tokens * world)
        self.step = 0
        self.tokens = 0
        self.history: list[dict[str, Any]] = []
        self._fsdp = self.info.enabled and t.strategy == "fsdp"
        self._pending_optim: tuple | None = None
        self._inputs: dict[str, Any] | None = None
        self._input_state()  # the inputs as read now (a resume compares its checkpoint's with these)

    def _plan_schedule(self, steps: int) -> WSD:
        """The learning-rate schedule of a run of ``steps`` steps (``schedule.*`` of the config)."""
        return plan_wsd(self.cfg.schedule, steps, self.tokens_per_step, check=False)  # resume: as saved

    def _group_schedules(self) -> dict[float, WSD | Delayed]:
        """The schedule of each ``start_fraction`` a parameter group carries (an objective's
        groups that join late: the encoder after ``task.lp_fraction`` of linear probing).
        The delay is whole optimizer steps with ``schedule.unit=steps``."""
        out: dict[float, WSD | Delayed] = {0.0: self.schedule}
        total = self.schedule.total
        for g in self.optimizer.param_groups:
            frac = float(g.get("start_fraction", 0.0))
            if frac in out or self.cfg.train.steps == 0:  # no step: no group ever starts
                out.setdefault(frac, self.schedule)
                continue
            start = round(frac * total) if self.schedule.unit == "steps" else frac * total
            if start >= total:
                raise ConfigError(f"a parameter group starts after {frac} of the schedule, at "
                                  f"{start} of {total:g} {self.schedule.unit}: it would never train "
                                  "(lower task.lp_fraction or raise train.steps)")
            out[frac] = Delayed(self.schedule, start) if start > 0 else self.schedule
        return out

    def _make_optimizer(self, model: torch.nn.Module) -> StableAdamW:
        o = self.cfg.optim
        groups = self.objective.param_groups(model, o.weight_decay, o.lr)
        for g in groups:  # weight decay follows each group's own peak lr
            g.setdefault("max_lr", o.lr * g.get("lr_scale", 1.0))
        return StableAdamW(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps, max_lr=o.lr,
                           foreach=o.foreach)

    @contextmanager
    def built(self) -> Iterator[Trainer]:
        """The trainer set up as ``fit()`` sets it up (its model, optimizer, loader), without
        training, for a caller that inspects them; the run directory's lock is given back at
        the end (``_build`` alone kept it, and a later run of that thread on the same directory
        was let in as a further holder of a lock nobody would give back)."""
        with session_state.training(cuda=False):
            self._lock = None
            try:
                self._build()
                yield self
            finally:
                ckpt.unlock_run_dir(self._lock)
                self._lock = None
                D.teardown()

    # ------------------------------------------------------------------ loop
    def fit(self) -> Path:
        """Train; the caller's session is given back as it was (``session_state.training``:
        its random generators, which the run seeds and a resume sets, the deterministic
        kernels a CPU run turns on, the default dtype); fits in two threads take turns."""
        on_cuda = getattr(getattr(self, "device", None), "type", None) == "cuda"  # stand-ins in tests have none
        with session_state.training(cuda=on_cuda):
            self._lock: str | None = None
            try:
                try:
                    self._build()
                    self.resumed_from: Path | None = None
                    self._resume()
                except BaseException:
                    self._remove_created()
                    raise
                if self.finished_at is None:  # a finished run's folder is left as it is (_check_steps)
                    if self.info.is_main:
                        write_text_atomic(self.run_dir / "config.yaml", OmegaConf.to_yaml(self.cfg))
                    self._train()
            finally:
                ckpt.unlock_run_dir(self._lock)
                self._lock = None
                D.teardown()
        return self.run_dir

    def _train(self) -> None:
        cfg, t, info = self.cfg, self.cfg.train, self.info
        base = self.model
        if cfg.run.compile:
            base.compile()
        self.wrapped = D.wrap(base, info, self.device, t.strategy)
        if self._fsdp:
            self._shard_optimizer()
        batches = iter(self.loader)
        self.objective.on_start(self)
        bar = None
        if info.is_main and t.progress:
            from encoderkit.cliutil import progress_bar

            bar = progress_bar(total=t.steps, initial=self.step, desc=self.objective.name, dynamic_ncols=True,
                       file=sys.stderr)
        last_saved = self.step if self.resumed_from is not None else -1
        window = {"time": time.perf_counter(), "tokens": self.tokens}
        overrun = None  # the schedule's tokens reached with steps left: said once (lr 0 from there)
        while self.step < t.steps and not self.objective.stop:
            stats = self._train_step(batches)
            self.step += 1
            self.tokens += int(stats["step_tokens"])
            if info.is_main and overrun is None:
                overrun = overrun_line(self.schedule, self.tokens, self.step, int(t.steps))
                if overrun:
                    warnings.warn(overrun, stacklevel=2)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{stats['loss']:.4f}", lr=f"{stats['lr']:.2e}")
            if self.step % t.log_every == 0 or self.step == t.steps:
                now = time.perf_counter()
                stats["tokens_per_s"] = (self.tokens - window["tokens"]) / max(now - window["time"], 1e-9)
                window = {"time": now, "tokens": self.tokens}
                self._log({"step": self.step, "tokens": self.tokens, **stats})
            if t.eval_every and (self.step % t.eval_every == 0 or self.step == t.steps):
                val = self._validate()
                if val is not None:
                    self._log({"step": self.step, "tokens": self.tokens, **val})
                    self.objective.after_validation(self, val)
            if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or self.step == t.steps:
                self._save()
                last_saved = self.step
        if bar is not None:
            bar.close()
        # a run of train.steps=0 saves its step-0 model (the fitted probe head) once
        if last_saved != self.step and (self.step > 0 or t.steps == 0):
            self._save()
        self.objective.on_end(self)
        if info.is_main:
            self._plot()

    def _shard_optimizer(self) -> None:
        """fully_shard swaps parameters for DTensors: rebuild the optimizer on them, and
        load a resumed optimizer state (full, keyed by parameter name) into the shards."""

        self.optimizer = self._make_optimizer(self.wrapped)
        if self._pending_optim is not None:
            from torch.distributed.tensor import distribute_tensor

            tensors, _ = self._pending_optim
            for name, p in self.wrapped.named_parameters():
                if f"state.{name}.step" not in tensors:
                    continue
                state = self.optimizer.state[p]
                state["step"] = tensors[f"state.{name}.step"].clone()
                for key in ("exp_avg", "exp_avg_sq"):
                    full = tensors[f"state.{name}.{key}"].to(p.device, p.dtype)
                    # every rank holds the full tensor: each keeps its own shard of it (a
                    # parameter FSDP2 leaves whole keeps all of it)
                    state[key] = (distribute_tensor(full, p.device_mesh, p.placements, src_data_rank=None)
                                  if D.is_sharded(p) else full)
            self._pending_optim = None

    def _autocast(self):
        """The autocast of every forward the run makes (training, validation, the probe head's
        features, RankMe): bf16 on the run's device for ``run.precision=bf16``, else none,
        whatever autocast the caller of ``fit`` runs under (``session_state.forward_precision``)."""
        return session_state.forward_precision(self.device.type, bf16=self.precision == "bf16")

    def _train_step(self, batches) -> dict[str, Any]:
        info, world = self.info, self.info.world_size
        target = self.batch_warmup(self.tokens)
        n_micro = max(1, math.ceil(target / (self.cfg.data.max_tokens * world)))
        micro = [next(batches) for _ in range(n_micro)]
        counts = [self.objective.weight(b) for b in micro]
        local = torch.tensor([sum(counts),
                              sum(b.num_tokens for b in micro)], dtype=torch.float64)
        # counted on the host (PackedBatch.predict_index): a device round trip only across ranks
        glob = D.all_reduce_sum(local.to(self.device), info).cpu() if info.enabled else local
        total_pred = max(float(glob[0]), 1.0)
        step_tokens = float(glob[1])
        progress = self.step + 1 if self.schedule.unit == "steps" else self.tokens + step_tokens
        lr = self.cfg.optim.lr * self.schedule(progress)
        for g in self.optimizer.param_groups:
            ratio = self.group_schedules[float(g.get("start_fraction", 0.0))](progress)
            g["lr"] = self.cfg.optim.lr * ratio * g.get("lr_scale", 1.0)

        acc: dict[str, torch.Tensor] = {}
        fill = 0.0
        for i, batch in enumerate(micro):
            fill += float(batch.meta.get("fill", batch.num_tokens / self.cfg.data.max_tokens))
            batch = batch.to(self.device, non_blocking=True)
            p = counts[i]  # counted on the host: no device read
            sync = i == len(micro) - 1 or not hasattr(self.wrapped, "no_sync")
            ctx = nullcontext() if sync else self.wrapped.no_sync()
            with ctx:
                with self._autocast():
                    out = self.wrapped(batch)
                if out.loss is None:
                    raise RuntimeError(f"the {self.objective.name} model returned no loss")
                # DDP averages gradients over ranks: scale by world to get the global mean.
                (out.loss.float() * (p * world / total_pred)).backward()
            w = float(p)
            for key, value in (("loss", out.loss), *[(f"loss/{k}", v) for k, v in out.losses.items()],
                               *[(f"metric/{k}", v) for k, v in out.metrics.items()]):
                acc[key] = acc.get(key, 0.0) + value.detach().float() * w
        keys = sorted(acc)
        vec = torch.stack([torch.as_tensor(acc[k], device=self.device) for k in keys]
                          + [torch.tensor(fill / len(micro), device=self.device)])
        vec = D.all_reduce_sum(vec.to(self.device), info).cpu()
        values = {k: float(v) / total_pred for k, v in zip(keys, vec[:-1])}
        loss = values["loss"]
        if not math.isfinite(loss):
            last = ckpt.latest_checkpoint(self.ckpt_dir)
            raise NonFiniteLossError(
                f"loss is {loss} at step {self.step + 1}; training stopped before the update. "
                f"Last good checkpoint: {last if last else 'none written yet'} "
                "(resume from it with a lower optim.lr or check the data)")
        if self._fsdp:
            D.average_whole_grads(self.wrapped, info)
        max_norm = self.cfg.train.grad_clip if self.cfg.train.grad_clip > 0 else float("inf")
        norm = D.clip_grad_norm(self.wrapped, max_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        out_stats: dict[str, Any] = {"loss": loss, "lr": lr, "grad_norm": float(norm),
                                     "step_tokens": int(step_tokens), "predicted": int(glob[0]),
                                     "fill": float(vec[-1]) / world, "micro_batches": n_micro}
        for k, v in values.items():
            if k != "loss":
                out_stats[k.replace("loss/", "loss_").replace("metric/", "")] = v
        return out_stats

    def _validate(self) -> dict[str, float] | None:
        return self.objective.validate(self)
