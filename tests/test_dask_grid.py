"""scale.grid: square and hex grids generated band by band on the workers.

The contract is equality with the in-memory grids (``territories.hex_grid``/``square_grid``):
same ids and order, columns, dtypes, attrs and bit-identical geometry; and aggregating
deposits against the lazy grid gives the pandas engine's LQ inputs (exact counts, 1e-9
relative floats). The cluster is the session's two worker processes (``dask_client``).
The boundary has a hole and an island, with empty bands between them; deposits lie on band
borders, cell edges and vertices, in the hole and outside.
"""

from __future__ import annotations

import pickle
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from minespace import concentration, scale, territories
from minespace._territory_grid import _grid_info
from minespace.errors import FeaturesDroppedWarning

pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

CRS = "EPSG:32645"
X0, Y0 = 500_000.0, 6_000_000.0
CELL_KM = 4.0
GRID = {"hex": territories.hex_grid, "square": territories.square_grid}
_TABLE = ["area_km2", "grid_col", "grid_row", "grid_clipped"]


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def _country() -> gpd.GeoSeries:
    """A 60 km x 40 km 'mainland' with a bay and a lake (hole), and an island 20 km north
    (the grid rows between them hold no cell: empty bands)."""
    mainland = shapely.Polygon(
        [(X0, Y0), (X0 + 60_000, Y0), (X0 + 60_000, Y0 + 40_000), (X0 + 30_500, Y0 + 25_300),
         (X0, Y0 + 40_000)],
        holes=[[(X0 + 10_000, Y0 + 8_000), (X0 + 22_000, Y0 + 8_000),
                (X0 + 22_000, Y0 + 16_000), (X0 + 10_000, Y0 + 16_000)]])
    island = shapely.Point(X0 + 45_000, Y0 + 70_000).buffer(6_000)
    return gpd.GeoSeries([mainland, island], crs=CRS)


