"""Tabular domain: mixed numeric / categorical rows, one token per cell."""

from domains.tabular.domain import TabularDomain, ingest_frame, sample_frame

__all__ = ["TabularDomain", "ingest_frame", "sample_frame"]
