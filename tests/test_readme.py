"""The README's notebook example runs as written (with a real my_mines.gpkg)."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import shapely

README = Path(__file__).parents[1] / "README.md"


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_python_example_runs(tmp_path, monkeypatch):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    gpd.GeoDataFrame({"mineral": ["coal", "gold"], "output_mt": [1.0, 0.2]},
                     geometry=[shapely.Point(86.1, 54.5), shapely.Point(87.0, 53.9)],
                     crs=4326).to_file(tmp_path / "my_mines.gpkg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "kuzbass.html").exists()
    assert len(namespace["deposits"]) == 2
    assert namespace["result"].results["candidates"]["rank"].min() == 1
