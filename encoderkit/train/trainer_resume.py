"""Resuming a run: the checkpoint ``run.resume`` names (or the newest that verifies) is
loaded into the trainer after checks that it continues the same run: the same config, the same
number of ranks, the same records and label files (``INPUT_FILES``), a ``train.steps`` not below
its step. Files the config names are compared by content where a resume checks it (a labels
file moved, the same sha256; the pretrained checkpoint fine-tuning started from is never
compared: a resume continues from the run's own weights), and a refused resume names the values
to repeat (``run.precision=bf16``) besides another run.dir. Also starting from a weights-only
checkpoint, and ``run.init_from``.

``TrainerResume`` holds these methods of ``Trainer`` (``trainer.py``), which provides the
attributes they read (``cfg``, ``info``, ``model``, ``loader``, ...).
"""

from __future__ import annotations

import os
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from encoderkit.errors import DataError
from encoderkit.outputs import write_text_atomic
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import distributed as D
from encoderkit.train.checkpoint_config import flatten, repeat_words
from encoderkit.train.config import ConfigError
from encoderkit.train.metrics_log import metrics_line, read_metrics
from encoderkit.train.schedule import WSD

# config keys naming files a run trains on besides its store: a resume checks they are unchanged
INPUT_FILES = ("task.labels", "task.split")

# the config key naming the pretrained checkpoint a fine-tuning run starts from
START_KEY = "checkpoint"


# the runs whose last fit in this process found them finished (``_check_steps``): absolute run
# directory -> step. An ensemble (``tasks/ensemble.py``) asks it whether its members trained
# nothing, so that its ensemble.json stands as it is and one line says so for all of them.
_FINISHED: dict[str, int] = {}
# set while an ensemble's other members run: their "already finished" lines are its one line
QUIET_FINISHED: ContextVar[bool] = ContextVar("encoderkit_quiet_finished", default=False)


def found_finished(run_dir: str | os.PathLike) -> int | None:
    """The step of ``run_dir`` if the last fit of it in this process found it finished."""
    return _FINISHED.get(os.path.abspath(run_dir))


