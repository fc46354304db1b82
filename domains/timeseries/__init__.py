"""Time-series domain: patch tokens with 2-D (time x channel) rotary positions."""

from .domain import TimeSeriesDomain
from .masking import channel_stats
from .plot import plot_infill

__all__ = ["TimeSeriesDomain", "channel_stats", "plot_infill"]
