"""safetensors files read by the bytes the system names them with.

safetensors' readers (0.8; 0.4 still read such names) open a file by a ``str`` they require to
be UTF-8: a run folder named under a locale that is not UTF-8 (ISO-8859-1: ``lauf_ü`` is
``lauf_\\xfc`` on disk, which Python holds as the surrogate escape ``lauf_\\udcfc``) or any
name whose bytes are not UTF-8 was "Path ... is not valid UTF-8": a pretrain into it wrote
its checkpoint (``save_file`` takes the name's bytes) and then could neither resume nor load
it. Such a name is opened here by Python, by its bytes: the tensors through safetensors' own
memory-mapped read of the open descriptor's ASCII name (``/proc/self/fd/<n>``; reading the
file's bytes into ``safetensors.torch.load`` held the file twice: a 200 MB checkpoint took
~400 MB more), a header from the file's first bytes. Every other name is read by safetensors
from its name.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import NamedTuple

from torch import Tensor

# safetensors' own limit on a header (its MAX_HEADER_SIZE): a larger length is a damaged file
MAX_HEADER = 100_000_000
# bits per element of each dtype safetensors knows (0.8's ``Dtype``)
DTYPE_BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
              "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
              "C64": 64, "F64": 64, "I64": 64, "U64": 64}


class Header(NamedTuple):
    shapes: dict[str, tuple[int, ...]]  # tensor name -> shape
    metadata: dict[str, str]  # the file's ``__metadata__`` (empty when it has none)


def utf8_name(path: str | os.PathLike) -> bool:
    """Whether safetensors can open ``path`` by name (its bytes decode as UTF-8)."""
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def load_tensors(path: str | os.PathLike) -> dict[str, Tensor]:
    """All tensors of the safetensors file ``path`` (``safetensors.torch.load_file``). Errors
    are safetensors' (``SafetensorError``) and the file system's (``FileNotFoundError`` ...)."""
    if utf8_name(path):
        from safetensors.torch import load_file

        return load_file(str(path))
    from safetensors.torch import load, load_file

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))  # opened by its bytes
    try:
        name = descriptor_name(fd)
        if name is not None:  # safetensors' own memory-mapped read, through an ASCII name of the fd
            return load_file(name)
        with os.fdopen(os.dup(fd), "rb") as f:  # no such name (not Linux / macOS / BSD)
            data = f.read()
    finally:
        os.close(fd)
    views = load(data)  # each tensor over a bytes object of its own: data is no longer needed
    del data
    # each cloned into memory of its own, as load_file's are: a view's bytes object is immutable
    # (an optimizer's state loaded from it is updated in place); one tensor at a time
    return {name: views.pop(name).clone() for name in list(views)}


def descriptor_name(fd: int) -> str | None:
    """A name that opens the file the open descriptor ``fd`` holds (``/proc/self/fd/<fd>`` on
    Linux, ``/dev/fd/<fd>`` on macOS and the BSDs): ASCII, so safetensors opens it, and it is the
    file already opened, whatever its own name's bytes. None where the system has neither."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        name = f"{folder}/{fd}"
        if os.path.exists(name):
            return name
    return None


def read_header(path: str | os.PathLike) -> Header:
    """The tensor shapes and metadata of the safetensors file ``path``, no tensor data read
    (``safe_open``). A header that is not a safetensors one raises ``SafetensorError``."""
    if utf8_name(path):
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            return Header(shapes, dict(f.metadata() or {}))
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        if len(head) < 8:
            raise _error("file shorter than its 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER or 8 + length > size:
            raise _error(f"header length {length} exceeds the file ({size} bytes)")
        text = f.read(length)
    return _parse(text, size - 8 - length)


def _parse(text: bytes, data_size: int) -> Header:
    """A header's JSON checked as safetensors checks it before any tensor is read: an object of
    tensors (a known dtype, a shape, data offsets that tile the data that follows, each the
    size its dtype and shape take) and string metadata."""
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _error(f"header is not JSON ({type(e).__name__})") from None
    if not isinstance(header, dict):
        raise _error("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _error("header's __metadata__ is not an object of strings")
    shapes: dict[str, tuple[int, ...]] = {}
    spans = []
    for name, info in header.items():
        info = info if isinstance(info, dict) else {}
        shape, offsets, dtype = info.get("shape"), info.get("data_offsets"), info.get("dtype")
        bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
        if bits is None or not (_counts(shape) and _counts(offsets) and len(offsets) == 2):
            raise _error(f"header entry {name!r} is not a tensor's dtype, shape and data offsets")
        size = math.prod(shape) * bits
        if size % 8 or offsets[1] - offsets[0] != size // 8:
            raise _error(f"tensor {name!r} spans {offsets[1] - offsets[0]} bytes, its shape {shape} of "
                         f"{dtype} takes {size / 8:g}")
        shapes[name] = tuple(shape)
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for start, stop, name in sorted(spans):
        if start != end:
            raise _error(f"tensor {name!r} starts at byte {start} of the data, not {end}")
        end = stop
    if end != data_size:
        raise _error(f"the tensors cover {end} bytes of the data, the file holds {data_size}")
    return Header(shapes, metadata)


def _counts(x: object) -> bool:
    return isinstance(x, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in x)


def _error(problem: str) -> Exception:
    from safetensors import SafetensorError

    return SafetensorError(f"Error while deserializing header: {problem}")


__all__ = ["DTYPE_BITS", "Header", "MAX_HEADER", "descriptor_name", "load_tensors", "read_header", "utf8_name"]
