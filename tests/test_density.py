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


def test_bandwidth_rule_uses_the_median_term_with_outliers():
    # four points 1 km from the centre and two outliers 10 km away, centre (0, 0):
    # SD = sqrt((4 * 1 + 2 * 100) / 6) = sqrt(34) = 5.831 km, D_m = median(1,1,1,1,10,10) = 1 km
    # sqrt(1 / ln 2) * D_m = 1.20112 km < SD, so h = 0.9 * 1.20112 * 6^-0.2 = 0.75544 km
    pts = gpd.points_from_xy([1000, -1000, 0, 0, 10_000, -10_000], [0, 0, 1000, -1000, 0, 0])
    deps = gpd.GeoDataFrame(geometry=pts, crs=CRS)
    expected = 0.9 * math.sqrt(1 / math.log(2)) * 1.0 * 6 ** -0.2
    assert expected == pytest.approx(0.75544, abs=1e-5)
    assert D.bandwidth_rule(deps) == pytest.approx(expected, rel=1e-12)


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


# ------------------------------------------------------------------ point patterns
def _square_window(minx, miny, maxx, maxy):
    return gpd.GeoDataFrame(geometry=[box(minx, miny, maxx, maxy)], crs=CRS)


def test_clark_evans_hand_case():
    # points at the corners of a 1 km square; window 2 km x 2 km -> A = 4 km2, n = 4
    pts = gpd.points_from_xy([0, 1000, 0, 1000], [0, 0, 1000, 1000])
    deps = gpd.GeoDataFrame(geometry=pts, crs=CRS)
    res = D.clark_evans(deps, window=_square_window(-500, -500, 1500, 1500))
    # d_obs = 1 km, E = 0.5 sqrt(4/4) = 0.5 km, SE = 0.26136 / sqrt(16/4) = 0.13068 km
    assert res.mean_nn_km == pytest.approx(1.0)
    assert res.expected_nn_km == pytest.approx(0.5)
    assert res.R == pytest.approx(2.0)
    assert res.z == pytest.approx((1.0 - 0.5) / 0.13068)
    assert res.area_km2 == pytest.approx(4.0)
    # two-sided normal p = 2 (1 - Phi(|z|)) = erfc(|z| / sqrt 2), z = 3.82614: 1.3017e-4
    # (one-sided would be 6.507e-5, and "clustered" one-sided 0.99993)
    z = 0.5 / 0.13068
    assert res.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert res.p_value == pytest.approx(1.3017e-4, rel=1e-3)


def test_clark_evans_p_value_two_sided_for_clustered_points():
    # two pairs 100 m apart, pairs far apart; window 10 km x 10 km: A = 100 km2, n = 4
    pts = gpd.points_from_xy([0, 100, 5000, 5100], [0, 0, 5000, 5000])
    deps = gpd.GeoDataFrame(geometry=pts, crs=CRS)
    res = D.clark_evans(deps, window=_square_window(-2500, -2500, 7500, 7500))
    # d_obs = 0.1 km, E = 0.5 sqrt(100/4) = 2.5 km, SE = 0.26136 / sqrt(16/100) = 0.6534 km
    z = (0.1 - 2.5) / 0.6534
    assert res.z == pytest.approx(z)  # -3.67309
    assert res.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    assert res.p_value == pytest.approx(2.3963e-4, rel=1e-3)


def test_clark_evans_csr_and_clustered():
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 50_000, (2000, 2))
    csr = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    window = _square_window(0, 0, 50_000, 50_000)
    # without edge correction R is slightly above 1 under CSR
    assert 0.95 < D.clark_evans(csr, window=window).R < 1.1
    clustered = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(rng.normal(25_000, 1000, 500),
                                    rng.normal(25_000, 1000, 500)), crs=CRS)
    res = D.clark_evans(clustered, window=window)
    assert res.R < 0.5 and res.z < -10 and res.p_value < 1e-6


def test_ripley_k_hand_case():
    # three points with pair distances 3, 4, 5 m in a 1 km2 window
    deps = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 3, 0], [0, 0, 4]), crs=CRS)
    out = D.ripley(deps, window=_square_window(-500, -500, 500, 500),
                   distances_km=[0.0035, 0.0045, 0.006], envelopes=0)
    a = 1.0  # km2; K = A / (n (n-1)) * ordered pairs within d
    np.testing.assert_allclose(out["K"], [a / 6 * 2, a / 6 * 4, a / 6 * 6])
    np.testing.assert_allclose(out["L"], np.sqrt(out["K"] / np.pi))
    np.testing.assert_allclose(out["K_csr"], np.pi * np.array([0.0035, 0.0045, 0.006]) ** 2)


def test_ripley_csr_inside_envelope_and_clustered_above():
    rng = np.random.default_rng(8)
    window = _square_window(0, 0, 40_000, 40_000)
    xy = rng.uniform(0, 40_000, (400, 2))
    csr = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    d = [1, 2, 4, 6]
    out = D.ripley(csr, window=window, distances_km=d, envelopes=39, random_state=0)
    assert ((out["L"] >= out["L_low"]) & (out["L"] <= out["L_high"])).all()
    # away from edges, K is close to pi d^2 (no edge correction: slightly below)
    assert (np.abs(out["L_minus_d"]) < 0.5).all()
    centres = rng.uniform(5000, 35_000, (20, 2))
    pts = np.repeat(centres, 20, axis=0) + rng.normal(0, 300, (400, 2))
    clustered = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=CRS)
    out = D.ripley(clustered, window=window, distances_km=d, envelopes=39, random_state=0)
    assert (out["L"] > out["L_high"]).all()


def test_bandwidth_rule_needs_spread():
    deps = gpd.GeoDataFrame(geometry=gpd.points_from_xy([5.0] * 3, [5.0] * 3), crs=CRS)
    with pytest.raises(ValueError, match="bandwidth_km"):
        D.kernel_density(deps)
    grid = D.kernel_density(deps, bandwidth_km=1)
    assert grid.values.sum() * grid.cell_km**2 == pytest.approx(3, rel=1e-3)
