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
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from encoderkit import session_state
from encoderkit.domain import check_positions
from encoderkit.errors import DataError
from encoderkit.outputs import write_text_atomic
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import distributed as D
from encoderkit.train.budget import resolve_steps
from encoderkit.train.config import ConfigError, encoder_config
from encoderkit.train.metrics_log import metrics_line, read_metrics
from encoderkit.train.objective import make_objective
from encoderkit.train.optim import StableAdamW
from encoderkit.train.precision import cpu_has_native_bf16
from encoderkit.train.schedule import WSD, BatchWarmup, Delayed


# config keys naming files a run trains on besides its store: a resume checks they are unchanged
INPUT_FILES = ("task.labels", "task.split")


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss became NaN or infinite."""


@contextmanager
def _writing(path: Path):
    """A failed write of a run file (a full disk, a quota) as one line naming it."""
    try:
        yield
    except OSError as e:
        raise DataError(f"cannot write: {e.strerror or e}", file=path) from None


class Trainer:
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
            ckpt.check_run_dir(self.run_dir)
            missing = [p for p in (self.run_dir, *self.run_dir.absolute().parents) if not p.exists()]
            self._created = missing[-1] if missing else None
            try:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"The 'run.dir' parameter {str(self.run_dir)!r} cannot be created: "
                                  f"{e.strerror or e}") from None
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
            check_positions(self.domain, self.domain.featurize(self.store[0]).positions)
        self.encoder_config = encoder_config(self.config_dict["model"], self.domain.rope_axes)

        torch.manual_seed(cfg.run.seed)  # identical initial weights on every rank
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
            cfg, self.store, self.domain, self.objective.train_indices, self.tokens_per_step)
        self.schedule = self._plan_schedule(int(t.steps))
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
        s = self.cfg.schedule
        total = s.total or (steps if s.unit == "steps" else steps * self.tokens_per_step)
        total = total or 1  # train.steps=0 (a fine-tuning run that only fits its probe head)
        warmup = s.warmup if s.warmup is not None else s.warmup_fraction * total
        decay = s.decay if s.decay is not None else s.decay_fraction * total
        return WSD(total=total, warmup=warmup, decay=decay, shape=s.shape,
                   final_ratio=s.final_ratio, unit=s.unit)

    def _check_steps(self, path: Path, state: dict[str, Any]) -> None:
        """``train.steps`` may change on resume (``RESUMABLE_KEYS``), but never to below the
        checkpoint's step: that run is already further (``encoderkit.load`` loads it), so it is
        refused before anything (config.yaml, metrics) is rewritten. A change is said in one
        line, with what it does to the learning-rate schedule (planned from ``train.steps``:
        warmup and decay re-laid for the new length, so a finished run extended restarts from
        the decayed rate at the peak of the stable phase)."""
        step, now = int(state["step"]), int(self.cfg.train.steps)
        saved = ((state.get("config") or {}).get("train") or {}).get("steps")
        if now < step:
            raise ConfigError(f"train.steps={now} is below the step of checkpoint {path} ({step}): "
                              f"the run is already past it, and nothing was changed; resume with "
                              f"train.steps >= {step} (it trained with {saved}), or start a shorter "
                              f"run in another run.dir")
        if not isinstance(saved, int) or isinstance(saved, bool) or saved == now or not self.info.is_main:
            return
        old = self._plan_schedule(saved)
        lr = float(self.cfg.optim.lr)
        tokens = int(state.get("tokens", 0))

        def at(schedule: WSD, steps_done: int, tokens_done: float) -> float:
            return lr * schedule(steps_done if schedule.unit == "steps" else tokens_done)
        head = f"train.steps {saved} -> {now}: the run continues from step {step}"
        if now == step:
            print(f"{head}, its last step (nothing left to train)", flush=True)
        elif old == self.schedule:
            print(f"{head} to step {now}; the learning-rate schedule is unchanged "
                  f"(schedule.total={self.schedule.total:g} {self.schedule.unit})", flush=True)
        else:
            nxt = at(self.schedule, step + 1, tokens + self.batch_warmup(tokens))
            print(f"{head}; the learning-rate schedule is re-planned for {now} steps (lr at step "
                  f"{step + 1}: {nxt:.3g}; at step {step}: {at(old, step, tokens):.3g} as planned for "
                  f"{saved})", flush=True)

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

    def _resume(self) -> None:
        cfg = self.cfg
        path: Path | None
        if cfg.run.resume == "never":
            path = None
            if self.info.is_main and ckpt.latest_checkpoint(self.ckpt_dir) is not None:
                raise ConfigError(f"run.resume=never but {self.ckpt_dir} already holds "
                                  "checkpoints; choose another run.dir or run.resume=auto")
        elif cfg.run.resume == "auto":  # the newest that verifies; damaged ones are skipped with a warning
            path = ckpt.newest_valid_checkpoint(self.ckpt_dir) if self.info.is_main else None
        else:  # a checkpoint named directly is verified as resume=auto verifies the newest
            path = Path(cfg.run.resume)
            if self.info.is_main:
                ckpt.verify_checkpoint(path)
        path = D.broadcast_object(str(path) if path else None, self.info)
        if path is None:
            if self.info.is_main:  # metrics describe the run the checkpoints describe
                ckpt.discard_metrics(self.run_dir)
            if cfg.run.init_from:
                from encoderkit.interop.hf import init_from_hf

                message = init_from_hf(self.model, cfg.run.init_from)
                if self.info.is_main and message:
                    print(f"init_from {cfg.run.init_from}: {message}", flush=True)
            return
        path = Path(path)
        model_t, optim_t, groups, state = ckpt.load_checkpoint(path, resume=True)
        if "loader" not in state:
            # weights only (e.g. `encoderkit import-hf`): start training from these weights
            if self.info.is_main:
                ckpt.discard_metrics(self.run_dir)
            self._load_initial_weights(path, model_t, state)
            return
        diff = ckpt.config_diff(state["config"], self.config_dict, self.domain.read_options())
        if diff:
            older = any(ckpt.OLDER_RUN in d or "checkpoint '<absent>'" in d for d in diff)
            raise ConfigError(
                f"checkpoint {path} was trained with a different config: " + "; ".join(diff)
                + (". It was written by an older encoderkit: resume it with the values named, "
                   "or start from its weights in another run.dir (encoderkit finetune "
                   f"checkpoint={self.run_dir})" if older else " (use another run.dir)"))
        if len(state["loader"]) != self.info.world_size:
            raise ConfigError(f"checkpoint {path} was written by {len(state['loader'])} ranks; "
                              f"resuming needs the same number (got {self.info.world_size})")
        self._check_inputs(path, state.get("inputs"))
        ckpt.load_model_state(self.model, model_t)
        if self._fsdp:  # sharded optimizer state is loaded after fully_shard (see _train)
            self._pending_optim = (optim_t, groups)
        else:
            ckpt.load_optimizer_tensors(self.optimizer, optim_t, groups)
        try:
            self.loader.load_state_dict(state["loader"][self.info.rank])
        except ValueError as e:  # another split of the records (checkpoints without a store identity)
            reading = self._reading_changed(state)
            raise DataError(f"cannot resume from checkpoint {path}: {' '.join(str(e).split())} "
                            + (reading or "(was data.store re-ingested or appended to, or a labels or "
                               "split file changed, since?)"), file=self.cfg.data.store) from None
        self._check_steps(path, state)  # the last check: its line is said of a resume that goes on
        ckpt.set_rng_state(state["rng"][self.info.rank], file=path / ckpt.STATE_FILE)
        self.step, self.tokens = int(state["step"]), int(state["tokens"])
        self.history = [h for h in read_metrics(self.run_dir / "metrics.jsonl")
                        if h.get("step", 0) <= self.step]
        if self.info.is_main:  # drop lines logged after the checkpoint: they are recomputed
            write_text_atomic(self.run_dir / "metrics.jsonl",
                               "".join(metrics_line(h) for h in self.history))
        self.resumed_from = path

    def _reading(self) -> dict[str, Any]:
        """How the loader reads the store (saved with a checkpoint): ``chunks`` (chunk-aware, from
        disk) or ``records``, and the in-memory threshold that chose it under ``data.read=auto``."""
        from encoderkit.data import loader

        return {"read": getattr(self.loader, "read", None),
                "in_memory_mb": loader.AUTO_IN_MEMORY_BYTES / 2**20,
                "store_mb": round(float(getattr(self.store, "nbytes", 0)) / 2**20, 1)}

    def _reading_changed(self, state: dict[str, Any]) -> str | None:
        """Why a loader state does not fit when the cause is the reading mode, not the data: the
        checkpoint's loader read the store in memory and this one chunk-aware (or the reverse)
        with the same config, because ENCODERKIT_IN_MEMORY_MB moved the store across the
        in-memory threshold; None when the mode is the same (or the checkpoint did not say)."""
        saved, now = state.get("reading"), self._reading()
        if not isinstance(saved, dict) or saved.get("read") in (None, now["read"]) or now["read"] is None:
            return None
        how = {"chunks": "chunk-aware from disk", "records": "record by record, in memory"}
        then = saved.get("in_memory_mb")
        then = f"{then:g} MB" if isinstance(then, (int, float)) else "unknown"
        return (f"(the loader read the store {how.get(saved['read'], saved['read'])} then and "
                f"{how.get(now['read'], now['read'])} now, which shuffles differently: with "
                f"data.read=auto a store under ENCODERKIT_IN_MEMORY_MB is read in memory, and this "
                f"store holds {now['store_mb']:g} MB against a threshold of {then} then and "
                f"{now['in_memory_mb']:g} MB now. Set ENCODERKIT_IN_MEMORY_MB as when the checkpoint "
                f"was written to resume, or start a new run.dir)")

    def _input_state(self) -> dict[str, Any]:
        """What the run trains on, for a resume to check: the store's identity and the sha256
        of the files named by ``INPUT_FILES`` (a fine-tuning run's labels and split). Read
        once per run (hashing a large store's offsets takes a moment): the inputs as the run
        found them."""
        if getattr(self, "_inputs", None) is None:
            self._inputs = self._read_inputs()
        return self._inputs

    def _read_inputs(self) -> dict[str, Any]:
        files = {}
        for key in INPUT_FILES:
            name = OmegaConf.select(self.cfg, key, default=None)
            if name and "://" not in str(name) and Path(str(name)).is_file():
                files[key] = ckpt.file_digest(Path(str(name)))["sha256"]
        store = str(self.cfg.data.store)
        # where the store is, whatever directory the command ran from: a loaded run finds its
        # training records there (``infer.load.run_store``) though config.yaml keeps the path as given
        where = store if "://" in store else os.path.abspath(store)
        return {"identity": self.store.identity, "records": len(self.store),
                "tokens": int(self.store.num_tokens), "files": files, "store": where}

    def _check_inputs(self, path: Path, saved: dict[str, Any] | None) -> None:
        """A resume trains on the records (and labels) its checkpoint trained on: a store
        re-ingested, appended to or replaced since, or a labels file edited, would silently
        change the data and its order."""
        if not saved:  # checkpoints written before stores had an identity
            return
        now = self._input_state()
        if saved.get("identity") != now["identity"]:
            raise DataError(f"holds other records than when checkpoint {path} was written "
                            f"({saved.get('records')} records, {saved.get('tokens')} tokens then; "
                            f"{now['records']} and {now['tokens']} now): it was re-ingested, appended to "
                            f"or replaced since, and resuming would train on other data in another order. "
                            f"Point data.store at the store the run trained on, or start a new run.dir",
                            file=self.cfg.data.store)
        for key, digest in (saved.get("files") or {}).items():
            if now["files"].get(key) != digest:
                raise DataError(f"{key}: the file differs from the one checkpoint {path} was trained "
                                f"with (its sha256 changed): resuming would train on other labels. "
                                f"Restore it, or start a new run.dir",
                                file=OmegaConf.select(self.cfg, key, default=None))

    def _make_optimizer(self, model: torch.nn.Module) -> StableAdamW:
        o = self.cfg.optim
        groups = self.objective.param_groups(model, o.weight_decay, o.lr)
        for g in groups:  # weight decay follows each group's own peak lr
            g.setdefault("max_lr", o.lr * g.get("lr_scale", 1.0))
        return StableAdamW(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps, max_lr=o.lr,
                           foreach=o.foreach)

    def _load_initial_weights(self, path: Path, model_t: dict, state: dict) -> None:
        saved = state.get("model_config")
        current = self.encoder_config.to_dict()
        if saved is not None and saved != current:
            diff = [f"model.{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}"
                    for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
            raise ConfigError(f"initial checkpoint {path} has another model shape: "
                              + "; ".join(diff))
        ckpt.load_model_state(self.model, model_t)

    def _remove_created(self) -> None:
        """A start that failed (a bad store, a model that does not fit): the folders this run
        made are removed while still empty, so a corrected rerun meets no empty run dir."""
        top = getattr(self, "_created", None)
        if top is None:
            return
        d = Path(self.run_dir).absolute()
        while True:
            try:
                d.rmdir()  # only an empty folder
            except OSError:
                return
            if d == top.absolute():
                return
            d = d.parent

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
        while self.step < t.steps and not self.objective.stop:
            stats = self._train_step(batches)
            self.step += 1
            self.tokens += int(stats["step_tokens"])
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
                    # every rank holds the full tensor: each keeps its own shard of it
                    state[key] = distribute_tensor(full, p.device_mesh, p.placements,
                                                   src_data_rank=None)
            self._pending_optim = None

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

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
        max_norm = self.cfg.train.grad_clip if self.cfg.train.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.wrapped.parameters(), max_norm)
        if hasattr(norm, "full_tensor"):  # DTensor under FSDP2
            norm = norm.full_tensor()
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

    # ------------------------------------------------------------------ outputs
    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.info.is_main:
            with _writing(self.run_dir / "metrics.jsonl"), open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(metrics_line(record))

    def _save(self) -> None:
        info = self.info
        model_t = D.full_state_dict(self.wrapped, self.cfg.train.strategy, info) if self._fsdp else {}
        if self._fsdp:
            # full (unsharded) moments keyed by parameter name; full_tensor is a collective
            optim_t = {}
            for name, p in self.wrapped.named_parameters():
                state = self.optimizer.state.get(p)
                if not state:
                    continue
                optim_t[f"state.{name}.step"] = state["step"].detach().cpu().clone()
                for key in ("exp_avg", "exp_avg_sq"):
                    optim_t[f"state.{name}.{key}"] = state[key].full_tensor().cpu().contiguous()
            groups = [{k: v for k, v in g.items() if k != "params"}
                      for g in self.optimizer.param_groups]
        else:
            optim_t, groups = ckpt.optimizer_tensors(self.optimizer)
        loader_states = self._gather(self.loader.state_dict())
        rng_states = self._gather(ckpt.rng_state())
        if info.is_main:
            tensors = ({k: v.contiguous() for k, v in model_t.items()} if self._fsdp
                       else ckpt.model_state(D.unwrap(self.wrapped)))
            state = {
                "step": self.step, "tokens": self.tokens, "config": self.config_dict,
                "config_hash": ckpt.config_hash(self.config_dict),
                "model_config": self.encoder_config.to_dict(),
                "domain": self.domain.describe(),
                "schedule": {"lr_ratio": self.schedule(self.step if self.schedule.unit == "steps"
                                                       else self.tokens),
                             "tokens_per_step": self.batch_warmup(self.tokens)},
                "loader": loader_states, "rng": rng_states, "world_size": info.world_size,
                "inputs": self._input_state(), "reading": self._reading(),
                **self.objective.checkpoint_state(),
            }
            ckpt.save_checkpoint(self.ckpt_dir, self.step, tensors, optim_t, groups, state,
                                 keep=self.cfg.train.keep)
            self._plot()
        D.barrier(info)

    def _gather(self, obj: Any) -> list[Any]:
        if not self.info.enabled:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.info.world_size
        dist.all_gather_object(out, obj)
        return out

    def _plot(self) -> None:
        # a Figure of its own on the Agg canvas: no pyplot, so the session's backend (a
        # notebook's inline one) and its open figures are left as they are
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        train = [(h["tokens"], h["loss"]) for h in self.history if "loss" in h]
        val = [(h["tokens"], h["val_loss"]) for h in self.history if "val_loss" in h]
        fig = Figure(figsize=(6, 4))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        if train:
            ax.plot(*zip(*train), label="train")
        if val:
            ax.plot(*zip(*val), marker="o", label="validation")
        ax.set_xlabel("tokens")
        ax.set_ylabel("loss")
        ax.set_title(f"{self.domain.name}: {self.run_dir.name}")
        if train or val:
            ax.legend()
        fig.tight_layout()
        tmp = self.run_dir / f".loss.png.tmp-{os.getpid()}.png"
        try:
            with _writing(self.run_dir / "loss.png"):
                fig.savefig(tmp, dpi=100)
                os.replace(tmp, self.run_dir / "loss.png")
        finally:
            with suppress(OSError):  # a read-only run folder: the write's own error is the one to show
                tmp.unlink(missing_ok=True)

