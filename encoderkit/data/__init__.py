"""Data layer: zarr record store (``store``), train/validation split (``split``),
ingest framework (``ingest``), masking primitives (``masking``), best-fit packing
(``packing``), the streaming ``PackedLoader`` (``loader``) and ``collate``.

Import from the submodules (``from encoderkit.data.loader import PackedLoader``);
this package re-exports nothing so importing one part stays cheap.
"""
