"""Network travel time: hand-worked toy network, components, snapping, networkx."""

from __future__ import annotations

import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from scipy.spatial import Delaunay
from shapely.geometry import LineString, Point, box

from minespace.accessibility import build_network, network_travel_time, travel_time_matrix
from minespace.errors import CRSError, MinespaceWarning

CRS = "EPSG:32645"


def _lines(rows, crs=CRS):
    kinds, speeds, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"kind": kinds, "speed_kmh": speeds,
                             "speed_source": ["data"] * len(rows)},
                            geometry=list(geoms), crs=crs)


def _points(xy, ids, crs=CRS):
    return gpd.GeoDataFrame(geometry=[Point(p) for p in xy], index=ids, crs=crs)


@pytest.fixture
def toy():
    corridors = _lines([
        ("rail", 60.0, LineString([(0, 0), (30_000, 0)])),                  # 1 min/km
        # 0.5 min/km, crosses the rail at (10 km, 0) without a shared vertex
        ("road_trunk", 120.0, LineString([(10_000, -10_000), (10_000, 10_000)])),
        ("road_primary", 30.0, LineString([(30_000, 0), (30_000, 20_000)])),  # 2 min/km, shared end
    ])
    towns = _points([(0, 0), (30_000, 21_000)], ["P", "Q"])
    origins = _points([(10_000, 12_000), (20_000, 1_000), (30_500, 15_000)], ["o1", "o2", "o3"])
    return corridors, towns, origins


# access legs at 20 km/h = 3 min/km
# o1: leg 2 km (6) + trunk 10 km (5) + rail 10 km (10) -> P 21; to Q 6+5+20+40+3 = 74
# o2: leg 1 km (3) + rail 20 km (20) -> P 23; to Q 3+10+40+3 = 56
# o3: leg 0.5 km (1.5) + primary 5 km (10) + Q leg 1 km (3) -> Q 14.5; to P 1.5+30+30 = 61.5
HAND = np.array([[21.0, 74.0], [23.0, 56.0], [61.5, 14.5]])


def test_toy_network_hand_times(toy):
    corridors, towns, origins = toy
    before = origins.copy()
    out = network_travel_time(origins, towns, corridors)
    np.testing.assert_allclose(out["time_to_agglomeration_min"], HAND.min(1), atol=1e-6)
    assert list(out["nearest_agglomeration_by_time_id"]) == ["P", "P", "Q"]
    np.testing.assert_allclose(out["access_km"], [2.0, 1.0, 0.5])
    assert out["reachable"].all()
    assert origins.equals(before) and "reachable" not in origins


def test_toy_matrix_hand_times(toy):
    corridors, towns, origins = toy
    T = travel_time_matrix(origins, towns, corridors)
    assert list(T.index) == ["o1", "o2", "o3"] and list(T.columns) == ["P", "Q"]
    np.testing.assert_allclose(T.to_numpy(), HAND, atol=1e-6)
    # fewer origins than destinations takes the other Dijkstra direction
    T2 = travel_time_matrix(origins.iloc[:1], towns, corridors)
    np.testing.assert_allclose(T2.to_numpy(), HAND[:1], atol=1e-6)


def test_crossing_is_noded(toy):
    net = build_network(toy[0])
    # 4 ends of the trunk/rail, the crossing (10, 0), the primary's far end -> 6 nodes
    # edges: rail split in 2 at the crossing, trunk split in 2, primary 1 -> 5
    assert len(net.nodes) == 6
    assert len(net.edges) == 5 and net.n_components == 1


def test_speed_override_and_access_speed(toy):
    corridors, towns, origins = toy
    corridors = corridors.assign(speed_source="default")
    out = network_travel_time(origins.iloc[[1]], towns, corridors,
                              speeds_kmh={"rail": 30.0}, access_speed_kmh=60.0)
    # o2: leg 1 km at 60 (1) + rail 20 km at 30 (40)
    np.testing.assert_allclose(out["time_to_agglomeration_min"], [41.0])


def test_speed_override_keys_are_read_like_the_data(toy):
    # "Railroad" (Natural Earth) is the canonical kind rail: the override applies
    corridors, towns, origins = toy
    corridors = corridors.assign(speed_source="default")
    out = network_travel_time(origins.iloc[[1]], towns, corridors,
                              speeds_kmh={"Railroad": 30.0}, access_speed_kmh=60.0)
    np.testing.assert_allclose(out["time_to_agglomeration_min"], [41.0])   # as above


