"""Pipeline wiring of issue 15: the [innovation] config, its dry-run checks, the innovation
stage and the clusters stage consuming it (small projects of our own files)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

import minespace as ms
from minespace.cli import cli
from minespace.pipeline import build, load_config, validate

PLANTS = """
[input.facilities]
path = "raw/plants.geojson"
"""


def _plants(folder, *, value_chain="coking_coal"):
    """One coke plant in the middle of the small project's mines (and its town Alpha)."""
    gpd.GeoDataFrame({"facility_id": ["F1"], "name": ["Koks"], "kind": ["coke_plant"],
                      "value_chain": [value_chain]},
                     geometry=[shapely.Point(86.1, 55.05)], crs=4326
                     ).to_file(folder / "raw" / "plants.geojson")


def _config_error(tmp_path, text: str) -> ms.ConfigError:
    path = tmp_path / "m.toml"
    path.write_text('[input]\ndataset = "kuzbass"\n' + text)
    with pytest.raises(ms.ConfigError) as err:
        load_config(path)
    return err.value


def test_innovation_section_defaults_and_the_bundled_config():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[1] / "minespace.toml")
    assert (cfg.innovation.value_chain_min, cfg.innovation.knowledge_min,
            cfg.innovation.fallback_speed_kmh) == (45.0, 60.0, 40.0)
    assert cfg.innovation.kind_weights == {} and cfg.innovation.matches == {}
    assert ms.pipeline.kuzbass_config("x").innovation == ms.pipeline.config.InnovationConfig()


def test_innovation_section_every_problem_at_once(tmp_path):
    err = _config_error(tmp_path, """
[innovation]
value_chain_min = 0
knowledge_min = "an hour"
kind_weights = { universty = 1.0, technopark = -1 }
matches = { lignite = [], coal = ["thermal_coal", ""] }
fallback_speed = 40
[clusters]
weights = { knowlege = 0.2, value_chain = 0.3 }
""")
    keys = [p.key for p in err.problems]
    assert keys == ["innovation.value_chain_min", "innovation.knowledge_min",
                    "innovation.kind_weights.universty", "innovation.kind_weights.technopark",
                    "innovation.matches.lignite", "innovation.matches.coal",
                    "innovation.fallback_speed", "clusters.weights.knowlege"]
    text = str(err)
    assert 'did you mean "university"?' in text
    assert 'did you mean "fallback_speed_kmh"?' in text
    assert 'did you mean "knowledge"?' in text
    assert "must be > 0" in text and "must be a number >= 0" in text


def test_new_weight_keys_accepted(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[input]\ndataset = "kuzbass"\n[clusters]\n'
                    "weights = { value_chain = 0, knowledge = 0.3, investment = 0.05 }\n"
                    "[innovation]\nkind_weights = { university_branch = 0.6 }\n"
                    'matches = { thermal_coal = "thermal_coal" }\n')
    cfg = load_config(path)
    assert cfg.clusters.weights == {"value_chain": 0.0, "knowledge": 0.3, "investment": 0.05}
    assert cfg.innovation.kind_weights == {"university_branch": 0.6}
    assert cfg.innovation.matches == {"thermal_coal": ("thermal_coal",)}


def test_dry_run_matches_and_kind_weights_that_never_apply(small_project):
    project = small_project(extra=PLANTS + """
[innovation]
kind_weights = { university = 2 }
matches = { cole = ["coking_coal"], iron = ["iron_pellets"], coal = ["coking_coal"] }
""")
    _plants(project.parent)
    with pytest.raises(ms.ConfigError) as err:
        validate(load_config(project))
    problems = {p.key: str(p) for p in err.value.problems}
    assert set(problems) == {"innovation.kind_weights", "innovation.matches.cole",
                             "innovation.matches.iron"}
    assert "no institutions layer" in problems["innovation.kind_weights"]
    assert "no deposit has this commodity" in problems["innovation.matches.cole"]
    assert "did you mean 'coal'?" in problems["innovation.matches.cole"]
    # iron -> iron_pellets: no plant takes iron pellets (nor iron): never fires
    assert "no processing plant takes any of these inputs" in problems["innovation.matches.iron"]
    assert "coking_coal" in problems["innovation.matches.iron"]   # the inputs there are
    # the CLI: the same problems, exit code 2, nothing written
    runner = CliRunner()
    res = runner.invoke(cli, ["build", str(project)])
    assert res.exit_code == 2, res.output
    assert "innovation.matches.cole" in res.output or "[innovation.matches] cole" in res.output
    assert not (project.parent / "processed" / "manifest.json").exists()


def test_dry_run_matches_without_plants(small_project):
    project = small_project(extra='\n[innovation]\nmatches = { coal = ["coking_coal"] }\n')
    with pytest.raises(ms.ConfigError, match="no processing plant with a value-chain input"):
        validate(load_config(project))


@pytest.fixture
def plant_project(small_project):
    project = small_project(extra=PLANTS + "\n[innovation]\nvalue_chain_min = 1000\n")
    _plants(project.parent)
    return project


