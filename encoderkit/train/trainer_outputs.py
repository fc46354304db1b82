"""A run's folder and what the run writes into it: the folder itself (``create_run_dir``; a
failed start removes what it made, ``_remove_created``), ``metrics.jsonl`` (``_log``),
checkpoints (``_save``, with the loader and random states gathered from every rank) and
``loss.png`` (``_plot``; ``train.plot=false``: none).

``TrainerOutputs`` holds these methods of ``Trainer`` (``trainer.py``), which provides the
attributes they read (``cfg``, ``info``, ``run_dir``, ``wrapped``, ...).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from encoderkit.errors import DataError
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import distributed as D
from encoderkit.train.metrics_log import metrics_line
# the one-line error of a run.dir that cannot be made lives beside check_run_dir, which raises it
# too; importable from here as before
from encoderkit.train.run_dir import run_dir_error


@contextmanager
def _writing(path: Path):
    """A failed write of a run file (a full disk, a quota) as one line naming it."""
    try:
        yield
    except OSError as e:
        raise DataError(f"cannot write: {e.strerror or e}", file=path) from None


def displayable_name(name: str) -> str:
    """A file name as text every writer takes: a name read under a locale that could not decode
    it (``LC_ALL=C``: ``lauf_ü`` is ``'lauf_\\udcc3\\udcbc'``, its bytes kept as surrogate
    escapes) is its bytes read as UTF-8, any byte that is not replaced; another name as it is.
    matplotlib refused the escapes in ``loss.png``'s title, after the checkpoints were written."""
    if not any("\ud800" <= ch <= "\udfff" for ch in name):  # every other character encodes
        return name
    try:
        raw = os.fsencode(name)  # the bytes the escapes stand for
    except UnicodeEncodeError:  # not a name this file system's encoding made
        return name.encode("utf-8", "replace").decode("utf-8")
    return raw.decode("utf-8", "replace")


def create_run_dir(run_dir: Path) -> Path | None:
    """Check ``run_dir`` (``checkpoint.check_run_dir``) and make it with its missing parents;
    return the topmost folder made (None when it existed), which a failed start removes again
    (``TrainerOutputs._remove_created``). A folder that cannot be made is one line: a
    ``ConfigError`` (exit 2) naming the path and what is wrong with it where the user named a
    path that cannot be a folder, else a ``DataError`` (exit 1) naming the folder and the
    system's reason (``run_dir_error``)."""
    try:
        ckpt.check_run_dir(run_dir)
        missing = [p for p in (run_dir, *run_dir.absolute().parents) if not p.exists()]
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # check_run_dir words its own (a name too long fails its first stat)
        raise run_dir_error(run_dir, e) from None
    return missing[-1] if missing else None


class TrainerOutputs:
    """The outputs half of ``Trainer``: the run folder's files and checkpoints."""

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
                    full = state[key].full_tensor() if D.is_sharded(state[key]) else state[key].detach()
                    optim_t[f"state.{name}.{key}"] = full.cpu().contiguous()
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
        if not self.cfg.train.plot:  # a run nobody looks at (impute's): no matplotlib, no file
            return
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
        ax.set_title(f"{self.domain.name}: {displayable_name(self.run_dir.name)}")
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
