"""Innovation components of the candidate score (issue 15): value chain, knowledge,
investment; unavailable components; links; explanation; sensitivity.

Every expected value is hand arithmetic on the fixtures below (written out in comments).
"""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import minespace as ms
from minespace import clustering as cl

E = math.e
#: The weights of the five components before issue 15 (minespace 0.x), normalised.
TODAY = {"concentration": 0.35, "coherence": 0.15, "agglomeration_access": 0.20,
         "corridor_access": 0.15, "diversification": 0.15}
NO_INNOVATION = {"value_chain": 0.0, "knowledge": 0.0, "investment": 0.0}
FIVE = list(TODAY)


def _three_regions() -> gpd.GeoDataFrame:
    """Regions A (T1, T2), B (T3, T4), C (T5); every column chosen for round arithmetic."""
    t = pd.DataFrame({
        "region_id": ["A", "A", "B", "B", "C"],
        "area_km2": [10.0, 30.0, 20.0, 20.0, 10.0],
        "count": [3, 1, 2, 2, 3],
        "count__a": [3, 0, 2, 2, 1],
        "count__b": [0, 1, 0, 0, 2],
        "dist_corridor_km": [1.0, 50.0, 5.0, 5.0, 20.0],
        "time_to_agglomeration_min": [30.0, np.nan, 90.0, 90.0, 10.0],
        "hansen_potential": [E - 1, E ** 2 - 1, 0.0, 0.0, E ** 3 - 1],
        # deposits within the threshold of a plant taking their commodity
        "value_chain_deposits": [3, 0, 1, 1, 0],
        "knowledge_potential": [E ** 2 - 1, E ** 2 - 1, E ** 4 - 1, E ** 2 - 1, E - 1],
        "projects": [1, 1, 0, 0, 1],
        "investment": [70.0, 7.5, 0.0, 0.0, 5.0],
        "project_jobs": [3139.0, 4500.0, 0.0, 0.0, 1000.0],
    }, index=pd.Index([f"T{i}" for i in range(1, 6)], name="territory_id"))
    t.attrs["investment_unit"] = "billion RUB"
    return gpd.GeoDataFrame(t, geometry=[shapely.box(i, 0, i + 1, 1) for i in range(5)],
                            crs=32645)


def _hand_components() -> pd.DataFrame:
    """The eight components of _three_regions, by hand (min_deposits=2: all ranked)."""
    # densities per 1000 km²: A 4/40 -> 100, B 4/40 -> 100, C 3/10 -> 300; deposits 4, 4, 3
    conc = {"A": 0.5 * 100 / 300 + 0.5 * 4 / 4, "B": 0.5 * 100 / 300 + 0.5 * 4 / 4,
            "C": 0.5 * 300 / 300 + 0.5 * 3 / 4}
    coherence = {"A": 3 / 4, "B": 4 / 4, "C": 2 / 3}
    # within 60 min: A 10 of 40 km², B none, C all; mean log1p Hansen A (10·1 + 30·2)/40 =
    # 1.75, B 0, C 3 -> terms 1.75/3, 0, 1
    aggl = {"A": 0.5 * 0.25 + 0.5 * 1.75 / 3, "B": 0.0, "C": 0.5 * 1 + 0.5 * 1}
    corridor = {"A": 10 / 40, "B": 40 / 40, "C": 0.0}
    diversification = {"A": 1.0, "B": 0.0, "C": 1.0}   # 2 activities in the data
    value_chain = {"A": 3 / 4, "B": 2 / 4, "C": 0 / 3}
    # mean log1p knowledge potential: A 2, B (20·4 + 20·2)/40 = 3, C 1 -> / 3
    knowledge = {"A": 2 / 3, "B": 3 / 3, "C": 1 / 3}
    # investment A 77.5, B 0, C 5; jobs A 7,639, B 0, C 1,000
    inv_max, jobs_max = math.log(1 + 77.5), math.log(1 + 7639)
    investment = {"A": 0.5 * 1 + 0.5 * 1, "B": 0.0,
                  "C": 0.5 * math.log(6) / inv_max + 0.5 * math.log(1001) / jobs_max}
    return pd.DataFrame({"concentration": conc, "coherence": coherence,
                         "agglomeration_access": aggl, "corridor_access": corridor,
                         "diversification": diversification, "value_chain": value_chain,
                         "knowledge": knowledge, "investment": investment})


