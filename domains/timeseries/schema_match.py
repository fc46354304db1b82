"""Fine-tuning a pretrained series encoder on a store: whether the store's channels are the
pretraining store's, in its order (``Domain.pretrained_schema_differences``).

In the joint layout (``channel_independent=false``) a multichannel series' tokens are told
apart by their channel index: the learned channel-identity row (``channel_embedding``), the
per-channel centre of the window statistics (``window_stats``) and the rotary channel axis all
take a channel by its place in the series. So the channel names of a wide table
(``channel_names``) must match in order. Nothing else of the schema is read by a weight: the
patch is an option (finetune takes the checkpoint's), values are scaled per series, and the
counts (series, lengths) and the reading options (separator, missing mark) only describe the
data. Not compared: a channel-independent model (every channel its own sequence, with the
same weights), one channel on either side (a univariate encoder has no channel rows, and a
univariate store reads none: a multichannel encoder's are refused by their shapes), and
stores whose channels are unnamed (``.npy`` / ``.ts`` / UCR files, and a long table's
``channel_column`` in stores ingested before session 50: no names recorded).
"""

from __future__ import annotations

from typing import Any, Mapping

from encoderkit.domain import order_differences


def pretrained_schema_differences(domain: Any, pretrained: Mapping[str, Any]) -> list[str]:
    """``TimeSeriesDomain.pretrained_schema_differences``: the channels, by name."""
    before = (pretrained.get("schema") or {}).get("channel_names")
    now = domain.schema.get("channel_names")
    if domain.channel_independent or not before or not now or min(len(before), len(now)) < 2:
        return []
    return order_differences("channel", [str(c) for c in before], [str(c) for c in now])
