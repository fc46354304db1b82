"""Tabular domain: mixed numeric / categorical rows, one token per cell."""

from domains.tabular.domain import TabularDomain, sample_frame

__all__ = ["TabularDomain", "sample_frame"]
