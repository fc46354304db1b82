"""Multi-node training on one machine: two torchrun agents ("nodes") of 2 gloo ranks
each meet at a c10d rendezvous on localhost, the way two hosts would.

The 2x2 run is compared with
* a single process that draws the same global batch (each step: one micro-batch from
  each of the 4 ranks' loaders, the loss averaged over all their predicted tokens) and
  takes the same optimizer steps. Loss curve and weights agree within float32
  round-off (measured: losses 7e-8 relative, weights 1.8e-7 absolute), not bitwise:
  DDP sums the 4 ranks' gradients with Gloo's all-reduce and divides by the world
  size, while one backward over the weighted sum of the 4 losses accumulates them in
  autograd's order;
* one node of 4 gloo ranks (``torchrun --standalone``): bitwise equal loss curve,
  validation loss and weights. Same world size, same ranks' data, same collective
  algorithm, so the same reduction order: where the ranks run must not matter.

The entry script is dist_entry.py (it skips interpreter teardown: see there).
The fast tests check the device choice of a process on a multi-GPU host (CUDA faked).
"""

from __future__ import annotations

import contextlib

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from encoderkit.errors import UsageError
from encoderkit.train.distributed import resolve_device
from test_trainer import loaders

HERE = Path(__file__).resolve().parent
ENTRY = HERE / "dist_entry.py"
TIMEOUT_S = 300  # per launch; a healthy 2x2 run takes ~30 s on 2 busy cores
STEPS = 4


def free_port() -> int:
    """A port free now (the OS picks it); the rendezvous binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def run_launchers(cmds: list[list[str]], logs: list[Path]) -> list[int]:
    """Start the launchers together (each in its own session, so its workers can be
    killed as a group), wait for all of them, and kill every group still alive on a
    timeout or an error: no process outlives the test."""
    procs: list[subprocess.Popen] = []
    try:
        for cmd, log in zip(cmds, logs):
            with open(log, "w") as fh:
                procs.append(subprocess.Popen(cmd, env=_env(), stdout=fh, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        return [p.returncode for p in procs]
    finally:
        for p in procs:
            if p.poll() is None or _group_alive(p.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # a reused id owned by someone else: not ours
        return False


def two_node_commands(port: int, args: list[str]) -> list[list[str]]:
    """What one would type on two hosts, with 127.0.0.1 as both hosts' address.
    ``is_host`` names the agent that serves the rendezvous store (on real hosts it is
    the one whose address matches the endpoint; on one machine both would match)."""
    return [[sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=2",
             "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=ek-multinode",
             f"--rdzv-conf=is_host={int(node == 0)},join_timeout=120", "--local-addr=127.0.0.1",
             "--max-restarts=0", str(ENTRY), *args]
            for node in (0, 1)]


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:]


def reference(store: str, steps: int, world: int, lr: float = 1e-2):
    """One process, the same global batch: per step, one micro-batch from each of the
    ``world`` ranks' loaders, the mean loss over all their predicted tokens, one
    StableAdamW step (as test_trainer.reference_training, plus the loss curve)."""
    from encoderkit.core import EncoderConfig
    from encoderkit.data.store import RecordStore
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.train.optim import StableAdamW, param_groups
    from encoderkit.train.schedule import WSD

    domain = td.TrainTestDomain(RecordStore(store).schema, rate=0.3)
    cfg = EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2,
                               intermediate_size=64, local_window=16, backend="sdpa", rope_axes=1)
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, cfg)
    opt = StableAdamW(param_groups(model, 1e-5), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    sched = WSD(total=steps, warmup=0.05 * steps, decay=0.2 * steps, shape="1-sqrt")
    its = [iter(ld) for ld in loaders(store, world=world)]
    losses = []
    for step in range(steps):
        batches = [next(it) for it in its]
        total = sum(b.num_predicted for b in batches)
        loss = sum(model(b).loss * (b.num_predicted / total) for b in batches)
        losses.append(float(loss.detach()))
        for g in opt.param_groups:
            g["lr"] = lr * sched(step + 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in model.state_dict().items()}, losses


def metrics(run: Path) -> tuple[list[float], list[float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r], [r["val_loss"] for r in rows if "val_loss" in r]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / str(STEPS) / "model.safetensors"))


@pytest.mark.slow
def test_two_nodes_of_two_gloo_ranks_match_one_process_and_one_node(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    extra = {"train.eval_every": STEPS, "train.checkpoint_every": STEPS}
    multi, single = tmp_path / "2x2", tmp_path / "1x4"

    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    for _ in range(2):  # a second try only if another process took the free port first
        cmds = two_node_commands(free_port(), td.tiny_overrides(store, str(multi), steps=STEPS, **extra))
        rcs = run_launchers(cmds, logs)
        if rcs == [0, 0] or not any("address already in use" in tail(log, 10**6).lower() for log in logs):
            break
    assert rcs == [0, 0], "\n".join(f"--- node {i} (rc {rc}):\n{tail(log)}"
                                    for i, (rc, log) in enumerate(zip(rcs, logs)))
    state = json.loads((multi / "checkpoints" / str(STEPS) / "state.json").read_text())
    assert state["world_size"] == 4 and len(state["loader"]) == 4

    got_w = weights(multi)
    got_loss, got_val = metrics(multi)
    ref_w, ref_loss = reference(store, STEPS, world=4)
    assert len(got_loss) == STEPS and len(got_val) == 1
    torch.testing.assert_close(torch.tensor(got_loss), torch.tensor(ref_loss), rtol=1e-6, atol=0)
    for k, v in got_w.items():  # float32 round-off of the gradient sum order only
        torch.testing.assert_close(v, ref_w[k], rtol=0, atol=1e-6, msg=k)

    one_node = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                "--max-restarts=0", str(ENTRY),
                *td.tiny_overrides(store, str(single), steps=STEPS, **extra)]
    log = tmp_path / "single.log"
    assert run_launchers([one_node], [log]) == [0], tail(log)
    assert metrics(multi) == metrics(single)  # loss curve and validation loss, bitwise
    one_w = weights(single)
    assert got_w.keys() == one_w.keys()
    for k in got_w:
        assert torch.equal(got_w[k], one_w[k]), k


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


def test_each_process_takes_the_gpu_of_its_local_rank(four_gpus):
    # global rank 5 of 8 on the second host is local rank 1: cuda:1, not cuda:5
    assert resolve_device("cuda", local_rank=1, local_world_size=4) == torch.device("cuda:1")
    assert resolve_device("auto", local_rank=3, local_world_size=4) == torch.device("cuda:3")
    assert resolve_device("cuda:2") == torch.device("cuda:2")  # one process: as given
    assert resolve_device("cpu", local_rank=3, local_world_size=4) == torch.device("cpu")


def test_more_processes_than_gpus_or_a_shared_gpu_is_a_usage_error(four_gpus):
    with pytest.raises(UsageError, match=r"4 CUDA device\(s\).*--nproc-per-node=4"):
        resolve_device("cuda", local_rank=4, local_world_size=5)
    with pytest.raises(UsageError, match=r"4 CUDA device\(s\); use cuda:0 .. cuda:3"):
        resolve_device("cuda:7")
    with pytest.raises(UsageError, match="2 processes run on this host"):
        resolve_device("cuda:0", local_rank=1, local_world_size=2)


def test_cuda_without_cuda_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", local_rank=1, local_world_size=2) == torch.device("cpu")
    with pytest.raises(UsageError, match="CUDA is not available") as e:
        resolve_device("cuda", local_rank=1, local_world_size=2)
    assert e.value.key == "run.device"