def test_innovation_stage_with_plants_only(plant_project):
    result = build(load_config(plant_project))
    assert "innovation" in result.ran
    table = result.read("innovation")
    # every coal mine reaches the coke plant within 1000 min; the iron mines feed no plant
    assert table["value_chain_deposits"].sum() == 4
    assert table["value_chain_total"].sum() == 6          # deposits (no concentration weight)
    assert "value_chain_weight" not in table and "value_chain_weight_total" not in table
    assert "knowledge_potential" not in table and "investment" not in table
    per_deposit = result.read("value_chain")
    assert sorted(per_deposit.index[per_deposit["value_chain_within"]]) == [
        "M0", "M1", "M3", "M5"]
    assert set(per_deposit["value_chain_facility_id"].dropna()) == {"F1"}
    links = result.read("value_chain_links").reset_index()   # deposit_id: index on read
    assert sorted(links["deposit_id"]) == ["M0", "M1", "M3", "M5"]
    assert links["territory_id"].notna().all()
    assert result.read("knowledge_links").empty
    manifest = json.loads((plant_project.parent / "processed" / "manifest.json").read_text())
    stage = manifest["stages"]["innovation"]
    assert stage["absent"] == {"knowledge": "no institutions layer",
                               "investment": "no projects layer"}
    assert stage["unplaced_projects"] == {"count": 0, "investment": 0.0}
    # the clusters stage: two components unavailable, recorded and warned; build goes on
    clusters = manifest["stages"]["clusters"]
    assert set(clusters["unavailable"]) == {"knowledge", "investment"}
    assert any("ComponentUnavailableWarning" in w and "'knowledge'" in w
               for w in clusters["warnings"])
    cand = result.read("candidates")
    assert len(cand) and cand["score__value_chain"].notna().all()
    assert cand["score__knowledge"].isna().all()
    # the candidate holding the coal mines names the plant (links passed through)
    best = cand.sort_values("plants_within").iloc[-1]
    assert best["plants_within"] == 1 and best["plant_names"] == "Koks"
    assert "1 processing plant taking coking coal (Koks)" in best["explanation"]
    assert "within 1000 min of a processing plant" in best["explanation"]
    assert "Knowledge: unavailable (no institutions" in best["explanation"]


def test_innovation_parameter_reruns_innovation_and_downstream(plant_project):
    build(load_config(plant_project))
    plant_project.write_text(plant_project.read_text().replace(
        'by = "commodity"', 'by = "commodity"\nweight = "output_mt"'))
    weighted = build(load_config(plant_project))
    assert weighted.ran == ["concentration", "innovation", "clusters", "maps"]
    table = weighted.read("innovation")
    # weighted like the concentration (output_mt): coal 1 + 2 + 3 + 0.7 of 8.7 in all
    assert table["value_chain_weight"].sum() == pytest.approx(6.7)
    assert table["value_chain_weight_total"].sum() == pytest.approx(8.7)
    assert table["value_chain_total"].sum() == 6
    plant_project.write_text(plant_project.read_text().replace("value_chain_min = 1000",
                                                               "value_chain_min = 1"))
    again = build(load_config(plant_project))
    assert again.ran == ["innovation", "clusters", "maps"]
    # within 1 minute: the plant is ~5 km from the nearest mine at 20 km/h access speed
    assert again.read("innovation")["value_chain_deposits"].sum() == 0
    assert again.read("value_chain_links").empty


def test_no_innovation_layers_build_goes_on(small_project):
    """No plants, institutions or projects: the three components are unavailable, the
    stage's outputs are there (empty links), the build completes."""
    result = build(load_config(small_project()))
    assert result.ran[-1] == "maps"
    table = result.read("innovation")
    assert list(table.columns) == ["geometry"] and table.index.name == "territory_id"
    assert "value_chain" not in result.outputs       # no per-deposit table of NaN
    assert list(result.read("value_chain_links").reset_index().columns) == [
        "deposit_id", "facility_id", "facility_name", "value_chain", "time_min", "territory_id"]
    manifest = result.manifest["stages"]
    assert set(manifest["innovation"]["absent"]) == {"value_chain", "knowledge", "investment"}
    assert set(manifest["clusters"]["unavailable"]) == {"value_chain", "knowledge",
                                                         "investment"}
    cand = result.read("candidates")
    assert cand[["score__value_chain", "score__knowledge", "score__investment"]
                ].isna().all().all()
    assert "plants_within" not in cand.columns   # unavailable: no "0 plants"


def test_weights_zero_in_config_no_warning(small_project):
    project = small_project(extra="\n[clusters]\nweights = { value_chain = 0, knowledge = 0,"
                                  " investment = 0 }\n")
    result = build(load_config(project))
    clusters = result.manifest["stages"]["clusters"]
    assert clusters["unavailable"] == {}
    assert not any("ComponentUnavailable" in w for w in clusters["warnings"])