def test_each_component_by_hand():
    s = cl.score_regions(_three_regions(), min_deposits=2)
    hand = _hand_components()
    for c in cl.COMPONENTS:
        np.testing.assert_allclose(s.loc[hand.index, "score__" + c], hand[c], rtol=1e-12,
                                   err_msg=c)
    # raw figures kept
    assert s.loc["A", "value_chain_share"] == pytest.approx(0.75)
    assert s.loc["B", "knowledge_log_mean"] == pytest.approx(3.0)
    assert s.loc["A", ["projects", "investment", "project_jobs"]].tolist() == [2, 77.5, 7639]
    # default weights .25 .10 .15 .10 .10 .10 .10 .10
    w = {"concentration": 0.25, "coherence": 0.10, "agglomeration_access": 0.15,
         "corridor_access": 0.10, "diversification": 0.10, "value_chain": 0.10,
         "knowledge": 0.10, "investment": 0.10}
    expected = sum(hand[c] * v for c, v in w.items())
    np.testing.assert_allclose(s.loc[hand.index, "score"], expected, rtol=1e-12)
    assert s.attrs["unavailable"] == {}


def test_new_weights_zero_reproduce_todays_scores():
    """Today's score: Σ today's weight × today's component, by hand; innovation columns in
    the data change nothing when the new weights are 0."""
    hand = _hand_components()
    today = sum(hand[c] * v for c, v in TODAY.items())
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # weight 0 is not "unavailable": no warning
        with_data = cl.score_regions(_three_regions(), min_deposits=2,
                                     weights=TODAY | NO_INNOVATION)
        without = cl.score_regions(
            _three_regions().drop(columns=["value_chain_deposits", "knowledge_potential",
                                           "projects", "investment", "project_jobs"]),
            min_deposits=2, weights=TODAY | NO_INNOVATION)
    for s in (with_data, without):
        np.testing.assert_allclose(s.loc[hand.index, "score"], today, rtol=1e-12)
        assert s["rank"].loc[today.sort_values(ascending=False).index].tolist() == [1, 2, 3]
        assert s.attrs["unavailable"] == {}
    # without the data the components are NaN, not 0
    assert without[["score__value_chain", "score__knowledge", "score__investment"]
                   ].isna().all().all()
    assert without["investment"].isna().all()


def test_unavailable_component_weight_redistributed_by_hand():
    terr = _three_regions().drop(columns="knowledge_potential")
    with pytest.warns(ms.ComponentUnavailableWarning) as caught:
        s = cl.score_regions(terr, min_deposits=2)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "'knowledge'" in text and "'knowledge_potential'" in text
    assert "its weight 0.10 is redistributed" in text
    assert "'value_chain'" not in text and "'investment'" not in text
    assert s.attrs["unavailable"].keys() == {"knowledge"}
    assert s["score__knowledge"].isna().all()
    # the other seven keep their proportions: weight / (1 − 0.10)
    hand = _hand_components()
    w = {"concentration": 0.25, "coherence": 0.10, "agglomeration_access": 0.15,
         "corridor_access": 0.10, "diversification": 0.10, "value_chain": 0.10,
         "investment": 0.10}
    expected = sum(hand[c] * v / 0.90 for c, v in w.items())
    np.testing.assert_allclose(s.loc[hand.index, "score"], expected, rtol=1e-12)
    assert s.attrs["weights"]["knowledge"] == 0.0
    assert s.attrs["weights"]["concentration"] == pytest.approx(0.25 / 0.90)


def test_two_unavailable_and_empty_column():
    terr = _three_regions().drop(columns=["investment"])
    terr["value_chain_deposits"] = np.nan            # present but holding nothing
    with pytest.warns(ms.ComponentUnavailableWarning) as caught:
        s = cl.score_regions(terr, min_deposits=2, weights={"knowledge": 0.3})
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "'value_chain_deposits' holds no value" in text
    assert "no 'investment' column" in text
    # requested .25 .10 .15 .10 .10 .10 .30 .10 (sum 1.2): value chain and investment
    # give away .10/1.2 each; the rest (.25 .10 .15 .10 .10 .30) sums to 1.0
    assert "its weight 0.08 is redistributed" in text      # 0.10 / 1.2 = 0.083
    hand = _hand_components()
    w = {"concentration": 0.25, "coherence": 0.10, "agglomeration_access": 0.15,
         "corridor_access": 0.10, "diversification": 0.10, "knowledge": 0.30}
    expected = sum(hand[c] * v / 1.00 for c, v in w.items())
    np.testing.assert_allclose(s.loc[hand.index, "score"], expected, rtol=1e-12)


def test_every_weighted_component_unavailable_is_an_error():
    only = dict.fromkeys(cl.COMPONENTS, 0.0) | {"knowledge": 1.0}
    with pytest.raises(ValueError, match="every weighted component is unavailable"):
        with pytest.warns(ms.ComponentUnavailableWarning):
            cl.score_regions(_three_regions().drop(columns="knowledge_potential"),
                             weights=only, min_deposits=2)