def _vertices(kind: str, cell_m: float, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cell vertices (and square edge midpoints) computed by hand, as the grids define
    them (bit-identical)."""
    if kind == "square":  # corners, and midpoints of vertical edges
        return np.vstack([np.column_stack([cols * cell_m, rows * cell_m]),
                          np.column_stack([cols * cell_m, (rows + 0.5) * cell_m])])
    # pointy-topped hexagon (col, row): centre (w (col + row/2), 1.5 R row); vertex up
    # (0, R) and lower right (w/2, -R/2), written on the lattice of units w/2 and R/2
    w, r = cell_m, cell_m / np.sqrt(3.0)
    top = np.column_stack([0.5 * w * (2 * cols + rows), 0.5 * r * (3 * rows + 2)])
    right = np.column_stack([0.5 * w * (2 * cols + rows + 1), 0.5 * r * (3 * rows - 1)])
    return np.vstack([top, right])


def _deposits(kind: str, n: int = 2500, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    cell = CELL_KM * 1000
    xy = rng.uniform([X0 - 3_000, Y0 - 3_000], [X0 + 63_000, Y0 + 78_000], size=(n, 2))
    k = 60
    # on row borders, which are band borders when every band is one row (npartitions=rows)
    row_height = cell if kind == "square" else 1.5 * cell / np.sqrt(3.0)
    rows = np.floor(Y0 / row_height) + rng.integers(1, 9, k)
    xy[:k, 1] = rows * row_height
    # on cell vertices (corners shared by 3 hexagons or 4 squares)
    cols = np.floor(X0 / cell) + rng.integers(0, 15, k)
    if kind == "hex":
        cols -= np.floor(rows / 2)
    xy[k:3 * k] = _vertices(kind, cell, cols, rows)
    # in the lake, on its shore and its corner, on the island's centre, outside
    xy[3 * k:3 * k + 6] = [[X0 + 15_000, Y0 + 12_000], [X0 + 10_000, Y0 + 12_000],
                           [X0 + 22_000, Y0 + 16_000], [X0 + 45_000, Y0 + 70_000],
                           [X0 - 2_000, Y0 - 2_000], [X0 + 30_000, Y0 + 50_000]]
    return gpd.GeoDataFrame(
        {"deposit_id": [f"D{i:05d}" for i in range(n)],
         "commodity": rng.choice(["coal", "gold", "iron_ore"], n, p=[.6, .3, .1]),
         "output_mt": rng.gamma(2.0, 1.5, n)},
        geometry=shapely.points(xy), crs=CRS)


def _nrows(kind: str) -> int:
    from minespace import limits

    bounds = shapely.union_all(_country().values).bounds
    _, _, r0, r1 = limits.grid_range(bounds, CELL_KM * 1000, kind)
    return r1 - r0 + 1


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesDroppedWarning)
        return call(*args, **kwargs)


def _plain(frame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns=frame.geometry.name))


def _assert_same_grid(got: gpd.GeoDataFrame, expected: gpd.GeoDataFrame) -> None:
    assert isinstance(got, gpd.GeoDataFrame)
    pd.testing.assert_frame_equal(_plain(got), _plain(expected), check_exact=True)
    assert got.geometry.name == expected.geometry.name and got.crs == expected.crs
    # bit-identical coordinates, vertex order and ring structure
    assert (shapely.to_wkb(got.geometry.values) == shapely.to_wkb(expected.geometry.values)).all()
    assert got.attrs == expected.attrs
    assert _grid_info(got) is not None


# --------------------------------------------------------------------------- the grid itself
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hex", "square"])
@pytest.mark.parametrize("clip", [True, False])
def test_grid_equals_the_in_memory_grid(kind, clip, client):
    expected = GRID[kind](_country(), cell_km=CELL_KM, clip=clip)
    nrows = _nrows(kind)
    for npartitions in (1, 5, nrows, nrows + 10):  # one band per row, and more asked for
        lazy = scale.grid(_country(), kind=kind, cell_km=CELL_KM, clip=clip,
                          npartitions=npartitions)
        assert lazy.npartitions == min(npartitions, nrows)
        _assert_same_grid(client.compute(lazy).result(), expected)
    # the rows between the mainland and the island are bands without a cell
    sizes = client.compute(lazy.map_partitions(len)).result()
    assert (np.asarray(sizes) == 0).sum() >= 3


def test_every_band_carries_the_clients_spelling_of_the_crs(monkeypatch):
    """PROJ on a worker thread was seen to spell EPSG:32645 with DATUM where the client
    spells it with ENSEMBLE; pandas then drops attrs that differ between the bands it
    concatenates, and the computed grid lost its spec. Here every to_wkt() call made while
    the bands are built (in this process, synchronous scheduler) alternates between the
    two spellings: the computed grid must still carry the client's spec."""
    import pyproj

    expected = territories.hex_grid(_country(), cell_km=CELL_KM)
    lazy = scale.grid(_country(), kind="hex", cell_km=CELL_KM, npartitions=5)
    to_wkt, calls = pyproj.CRS.to_wkt, []

    def flaky_to_wkt(self, version="WKT2_2019", *args, **kwargs):
        calls.append(version)
        return to_wkt(self, "WKT2_2015" if len(calls) % 2 else version, *args, **kwargs)

    monkeypatch.setattr(pyproj.CRS, "to_wkt", flaky_to_wkt)
    got = lazy.compute(scheduler="sync")
    monkeypatch.undo()
    _assert_same_grid(got, expected)


def test_square_grid_by_hand(client):
    """A 10 km x 7.5 km box with a 1 km x 1 km lake on 5 km squares: two whole cells
    (25 km², one minus the lake: 24 km²) and two clipped to 5 x 2.5 = 12.5 km²."""
    box = shapely.box(0, 0, 10_000, 7_500).difference(shapely.box(1_000, 1_000, 2_000, 2_000))
    lazy = scale.grid(gpd.GeoSeries([box], crs=CRS), kind="square", cell_km=5, npartitions=2)
    got = client.compute(lazy).result()
    assert got.index.tolist() == ["S0_0", "S0_1", "S1_0", "S1_1"]
    assert got["area_km2"].tolist() == [24.0, 25.0, 12.5, 12.5]
    assert got["grid_clipped"].tolist() == [True, False, True, True]
    assert got["grid_col"].tolist() == [0, 1, 0, 1] and got["grid_row"].tolist() == [0, 0, 1, 1]


def test_boundary_is_one_key_and_the_client_builds_no_cell():
    """The graph holds the boundary once and one small task per band: its size does not
    grow with the number of cells (36 times more cells here)."""
    country = _country()
    coarse = scale.grid(country, kind="hex", cell_km=6, npartitions=4)
    fine = scale.grid(country, kind="hex", cell_km=1, npartitions=4)
    graphs = [dict(g.__dask_graph__()) for g in (coarse, fine)]
    for graph in graphs:
        assert sum("grid-boundary" in str(k) for k in graph) == 1
        assert sum("_band" in str(k) for k in graph) == 4
    sizes = [len(pickle.dumps(g)) for g in graphs]
    assert abs(sizes[0] - sizes[1]) < 200
    # the boundary's WKB (a few kB) is most of the graph; 1 km hexagons would be ~3 MB
    assert sizes[1] < 20 * len(shapely.to_wkb(shapely.union_all(country.values)))


def test_engine_dask_of_the_in_memory_functions_returns_the_lazy_grid(client):
    dask_geopandas = pytest.importorskip("dask_geopandas")
    lazy = territories.square_grid(_country(), cell_km=CELL_KM, engine="dask", npartitions=3)
    assert isinstance(lazy, dask_geopandas.GeoDataFrame) and lazy.npartitions == 3
    _assert_same_grid(client.compute(lazy).result(),
                      territories.square_grid(_country(), cell_km=CELL_KM))
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'dask'"):
        territories.hex_grid(_country(), cell_km=CELL_KM, engine="spark")


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "triangle", "cell_km": 4}, "kind must be 'hex' or 'square'"),
    ({"cell_km": -1}, "cell_km must be a positive"),
    ({"cell_km": 4, "npartitions": 0}, "npartitions must be a positive integer"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        scale.grid(_country(), **kwargs)


def test_geographic_boundary_is_refused():
    from minespace.errors import CRSError

    with pytest.raises(CRSError, match=r"scale\.grid"):
        scale.grid(_country().to_crs(4326), cell_km=4)


# --------------------------------------------------------------------------- aggregation
@pytest.fixture(scope="module", params=["hex", "square"])
def case(request):
    kind = request.param
    deposits = _deposits(kind)
    memory = GRID[kind](_country(), cell_km=CELL_KM)
    # one grid row per band: every row border is a partition border
    lazy = scale.grid(_country(), kind=kind, cell_km=CELL_KM, npartitions=_nrows(kind))
    return kind, deposits, memory, lazy


def _pandas_table(memory, deposits) -> pd.DataFrame:
    """The LQ inputs by the pandas engine: assign, then group by territory and commodity."""
    assigned = _quiet(territories.assign_deposits, memory, deposits)
    assigned = assigned[assigned["territory_id"].notna()]
    grouped = assigned.groupby(["territory_id", "commodity"], observed=True)["output_mt"]
    table = pd.DataFrame({"count": grouped.size(), "output_mt": grouped.sum(),
                          "output_mt_sumsq": grouped.apply(lambda s: float((s ** 2).sum()))})
    order = pd.Index(memory.index).get_indexer(table.index.get_level_values(0))
    table = table.iloc[np.lexsort([table.index.get_level_values(1), order])]
    return table.reset_index().astype({"territory_id": "str", "commodity": "str"})


def test_aggregate_equals_the_pandas_engine(case, client):
    _, deposits, memory, lazy = case
    ddeps = scale.to_dask(deposits, npartitions=4)
    with pytest.warns(FeaturesDroppedWarning, match="outside every territory"):
        table = scale.aggregate(lazy, ddeps, by="commodity", weight="output_mt",
                                scheduler=client)
    expected = _pandas_table(memory, deposits.set_index("deposit_id"))
    pd.testing.assert_frame_equal(table[["territory_id", "commodity", "count"]],
                                  expected[["territory_id", "commodity", "count"]],
                                  check_dtype=False)
    np.testing.assert_allclose(table[["output_mt", "output_mt_sumsq"]].to_numpy(),
                               expected[["output_mt", "output_mt_sumsq"]].to_numpy(), rtol=1e-9)
    # the points on the edge cases all counted where the pandas engine put them
    assert int(table["count"].sum()) == int(expected["count"].sum())
    # nothing in the lake, the lake corner and shore belong to the mainland's cells
    lake = shapely.box(X0 + 10_000, Y0 + 8_000, X0 + 22_000, Y0 + 16_000)
    inside_lake = shapely.contains_xy(lake, shapely.get_x(deposits.geometry.values),
                                      shapely.get_y(deposits.geometry.values))
    assert inside_lake.sum() >= 1
    assigned = _quiet(territories.assign_deposits, memory, deposits)
    assert assigned["territory_id"][inside_lake].isna().all()


@pytest.mark.slow
def test_territory_table_and_lq_inputs(case, client):
    _, deposits, memory, lazy = case
    cells = scale.territory_table(lazy, scheduler=client)
    pd.testing.assert_frame_equal(
        cells, pd.DataFrame(memory[["area_km2", "grid_col", "grid_row", "grid_clipped"]]),
        check_exact=True)
    assert "geometry" not in cells.columns
    pd.testing.assert_frame_equal(scale.territory_table(memory), cells)
    # LQ from the reduced table and the territory table, by hand:
    # LQ = (x_ic / x_i) / (X_c / X), over cells with deposits
    table = _quiet(scale.aggregate, lazy, scale.to_dask(deposits, npartitions=3),
                   by="commodity", scheduler=client)
    x = table.pivot_table(index="territory_id", columns="commodity", values="count",
                          aggfunc="sum", fill_value=0).reindex(cells.index, fill_value=0)
    share = x.div(x.sum(axis=1), axis=0)
    lq = share / (x.sum(axis=0) / x.to_numpy().sum())
    expected = concentration.location_quotient(memory, _quiet(
        territories.assign_deposits, memory, deposits.set_index("deposit_id")), by="commodity")
    for c in x.columns:
        got = lq[c].to_numpy()
        want = expected[f"lq__{c}"].to_numpy()
        both = np.isfinite(got) & np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        np.testing.assert_allclose(got[both], want[both], rtol=1e-9)


@pytest.mark.slow
def test_totals_against_the_lazy_grid_is_lazy_and_equal(case, client):
    dask_geopandas = pytest.importorskip("dask_geopandas")
    _, deposits, memory, lazy = case
    with pytest.warns(FeaturesDroppedWarning):
        out = concentration.totals(lazy, scale.to_dask(deposits, npartitions=3),
                                   by="commodity", weight="output_mt", engine="dask",
                                   scheduler=client)
    assert isinstance(out, dask_geopandas.GeoDataFrame)
    got = client.compute(out).result()
    with pytest.warns(FeaturesDroppedWarning):
        expected = concentration.totals(memory, deposits.set_index("deposit_id"),
                                        by="commodity", weight="output_mt")
    assert got.columns.tolist() == expected.columns.tolist()
    pd.testing.assert_frame_equal(_plain(got), _plain(expected), rtol=1e-9)
    assert got.geometry.geom_equals_exact(expected.geometry, tolerance=0).all()


def test_already_assigned_deposits_are_read_by_id(case, client):
    _, deposits, memory, lazy = case
    assigned = _quiet(territories.assign_deposits, memory, deposits)
    table = scale.aggregate(lazy, scale.to_dask(assigned, npartitions=3), by="commodity",
                            scheduler=client)
    expected = _pandas_table(memory, deposits.set_index("deposit_id"))
    pd.testing.assert_frame_equal(table[["territory_id", "commodity", "count"]],
                                  expected[["territory_id", "commodity", "count"]],
                                  check_dtype=False)
    # an id the grid does not have is an error naming the deposit, as with the pandas engine
    bad = assigned.copy()
    bad["territory_id"] = bad["territory_id"].cat.add_categories(["H999_999"])
    bad.loc[bad.index[5], "territory_id"] = "H999_999"
    with pytest.raises(ValueError, match="D00005"):
        scale.aggregate(lazy, scale.to_dask(bad, npartitions=2), scheduler=client)


def _shift(part: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = part.copy()  # keeps attrs["grid"], moves every cell 2.5 cells east
    out["geometry"] = part.geometry.translate(xoff=10_000)
    return out


def test_altered_lazy_grid_is_refused(client):
    lazy = scale.grid(_country(), kind="square", cell_km=CELL_KM, npartitions=2)
    shifted = lazy.map_partitions(_shift, meta=lazy._meta)
    deposits = scale.to_dask(_deposits("square", n=300), npartitions=1)
    with pytest.raises(ValueError, match=r"partition [01] of the Dask territories is no longer"):
        _quiet(scale.aggregate, shifted, deposits, scheduler=client)


@pytest.mark.slow
def test_metrics_on_the_reduced_table_accept_the_lazy_grid(case, client):
    """LQ, Krugman/HHI and the locational Gini from a lazy grid: the cells come back
    without geometry (scale.territory_table) and the values are the pandas engine's."""
    _, deposits, memory, lazy = case
    ddeps = scale.to_dask(deposits, npartitions=3)
    kwargs = {"by": "commodity", "weight": "output_mt"}
    in_memory = deposits.set_index("deposit_id")
    for func in (concentration.location_quotient, concentration.specialization):
        got = _quiet(func, lazy, ddeps, engine="dask", scheduler=client, **kwargs)
        expected = _quiet(func, memory, in_memory, **kwargs)
        assert type(got) is pd.DataFrame
        added = [c for c in expected.columns if c not in memory.columns]
        assert got.columns.tolist() == [*_TABLE, *added]
        pd.testing.assert_frame_equal(got[added], pd.DataFrame(expected[added]), rtol=1e-9)
    got = _quiet(concentration.concentration, lazy, ddeps, engine="dask", scheduler=client,
                 **kwargs)
    expected = _quiet(concentration.concentration, memory, in_memory, **kwargs)
    pd.testing.assert_frame_equal(got, expected, rtol=1e-9)


def test_assign_deposits_refuses_the_lazy_grid_with_what_to_do():
    lazy = scale.grid(_country(), kind="hex", cell_km=CELL_KM)
    deposits = scale.to_dask(_deposits("hex", n=300), npartitions=1)
    with pytest.raises(TypeError, match=r"use scale\.aggregate .* grid\.compute\(\)"):
        territories.assign_deposits(lazy, deposits, engine="dask")
