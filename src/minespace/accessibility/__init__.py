"""Accessibility: distances, network travel time, gravity, catchments, raster time.

Every function takes GeoDataFrames in one metric CRS and returns a new frame
(inputs are never modified) with the unit in each added column's name. Polygon
origins (territories) travel from a representative point, or from their
population-weighted point when a population raster is passed as ``population=``
(:func:`population_weighted_points`).
"""

from __future__ import annotations

from .catchment import E2SFCA_STEPS, enhanced_two_step_fca, two_step_fca
from .distance import agglomeration_distances, corridor_distances
from .gravity import hansen_potential
from .network import (
    ACCESS_SPEED_KMH,
    CorridorNetwork,
    build_network,
    network_travel_time,
    travel_time_matrix,
)
from .origins import population_weighted_points
from .raster import (
    OFFROAD_SPEED_KMH,
    friction_surface,
    travel_time_raster,
    write_geotiff,
    zonal_travel_time,
)

__all__ = [
    "ACCESS_SPEED_KMH",
    "E2SFCA_STEPS",
    "OFFROAD_SPEED_KMH",
    "CorridorNetwork",
    "agglomeration_distances",
    "build_network",
    "corridor_distances",
    "enhanced_two_step_fca",
    "friction_surface",
    "hansen_potential",
    "network_travel_time",
    "population_weighted_points",
    "travel_time_matrix",
    "travel_time_raster",
    "two_step_fca",
    "write_geotiff",
    "zonal_travel_time",
]