def test_weighted_value_chain_share():
    terr = _three_regions()
    # output within reach / total output: A (5 + 0) / (6 + 4) = .5; B (1 + 3) / (2 + 6)
    terr["value_chain_weight"] = [5.0, 0.0, 1.0, 3.0, 0.0]
    terr["value_chain_weight_total"] = [6.0, 4.0, 2.0, 6.0, 7.0]
    s = cl.score_regions(terr, min_deposits=2)
    assert s.loc["A", "score__value_chain"] == pytest.approx(0.5)
    assert s.loc["B", "score__value_chain"] == pytest.approx(0.5)
    assert s.loc["C", "score__value_chain"] == 0.0


def _links() -> dict[str, pd.DataFrame]:
    plants = pd.DataFrame({
        # deposits of A reach KOKS (twice) and Altai-Koks; B's reach a power plant
        "deposit_id": ["M1", "M2", "M1", "M5", "M6"],
        "facility_id": ["F1", "F1", "F2", "F9", "F9"],
        "facility_name": ["KOKS", "KOKS", "Altai-Koks", "Belovo GRES", "Belovo GRES"],
        "value_chain": ["coking_coal", "coking_coal", "coking_coal", "thermal_coal",
                        "thermal_coal"],
        "time_min": [10.0, 12.0, 40.0, 20.0, 25.0],
        "territory_id": ["T1", "T1", "T2", "T3", "T4"]})
    inst = pd.DataFrame({
        "territory_id": ["T1", "T1", "T1", "T1", "T2", "T2", "T3"],
        "institution_id": ["U1", "U2", "U3", "TP", "U1", "U3", "B1"],
        "institution_name": ["KemSU", "KuzSTU", "KemSMU", "Kuzbass Technopark", "KemSU",
                             "KemSMU", "KuzSTU Belovo branch"],
        "kind": ["university", "university", "university", "technopark", "university",
                 "university", "university_branch"],
        "time_min": [5.0, 6.0, 7.0, 8.0, 30.0, 31.0, 15.0]})
    return {"plants": plants, "institutions": inst}


def test_links_and_explanation_name_the_raw_figures():
    cand = cl.candidate_clusters(_three_regions(), min_deposits=2, links=_links())
    a, b, c = cand.loc["A"], cand.loc["B"], cand.loc["C"]
    assert (a["plants_within"], b["plants_within"], c["plants_within"]) == (2, 1, 0)
    assert a["plant_names"] == "KOKS, Altai-Koks" and a["plant_inputs"] == "coking coal"
    assert (a["institutions_within"], b["institutions_within"]) == (4, 1)
    assert a["institutions_by_kind"] == "3 universities, 1 technopark"
    assert b["institutions_by_kind"] == "1 university branch"
    text = a["explanation"]
    assert ("Value chain 0.75: 75% of the deposits within 45 min of a processing plant "
            "taking their output; 2 processing plants taking coking coal (KOKS, "
            "Altai-Koks).") in text
    assert "3 universities, 1 technopark within 60 min (KemSU, KuzSTU, KemSMU +1)" in text
    assert "Knowledge 0.67:" in text
    assert "Investment 1.00: 2 projects, 77.5 bn RUB, 7,639 jobs." in text
    assert "1 processing plant taking thermal coal (Belovo GRES)" in b["explanation"]
    assert "no processing plant" in c["explanation"]
    assert "no institution within 60 min" in c["explanation"]
    assert "Investment 0.00: no located investment project." in b["explanation"]
    # thresholds named as given
    other = cl.candidate_clusters(_three_regions(), min_deposits=2, links=_links(),
                                  value_chain_min=30, knowledge_min=90)
    assert "within 30 min of a processing plant" in other.loc["A", "explanation"]
    assert "technopark within 90 min" in other.loc["A", "explanation"]


def test_explanation_without_links_and_unavailable():
    terr = _three_regions().drop(columns=["projects", "investment", "project_jobs"])
    with pytest.warns(ms.ComponentUnavailableWarning):
        cand = cl.candidate_clusters(terr, min_deposits=2)
    text = cand.loc["A", "explanation"]
    assert "Value chain 0.75: 75% of the deposits within 45 min" in text
    assert "processing plants taking" not in text
    assert ("Investment: unavailable (no located investment projects; its weight went to "
            "the other components).") in text
    assert "plants_within" not in cand.columns
    # weight 0 and no data: not mentioned at all
    quiet = cl.candidate_clusters(terr, min_deposits=2, weights={"investment": 0})
    assert "Investment" not in quiet.loc["A", "explanation"]


