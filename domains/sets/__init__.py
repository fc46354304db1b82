"""Sets domain: unordered elements (item ids, features, optional 2-D/3-D coordinates)."""

from .api import ingest_sets
from .domain import SetsDomain

__all__ = ["SetsDomain", "ingest_sets"]
