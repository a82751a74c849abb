"""On the real Kuzbass sample the main coal belt must stand out (issue 6)."""

from __future__ import annotations

import pytest

import minespace as ms
from minespace import clustering as cl

BELT = ["Kemerovo", "Leninsk-Kuznetsky", "Belovo", "Prokopyevsk – Kiselyovsk", "Novokuznetsk"]


@pytest.fixture(scope="module")
def kuzbass_regions(tmp_path_factory):
    result = ms.pipeline.build(ms.pipeline.kuzbass_config(tmp_path_factory.mktemp("kz"),
                                                          tiles=False))
    metrics = cl.territory_metrics(result.results["concentration"],
                                   result.results["accessibility"])
    adj = cl.connectivity(metrics)
    metrics = cl.neighbourhood_metrics(metrics, adj)
    X = cl.FeatureBuilder(cl.REGION_FEATURES).fit_transform(metrics)
    return cl.regionalize(metrics, X, n_regions=12, adjacency=adj), adj


@pytest.mark.slow
def test_main_coal_belt_stands_out(kuzbass_regions):
    regions, adj = kuzbass_regions
    assert cl.is_contiguous(regions["region_id"].to_numpy(), adj).all()
    # mining and access only (the innovation components have their own tests): weight 0
    cand = cl.candidate_clusters(regions, top=5,
                                 weights=dict.fromkeys(cl.INNOVATION_COMPONENTS, 0))
    aggl = ms.datasets.kuzbass().agglomerations
    hit = aggl.sjoin(cand[["rank", "geometry"]].reset_index(), predicate="intersects")
    assert set(BELT) <= set(hit["name"])
    # the belt is where the mining is: most deposits on a small part of the oblast
    total_deposits = regions["count"].sum()
    total_area = regions["area_km2"].sum()
    assert cand["deposits"].sum() >= 0.8 * total_deposits
    assert cand["area_km2"].sum() <= 0.25 * total_area
    # the remote south (Tashtagol, Gornaya Shoria) is not a candidate
    assert "Tashtagol" not in set(hit["name"])
