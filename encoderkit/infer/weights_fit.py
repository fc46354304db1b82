"""The model a checkpoint's ``state.json`` describes, checked against its weights file
before it is built.

``state.json``'s ``model_config`` sets the model's size, and loading built that model before
the weights were looked at: a 2.7 MB upload whose state.json claimed ``hidden_size=16384``
and 96 layers allocated gigabytes, then ended in a traceback. Here the tensor names and
shapes of ``model.safetensors`` come from its header (no tensor is read), the model is built
on the ``meta`` device (shapes only, nothing allocated), and the two must agree, tensor by
tensor, before the real build: the model built is then no larger than the weights on disk.
A checkpoint that agrees but does not fit in this machine's memory is refused too, and an
allocation that fails anyway is one line (``train/model_size.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from encoderkit.errors import DataError
from encoderkit.train import checkpoint as ckpt


def weight_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a checkpoint's safetensors header (no tensor data read).

    ``hf_files.header_shapes`` reads the header; it adds ``model.`` to the names of a file
    without one (a bare Hugging Face ``ModernBertModel``). encoderkit's own names never
    start with ``model.`` (``embedder.``, ``encoder.``, ``head.``, ``classifier.`` ...), so
    taking the prefix off again gives the file's names exactly. A name safetensors cannot open
    (its bytes are not UTF-8: a run folder named under a locale that is not UTF-8) has its
    header read by ``checkpoint_safetensors.read_header``."""
    from encoderkit.interop.hf_files import header_shapes
    from encoderkit.train.checkpoint_safetensors import read_header, utf8_name

    if not file.is_file():
        from encoderkit.errors import InputNotFoundError

        raise InputNotFoundError("checkpoint weights are missing", file=file)
    if utf8_name(file):
        shapes = header_shapes([file])
    else:
        try:
            shapes = read_header(file).shapes
        except Exception as e:  # worded as header_shapes' (safetensors' own error type, an OSError)
            raise DataError(f"not a readable safetensors file: {type(e).__name__}: "
                            f"{' '.join(str(e).split())}", file=file) from None
    return {k.removeprefix("model."): v for k, v in shapes.items()}


def _expected(model: nn.Module) -> tuple[dict[str, tuple[int, ...]], dict[str, list[str]]]:
    """Shapes of the model's state (persistent buffers too), and for each tensor the other
    names it is tied to (a checkpoint stores a shared tensor once, under any of them)."""
    state = model.state_dict(keep_vars=True)
    names_of: dict[int, list[str]] = {}
    for name, t in state.items():
        names_of.setdefault(id(t), []).append(name)
    shapes = {name: tuple(t.shape) for name, t in state.items()}
    return shapes, {name: names_of[id(t)] for name, t in state.items()}


def mismatch(model: nn.Module, shapes: dict[str, tuple[int, ...]], parts: tuple[str, ...] = ()) -> str | None:
    """How the (meta) ``model`` and the weights' header ``shapes`` disagree, or None: a
    tensor of another shape, a tensor the model lacks, or a tensor of the model (and of
    none it is tied to) the file lacks. ``parts``: only the tensors whose names begin with
    one of them count, on both sides (the encoder a fine-tuning run takes from a pretrained
    checkpoint, whose pretraining head it does not have)."""
    want, tied = _expected(model)
    if parts:
        want = {n: s for n, s in want.items() if n.startswith(parts)}
    for name, shape in ((n, s) for n, s in shapes.items() if not parts or n.startswith(parts)):
        if name not in want:
            return f"the weights hold tensor {name} {shape}, which that model does not have"
        if shape != want[name]:
            return f"it describes tensor {name} as {want[name]}, the weights hold {shape}"
    absent = [n for n in want if not any(t in shapes for t in tied[n])]
    if absent:
        return (f"it describes {len(absent)} tensor(s) the weights lack (e.g. {absent[0]} "
                f"{want[absent[0]]})")
    return None


def _refuse(checkpoint: Path, problem: str) -> DataError:
    # worded as load_weights' error of a mismatch found later
    return DataError(f"does not match the model its {ckpt.STATE_FILE} describes: {problem} (damaged "
                     f"or edited; the model is not built)", file=checkpoint / ckpt.MODEL_FILE)


def layers_checked(checkpoint: Path, num_layers: int) -> dict[str, tuple[int, ...]]:
    """The header shapes of ``checkpoint``'s weights, once ``num_layers`` (the config's) is
    found to be no more than the tensors they hold: each layer has at least one, and building
    a claimed million layers on ``meta`` alone takes gigabytes of Python objects. Checked
    before any build, meta too; a ``DataError`` naming the weights file otherwise."""
    shapes = weight_shapes(checkpoint / ckpt.MODEL_FILE)
    if num_layers > len(shapes):
        raise _refuse(checkpoint, f"it describes {num_layers} layers, the weights hold {len(shapes)} "
                                  "tensors in all")
    return shapes


def check_fit(model: nn.Module, shapes: dict[str, tuple[int, ...]], checkpoint: Path,
              parts: tuple[str, ...] = ()) -> None:
    """A ``DataError`` naming ``checkpoint``'s weights file where the (meta) ``model`` and
    the weights' header ``shapes`` (``layers_checked``) disagree, over ``parts`` only when
    given (``mismatch``)."""
    problem = mismatch(model, shapes, parts)
    if problem:
        raise _refuse(checkpoint, problem)


def build_checked(build: Callable[[], nn.Module], num_layers: int, checkpoint: Path) -> nn.Module:
    """``build()`` once ``model.safetensors`` of ``checkpoint`` was found to hold exactly the
    tensors the model ``build`` makes (``num_layers``: the config's, checked first:
    ``layers_checked``). A ``DataError`` naming the weights file otherwise.

    The caller loads the weights into the model: every parameter comes from them (the check
    found each, or a tensor it is tied to), so the build draws no random initialisation
    (``modeling.random_init_skipped``; its parameters' values are undefined until loaded).
    Buffers are computed as ever."""
    from encoderkit.modeling import random_init_skipped
    from encoderkit.train.model_size import allocation, meta_parameters, size_problem

    state_file = checkpoint / ckpt.STATE_FILE
    shapes = layers_checked(checkpoint, num_layers)
    model, parameters = meta_parameters(build)
    check_fit(model, shapes, checkpoint)
    problem = size_problem(parameters)
    if problem:
        raise DataError(f"cannot load: {problem}", file=state_file)
    with allocation(parameters, lambda message: DataError(message, file=state_file)), random_init_skipped():
        return build()
