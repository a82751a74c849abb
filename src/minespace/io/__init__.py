"""Reading, validating and writing layers (imported on first use, PEP 562)."""

from __future__ import annotations

from .._lazy import attach

_ATTRIBUTES = {
    "RASTER_KINDS": ".raster", "Raster": ".raster", "clip_raster": ".raster",
    "read_raster": ".raster", "reproject_raster": ".raster",
    "read_agglomerations": ".readers", "read_corridors": ".readers",
    "read_deposits": ".readers", "read_facilities": ".readers",
    "read_institutions": ".readers_extra", "read_projects": ".readers_extra",
    "locate_projects": ".locate",
    "atomic_path": ".write", "write_geopackage": ".write", "write_layer": ".write",
}

__getattr__, __dir__ = attach(__name__, attributes=_ATTRIBUTES)

__all__ = [
    "RASTER_KINDS",
    "Raster",
    "atomic_path",
    "clip_raster",
    "locate_projects",
    "read_agglomerations",
    "read_corridors",
    "read_deposits",
    "read_facilities",
    "read_institutions",
    "read_projects",
    "read_raster",
    "reproject_raster",
    "write_geopackage",
    "write_layer",
]
