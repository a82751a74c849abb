"""Origin points of deposits and territories, population-weighted where a raster is given."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from ..io.raster import Raster
from ._common import ORIGIN_RULES, _population_points, check_layers

__all__ = ["population_weighted_points"]


def population_weighted_points(layer: gpd.GeoDataFrame,
                               population: Raster) -> gpd.GeoDataFrame:
    """The point each feature's trips start from, weighted by a population raster.

    This is the origin the accessibility functions use when they are given
    ``population=`` (:func:`corridor_distances`, :func:`agglomeration_distances`,
    :func:`network_travel_time`, :func:`travel_time_matrix`, and the straight-line
    default of :func:`hansen_potential`, :func:`two_step_fca` and
    :func:`enhanced_two_step_fca`); call it to see or map those points.

    Parameters
    ----------
    layer : GeoDataFrame
        Deposits (points) or territories (polygons, multipolygons), metric CRS.
    population : Raster
        Population counts per cell (e.g. WorldPop, GHS-POP read with
        :func:`minespace.read_raster`) in the same CRS as *layer*.

    Returns
    -------
    GeoDataFrame
        A copy of *layer* whose geometry is the origin point of each row, with an
        added column ``origin``: ``"point"`` (the row is a point, kept as it is),
        ``"population"`` (population-weighted point of a polygon) or
        ``"representative"`` (no populated cell in the polygon, or a line: the
        representative point, :func:`shapely.point_on_surface`).

    Raises
    ------
    CRSError
        If *layer* is not in a metric CRS, or *population* is in another CRS
        (rasters are not resampled silently: reproject it first with
        ``ms.reproject_raster(population, layer.crs, kind="count")``, which keeps the
        population totals).
    ValueError
        If *layer* has missing or empty geometries, or the raster has negative
        cells (an undeclared nodata value, most likely).
    TypeError
        If *population* is not a :class:`~minespace.io.Raster`.

    Notes
    -----
    A raster cell belongs to a polygon when the cell's centre lies inside it
    (GDAL's rasterisation rule). Polygon *i* gets

        p_i = Σ_c w_c · x_c / Σ_c w_c

    over its cells c, with x_c the cell centre and w_c the cell value. Masked
    (nodata), NaN and infinite cells weigh 0. Overlapping polygons each count a
    shared cell in full, so a row's point never depends on the other rows; a cell
    whose centre lies exactly on an edge that polygons share (inside none of them)
    counts once, for the polygon GDAL gives it to (the later row where it gives it
    to several). When
    p_i is not inside the polygon (concave or multi-part shapes), the populated
    cell centre inside the polygon nearest to p_i is used instead (ties: the first
    cell in row-major order), so every point lies in its territory. A polygon
    without any populated cell centre inside it (or off the raster) keeps its
    representative point. Computed with one pass of
    :func:`rasterio.features.rasterize` for the owners and one for the number of
    polygons over each cell, and ``numpy.bincount`` sums: no loop over rows.

    Examples
    --------
    Two 2 km square territories on a 1 km population grid: the west square has
    10 people in its north-west cell and 30 in its south-east cell, the east
    square has nobody.

    >>> import geopandas as gpd, numpy as np, pyproj, shapely
    >>> from rasterio.transform import from_origin
    >>> import minespace as ms
    >>> from minespace import accessibility as acc
    >>> people = np.array([[10.0, 0.0, 0.0, 0.0],
    ...                    [0.0, 30.0, 0.0, 0.0]])
    >>> pop = ms.io.Raster(np.ma.masked_invalid(people), from_origin(0, 2000, 1000, 1000),
    ...                    pyproj.CRS("EPSG:32645"), None)
    >>> squares = gpd.GeoDataFrame(
    ...     {"name": ["west", "east"]},
    ...     geometry=[shapely.box(0, 0, 2000, 2000), shapely.box(2000, 0, 4000, 2000)],
    ...     crs="EPSG:32645")
    >>> out = acc.population_weighted_points(squares, pop)
    >>> out[["name", "origin"]].to_numpy().tolist()
    [['west', 'population'], ['east', 'representative']]
    >>> out.geometry.x.tolist(), out.geometry.y.tolist()
    ([1250.0, 3000.0], [750.0, 1000.0])

    The west point is (10·500 + 30·1500) / 40 = 1250 m east and
    (10·1500 + 30·500) / 40 = 750 m north; the east square keeps its
    representative point.
    """
    check_layers("population_weighted_points", layer=layer)
    points, rule = _population_points(layer, population, "population_weighted_points")
    out = layer.copy()
    out["origin"] = pd.Series(np.asarray(ORIGIN_RULES, dtype=object)[rule],
                              index=layer.index, dtype="object")
    return out.set_geometry(gpd.GeoSeries(points, index=layer.index, crs=layer.crs,
                                          name=layer.geometry.name))
