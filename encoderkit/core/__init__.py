"""The domain-free encoder: config, N-D rotary, attention backends, layers, model."""

from encoderkit.core.attention import attend, available_backends, get_backend
from encoderkit.core.config import EncoderConfig
from encoderkit.core.init import trunc_normal_
from encoderkit.core.model import Encoder

__all__ = ["Encoder", "EncoderConfig", "attend", "available_backends", "get_backend",
           "trunc_normal_"]