def test_polygon_town_crossed_by_network_has_no_leg(toy):
    corridors, _, origins = toy
    towns = gpd.GeoDataFrame(geometry=[box(-2_000, -1_000, 0, 1_000)], index=["P"], crs=CRS)
    out = network_travel_time(origins.iloc[[1]], towns, corridors)
    np.testing.assert_allclose(out["time_to_agglomeration_min"], [23.0], atol=1e-6)


def test_origin_inside_town_is_zero(toy):
    corridors, _, _ = toy
    towns = gpd.GeoDataFrame(geometry=[box(40_000, 40_000, 50_000, 50_000)], crs=CRS)
    inside = _points([(45_000, 45_000)], ["in"])
    out = network_travel_time(inside, towns, corridors)
    assert out["time_to_agglomeration_min"].iloc[0] == 0.0


def test_disconnected_component_is_nan_with_one_warning(toy):
    corridors, towns, origins = toy
    island = _lines([("rail", 60.0, LineString([(100_000, 0), (110_000, 0)]))])
    corridors = gpd.GeoDataFrame(
        __import__("pandas").concat([corridors, island], ignore_index=True), crs=CRS)
    origins = _points([(20_000, 1_000), (105_000, 500), (106_000, 500)], ["a", "b", "c"])
    with pytest.warns(MinespaceWarning, match="2 origin") as record:
        out = network_travel_time(origins, towns, corridors)
    assert len(record) == 1
    assert "b" in str(record[0].message) and "c" in str(record[0].message)
    np.testing.assert_allclose(out["time_to_agglomeration_min"], [23.0, np.nan, np.nan])
    assert list(out["reachable"]) == [True, False, False]
    assert out["nearest_agglomeration_by_time_id"].iloc[1] is None
    with pytest.warns(MinespaceWarning):
        T = travel_time_matrix(origins, towns, corridors)
    assert T.loc[["b", "c"]].isna().all().all()


@pytest.mark.parametrize(("gap_m", "connected"), [(10.0, True), (24.0, True), (40.0, False)])
def test_snapping_gap_below_and_above_tolerance(gap_m, connected):
    corridors = _lines([
        ("rail", 60.0, LineString([(0, 0), (10_000, 0)])),
        ("road", 60.0, LineString([(5_000, gap_m), (5_000, 10_000)])),  # T near-miss
    ])
    towns = _points([(0, 0)], ["P"])
    origin = _points([(5_000, 10_000)], ["o"])
    if connected:
        out = network_travel_time(origin, towns, corridors, snap_m=25.0)
        # road (10 km - gap) + connector (gap) at 60 km/h = 10 min, then 5 km rail = 5 min
        np.testing.assert_allclose(out["time_to_agglomeration_min"], [15.0], atol=1e-6)
    else:
        with pytest.warns(MinespaceWarning, match="cannot reach"):
            out = network_travel_time(origin, towns, corridors, snap_m=25.0)
        assert not out["reachable"].iloc[0]


def test_unknown_kind_without_speed_warns_and_is_left_out(toy):
    corridors, _towns, _origins = toy
    extra = gpd.GeoDataFrame({"kind": ["cable_car"]},
                             geometry=[LineString([(0, 0), (0, 5_000)])], crs=CRS)
    corridors = gpd.GeoDataFrame(__import__("pandas").concat([corridors, extra],
                                                             ignore_index=True), crs=CRS)
    with pytest.warns(MinespaceWarning, match="cable_car"):
        net = build_network(corridors)
    assert len(net.edges) == 5


def test_crs_errors(toy):
    corridors, towns, origins = toy
    with pytest.raises(CRSError):
        network_travel_time(origins.to_crs(4326), towns.to_crs(4326), corridors.to_crs(4326))
    with pytest.raises(CRSError, match="different CRS"):
        network_travel_time(origins, towns.to_crs("EPSG:32644"), corridors)


