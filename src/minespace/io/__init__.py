"""Reading, validating and writing layers."""

from .raster import RASTER_KINDS, Raster, clip_raster, read_raster, reproject_raster
from .readers import read_agglomerations, read_corridors, read_deposits, read_facilities
from .write import atomic_path, write_geopackage, write_layer

__all__ = [
    "RASTER_KINDS",
    "Raster",
    "atomic_path",
    "clip_raster",
    "read_agglomerations",
    "read_corridors",
    "read_deposits",
    "read_facilities",
    "read_raster",
    "reproject_raster",
    "write_geopackage",
    "write_layer",
]
