"""Tiny hand-checkable layers, built in code.

Deposits: five points near Kemerovo (lon/lat), two commodities; agglomerations:
two 1 km squares and one point town; corridors: two lines (rail, road).
"""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely


@pytest.fixture
def deposits_ll() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "mine_id": ["M1", "M2", "M3", "M4", "M5"],
            "mine_name": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"],
            "mineral": ["Coal", "coal", "Iron Ore", "COAL", "iron ore"],
            "output": [1.5, 2.0, 0.5, None, 3.0],
            "mine_type": ["Surface", "underground", "surface", "Underground", "open pit"],
        },
        geometry=[shapely.Point(86.0 + 0.1 * i, 55.0 + 0.05 * i) for i in range(5)],
        crs="EPSG:4326",
    )


@pytest.fixture
def agglomerations_m() -> gpd.GeoDataFrame:
    """Two 1 km squares and one town centre, in UTM 45N."""
    x0, y0 = 500_000, 6_000_000
    return gpd.GeoDataFrame(
        {"name": ["North", "South", "Village"], "pop": [120_000, 45_000, 5_000]},
        geometry=[shapely.box(x0, y0 + 10_000, x0 + 1_000, y0 + 11_000),
                  shapely.box(x0, y0, x0 + 1_000, y0 + 1_000),
                  shapely.Point(x0 + 5_000, y0 + 5_000)],
        crs="EPSG:32645",
    )


@pytest.fixture
def corridors_m() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["Rail", "road trunk"], "name": ["main line", "highway"]},
        geometry=[shapely.LineString([(500_000, 6_000_000), (500_000, 6_011_000)]),
                  shapely.LineString([(500_000, 6_005_000), (505_000, 6_005_000)])],
        crs="EPSG:32645",
    )
