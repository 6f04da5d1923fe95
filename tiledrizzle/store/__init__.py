"""The Zarr mosaic store: layout and metadata, crash-safe tile writes, the writer lock."""