@pytest.mark.slow
def test_two_clean_builds_with_plants_are_identical(plant_project, tmp_path):
    """The innovation outputs are deterministic (as every output: test_pipeline_txn)."""
    out = plant_project.parent / "processed"
    build(load_config(plant_project))
    first = {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}
    import shutil

    shutil.rmtree(out)
    build(load_config(plant_project))
    second = {p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))}
    assert {"innovation.parquet", "value_chain.parquet", "value_chain_links.parquet",
            "knowledge_links.parquet"} <= set(first)
    assert [k for k in first if first[k] != second.get(k)] == []
    assert isinstance(pd.read_parquet(out / "value_chain_links.parquet"), pd.DataFrame)


INNOVATION_LAYERS = PLANTS + """
[input.institutions]
path = "raw/institutions.geojson"

[input.projects]
path = "raw/projects.csv"
deposit = "deposit"
town = "town"
"""


def _institutions_and_projects(folder):
    gpd.GeoDataFrame({"institution_id": ["I1", "I2"],
                      "name": ["Alpha University", "Beta branch"],
                      "kind": ["university", "branch"]},
                     geometry=[shapely.Point(86.065, 55.06), shapely.Point(86.26, 55.01)],
                     crs=4326).to_file(folder / "raw" / "institutions.geojson")
    pd.DataFrame({"project_id": ["P1", "P2", "P3"],
                  "name": ["Coke battery", "Technopark", "Lost project"],
                  "investment_bn_rub": [15.0, 2.5, 7.0], "jobs": [1000, 200, 50],
                  "deposit": ["M0", None, "M99"], "town": [None, "Alpha", None]}
                 ).to_csv(folder / "raw" / "projects.csv", index=False)


def test_innovation_stage_with_every_layer(small_project):
    project = small_project(extra=INNOVATION_LAYERS)
    _plants(project.parent)
    _institutions_and_projects(project.parent)
    # a road island in the south-east corner: the territories joining the network there
    # reach no institution over it (their times come from the straight-line fallback)
    lines = gpd.read_file(project.parent / "raw" / "lines.geojson")
    island = gpd.GeoDataFrame({"class": ["road_primary"]}, geometry=[shapely.LineString(
        [(86.36, 54.985), (86.395, 54.99)])], crs=4326)
    pd.concat([lines, island]).to_file(project.parent / "raw" / "lines.geojson")
    result = build(load_config(project))
    stages = result.manifest["stages"]
    # accessibility reports the island's territories unreachable; innovation fills the gap
    assert any("reach any destination" in w for w in stages["accessibility"]["warnings"])
    assert not any("reach any destination" in w for w in stages["innovation"]["warnings"])
    # P3 names a deposit that does not exist: kept unplaced, warned at load, recorded
    assert any("M99" in w for w in stages["load"]["warnings"])
    assert stages["innovation"]["absent"] == {}
    assert stages["innovation"]["unplaced_projects"] == {
        "count": 1, "investment": 7.0, "currency": "RUB", "unit": "billion"}
    assert stages["clusters"]["unavailable"] == {}
    assert not any("ComponentUnavailable" in w for w in stages["clusters"]["warnings"])
    table = result.read("innovation")
    # placed: P1 at deposit M0, P2 in the town Alpha; 15 + 2.5 bn RUB, 1000 + 200 jobs
    assert table["projects"].sum() == 2
    assert table["investment"].sum() == pytest.approx(17.5)
    assert table["project_jobs"].sum() == pytest.approx(1200)
    assert (table["knowledge_potential"] > 0).all()
    links = result.read("knowledge_links").reset_index()
    assert set(links["institution_id"]) <= {"I1", "I2"} and len(links)
    cand = result.read("candidates")
    assert cand[["score__value_chain", "score__knowledge", "score__investment"]
                ].notna().all().all()
    text = " ".join(cand["explanation"])
    assert " bn RUB" in text and "university" in text
    assert cand["institutions_within"].max() >= 1


def test_only_investment_weighted_and_no_project_placed(small_project):
    """The dry run sees a projects layer; only the stage finds that none can be placed:
    with investment the only weighted component, a ConfigError (exit 2) naming the key."""
    project = small_project(extra=INNOVATION_LAYERS + """
[clusters.weights]
concentration = 0
coherence = 0
agglomeration_access = 0
corridor_access = 0
diversification = 0
value_chain = 0
knowledge = 0
investment = 1
""")
    _plants(project.parent)
    _institutions_and_projects(project.parent)
    pd.DataFrame({"project_id": ["P3"], "name": ["Lost project"], "investment_bn_rub": [7.0],
                  "jobs": [50], "deposit": ["M99"], "town": [None]}
                 ).to_csv(project.parent / "raw" / "projects.csv", index=False)
    with pytest.raises(ms.ConfigError) as err:
        build(load_config(project))
    assert err.value.problems[0].key == "clusters.weights"
    assert "investment: no 'investment'" in str(err.value)
    assert "needs located investment projects" in str(err.value)
