"""The pipeline's hot-spot inference: config keys, manifest record, map legend."""

from __future__ import annotations

import math

import pytest

import minespace as ms
from minespace.pipeline import build, load_config
from minespace.pipeline.stages import _hotspot_note


def _auto_by_hand(n: int, alpha: float = 0.05) -> int:
    # two-sided floor 2/(R + 1) four times below alpha/n, R + 1 a multiple of 1000
    return math.ceil(2 * 4 * n / alpha / 1000) * 1000 - 1


def test_manifest_records_inference_and_legend_says_it(small_project):
    project = small_project()
    result = build(load_config(project))
    record = result.manifest["stages"]["concentration"]["inference"]
    conc = result.read("concentration")
    n = int(conc["gi_star_p"].notna().sum())
    assert record["n_tested"] == n > 3
    assert record["permutations"] == _auto_by_hand(n)
    assert record["requested"] == "auto" and record["first_round"] == 999
    assert record["alpha"] == 0.05 and record["fdr"] == "benjamini-hochberg"
    assert record["random_state"] == 0 and record["method"] == "conditional permutation"
    assert record["statistic"] == "Gi*" and record["column"] == "count"
    assert record["weights"] == "distance band 15 km"  # 3 x cell_km = 5 (square grid)
    assert record["min_p"] == pytest.approx(2 / (_auto_by_hand(n) + 1))
    assert not result.manifest["stages"]["concentration"]["warnings"]
    legend = f"Hot spots (Gi*, FDR 5 %, {_auto_by_hand(n):,} permutations)"
    assert _hotspot_note(load_config(project), conc) == legend[len("Hot spots ("):-1]
    html = (project.parent / "processed" / "maps" / "test_area_overview.html").read_text()
    assert ((conc["hotspot"] != "not significant").any()) == (legend in html)


def test_fixed_permutations_too_few_warns_in_manifest(small_project):
    project = small_project(weight=False)
    text = project.read_text().replace('by = "commodity"',
                                       'by = "commodity"\npermutations = 99\nalpha = 0.1')
    project.write_text(text)
    config = load_config(project)
    assert config.concentration.permutations == 99 and config.concentration.alpha == 0.1
    result = build(config)
    stage = result.manifest["stages"]["concentration"]
    assert stage["inference"]["permutations"] == 99 and stage["inference"]["alpha"] == 0.1
    n = stage["inference"]["n_tested"]
    assert 2 / 100 > 0.1 / n  # the floor 0.02 is above the first BH threshold
    assert any("smallest attainable two-sided p-value is 0.02" in w
               and "permutations='auto'" in w for w in stage["warnings"])


@pytest.mark.parametrize("line,key", [('permutations = "many"', "concentration.permutations"),
                                      ("permutations = -1", "concentration.permutations"),
                                      ("alpha = 1.5", "concentration.alpha"),
                                      ("alpha = 0", "concentration.alpha")])
def test_inference_config_errors(small_project, line, key):
    project = small_project()
    project.write_text(project.read_text().replace('by = "commodity"',
                                                   f'by = "commodity"\n{line}'))
    with pytest.raises(ms.ConfigError) as exc:
        load_config(project)
    assert exc.value.key == key


def test_map_legend_reads_the_inference_of_getis_ord():
    from minespace import concentration, hotspots, territories

    region = ms.datasets.kuzbass()
    terr = concentration.totals(territories.hex_grid(region, cell_km=15), region.deposits)
    out = hotspots.getis_ord(terr, "count", w=territories.distance_band(terr, distance_km=45),
                             random_state=0)
    assert (out["hotspot"] == "hot").sum() > 20
    n = out.attrs["inference"]["getis_ord"]["n_tested"]
    html = ms.maps.cluster_map(region, territories=out, tiles=False).get_root().render()
    assert f"Hot spots (Gi*, FDR 5 %, {_auto_by_hand(n):,} permutations)" in html
    html = ms.maps.cluster_map(region, territories=out, tiles=False,
                               hotspot_note="Gi*, my note").get_root().render()
    assert "Hot spots (Gi*, my note)" in html