def test_against_networkx_random_planar_graph():
    rng = np.random.default_rng(42)
    xy = rng.uniform(0, 50_000, (120, 2))
    tri = Delaunay(xy)
    e = np.concatenate([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]],
                        tri.simplices[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    e = e[rng.random(len(e)) < 0.4]              # thin it out: some parts get cut off
    speed = rng.choice([30.0, 50.0, 80.0], len(e))
    corridors = _lines([("road", s, LineString([xy[a], xy[b]]))
                        for (a, b), s in zip(e, speed, strict=True)])
    G = nx.Graph()
    G.add_nodes_from(range(len(xy)))
    for (a, b), s in zip(e, speed, strict=True):
        G.add_edge(int(a), int(b), w=60.0 * np.hypot(*(xy[a] - xy[b])) / 1000.0 / s)
    used = np.unique(e)
    dest = used[:5]
    orig = used[5:]
    towns = _points(xy[dest], [f"T{i}" for i in dest])
    origins = _points(xy[orig], [f"O{i}" for i in orig])
    expected = nx.multi_source_dijkstra_path_length(G, set(dest.tolist()), weight="w")
    exp = np.array([expected.get(int(i), np.nan) for i in orig])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MinespaceWarning)
        out = network_travel_time(origins, towns, corridors, snap_m=0.0)
        T = travel_time_matrix(origins, towns, corridors, snap_m=0.0)
    # coordinates are snap-rounded to a 1 cm grid: a few cm over ~50 km of path
    np.testing.assert_allclose(out["time_to_agglomeration_min"], exp, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(out["reachable"], np.isfinite(exp))
    full = np.array([[nx.shortest_path_length(G, int(o), int(d), weight="w")
                      if nx.has_path(G, int(o), int(d)) else np.nan for d in dest] for o in orig])
    np.testing.assert_allclose(T.to_numpy(), full, rtol=0, atol=1e-3)
    assert np.isnan(full).any() and np.isfinite(full).any()  # both cases exercised


def test_direct_off_network_trip_within_limit(toy):
    corridors, _, _ = toy
    towns = _points([(50_000, 50_000)], ["far"])
    origin = _points([(50_000, 51_000)], ["o"])
    # network route: long legs at 20 km/h; direct 1 km at 20 km/h = 3 min when allowed
    out = network_travel_time(origin, towns, corridors, direct_max_km=2.0)
    np.testing.assert_allclose(out["time_to_agglomeration_min"], [3.0])
    net_only = network_travel_time(origin, towns, corridors)
    assert net_only["time_to_agglomeration_min"].iloc[0] > 3.0
    T = travel_time_matrix(origin, towns, corridors, direct_max_km=2.0)
    np.testing.assert_allclose(T.to_numpy(), [[3.0]])


def test_max_access_km_disconnects_far_origins(toy):
    corridors, towns, _ = toy
    origins = _points([(20_000, 1_000), (20_000, 9_000)], ["near", "far"])
    with pytest.warns(MinespaceWarning, match="1 origin"):
        out = network_travel_time(origins, towns, corridors, max_access_km=5.0)
    assert list(out["reachable"]) == [True, False]


def test_speed_precedence():
    from minespace.accessibility._common import resolve_speeds

    layer = gpd.GeoDataFrame(
        {"kind": ["rail", "rail", "road_trunk", "mystery", "mystery"],
         "speed_kmh": [35.0, 50.0, np.nan, np.nan, 12.0],
         "speed_source": ["data", "default", "unknown", "unknown", "data"]},
        geometry=[LineString([(0, 0), (1, 1)])] * 5, crs=CRS)
    with pytest.warns(MinespaceWarning, match="mystery") as rec:
        speed = resolve_speeds(layer, {"rail": 40.0}, "f")
    assert len(rec) == 1
    # data speed kept; default overridden; missing -> DEFAULT_SPEEDS_KMH (trunk 80);
    # unknown kind without speed -> NaN; unknown kind with a data speed -> kept
    np.testing.assert_allclose(speed, [35.0, 40.0, 80.0, np.nan, 12.0])


def _random_network(seed, n=150, keep=0.5):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50_000, (n, 2))
    tri = Delaunay(xy)
    e = np.concatenate([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]],
                        tri.simplices[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    e = e[rng.random(len(e)) < keep]
    speed = rng.choice([30.0, 50.0, 80.0], len(e))
    lines = [LineString([xy[a], xy[b]]) for a, b in e]
    return rng, xy, e, speed, lines


def _nx_with_legs(xy, e, speed, lines, features, access_kmh=20.0):
    """networkx graph of the corridors plus each feature joined by explicit access legs
    to both ends of its nearest line (brute force), as the module docstring states."""
    import shapely

    G = nx.Graph()
    G.add_nodes_from(range(len(xy)))
    t_edge = []
    for (a, b), s in zip(e, speed, strict=True):
        t = 60.0 * np.hypot(*(xy[a] - xy[b])) / 1000.0 / s
        G.add_edge(int(a), int(b), w=t)
        t_edge.append(t)
    geoms = np.asarray(lines)
    for name, p in features.items():
        d = shapely.distance(Point(p), geoms)
        i = int(np.argmin(d))
        frac = shapely.line_locate_point(geoms[i], Point(p), normalized=True)
        leg = 60.0 * d[i] / 1000.0 / access_kmh
        a, b = int(e[i][0]), int(e[i][1])
        for node, w in ((a, leg + frac * t_edge[i]), (b, leg + (1 - frac) * t_edge[i])):
            if G.has_edge(name, node):
                w = min(w, G[name][node]["w"])
            G.add_edge(name, node, w=w)
    return G


@pytest.mark.parametrize("seed", [1, 2])
def test_vectorised_attachment_matches_networkx_with_explicit_legs(seed):
    """Origins off the network (exact nearest-edge legs), on nodes (grid-key lookup,
    including a sub-centimetre offset) and destinations of both kinds, against
    networkx on the same graph with the access legs added explicitly."""
    rng, xy, e, speed, lines = _random_network(seed)
    corridors = _lines([("road", s, g) for s, g in zip(speed, lines, strict=True)])
    used = np.unique(e)
    net = build_network(corridors, snap_m=0.0)
    off = rng.uniform(0, 50_000, (60, 2))                       # general path
    on = (net.node_xy[rng.choice(len(net.nodes), 30, replace=False)]  # node lookup path
          + rng.uniform(-0.004, 0.004, (30, 2)))
    o_xy = np.vstack([off, on])
    d_xy = np.vstack([xy[used[:3]], rng.uniform(0, 50_000, (3, 2))])
    o_names = [f"o{i}" for i in range(len(o_xy))]
    d_names = [f"d{i}" for i in range(len(d_xy))]
    G = _nx_with_legs(xy, e, speed, lines, dict(zip(o_names + d_names,
                                                    np.vstack([o_xy, d_xy]), strict=True)))
    full = np.array([[nx.shortest_path_length(G, o, d, weight="w")
                      if nx.has_path(G, o, d) else np.nan for d in d_names] for o in o_names])
    assert (net.match_nodes(on) >= 0).all() and (net.match_nodes(off) < 0).all()
    origins, towns = _points(o_xy, o_names), _points(d_xy, d_names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MinespaceWarning)
        out = network_travel_time(origins, towns, net)
        T = travel_time_matrix(origins, towns, net)
        T_small = travel_time_matrix(origins.iloc[:4], towns, net)  # other direction
    # the network is noded on a 1 cm grid: differences of a few 1e-5 minutes
    np.testing.assert_allclose(T.to_numpy(), full, rtol=0, atol=1e-3)
    np.testing.assert_allclose(T_small.to_numpy(), full[:4], rtol=0, atol=1e-3)
    best = np.where(np.isfinite(full), full, np.inf).min(1)
    np.testing.assert_allclose(out["time_to_agglomeration_min"],
                               np.where(np.isfinite(best), best, np.nan), rtol=0, atol=1e-3)
    reach = out["reachable"].to_numpy()
    first = out["nearest_agglomeration_by_time_id"][reach]
    chosen = T.to_numpy()[np.flatnonzero(reach), [d_names.index(d) for d in first]]
    np.testing.assert_allclose(chosen, out["time_to_agglomeration_min"][reach], atol=1e-9)
    assert np.isfinite(full).any() and reach.any()


def test_match_nodes_grid_cell():
    corridors = _lines([("rail", 60.0, LineString([(0, 0), (1_000, 0)]))])
    net = build_network(corridors)
    got = net.match_nodes(np.array([[0.004, -0.004], [1_000.0, 0.0], [0.006, 0.0],
                                    [500.0, 0.0], [1e12, 1e12]]))
    assert got[0] >= 0 and got[1] >= 0 and got[0] != got[1]
    assert (got[2:] == -1).all()


def test_overlapping_corridors_take_the_fastest_and_nodes_are_sorted():
    """Speed attribution (sources within the noding grid of a piece's midpoint, at the
    minimum distance) and node numbering (lexicographic by grid key)."""
    corridors = _lines([
        ("rail", 40.0, LineString([(0, 0), (10_000, 0)])),
        ("road_trunk", 90.0, LineString([(0, 0), (10_000, 0)])),        # same track, faster
        ("road_primary", 30.0, LineString([(5_000, -5_000), (5_000, 5_000)])),
    ])
    net = build_network(corridors)
    on_track = net.edges["geometry"].apply(lambda g: g.bounds[1] == g.bounds[3] == 0.0)
    np.testing.assert_allclose(net.edges.loc[on_track, "speed_kmh"], 90.0)
    np.testing.assert_allclose(net.edges.loc[~on_track, "speed_kmh"], 30.0)
    xy = net.node_xy
    assert (np.lexsort((xy[:, 1], xy[:, 0])) == np.arange(len(xy))).all()
    assert len(net.nodes) == 5 and len(net.edges) == 4


def test_in_boxes_keeps_every_point_inside_a_box():
    """The mask pre-filter of direct trips is conservative: every point inside a
    (grown) box is kept, including points exactly on box edges and degenerate boxes."""
    from minespace.accessibility.network import _in_boxes

    rng = np.random.default_rng(11)
    lo = rng.uniform(0, 1e5, (40, 2))
    boxes = np.c_[lo, lo + rng.uniform(0, 5e3, (40, 2))]
    boxes[:5, 2:] = boxes[:5, :2]                              # point "boxes"
    xy = np.vstack([rng.uniform(-1e4, 1.1e5, (20_000, 2)),
                    boxes[:, :2], boxes[:, 2:],                # corners
                    np.c_[boxes[:, 0], rng.uniform(boxes[:, 1], boxes[:, 3])]])  # edges
    for pad in (0.0, 750.0):
        inside = ((xy[:, None, 0] >= boxes[None, :, 0] - pad)
                  & (xy[:, None, 0] <= boxes[None, :, 2] + pad)
                  & (xy[:, None, 1] >= boxes[None, :, 1] - pad)
                  & (xy[:, None, 1] <= boxes[None, :, 3] + pad)).any(axis=1)
        kept = _in_boxes(xy, boxes, pad)
        assert kept[inside].all()
        assert kept.sum() < 2 * inside.sum()                   # and it does filter
    assert not _in_boxes(xy, np.empty((0, 4)), 0.0).any()


def test_point_coordinates_fast_path_only_for_one_point_per_row():
    """The one-pass point check accepts exactly layers of one point per row; anything
    else falls back to the full checks (and an empty geometry still raises)."""
    import shapely

    from minespace.accessibility._common import point_coordinates

    pts = [Point(1, 2), Point(3, 4)]
    layer = gpd.GeoDataFrame(geometry=pts, crs=CRS)
    np.testing.assert_array_equal(point_coordinates(layer), [[1, 2], [3, 4]])
    one = shapely.multipoints([[5, 6]])
    assert point_coordinates(gpd.GeoDataFrame(geometry=[pts[0], one], crs=CRS)).shape == (2, 2)
    line = LineString([(0, 0), (1, 1)])
    for bad in ([pts[0], None], [pts[0], Point()], [line, Point()], [pts[0], line],
                [box(0, 0, 1, 1), pts[0]]):
        assert point_coordinates(gpd.GeoDataFrame(geometry=bad, crs=CRS)) is None
    net = build_network(gpd.GeoDataFrame({"kind": ["rail"]}, geometry=[
        LineString([(0, 0), (10_000, 0)])], crs=CRS))
    towns = gpd.GeoDataFrame(geometry=[Point(10_000, 0)], crs=CRS)
    with pytest.raises(ValueError, match="missing or empty"):
        network_travel_time(gpd.GeoDataFrame(geometry=[Point(0, 0), Point()], crs=CRS),
                            towns, net)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_snapping_onto_diagonal_lines_connects_with_hand_times(seed):
    """Near-misses onto the inside of oblique lines (where the computed nearest point
    is only within rounding of the line) and onto a line's end vertex are joined;
    times through the connector equal the geometry worked out independently."""
    import shapely

    rng = np.random.default_rng(seed)
    for _ in range(20):
        a, b = rng.uniform(0, 1e4, 2), rng.uniform(0, 1e4, 2)
        if np.hypot(*(b - a)) < 2_000:
            continue
        t = rng.uniform(0.2, 0.8)
        foot = a + t * (b - a)                                  # target inside B
        normal = np.array([a[1] - b[1], b[0] - a[0]]) / np.hypot(*(b - a))
        gap = rng.uniform(0.5, 20.0)
        far = foot + normal * (gap + rng.uniform(500, 3_000))
        corridors = _lines([("rail", 60.0, LineString([a, b])),
                            ("road", 30.0, LineString([far, foot + normal * gap]))])
        net = build_network(corridors, snap_m=25.0)
        assert net.n_components == 1
        # from the far end of the road to B's end b: road + gap at 30 km/h, then
        # |foot - b| along the rail at 60 km/h (1 km at 60 km/h = 1 min)
        expect = (np.hypot(*(far - foot)) / 1000 * 2.0 + np.hypot(*(b - foot)) / 1000)
        out = network_travel_time(_points([tuple(far)], ["o"]), _points([tuple(b)], ["P"]),
                                  net)
        # tolerance: the network is exact to its 1 cm grid; each of the two end legs
        # (<= 0.71 cm at 20 km/h) adds up to 2.1e-5 min
        np.testing.assert_allclose(out["time_to_agglomeration_min"], [expect], atol=1e-4)
    # a gap between two line ends: the connector ends exactly on the end vertex
    corridors = _lines([("rail", 60.0, LineString([(0, 0), (3_000, 4_000)])),
                        ("rail", 60.0, LineString([(3_006, 4_008), (9_000, 9_000)]))])
    net = build_network(corridors, snap_m=25.0)
    assert net.n_components == 1
    assert shapely.length(net.edges.geometry).sum() == pytest.approx(
        5_000 + 10 + np.hypot(5_994, 4_992))


def test_shared_ends_against_brute_force():
    """Junction ends (exactly on another line's end) are found by a sort; a closed
    line's own two ends do not count as shared."""
    from minespace.accessibility.graph import _shared_ends

    rng = np.random.default_rng(5)
    xy = rng.integers(0, 30, (400, 2)).astype(float)    # many exact coincidences
    owner = np.tile(np.arange(200), 2)
    xy[200 + 7] = xy[7]                                  # line 7 is closed
    brute = np.array([any((xy[j] == xy[i]).all() and owner[j] != owner[i]
                          for j in range(len(xy))) for i in range(len(xy))])
    np.testing.assert_array_equal(_shared_ends(xy, owner), brute)
    assert brute.any() and not brute.all()


def test_node_falls_back_to_snap_rounding_overlay(monkeypatch):
    """If GEOS' noder fails, the snap-rounding overlay gives the same pieces."""
    import shapely

    from minespace.accessibility import graph as graph_module

    rng = np.random.default_rng(9)
    lines = shapely.linestrings(rng.uniform(0, 1e4, (30, 3, 2)))
    fast = graph_module._node(lines, 0.01)

    def broken(*args, **kwargs):
        raise shapely.errors.GEOSException("TopologyException: noding failed")

    monkeypatch.setattr(shapely, "node", broken)
    slow = graph_module._node(lines, 0.01)
    assert len(slow) == len(fast)
    # snap rounding moves crossings by up to a grid cell: lengths agree to that
    assert shapely.length(slow).sum() == pytest.approx(shapely.length(fast).sum(),
                                                       abs=0.01 * len(fast))


def test_time_nearest_and_straight_nearest_agglomeration_are_separate_columns(toy):
    """A point whose straight-line nearest town (Q, 14.9 km) is not the one reached
    first over the network (P): both answers are kept, neither overwrites the other."""
    from minespace.accessibility import agglomeration_distances

    corridors, towns, _ = toy
    origin = _points([(16_000, 16_000)], ["o4"])
    out = network_travel_time(agglomeration_distances(origin, towns), towns, corridors)
    assert out["nearest_agglomeration_id"].iloc[0] == "Q"
    assert out["nearest_agglomeration_by_time_id"].iloc[0] == "P"
    # leg to the trunk's end (10, 10) km: sqrt(6² + 6²) km at 3 min/km, then trunk
    # 10 km at 0.5 min/km and rail 10 km at 1 min/km
    np.testing.assert_allclose(out["time_to_agglomeration_min"],
                               [3 * np.hypot(6, 6) + 5 + 10], atol=1e-6)


def test_empty_destination_layer_says_so(toy):
    """No destinations: every time is NaN, with one warning naming the cause rather
    than a list of 'unreachable' origins."""
    corridors, towns, origins = toy
    for func in (network_travel_time, travel_time_matrix):
        with pytest.warns(MinespaceWarning, match="destination layer is empty") as record:
            out = func(origins, towns.iloc[:0], corridors)
        assert len(record) == 1
        values = (out["time_to_agglomeration_min"] if func is network_travel_time
                  else out.to_numpy())
        assert len(out) == 3 and np.isnan(np.asarray(values, float)).all()
