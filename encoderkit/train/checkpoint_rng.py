"""The random generators' states (torch, CUDA, numpy, Python) as JSON for a checkpoint's
``state.json``, and their restore, which refuses a damaged entry before changing any generator.
``encoderkit.train.checkpoint`` re-exports these."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from encoderkit.errors import DataError


def _b64(t: Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": _b64(torch.get_rng_state()),
        "cuda": [_b64(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


# what a damaged rng entry raises while it is decoded or tried (binascii.Error is a ValueError)
_RNG_ERRORS = (KeyError, IndexError, TypeError, ValueError, RuntimeError, OverflowError, AttributeError)


def _parse_rng(state: Mapping[str, Any]) -> tuple[Tensor, list[Tensor], tuple, tuple]:
    """(torch, cuda, numpy, python) generator states, each tried on a throwaway generator of
    its kind (the CUDA ones excepted): raises one of ``_RNG_ERRORS`` for a damaged entry."""
    torch_state = _unb64(state["torch"])
    cuda = [_unb64(s) for s in state.get("cuda") or []]
    n = state["numpy"]
    np_state = (n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4])
    p = state["python"]
    py_state = (p[0], tuple(p[1]), p[2])
    torch.Generator().set_state(torch_state)
    np.random.RandomState().set_state(np_state)
    random.Random().setstate(py_state)
    return torch_state, cuda, np_state, py_state


def set_rng_state(state: Mapping[str, Any], file: Path | str | None = None) -> None:
    """Restore the generators saved by ``rng_state``; a damaged state (``file``: where it was
    read) is a ``DataError``, raised before any generator is changed."""
    try:
        if not isinstance(state, Mapping):
            raise TypeError(f"a JSON {type(state).__name__}, not an object")
        torch_state, cuda, np_state, py_state = _parse_rng(state)
    except _RNG_ERRORS as e:
        raise DataError(f"its random-generator state (rng) cannot be restored ({type(e).__name__}: "
                        f"{' '.join(str(e).split())})", file=file) from None
    torch.set_rng_state(torch_state)
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    np.random.set_state(np_state)
    random.setstate(py_state)
