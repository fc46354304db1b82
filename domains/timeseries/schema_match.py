"""Whether series match the channels a model learned: a fine-tuning store's channels against
the pretraining store's, in its order (``Domain.pretrained_schema_differences``), and series
read for a run (predict, evaluate, embed, infill) narrower than every series of its store
(``narrower_series``).

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

from typing import Any, Mapping, Sequence

from encoderkit.domain import order_differences


def pretrained_schema_differences(domain: Any, pretrained: Mapping[str, Any]) -> list[str]:
    """``TimeSeriesDomain.pretrained_schema_differences``: the channels, by name."""
    before = (pretrained.get("schema") or {}).get("channel_names")
    now = domain.schema.get("channel_names")
    if domain.channel_independent or not before or not now or min(len(before), len(now)) < 2:
        return []
    return order_differences("channel", [str(c) for c in before], [str(c) for c in now])


def narrower_series(schema: Mapping[str, Any] | None, widths: Sequence[int],
                    where: str | None = None) -> str | None:
    """The warning for series given to a run with fewer channels than every series of the
    store it was trained on (the schema's ``channel_observed``, recorded only where all the
    store's series had one width), or None. Such a series is read by position, as the
    store's first channels, and the model sees no token of the others: a layout it never
    trained on, so its outputs shift (they are neither the full series' nor those of the
    series with the channel given as NaN, which is read as missing). More channels than the
    model learned are refused (``masking.py``); a wide table's named channels are matched by name
    before this; a store of several widths (a collection of datasets) says nothing here,
    since narrower series were among its own. A missing channel that held no value in the
    store is left unsaid: the model never read one of it (``warn_empty_channels`` does so).
    ``where``: the file read (None: data given in memory, or a file infill's caller names)."""
    trained = (schema or {}).get("channel_observed")
    if not isinstance(trained, (list, tuple)) or len(trained) < 2:
        return None
    full = len(trained)
    narrow = [int(w) for w in widths if 0 < int(w) < full
              and any(float(n) > 0 for n in trained[int(w):])]
    if not narrow:
        return None
    names = (schema or {}).get("channel_names")
    label = ([str(c) for c in names] if isinstance(names, (list, tuple)) and len(names) == full
             else [f"channel {c}" for c in range(full)])
    low, high = min(narrow), max(narrow)
    held = f"{low}" if low == high else f"{low} to {high}"
    unseen = label[low:]
    said = f"{where}: " if where else ""
    return (f"{said}{len(narrow)} of the {len(widths)} series hold {held} channel(s), but every "
            f"series of the store the run trained on held {full}: a series' channels are read as "
            f"the store's first ones, by position, and the model sees nothing of the others "
            f"({unseen[:10]}{' ...' if len(unseen) > 10 else ''}), a layout it never trained on, so "
            f"its outputs (predictions, embeddings, fills) shift; give every series all {full} "
            f"channels (a channel without values as NaN, which the model reads as missing)")
