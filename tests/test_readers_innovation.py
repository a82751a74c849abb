"""Innovation layers (issue 15): institutions, processing plants with value chains,
investment projects; the bundled Kuzbass files; Region and pipeline integration.

Expected values are counted by hand from the data files (read with ``json``) or
written out in the tests, never read off minespace's output.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import minespace as ms

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "kuzbass"


def _features(name: str) -> list[dict]:
    return [f["properties"] for f in json.loads((RAW / name).read_text("utf-8"))["features"]]


# -- the bundled files ---------------------------------------------------------------------

def test_bundled_innovation_files_and_their_sources_section():
    inst = _features("institutions.geojson")
    plants = _features("processing_plants.geojson")
    assert (len(inst), len(plants)) == (21, 13)
    # SOURCES.md: "university 3 ... university_branch 5; research 4; technopark 2;
    # education_centre 1; economic_zone 6; incubator 0"
    assert Counter(p["kind"] for p in inst) == {"university": 3, "university_branch": 5,
                                                 "research": 4, "technopark": 2,
                                                 "education_centre": 1, "economic_zone": 6}
    sources = (RAW / "SOURCES.md").read_text("utf-8")
    section = sources.split("## Innovation infrastructure and processing plants")[1]
    assert "CC BY-SA 4.0" in section and "institutions.geojson" in section
    # the package credits the files (the maps show region.attribution)
    credit = [a for a in ms.datasets.KUZBASS_ATTRIBUTION if "Institutions" in a]
    assert credit and "CC BY-SA 4.0" in credit[0] and "cited pages" in credit[0]
    assert ms.datasets.kuzbass_dir().joinpath("institutions.geojson").is_file()
