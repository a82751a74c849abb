"""Reading, validating and writing layers."""

from .raster import Raster, clip_raster, read_raster
from .readers import read_agglomerations, read_corridors, read_deposits, read_facilities
from .write import atomic_path, write_geopackage, write_layer

__all__ = [
    "Raster",
    "atomic_path",
    "clip_raster",
    "read_agglomerations",
    "read_corridors",
    "read_deposits",
    "read_facilities",
    "read_raster",
    "write_geopackage",
    "write_layer",
]
