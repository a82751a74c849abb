"""minespace: spatial analysis of mining regions.

Load deposits, agglomerations and transport corridors as validated
GeoDataFrames in one metric CRS, measure concentration and accessibility,
find candidate innovative mining territorial clusters, and publish offline maps.

Examples
--------
>>> import minespace as ms
>>> region = ms.datasets.kuzbass()
>>> region.crs.to_epsg()
32645
"""

from __future__ import annotations

import logging

from . import (
    accessibility,
    clustering,
    colocation,
    concentration,
    datasets,
    density,
    hotspots,
    io,
    limits,
    maps,
    pipeline,
    territories,
)
from .crs import check_distortion, choose_metric_crs, distortion, is_metric, to_map_crs
from .errors import (
    ConfigError,
    ConfigProblem,
    CRSDistortionWarning,
    CRSError,
    FeaturesDroppedWarning,
    GeometryRepairedWarning,
    LayerError,
    MinespaceError,
    MinespaceWarning,
    PipelineError,
    Problem,
    ResourceError,
    SizeWarning,
)
from .io import (
    read_agglomerations,
    read_corridors,
    read_deposits,
    read_facilities,
    read_raster,
    reproject_raster,
)
from .region import Region

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CRSDistortionWarning",
    "CRSError",
    "ConfigError",
    "ConfigProblem",
    "FeaturesDroppedWarning",
    "GeometryRepairedWarning",
    "LayerError",
    "MinespaceError",
    "MinespaceWarning",
    "PipelineError",
    "Problem",
    "Region",
    "ResourceError",
    "SizeWarning",
    "__version__",
    "accessibility",
    "check_distortion",
    "choose_metric_crs",
    "clustering",
    "colocation",
    "concentration",
    "datasets",
    "density",
    "distortion",
    "hotspots",
    "io",
    "is_metric",
    "limits",
    "maps",
    "pipeline",
    "read_agglomerations",
    "read_corridors",
    "read_deposits",
    "read_facilities",
    "read_raster",
    "reproject_raster",
    "territories",
    "to_map_crs",
]
