"""Accessibility: distances, network travel time, gravity, catchments, raster time.

Every function takes GeoDataFrames in one metric CRS and returns a new frame
(inputs are never modified) with the unit in each added column's name.
"""

from __future__ import annotations

from .distance import agglomeration_distances, corridor_distances
from .network import (
    ACCESS_SPEED_KMH,
    CorridorNetwork,
    build_network,
    network_travel_time,
    travel_time_matrix,
)

__all__ = [
    "ACCESS_SPEED_KMH",
    "CorridorNetwork",
    "agglomeration_distances",
    "build_network",
    "corridor_distances",
    "network_travel_time",
    "travel_time_matrix",
]
