"""Tests for minespace.density: exact KDE written here, scikit-learn, rasterio round trip."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import box
from sklearn.neighbors import KernelDensity

from minespace import density as D
from minespace.errors import CRSError

CRS = "EPSG:32645"


def _deposits(n=400, seed=0):
    rng = np.random.default_rng(seed)
    xy = np.r_[rng.normal(0, 5000, (n // 2, 2)), rng.normal(20000, 3000, (n - n // 2, 2))]
    xy += 500_000
    return gpd.GeoDataFrame({"output_mt": rng.uniform(0.5, 3.0, n)},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS), xy


def _centres(grid):
    rows, cols = np.indices(grid.values.shape)
    t = grid.transform
    return t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e


def test_quartic_matches_exact_sum_on_subsample():
    deps, xy = _deposits()
    grid = D.kernel_density(deps, bandwidth_km=4)  # default cell h/20 = 200 m
    cx, cy = _centres(grid)
    rng = np.random.default_rng(1)
    sel = rng.choice(cx.size, 2000, replace=False)
    h = 4000.0
    d2 = ((cx.ravel()[sel, None] - xy[None, :, 0]) ** 2
          + (cy.ravel()[sel, None] - xy[None, :, 1]) ** 2) / h**2
    exact = np.where(d2 < 1, 3 / math.pi * (1 - d2) ** 2, 0).sum(axis=1) / (h / 1000) ** 2
    err = np.abs(grid.values.ravel()[sel] - exact)
    assert err.max() / exact.max() < 1e-3


def test_gaussian_matches_sklearn():
    deps, xy = _deposits(300, seed=2)
    grid = D.kernel_density(deps, bandwidth_km=3, kernel="gaussian")
    cx, cy = _centres(grid)
    rng = np.random.default_rng(3)
    sel = rng.choice(cx.size, 1500, replace=False)
    kde = KernelDensity(kernel="gaussian", bandwidth=3000.0).fit(xy)
    pts = np.column_stack([cx.ravel()[sel], cy.ravel()[sel]])
    ref = np.exp(kde.score_samples(pts)) * len(xy) * 1e6  # per m2 -> per km2
    err = np.abs(grid.values.ravel()[sel] - ref)
    assert err.max() / ref.max() < 1e-3


@pytest.mark.parametrize("kernel", ["quartic", "gaussian"])
def test_mass_integrates_to_n_and_weights(kernel):
    deps, _ = _deposits()
    grid = D.kernel_density(deps, bandwidth_km=2.5, kernel=kernel)
    assert grid.values.sum() * grid.cell_km**2 == pytest.approx(len(deps), rel=1e-3)
    wgrid = D.kernel_density(deps, bandwidth_km=2.5, kernel=kernel, weight="output_mt")
    assert wgrid.values.sum() * wgrid.cell_km**2 == pytest.approx(
        deps["output_mt"].sum(), rel=1e-3)


def test_bandwidth_rule_hand_value():
    # four points at the corners of a 2 km square: every distance to the centre is sqrt(2) km
    # SD = sqrt(2), Dm = sqrt(2) -> min(sqrt(2), sqrt(1/ln 2) sqrt(2)) = sqrt(2)
    pts = gpd.points_from_xy([0, 2000, 0, 2000], [0, 0, 2000, 2000])
    deps = gpd.GeoDataFrame(geometry=pts, crs=CRS)
    assert D.bandwidth_rule(deps) == pytest.approx(0.9 * math.sqrt(2) * 4 ** -0.2)
    grid = D.kernel_density(deps)
    assert grid.bandwidth_km == pytest.approx(0.9 * math.sqrt(2) * 4 ** -0.2)


def test_geotiff_round_trip_with_mask_and_overviews(tmp_path):
    deps, _ = _deposits()
    minx, miny, maxx, maxy = deps.total_bounds
    mask = gpd.GeoDataFrame(geometry=[box(minx, miny, (minx + maxx) / 2, maxy)], crs=CRS)
    grid = D.kernel_density(deps, bandwidth_km=3, cell_km=0.1, mask=mask)
    assert np.isnan(grid.values).any() and np.isfinite(grid.values).any()
    path = grid.to_geotiff(tmp_path / "kde.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32645
        assert src.nodata == -9999.0
        assert src.overviews(1)  # overviews built
        data = src.read(1, masked=True)
        assert src.transform == grid.transform
    np.testing.assert_allclose(data.filled(np.nan), grid.values.astype("float32"),
                               equal_nan=True)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_errors():
    deps, _ = _deposits(20)
    with pytest.raises(CRSError):
        D.kernel_density(deps.to_crs(4326), bandwidth_km=1)
    bad = deps.copy()
    bad.loc[bad.index[0], "output_mt"] = np.nan
    with pytest.raises(ValueError, match="missing"):
        D.kernel_density(bad, bandwidth_km=1, weight="output_mt")
    with pytest.raises(ValueError, match="kernel"):
        D.kernel_density(deps, bandwidth_km=1, kernel="epanechnikov")
    with pytest.raises(ValueError, match="larger cell_km"):
        D.kernel_density(deps, bandwidth_km=1, cell_km=0.001)
