"""minespace: spatial analysis of mining regions.

Load deposits, agglomerations and transport corridors as validated
GeoDataFrames in one metric CRS, measure concentration and accessibility,
find candidate innovative mining territorial clusters, and publish offline maps.

Submodules and functions are imported on first use (PEP 562), so
``import minespace`` and the command line start quickly; ``ms.read_deposits``,
``from minespace import Region`` and ``dir(minespace)`` work as usual.

Examples
--------
>>> import minespace as ms
>>> region = ms.datasets.kuzbass()
>>> region.crs.to_epsg()
32645
"""

from __future__ import annotations

import logging

from ._lazy import attach
from .errors import (
    ComponentUnavailableWarning,
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
    ProjectsUnplacedWarning,
    ResourceError,
    SizeWarning,
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_SUBMODULES = ("accessibility", "clustering", "colocation", "concentration", "datasets", "density",
               "hotspots", "investment", "io", "knowledge", "limits", "maps", "pipeline",
               "scale", "territories", "value_chain", "zonal")
_ATTRIBUTES = {
    "check_distortion": ".crs", "choose_metric_crs": ".crs", "distortion": ".crs",
    "is_metric": ".crs", "to_map_crs": ".crs",
    "read_agglomerations": ".io", "read_corridors": ".io", "read_deposits": ".io",
    "read_facilities": ".io", "read_raster": ".io", "reproject_raster": ".io",
    "read_institutions": ".io", "read_projects": ".io", "locate_projects": ".io",
    "Region": ".region",
    "investment_totals": ".investment",
    "knowledge_access": ".knowledge", "knowledge_links": ".knowledge",
    "knowledge_mass": ".knowledge",
    "value_chain_access": ".value_chain", "value_chain_links": ".value_chain",
    "value_chain_summary": ".value_chain",
}

__getattr__, __dir__ = attach(__name__, submodules=_SUBMODULES, attributes=_ATTRIBUTES)

__all__ = [
    "CRSDistortionWarning",
    "CRSError",
    "ComponentUnavailableWarning",
    "ConfigError",
    "ConfigProblem",
    "FeaturesDroppedWarning",
    "GeometryRepairedWarning",
    "LayerError",
    "MinespaceError",
    "MinespaceWarning",
    "PipelineError",
    "Problem",
    "ProjectsUnplacedWarning",
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
    "investment",
    "investment_totals",
    "io",
    "is_metric",
    "knowledge",
    "knowledge_access",
    "knowledge_links",
    "knowledge_mass",
    "limits",
    "locate_projects",
    "maps",
    "pipeline",
    "read_agglomerations",
    "read_corridors",
    "read_deposits",
    "read_facilities",
    "read_institutions",
    "read_projects",
    "read_raster",
    "reproject_raster",
    "scale",
    "territories",
    "to_map_crs",
    "value_chain",
    "value_chain_access",
    "value_chain_links",
    "value_chain_summary",
    "zonal",
]
