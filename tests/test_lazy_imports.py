"""Lazy imports (PEP 562): the command line and a no-op build stay light; the API is whole."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).parents[1] / "src")
HEAVY = ("geopandas", "sklearn", "pandas", "shapely", "folium", "rasterio", "libpysal",
         "networkx", "scipy")


def _python(code: str, *args: str, cwd=None) -> str:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=300, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _loaded_heavy(code: str, *args: str, cwd=None) -> list[str]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    return json.loads(_python(probe, *args, cwd=cwd).strip().splitlines()[-1])


def test_cli_and_package_import_no_heavy_dependency():
    assert _loaded_heavy("import minespace.cli") == []
    assert _loaded_heavy("import minespace, minespace.pipeline, minespace.io, "
                         "minespace.datasets, minespace.clustering") == []
    # touching a name imports what it needs
    assert "geopandas" in _loaded_heavy("import minespace as ms; ms.read_deposits")


def test_help_imports_no_heavy_dependency():
    code = ("import sys\nfrom minespace.cli import cli\n"
            "try:\n    cli(['--help'], prog_name='minespace')\nexcept SystemExit:\n    pass")
    assert _loaded_heavy(code) == []


@pytest.mark.parametrize("package", ["minespace", "minespace.io", "minespace.pipeline",
                                     "minespace.datasets", "minespace.clustering"])
def test_every_public_name_resolves_and_is_listed(package):
    mod = importlib.import_module(package)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
        assert name in dir(mod)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mod.nope  # noqa: B018


def test_lazy_names_are_the_defining_objects():
    import minespace as ms
    from minespace import Region
    from minespace.io import readers
    from minespace.region import Region as RegionDefined

    assert Region is RegionDefined
    assert ms.read_deposits is ms.io.read_deposits is readers.read_deposits
    assert ms.pipeline.build.__module__ == "minespace.pipeline.builder"
    assert ms.clustering.DEFAULT_WEIGHTS["concentration"] == 0.25


def test_function_named_like_its_module_stays_the_function():
    # clustering.regionalize is a function in clustering/regionalize.py: importing the
    # submodule first (as analysis.py does) must not rebind the package attribute
    out = _python("import minespace.clustering.regionalize\n"
                  "import minespace.clustering.analysis\n"
                  "import minespace as ms\n"
                  "print(callable(ms.clustering.regionalize), "
                  "type(ms.clustering.regionalize).__name__)")
    assert out.split() == ["True", "function"]
    # pytest's --import-mode=importlib binds a collected submodule on its package itself
    out = _python("import sys\nimport minespace.maps as maps\n"
                  "import minespace.maps.cluster_map, minespace.maps.screenshot\n"
                  "maps.cluster_map = sys.modules['minespace.maps.cluster_map']\n"
                  "maps.screenshot = sys.modules['minespace.maps.screenshot']\n"
                  "print(type(maps.cluster_map).__name__, type(maps.screenshot).__name__)")
    assert out.split() == ["function", "function"]


@pytest.mark.slow
def test_noop_build_decides_without_geopandas(small_project):
    project = small_project()
    code = ("import sys\nfrom minespace.pipeline import build, load_config\n"
            "result = build(load_config(sys.argv[1]))\nprint(result.ran)")
    first = _python(code, str(project))
    assert "load" in first
    heavy = _loaded_heavy(code + "\nassert result.ran == [], result.ran", str(project))
    assert heavy == []