def test_links_validation():
    with pytest.raises(ValueError, match="unknown key"):
        cl.candidate_clusters(_three_regions(), min_deposits=2, links={"plant": _links()["plants"]})
    with pytest.raises(KeyError, match="territory_id"):
        cl.candidate_clusters(_three_regions(), min_deposits=2,
                              links={"plants": _links()["plants"].drop(columns="territory_id")})


def _west_east() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """4 × 2 grid: west (cols 0-1) and east (cols 2-3); equal mining; the west leads on
    knowledge (log1p mean 1 vs 0.8), the east on investment (0.85 vs 1 after log1p)."""
    cols, rows = np.meshgrid(np.arange(4), np.arange(2))
    cols, rows = cols.ravel(), rows.ravel()
    west = cols < 2
    geoms = [shapely.box(c * 1e4, r * 1e4, (c + 1) * 1e4, (r + 1) * 1e4)
             for c, r in zip(cols, rows, strict=True)]
    first = (rows == 0) & ((cols == 0) | (cols == 2))   # one project cell per side
    money = np.where(west, E ** 0.85 - 1, E - 1) * first
    t = gpd.GeoDataFrame({
        "area_km2": 100.0, "count": 2, "count__a": 2, "dist_corridor_km": 1.0,
        "time_to_agglomeration_min": 10.0, "hansen_potential": 5.0,
        "value_chain_deposits": 1,
        "knowledge_potential": np.where(west, E - 1, E ** 0.8 - 1),
        "projects": first.astype(int), "investment": money, "project_jobs": money},
        geometry=geoms, crs=32645,
        index=pd.Index([f"T{i}" for i in range(8)], name="territory_id"))
    X = pd.DataFrame({"side": west.astype(float)}, index=t.index)
    return t, X


def test_sensitivity_perturbs_the_new_components():
    """Only knowledge and investment weigh: the west wins 0.5·1 + 0.5·0.85 = 0.925 against
    0.5·0.8 + 0.5·1 = 0.9. Perturbing their weights (× U[0.5, 1.5]) flips it whenever
    w_inv / w_know > (1 − 0.8) / (1 − 0.85) = 4/3, so the west cannot always stay."""
    t, X = _west_east()
    weights = dict.fromkeys(cl.COMPONENTS, 0.0) | {"knowledge": 1.0, "investment": 1.0}
    base = cl.score_regions(cl.regionalize(t, X, n_regions=2), weights=weights)
    assert base["score"].round(6).tolist() == [0.925, 0.9]
    s = cl.candidate_sensitivity(t, X, n_regions=2, weights=weights, top_n=1,
                                 n_perturbations=40, k_spread=0, random_state=1)
    assert s.attrs["components"] == ["knowledge", "investment"]
    assert 0 < s["top_n_share_weights"].iloc[0] < 1
    fixed = cl.candidate_sensitivity(t, X, n_regions=2, weights=weights, top_n=1,
                                     n_perturbations=5, k_spread=0, weight_spread=0.0)
    assert fixed["top_n_share_weights"].iloc[0] == 1.0


def test_sensitivity_warns_once_and_keeps_unavailable_at_zero():
    t, X = _west_east()
    t = t.drop(columns="knowledge_potential")
    with pytest.warns(ms.ComponentUnavailableWarning) as caught:
        s = cl.candidate_sensitivity(t, X, n_regions=2, top_n=1, n_perturbations=3,
                                     k_spread=0)
    assert len(caught) == 1
    assert "knowledge" not in s.attrs["components"]
    assert "investment" in s.attrs["components"]


def test_find_candidates_joins_innovation_and_passes_links():
    t = _three_regions()
    conc = t[["geometry", "area_km2", "count", "count__a", "count__b"]]
    acc = t[["geometry", "area_km2", "dist_corridor_km", "time_to_agglomeration_min",
             "hansen_potential"]]
    innov = pd.DataFrame(t[["value_chain_deposits", "knowledge_potential", "projects",
                            "investment", "project_jobs"]])
    innov.attrs["investment_unit"] = "billion RUB"
    out = cl.find_candidates(conc, acc, n_regions=2, min_deposits=2, top_n=1,
                             n_perturbations=2, innovation=innov, links=_links(),
                             columns=["nbhd_count_per_km2", "hansen_potential"])
    cand = out["candidates"]
    assert cand[["score__value_chain", "score__knowledge", "score__investment"]
                ].notna().all().all()
    assert "plants_within" in cand and "institutions_by_kind" in cand
    assert " bn RUB" in " ".join(cand["explanation"])
    with pytest.raises(ValueError, match="same territories"):
        cl.find_candidates(conc, acc, n_regions=2, innovation=innov.iloc[:2])
