"""`EncoderConfig`: the shape and behaviour of the core encoder, validated once.

Field names follow the public API of issue 2 (``rope_axes``, ``backend``,
``local_window``, ``global_every``); the others map onto Hugging Face
``ModernBertConfig`` (``hidden_size``, ``intermediate_size``, ``norm_eps``, ...).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from encoderkit.errors import bad_value

BACKENDS = ("auto", "sdpa", "flex", "varlen", "flash", "xformers")
ROPE_MODES = ("axial", "mixed")

# Shapes only; every other field keeps its default unless overridden.
PRESETS: dict[str, dict[str, Any]] = {
    # Trains in seconds on a laptop CPU; 4 layers so both layer kinds appear (0, 3 global).
    "tiny": dict(hidden_size=128, num_layers=4, num_heads=4, intermediate_size=256, local_window=32),
    "small": dict(hidden_size=384, num_layers=8, num_heads=6, intermediate_size=576, local_window=64),
    # ModernBERT-base / -large shapes.
    "base": dict(hidden_size=768, num_layers=22, num_heads=12, intermediate_size=1152, local_window=128),
    "large": dict(hidden_size=1024, num_layers=28, num_heads=16, intermediate_size=2624,
                  local_window=128),
}


def _bad(name: str, allowed: str, got: Any) -> ValueError:
    return ValueError(bad_value(name, allowed, got, owner="EncoderConfig"))


@dataclass
class EncoderConfig:
    hidden_size: int = 768
    num_layers: int = 22
    num_heads: int = 12
    intermediate_size: int = 1152
    # Rotary: D position axes (0 = unordered tokens, no rotation).
    rope_axes: int = 1
    # Frequency pairs (head_dim / 2 of them) per axis; None = as even as possible.
    rope_split: tuple[int, ...] | None = None
    # A float, or one theta per axis.
    rope_theta_global: float | tuple[float, ...] = 160000.0
    rope_theta_local: float | tuple[float, ...] = 10000.0
    rope_mode: str = "axial"  # "axial" fixed frequencies | "mixed" learnable (RoPE-Mixed)
    # Local layers see |i - j| <= local_window // 2 tokens of their own sequence.
    local_window: int = 128
    # Layer i is global when i % global_every == 0. None = auto: 3 with positions,
    # 1 (all global) for rope_axes=0, where a window over token order would break
    # permutation equivariance. Resolved to an int at construction.
    global_every: int | None = None
    backend: str = "auto"
    norm_eps: float = 1e-5
    initializer_range: float = 0.02
    attention_dropout: float = 0.0
    mlp_dropout: float = 0.0
    embedding_dropout: float = 0.0

    def __post_init__(self) -> None:
        # Lists (JSON, Hydra ListConfig) become tuples so configs compare and hash.
        for name in ("rope_split", "rope_theta_global", "rope_theta_local"):
            v = getattr(self, name)
            if isinstance(v, Sequence) and not isinstance(v, (str, tuple)):
                setattr(self, name, tuple(v))
        explicit = self.global_every is not None
        if not explicit:
            self.global_every = 3 if self.rope_axes > 0 else 1
        self._validate()
        if explicit and self.rope_axes == 0 and self.global_every > 1:
            warnings.warn(
                f"EncoderConfig(rope_axes=0, global_every={self.global_every}): local (sliding "
                "window) layers act on token order, so the output of unordered inputs now depends "
                "on the order of their tokens (permutation equivariance is lost). Leave "
                "global_every unset (None) or set it to 1 to keep every layer global.",
                UserWarning, stacklevel=3)

    # -- validation ---------------------------------------------------------------
    def _validate(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise _bad(name, "an int in the range [1, inf)", v)
        if self.hidden_size % self.num_heads:
            raise _bad("hidden_size", f"divisible by num_heads={self.num_heads}", self.hidden_size)
        hd = self.head_dim
        if hd % 2:
            raise _bad("num_heads", f"such that head_dim = hidden_size / num_heads is even "
                       f"(rotary rotates pairs); head_dim={hd} with num_heads", self.num_heads)
        if not _is_int(self.rope_axes) or self.rope_axes < 0:
            raise _bad("rope_axes", "an int in the range [0, inf)", self.rope_axes)
        if self.rope_axes > hd // 2:
            raise _bad("rope_axes", f"at most head_dim / 2 = {hd // 2} (one frequency pair per axis "
                       "at least)", self.rope_axes)
        if self.rope_split is not None:
            s = self.rope_split
            if (not isinstance(s, tuple) or len(s) != self.rope_axes
                    or not all(_is_int(x) and x >= 1 for x in s)):
                raise _bad("rope_split", f"None or a tuple of {self.rope_axes} ints >= 1 (one per "
                           "rope axis)", s)
            if sum(s) != hd // 2:
                raise _bad("rope_split", f"frequency pairs per axis summing to head_dim / 2 = "
                           f"{hd // 2}", s)
        for name in ("rope_theta_global", "rope_theta_local"):
            t = getattr(self, name)
            ts = t if isinstance(t, tuple) else (t,)
            if isinstance(t, tuple) and len(t) != self.rope_axes:
                raise _bad(name, f"a float > 1 or a tuple of {self.rope_axes} floats > 1 (one per "
                           "rope axis)", t)
            if not all(_is_num(x) and x > 1 for x in ts):
                raise _bad(name, "a float > 1 (or one per rope axis)", t)
        if self.rope_mode not in ROPE_MODES:
            raise _bad("rope_mode", f"one of {ROPE_MODES}", self.rope_mode)
        if self.rope_mode == "mixed" and self.rope_axes == 0:
            raise _bad("rope_mode", "'axial' when rope_axes=0 (no positions, nothing to mix)",
                       self.rope_mode)
        if not _is_int(self.local_window) or self.local_window < 2 or self.local_window % 2:
            raise _bad("local_window", "an even int >= 2 (the window is symmetric: local_window // 2 "
                       "tokens each side)", self.local_window)
        if not _is_int(self.global_every) or self.global_every < 1:
            raise _bad("global_every", "None (auto) or an int in the range [1, inf) (1 = every layer "
                       "global)", self.global_every)
        if self.backend not in BACKENDS:
            raise _bad("backend", f"one of {BACKENDS}", self.backend)
        if not _is_num(self.norm_eps) or not self.norm_eps > 0:
            raise _bad("norm_eps", "a float in the range (0, inf)", self.norm_eps)
        if not _is_num(self.initializer_range) or not self.initializer_range > 0:
            raise _bad("initializer_range", "a float in the range (0, inf)", self.initializer_range)
        for name in ("attention_dropout", "mlp_dropout", "embedding_dropout"):
            v = getattr(self, name)
            if not _is_num(v) or not 0.0 <= v < 1.0:
                raise _bad(name, "a float in the range [0, 1)", v)

    # -- derived ------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def is_global(self, layer: int) -> bool:
        return layer % self.global_every == 0

    @property
    def has_local_layers(self) -> bool:
        return any(not self.is_global(i) for i in range(self.num_layers))

    def axis_split(self) -> tuple[int, ...]:
        """Frequency pairs per rope axis (the first axes get the remainder)."""
        if self.rope_split is not None:
            return tuple(self.rope_split)
        n, d = self.head_dim // 2, self.rope_axes
        if d == 0:
            return ()
        return tuple(n // d + (1 if a < n % d else 0) for a in range(d))

    def axis_thetas(self, kind: str) -> tuple[float, ...]:
        t = self.rope_theta_global if kind == "global" else self.rope_theta_local
        return tuple(float(x) for x in t) if isinstance(t, tuple) else (float(t),) * self.rope_axes

    # -- construction / serialisation ---------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> EncoderConfig:
        if name not in PRESETS:
            raise ValueError(f"The 'name' parameter of EncoderConfig.preset must be one of "
                             f"{tuple(PRESETS)}. Got {name!r} instead.")
        return cls.from_dict({**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EncoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"EncoderConfig got unknown parameter(s) {unknown}; allowed: "
                             f"{sorted(known)}")
        return cls(**dict(d))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
