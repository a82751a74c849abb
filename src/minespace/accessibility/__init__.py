"""Accessibility: distances, network travel time, gravity, catchments, raster time.

Every function takes GeoDataFrames in one metric CRS and returns a new frame
(inputs are never modified) with the unit in each added column's name.
"""

from __future__ import annotations

from .distance import agglomeration_distances, corridor_distances

__all__ = ["agglomeration_distances", "corridor_distances"]
