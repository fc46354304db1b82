"""StableAdamW (Wortsman et al. 2023, "Stable and low-precision training for
large-scale vision-language models"), the optimizer ModernBERT trains with.

Per tensor:
    m = lerp(m, g, 1 - b1_hat)          b_hat = debiased beta: b (1 - b^(t-1)) / (1 - b^t)
    v = b2_hat v + (1 - b2_hat) g^2
    rms = sqrt(mean(g^2 / max(v, eps^2)))    (the current v)
    lr' = lr_t / max(1, rms)                 (update clipping)
    theta *= 1 - (lr' / max_lr) wd           (fully decoupled weight decay, same clipped step)
    theta -= lr' m / (sqrt(v) + eps)         (eps outside the square root)

The debiased betas make ``m`` and ``v`` unbiased estimates from the first step on,
so no separate bias correction is applied (as in torch-optimi).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn

try:  # DTensor parameters appear under FSDP2 (fully_shard)
    from torch.distributed.tensor import DTensor
except ImportError:  # pragma: no cover - very old torch
    DTensor = None  # type: ignore[assignment,misc]


def debias_beta(beta: float, step: int) -> float:
    """beta * (1 - beta^(step-1)) / (1 - beta^step): the Adam bias correction folded into beta."""
    return (beta**step - beta) / (beta**step - 1)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: decayed matrices, and undecayed tensors with ndim <= 1 and biases
    (norm weights, learned rotary frequencies, biases)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


class StableAdamW(torch.optim.Optimizer):
    """StableAdamW with a foreach (multi-tensor) step and no host sync per parameter.

    ``max_lr`` is the peak scheduled learning rate used to scale the fully decoupled
    weight decay; it defaults to the ``lr`` given at construction (the scheduler then
    only rescales ``group["lr"]``). ``foreach=None`` picks the multi-tensor path for
    CUDA parameters and the per-tensor loop on CPU, where it measured faster (no kernel
    launches to amortise; fewer temporaries).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 8e-4,
                 betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-6,
                 weight_decay: float = 1e-5, max_lr: float | None = None,
                 foreach: bool | None = None) -> None:
        if not lr > 0:
            raise ValueError(f"The 'lr' parameter of StableAdamW must be > 0. Got {lr} instead.")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"The 'betas[{i}]' parameter of StableAdamW must be in [0, 1). "
                                 f"Got {b} instead.")
        if not eps >= 0:
            raise ValueError(f"The 'eps' parameter of StableAdamW must be >= 0. Got {eps} instead.")
        if not weight_decay >= 0:
            raise ValueError(f"The 'weight_decay' parameter of StableAdamW must be >= 0. "
                             f"Got {weight_decay} instead.")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        max_lr=max_lr if max_lr is not None else lr, foreach=foreach)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)  # host counter (cpu)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            # One step counter per group (all tensors of a group step together); kept per
            # tensor in the state so state_dict / load_state_dict round-trip it.
            step = int(self.state[params[0]]["step"].item()) + 1
            for p in params:
                self.state[p]["step"].fill_(step)
            foreach = group["foreach"]
            if foreach is None:
                foreach = params[0].device.type == "cuda"
            fn = _foreach_step if foreach else _single_step
            fn(params, [p.grad for p in params],
               [self.state[p]["exp_avg"] for p in params],
               [self.state[p]["exp_avg_sq"] for p in params],
               step=step, lr=group["lr"], beta1=group["betas"][0], beta2=group["betas"][1],
               eps=group["eps"], weight_decay=group["weight_decay"], max_lr=group["max_lr"])
        return loss


def _local(x: Tensor) -> Tensor:
    """The local shard of a DTensor (FSDP2), or the tensor itself."""
    return x.to_local() if DTensor is not None and isinstance(x, DTensor) else x


def _mean_ratio(ratios: list[Tensor], params: list[Tensor]) -> Tensor:
    """Per tensor mean(g^2 / max(v, eps^2)) -> [n]. Under FSDP2 each rank holds a shard,
    so the sums are all-reduced over the shard group: the RMS equals the unsharded one."""
    # accumulate in at least float32 (bf16 parameters), in float64 for float64 ones
    dtype = torch.promote_types(ratios[0].dtype, torch.float32)
    sums = torch.stack([r.sum(dtype=dtype) for r in ratios])  # [n]
    numels = [p.numel() for p in params]  # global numel, also for DTensors
    sharded = [DTensor is not None and isinstance(p, DTensor) for p in params]
    if any(sharded):
        import torch.distributed as dist

        # FSDP2 shards every parameter over the same mesh: one all-reduce for all of them.
        mesh = next(p.device_mesh for p, s in zip(params, sharded) if s)
        mask = torch.tensor(sharded, device=sums.device)
        shard_sums = torch.where(mask, sums, torch.zeros_like(sums))
        dist.all_reduce(shard_sums, group=mesh.get_group())
        sums = torch.where(mask, shard_sums, sums)
    return sums / torch.tensor(numels, dtype=dtype, device=sums.device)


def _foreach_step(params, grads, exp_avgs, exp_avg_sqs, *, step, lr, beta1, beta2, eps,
                  weight_decay, max_lr) -> None:
    params_l = [_local(p) for p in params]
    grads_l = [_local(g) for g in grads]
    m = [_local(x) for x in exp_avgs]
    v = [_local(x) for x in exp_avg_sqs]
    b1 = debias_beta(beta1, step)
    b2 = debias_beta(beta2, step)
    torch._foreach_lerp_(m, grads_l, 1 - b1)
    torch._foreach_mul_(v, b2)
    torch._foreach_addcmul_(v, grads_l, grads_l, value=1 - b2)

    # one scratch buffer per tensor, reused for g^2 / max(v, eps^2) and then the denominator
    tmp = torch._foreach_maximum(v, eps * eps)
    torch._foreach_reciprocal_(tmp)
    torch._foreach_mul_(tmp, grads_l)
    torch._foreach_mul_(tmp, grads_l)
    rms = _mean_ratio(tmp, params).sqrt_()  # [n]
    step_lr = lr / rms.clamp_min(1.0)  # [n] per tensor clipped learning rate, stays on device
    if weight_decay != 0:
        decay = list((1.0 - step_lr * (weight_decay / max_lr)).unbind())
        torch._foreach_mul_(params_l, decay)
    # theta -= lr' m / (sqrt(v) + eps), written as m / ((sqrt(v) + eps) / lr') so the
    # per-tensor lr' stays a device tensor (no host sync per parameter)
    torch._foreach_copy_(tmp, v)
    torch._foreach_sqrt_(tmp)
    torch._foreach_add_(tmp, eps)
    torch._foreach_div_(tmp, list(step_lr.to(tmp[0].dtype).unbind()))
    torch._foreach_addcdiv_(params_l, m, tmp, value=-1.0)


def _single_step(params, grads, exp_avgs, exp_avg_sqs, *, step, lr, beta1, beta2, eps,
                 weight_decay, max_lr) -> None:
    """Reference loop, one tensor at a time (same math as the foreach path)."""
    b1 = debias_beta(beta1, step)
    b2 = debias_beta(beta2, step)
    for param, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        p, g, m, v = _local(param), _local(g), _local(m), _local(v)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        ratio = g * g / v.clamp_min(eps * eps)
        rms = _mean_ratio([ratio], [param]).sqrt_()[0]
        step_lr = lr / rms.clamp_min(1.0)
        if weight_decay != 0:
            p.mul_(1.0 - step_lr * (weight_decay / max_lr))
        p.sub_(step_lr * m / (v.sqrt() + eps))
