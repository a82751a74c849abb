"""engine="dask": deposits -> territories and per-territory aggregates on a LocalCluster.

The contract is equality with the pandas engine on the same data: exact for counts and
ids, 1e-9 relative for floats (sums are added in another order). The cluster is real:
two worker processes started once for the module; inputs are real partitioned
GeoParquet files in tmp_path. A few hand-checked cases pin the answer itself.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from minespace import concentration, scale, territories
from minespace.errors import CRSError, FeaturesDroppedWarning, LayerError, Problem

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

CRS = "EPSG:32645"
X0, Y0 = 500_000.0, 6_000_000.0
W, H = 100_000.0, 80_000.0      # the synthetic "country": 100 km x 80 km
SPLIT = 25_000.0                # files split along x every 25 km (a multiple of the cells)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


def _deposits(n: int = 6000, seed: int = 0) -> gpd.GeoDataFrame:
    """Clustered points with categories and a weight; edge cases appended at the end."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([X0, Y0], [X0 + W, Y0 + H], size=(12, 2))
    which = rng.integers(0, 12, n)
    xy = centres[which] + rng.normal(0, 6_000, size=(n, 2))
    xy = np.clip(xy, [X0, Y0], [X0 + W, Y0 + H])
    # exactly on partition (file) borders, which are also square- and hex-free cell borders
    k = 40
    xy[:k, 0] = X0 + SPLIT * rng.integers(1, 4, k)
    xy[k:2 * k, 1] = Y0 + 10_000.0 * rng.integers(1, 8, k)          # square cell borders
    xy[2 * k:3 * k] = np.column_stack([X0 + 10_000.0 * rng.integers(1, 10, k),
                                       Y0 + 10_000.0 * rng.integers(1, 8, k)])  # corners
    # vertices of the 7 km hexagons (the "hex" territories), bit-identical to the grid's
    row = 991 + rng.integers(0, 12, k)
    col = 72 - row // 2 + rng.integers(0, 13, k)
    w, r = 7_000.0, 7_000.0 / np.sqrt(3.0)
    hx, hy = 0.5 * w * (2 * col + row + 1), 0.5 * r * (3 * row + 1)
    inside = (hx > X0) & (hx < X0 + W) & (hy > Y0) & (hy < Y0 + H)
    xy[3 * k + 5:3 * k + 5 + inside.sum()] = np.column_stack([hx, hy])[inside]
    xy[3 * k:3 * k + 5] = [[X0 - 5_000, Y0], [X0 + W + 1, Y0 + 1], [X0, Y0 - 9],
                           [X0 + 50, Y0 + H + 70], [X0 - 1, Y0 - 1]]           # outside
    output = rng.gamma(2.0, 1.5, n)
    output[rng.choice(n, 7, replace=False)] = np.nan                              # NaN weights
    return gpd.GeoDataFrame(
        {"deposit_id": [f"D{i:05d}" for i in range(n)],
         "commodity": rng.choice(["coal", "gold", "iron_ore", "copper"], n, p=[.5, .2, .2, .1]),
         "method": rng.choice(["open_pit", "underground"], n),
         "output_mt": output},
        geometry=shapely.points(xy), crs=CRS)


def _write_partitions(deposits: gpd.GeoDataFrame, folder) -> None:
    """One file per 25 km strip of x (a point on a strip border goes to the left strip),
    plus an empty file."""
    folder.mkdir()
    x = shapely.get_x(deposits.geometry.values)
    strip = np.clip(np.ceil((x - X0) / SPLIT) - 1, 0, 3).astype(int)
    for i in range(4):
        deposits[strip == i].to_parquet(folder / f"part-{i}.parquet")
    deposits.iloc[:0].to_parquet(folder / "part-9-empty.parquet")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    deposits = _deposits()
    folder = tmp_path_factory.mktemp("dask") / "deposits"
    _write_partitions(deposits, folder)
    return deposits.set_index("deposit_id"), folder


def _boundary():
    return gpd.GeoSeries([shapely.box(X0, Y0, X0 + W, Y0 + H)], crs=CRS)


def _polygons() -> gpd.GeoDataFrame:
    """Arbitrary polygons: one spanning every partition, overlapping and edge-sharing ones."""
    big = shapely.Polygon([(X0 + 1_000, Y0 + 2_000), (X0 + 99_000, Y0 + 30_000),
                           (X0 + 90_000, Y0 + 75_000), (X0 + 3_000, Y0 + 60_000)])
    strips = [shapely.box(X0 + SPLIT * i, Y0, X0 + SPLIT * (i + 1), Y0 + 40_000)
              for i in range(4)]
    frame = gpd.GeoDataFrame({"name": ["z_big", "s0", "s1", "s2", "s3"]},
                             geometry=[big, *strips], crs=CRS, index=["T9", "T1", "T2", "T3",
                                                                     "T4"])
    return territories.from_polygons(frame)


