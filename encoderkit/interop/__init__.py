"""Hugging Face ModernBERT weights in and out (``encoderkit.interop.hf``)."""

from encoderkit.interop.hf import config_from_hf, export_hf, init_from_hf

__all__ = ["export_hf", "init_from_hf", "config_from_hf"]
