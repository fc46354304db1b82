"""Shared set-up of the per-domain end-to-end tests."""

from __future__ import annotations

from pathlib import Path

from encoderkit.data.ingest import ingest
from encoderkit.registry import get_domain

# A model small enough that a few pretraining steps take seconds on one CPU thread.
TINY_MODEL = ["model.hidden_size=32", "model.num_layers=2", "model.num_heads=2",
              "model.intermediate_size=64"]


def ingest_sample(name: str, directory: Path) -> str:
    """Ingest the domain's bundled sample files into ``directory/store``; return the store path."""
    paths, options = get_domain(name).sample_sources(str(directory))
    store = directory / "store"
    ingest(name, paths, str(store), progress=False, verbose=False, **options)
    return str(store)