TERRITORIES = {
    "square": lambda: territories.square_grid(_boundary(), cell_km=10),
    "hex": lambda: territories.hex_grid(_boundary(), cell_km=7),
    "hex_clipped": lambda: territories.hex_grid(
        gpd.GeoSeries([shapely.Point(X0 + W / 2, Y0 + H / 2).buffer(35_000)], crs=CRS),
        cell_km=9),
    "polygons": _polygons,
}


def _pandas(call, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    return out, sorted(str(w.message) for w in caught)


def _plain(frame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns=frame.geometry.name))


# --------------------------------------------------------------------------- without a cluster
def test_missing_extra_names_the_install_command():
    code = textwrap.dedent("""
        import sys
        sys.modules["dask_geopandas"] = None      # as if the extra were not installed
        import geopandas as gpd, shapely
        from minespace import concentration, territories
        terr = territories.square_grid(
            gpd.GeoSeries([shapely.box(0, 0, 10_000, 10_000)], crs=32645), cell_km=5)
        for call in (lambda: territories.assign_deposits(terr, "x.parquet", engine="dask"),
                     lambda: concentration.totals(terr, "x.parquet", engine="dask")):
            try:
                call()
            except ImportError as exc:
                print("ImportError:", exc)
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("ImportError:")
        assert 'pip install "minespace[dask]"' in line


def test_unknown_engine_is_refused():
    terr = TERRITORIES["square"]()
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'dask'"):
        territories.assign_deposits(terr, _deposits(300), engine="spark")
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'dask'"):
        concentration.totals(terr, _deposits(300), engine="Dask")


def test_dask_engine_refuses_an_in_memory_frame():
    terr = TERRITORIES["square"]()
    with pytest.raises(TypeError, match="engine='pandas'"):
        territories.assign_deposits(terr, _deposits(300), engine="dask")


def test_layer_error_survives_pickling():
    # a LayerError raised on a worker is pickled to the client: it keeps its problems
    # (guards the Dask path; pickling already worked before it)
    err = LayerError([Problem("a.parquet", "row 3 (id 'D1')", "commodity", "empty", "fill")])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is LayerError
    assert back.problems == err.problems
    assert str(back) == str(err)


def test_reader_checks_metadata_eagerly(tmp_path):
    deposits = _deposits(300)
    folder = tmp_path / "parts"
    folder.mkdir()
    deposits.drop(columns="commodity").to_parquet(folder / "a.parquet")
    with pytest.raises(LayerError) as info:
        scale.read_deposits_parquet(folder, weight="reserves_mt")
    text = str(info.value)
    assert "a.parquet" in text
    assert "'commodity' not found" in text and "'reserves_mt' not found" in text
    geographic = tmp_path / "ll.parquet"
    deposits.to_crs(4326).to_parquet(geographic)
    with pytest.raises(CRSError, match="metric"):
        scale.read_deposits_parquet(geographic)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.parquet"):
        scale.read_deposits_parquet(tmp_path / "nothing")


# --------------------------------------------------------------------------- hand-checked
@pytest.mark.slow
def test_borders_by_hand(tmp_path, client):
    """Two 10 km squares S0_0, S0_1 (x in [0, 10) and [10, 20) km) and two polygons sharing
    the edge x = 10 km: a point on that edge goes to the right square (half-open cells),
    and to the first polygon in row order, whichever file (partition) holds it."""
    boundary = gpd.GeoSeries([shapely.box(0, 0, 20_000, 10_000)], crs=CRS)
    squares = territories.square_grid(boundary, cell_km=10)
    pts = gpd.GeoDataFrame({"deposit_id": ["a", "b", "c", "d"],
                            "commodity": ["coal", "coal", "gold", "coal"]},
                           geometry=shapely.points([[5_000, 5_000], [10_000, 5_000],
                                                    [10_000, 2_000], [15_000, 5_000]]),
                           crs=CRS)
    folder = tmp_path / "p"
    folder.mkdir()
    pts.iloc[:2].to_parquet(folder / "0.parquet")   # b (on the edge) with a
    pts.iloc[2:].to_parquet(folder / "1.parquet")   # c (on the edge) with d
    lazy = scale.read_deposits_parquet(folder, spatial_partitioning=None)
    got = territories.assign_deposits(squares, lazy, engine="dask").compute()
    assert dict(zip(got["deposit_id"], got["territory_id"].astype(str), strict=True)) == {
        "a": "S0_0", "b": "S0_1", "c": "S0_1", "d": "S0_1"}
    left_first = territories.from_polygons(gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 10_000, 10_000), shapely.box(10_000, 0, 20_000, 10_000)],
        index=["L", "R"], crs=CRS))
    right_first = left_first.iloc[::-1]
    for terr, edge in ((left_first, "L"), (right_first, "R")):
        got = territories.assign_deposits(terr, lazy, engine="dask").compute()
        assert got["territory_id"].astype(str).tolist() == ["L", edge, edge, "R"]
        table = scale.aggregate(terr, lazy, by="commodity", scheduler=client)
        counts = {(t, c): n for t, c, n in table[["territory_id", "commodity", "count"]]
                  .itertuples(index=False)}
        assert counts == ({("L", "coal"): 2, ("L", "gold"): 1, ("R", "coal"): 1} if edge == "L"
                          else {("R", "coal"): 2, ("R", "gold"): 1, ("L", "coal"): 1})


@pytest.mark.slow
def test_hex_counts_match_geopandas_sjoin(data, client):
    """Independent peer: geopandas.sjoin(predicate="within") on points off the cell edges."""
    deposits, folder = data
    terr = TERRITORIES["hex"]()
    with pytest.warns(FeaturesDroppedWarning, match="5 of 6000"):
        table = scale.aggregate(terr, folder, scheduler=client)
    inside = deposits.iloc[200:]                 # the random points (no edge cases)
    # "intersects": points clipped onto the outer boundary count, as in minespace
    peer = gpd.sjoin(inside, terr[["geometry"]], predicate="intersects")
    assert not peer.index.has_duplicates          # no random point on an inner edge
    peer_counts = peer.groupby("territory_id").size()
    edge = deposits.iloc[:200]                   # on borders: pandas engine's tie-breaking
    with pytest.warns(FeaturesDroppedWarning, match="5 of 200"):
        mine = territories.assign_deposits(terr, edge)["territory_id"].value_counts()
    expected = peer_counts.add(mine[mine > 0], fill_value=0).astype(np.int64)
    got = table.set_index("territory_id")["count"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)


# --------------------------------------------------------------------------- equality
@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TERRITORIES))
def test_assign_equals_pandas(kind, data, client):
    deposits, folder = data
    terr = TERRITORIES[kind]()
    expected, _ = _pandas(territories.assign_deposits, terr, deposits)
    lazy = scale.read_deposits_parquet(folder, weight="output_mt")
    got = territories.assign_deposits(terr, lazy, engine="dask").compute()
    got = got.set_index("deposit_id").loc[expected.index]
    assert isinstance(got["territory_id"].dtype, pd.CategoricalDtype)
    assert got["territory_id"].cat.categories.equals(expected["territory_id"].cat.categories)
    pd.testing.assert_series_equal(got["territory_id"].astype(object),
                                   expected["territory_id"].astype(object),
                                   check_index_type=False)   # string dtype NA flavours
    assert expected["territory_id"].isna().sum() >= 5      # the points outside


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TERRITORIES))
@pytest.mark.parametrize(("by", "weight"), [("commodity", None), (["commodity", "method"],
                                                                   "output_mt"), (None, None)])
def test_totals_equal_pandas(kind, by, weight, data, client):
    deposits, folder = data
    terr = TERRITORIES[kind]()
    missing = "drop" if weight else "raise"
    expected, warned = _pandas(concentration.totals, terr, deposits, by=by, weight=weight,
                               missing=missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = concentration.totals(terr, folder, by=by, weight=weight, missing=missing,
                                   engine="dask", scheduler=client)
    assert sorted(str(w.message) for w in caught) == warned
    assert any("outside every territory" in w for w in warned)
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    pd.testing.assert_frame_equal(_plain(got), _plain(expected), check_exact=False,
                                  rtol=1e-9, atol=0)
    counts = [c for c in got.columns if c == "count" or c.startswith("count__")]
    for c in counts:                                          # counts exactly
        assert (got[c].to_numpy() == expected[c].to_numpy()).all()


@pytest.mark.slow
def test_metrics_run_unchanged_on_the_reduced_table(data, client):
    deposits, folder = data
    terr = TERRITORIES["hex"]()
    with pytest.warns(FeaturesDroppedWarning):
        table = scale.aggregate(terr, folder, by="commodity", weight="output_mt",
                                missing="drop", scheduler=client)
        table_count = scale.aggregate(terr, folder, by="commodity", scheduler=client)
    assert table.columns.tolist() == ["territory_id", "commodity", "count", "output_mt",
                                      "output_mt_sumsq"]
    assert len(table) < len(deposits) / 3                     # reduced, not per deposit
    kwargs = {"by": "commodity", "weight": "output_mt", "missing": "drop"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FeaturesDroppedWarning)
        lq = concentration.location_quotient(terr, deposits, **kwargs)
        spec = concentration.specialization(terr, deposits, **kwargs)
        conc = concentration.concentration(terr, deposits, **kwargs)
        lq_count = concentration.location_quotient(terr, deposits, by="commodity")
    for expected, got in (
            (lq, concentration.location_quotient(terr, table, by="commodity",
                                                 weight="output_mt")),
            (spec, concentration.specialization(terr, table, by="commodity",
                                                weight="output_mt")),
            (lq_count, concentration.location_quotient(terr, table_count, by="commodity",
                                                       weight="count"))):
        pd.testing.assert_frame_equal(_plain(got), _plain(expected), rtol=1e-9, atol=0)
    got = concentration.concentration(terr, table, by="commodity", weight="output_mt")
    pd.testing.assert_frame_equal(got[["total", "gini", "hoover"]],
                                  conc[["total", "gini", "hoover"]], rtol=1e-9, atol=0)
    # the columns that count deposits come from count and the sum of squares
    per = table.groupby("commodity")[["count", "output_mt", "output_mt_sumsq"]].sum()
    assert (per["count"] == conc["n_deposits"]).all()
    np.testing.assert_allclose(per["output_mt_sumsq"] / per["output_mt"] ** 2,
                               conc["plant_hhi"], rtol=1e-9)


@pytest.mark.slow
def test_nan_weight_raises_like_pandas(data, client):
    deposits, folder = data
    terr = TERRITORIES["square"]()
    with pytest.warns(FeaturesDroppedWarning), \
            pytest.raises(ValueError, match="missing, infinite or negative for 7 deposit") as p:
        concentration.totals(terr, deposits, by="commodity", weight="output_mt")
    with pytest.warns(FeaturesDroppedWarning), \
            pytest.raises(ValueError, match="missing, infinite or negative for 7 deposit") as d:
        concentration.totals(terr, folder, by="commodity", weight="output_mt", engine="dask",
                             scheduler=client)
    nan_ids = set(deposits.index[deposits["output_mt"].isna()])
    assert any(f"'{i}'" in str(p.value) for i in nan_ids)
    assert any(f"'{i}'" in str(d.value) for i in nan_ids)


@pytest.mark.slow
def test_one_file_split_by_row_groups_and_empty_partitions(data, tmp_path, client):
    deposits, _ = data
    path = tmp_path / "one.parquet"
    deposits.reset_index().to_parquet(path, row_group_size=1000)
    plain = scale.read_deposits_parquet(path, spatial_partitioning=None)
    assert plain.npartitions == 6                              # 6000 rows / 1000
    # more partitions than the Hilbert quantiles can fill: some come out empty
    shuffled = scale.read_deposits_parquet(path, npartitions=40)
    sizes = shuffled.map_partitions(len).compute()
    assert sizes.sum() == len(deposits)
    terr = TERRITORIES["polygons"]()
    expected, _ = _pandas(concentration.totals, terr, deposits, by="commodity")
    for lazy in (plain, shuffled):
        with pytest.warns(FeaturesDroppedWarning, match="outside every territory"):
            got = concentration.totals(terr, lazy, by="commodity", engine="dask",
                                       scheduler=client)
        pd.testing.assert_frame_equal(_plain(got), _plain(expected))


@pytest.mark.slow
def test_empty_partition_alone(tmp_path, client):
    folder = tmp_path / "empty"
    folder.mkdir()
    _deposits(300).iloc[:0].to_parquet(folder / "0.parquet")
    terr = TERRITORIES["square"]()
    got = concentration.totals(terr, folder, by="commodity", engine="dask", scheduler=client)
    assert (got["count"] == 0).all() and len(got) == len(terr)


@pytest.mark.slow
def test_partition_problems_name_file_and_row(tmp_path, client):
    deposits = _deposits(300)
    deposits.loc[4, "commodity"] = ""
    deposits.loc[7, "output_mt"] = -2.0
    folder = tmp_path / "bad"
    folder.mkdir()
    deposits.iloc[:10].to_parquet(folder / "a.parquet")
    deposits.iloc[10:].to_parquet(folder / "b.parquet")
    with pytest.raises(LayerError) as info:
        scale.read_deposits_parquet(folder, weight="output_mt",
                                    spatial_partitioning=None).compute()
    problems = info.value.problems
    assert {(p.column, p.row) for p in problems} == {
        ("commodity", "row 4 (id 'D00004')"), ("output_mt", "row 7 (id 'D00007')")}
    assert all(p.source.endswith("a.parquet") for p in problems)


# --------------------------------------------------------------------------- schedulers
@pytest.mark.slow
def test_scheduler_address_and_running_client(data, client):
    deposits, folder = data
    terr = TERRITORIES["square"]()
    expected, _ = _pandas(concentration.totals, terr, deposits, by="method")
    for scheduler in (client.scheduler.address, None):     # None: the running client
        with pytest.warns(FeaturesDroppedWarning):
            got = concentration.totals(terr, folder, by="method", engine="dask",
                                       scheduler=scheduler)
        pd.testing.assert_frame_equal(_plain(got), _plain(expected))
    with pytest.raises(TypeError, match="scheduler must be"):
        concentration.totals(terr, folder, engine="dask", scheduler=8786)


@pytest.mark.slow
def test_no_scheduler_starts_a_local_cluster_and_logs_the_dashboard(tmp_path):
    code = textwrap.dedent("""
        import logging, warnings
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("minespace").setLevel(logging.INFO)
        import geopandas as gpd, shapely
        from minespace import concentration, territories
        if __name__ == "__main__":
            terr = territories.square_grid(
                gpd.GeoSeries([shapely.box(0, 0, 20_000, 10_000)], crs=32645), cell_km=10)
            gpd.GeoDataFrame({"deposit_id": ["a", "b"], "commodity": ["coal", "gold"]},
                             geometry=shapely.points([[1, 1], [15_000, 1]]),
                             crs=32645).to_parquet("d.parquet")
            out = concentration.totals(terr, "d.parquet", engine="dask")
            print(out["count"].tolist())
    """)
    script = tmp_path / "run.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[1.0, 1.0]"   # one deposit per square
    assert "started a Dask LocalCluster" in run.stderr
    assert "dashboard: http://" in run.stderr


# --------------------------------------------------------------------------- shared helpers
def _square(values):
    return [v * v for v in values]


def _add(partials):
    return sum(partials)


def _fail_on_three(values):
    if 3 in values:
        raise LayerError([Problem("part-3.parquet", "row 3", "deposit_id", "id is empty",
                                  "give every deposit a unique id")])
    return sum(values)


def test_tree_reduce_combines_every_partition_and_counts_them(client, capsys):
    import dask

    chunks = [list(range(i * 5, i * 5 + 5)) for i in range(20)]   # 0..99 in 20 partitions
    parts = [dask.delayed(sum)(dask.delayed(_square)(c)) for c in chunks]
    total = scale.tree_reduce(client, parts, _add, desc="squares", progress=True, width=3)
    assert total == sum(v * v for v in range(100))                 # 328350, by hand formula
    assert total == 99 * 100 * 199 // 6
    err = capsys.readouterr().err
    assert "squares:" in err and "/20.0 [" in err and "partition/s" in err  # of 20 partitions
    assert scale.tree_reduce(client, [], _add, desc="nothing") is None


def test_tree_reduce_raises_the_partition_s_own_error(client):
    import dask

    parts = [dask.delayed(_fail_on_three)([i]) for i in range(6)]
    with pytest.raises(LayerError, match=r"part-3\.parquet"):
        scale.tree_reduce(client, parts, _add, desc="fails", progress=False)


def test_to_dask_keeps_rows_and_order():
    frame = _deposits(600).set_index("deposit_id")
    lazy = scale.to_dask(frame, partition_size=80)
    assert lazy.npartitions == 8                                    # ceil(600 / 80)
    pd.testing.assert_frame_equal(pd.DataFrame(lazy.compute()), pd.DataFrame(frame),
                                  check_dtype=False, check_index_type=False)  # dask: str NA
    assert scale.to_dask(lazy) is lazy
    assert scale.to_dask(frame, npartitions=3).npartitions == 3
    with pytest.raises(TypeError, match="GeoDataFrame"):
        scale.to_dask(pd.DataFrame({"a": [1]}))


def test_the_dashboard_link_serves_a_page(client):
    """The link printed when a cluster starts must open: the extra installs bokeh."""
    import urllib.request

    link = client.dashboard_link
    assert link.startswith("http://")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with opener.open(link, timeout=30) as page:
        body = page.read().decode("utf-8", "replace")
    assert page.status == 200
    # without bokeh the same URL answers 200 with "Dask needs bokeh>=3.1.0 for the dashboard"
    assert "Dask needs bokeh" not in body
    assert "<title>Dask Diagnostic UI</title>" in body