class TrainerResume:
    """The resume half of ``Trainer``: loading a checkpoint and the checks before it."""

    def _check_steps(self, path: Path, state: dict[str, Any]) -> None:
        """``train.steps`` may change on resume (``RESUMABLE_KEYS``), but never to below the
        checkpoint's step: that run is already further (``encoderkit.load`` loads it), so it is
        refused before anything (config.yaml, metrics) is rewritten. A change is said in one
        line, with what it does to the learning-rate schedule (planned from ``train.steps``:
        warmup and decay re-laid for the new length, so a finished run extended restarts from
        the decayed rate at the peak of the stable phase).

        A run already at the ``train.steps`` it was started with is finished: ``finished_at``
        is set to its step, and ``fit`` leaves the run folder as it is (rerunning the command,
        or its saved config.yaml, trained 0 steps and rewrote config.yaml, metrics.jsonl and
        loss.png, saying nothing). Said on stderr, as a notice: stdout keeps what the command
        gives (the run directory, finetune's metrics table)."""
        step, now = int(state["step"]), int(self.cfg.train.steps)
        saved = ((state.get("config") or {}).get("train") or {}).get("steps")
        if now < step:
            raise ConfigError(f"train.steps={now} is below the step of checkpoint {path} ({step}): "
                              f"the run is already past it, and nothing was changed; resume with "
                              f"train.steps >= {step} (it trained with {saved}), or start a shorter "
                              f"run in another run.dir")
        known = isinstance(saved, int) and not isinstance(saved, bool)
        if state.get("stopped") == "patience":  # early stopping: finished below train.steps
            self._finished_early(path, state, step)
            return
        if now == step and (saved == now or not known):
            self.finished_at = step
            _FINISHED[os.path.abspath(self.run_dir)] = step
            if self.info.is_main and not QUIET_FINISHED.get():
                print(f"run {self.run_dir} already finished at step {step} (train.steps={now}, "
                      f"checkpoint {path}); nothing was trained or rewritten. To train it longer, "
                      f"rerun with a larger train.steps (e.g. train.steps={2 * max(step, 1)}); to start "
                      f"over, use another run.dir", file=sys.stderr, flush=True)
            return
        if not known or saved == now or not self.info.is_main:
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

    def _finished_early(self, path: Path, state: dict[str, Any], step: int) -> None:
        """A run its objective stopped early (``state["stopped"]``, written with the checkpoint
        of the step it stopped at) is finished as one at its ``train.steps`` is: its resume
        would replay the patience, stop before a step, and still rewrite config.yaml (a new
        run.name), metrics.jsonl and loss.png without a word. ``task.patience`` is part of
        what the checkpoint was trained with, so no change of this command goes on from it."""
        self.finished_at = step
        _FINISHED[os.path.abspath(self.run_dir)] = step
        if self.info.is_main and not QUIET_FINISHED.get():
            patience = ((state.get("config") or {}).get("task") or {}).get("patience")
            print(f"run {self.run_dir} already finished: it stopped early at step {step} (patience: "
                  f"task.patience={patience} evaluations without improvement; checkpoint {path}); "
                  f"nothing was trained or rewritten. A resume cannot change task.patience: to train "
                  f"longer, start over in another run.dir with a larger task.patience (0: no early "
                  f"stopping)", file=sys.stderr, flush=True)

    def _resume(self) -> None:
        cfg = self.cfg
        self.finished_at: int | None = None  # the step of a finished run (``_check_steps``)
        _FINISHED.pop(os.path.abspath(self.run_dir), None)
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
        # the rank count first: settings resolved per rank (data.max_tokens=auto is split
        # among the ranks) differ too when it does, and "a different config" would blame
        # values the user never typed
        ranks = len(state["loader"])
        if ranks != self.info.world_size:
            raise ConfigError(f"checkpoint {path} was written by {ranks} rank{'s' if ranks != 1 else ''}; "
                              f"resuming needs the same number (got {self.info.world_size})")
        same = self._same_content(state)  # files moved, their content the same
        diff = ckpt.config_diff(state["config"], self.config_dict, self.domain.read_options(), same)
        if diff:
            older = any(ckpt.OLDER_RUN in d or "checkpoint '<absent>'" in d for d in diff)
            words = repeat_words(state["config"], self.config_dict, self.domain.read_options(), same)
            raise ConfigError(
                f"checkpoint {path} was trained with a different config: " + "; ".join(diff)
                + (". It was written by an older encoderkit: resume it with the values named, "
                   "or start from its weights in another run.dir (encoderkit finetune "
                   f"checkpoint={self.run_dir})" if older else
                   f" (to resume it, pass {' '.join(words)}; or use another run.dir)" if words
                   else " (use another run.dir)"))
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
        if self.finished_at is not None:  # nothing to train: metrics.jsonl is left as it is
            self.resumed_from = path
            return
        ckpt.set_rng_state(state["rng"][self.info.rank], file=path / ckpt.STATE_FILE)
        self.step, self.tokens = int(state["step"]), int(state["tokens"])
        self.history = [h for h in read_metrics(self.run_dir / "metrics.jsonl")
                        if h.get("step", 0) <= self.step]
        if self.info.is_main:  # drop lines logged after the checkpoint: they are recomputed
            write_text_atomic(self.run_dir / "metrics.jsonl",
                               "".join(metrics_line(h) for h in self.history))
        self.resumed_from = path

    def _same_content(self, state: dict[str, Any]) -> list[str]:
        """The config keys that may differ from the checkpoint's on resume as long as the content
        they name is the same: a labels or split file whose sha256 the checkpoint recorded
        (``_check_inputs`` compares that). And always the pretrained checkpoint fine-tuning
        started from: a resume continues from the run's own weights, so the start checkpoint is
        not read and never refuses it (by path it refused a moved copy of the same weights and
        let other weights at the same path through)."""
        saved = state.get("inputs") if isinstance(state.get("inputs"), dict) else {}
        then, now = flatten(state.get("config") or {}), flatten(self.config_dict)
        same = [key for key in INPUT_FILES
                if then.get(key) and now.get(key) and key in (saved.get("files") or {})]
        return same + [START_KEY]

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
        out = {"identity": self.store.identity, "records": len(self.store),
               "tokens": int(self.store.num_tokens), "files": files, "store": where}
        return out

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

    def _load_initial_weights(self, path: Path, model_t: dict, state: dict) -> None:
        saved = state.get("model_config")
        current = self.encoder_config.to_dict()
        if saved is not None and saved != current:
            diff = [f"model.{k}: checkpoint {saved.get(k)!r}, now {current.get(k)!r}"
                    for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)]
            raise ConfigError(f"initial checkpoint {path} has another model shape: "
                              + "; ".join(diff))
        ckpt.load_model_state(self.model, model_t)
