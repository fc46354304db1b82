"""Inference on a trained run: ``load`` -> ``Pretrained`` with ``embed``, ``infill``,
``predict``; linear probes of embeddings (``encoderkit.infer.probe``)."""

# Eager on purpose: the submodule ``load`` and the function ``load`` share a name, and
# importing the function here binds the package attribute to the function for good.
from encoderkit.infer.load import load
from encoderkit.infer.pretrained import Pretrained

__all__ = ["load", "Pretrained"]
