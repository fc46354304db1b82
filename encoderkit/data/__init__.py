"""Data layer: zarr record store (``store``), train/validation split (``split``),
ingest framework (``ingest``; parallel ingest and append in ``ingest_scale``), masking
primitives (``masking``), best-fit packing (``packing``), the streaming ``PackedLoader``
(``loader``; chunk-aware order for larger-than-memory stores in ``chunked``) and ``collate``.

Import from the submodules (``from encoderkit.data.loader import PackedLoader``);
this package re-exports nothing so importing one part stays cheap.
"""
