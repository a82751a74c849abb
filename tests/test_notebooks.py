"""The notebooks in notebooks/ run from a clean kernel, offline, and are committed clean.

Each notebook is executed with nbclient in a fresh kernel started from *this* Python
(the test writes a private kernelspec pointing at ``sys.executable``, so whatever
``python3`` kernel is installed elsewhere on the machine is never used), in a temporary
working directory, with the network blocked by the ``no_network`` fixture of conftest.py
(HTTP(S) proxies pointing at a closed port, so that any attempt to reach the network
fails instead of hanging). Any cell error fails the test.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "minespace-test-python"
CELL_TIMEOUT_S = 300


def _ids(paths):
    return [p.stem for p in paths]


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_kuzbass_walkthrough.ipynb", "02_bring_your_own_region.ipynb",
            "03_pipeline.ipynb"} <= names


@pytest.fixture
def kernel_env(tmp_path, monkeypatch, no_network):
    """A kernelspec for this interpreter, found first through JUPYTER_PATH; no network."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "minespace tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, kernel_env):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME, allow_errors=False,
        resources={"metadata": {"path": str(kernel_env)}})
    client.execute()   # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; " \
                      "clear them (e.g. jupyter nbconvert --clear-output --inplace)"
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_links_resolve(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    targets = re.findall(r"\]\(([^)#\s]+\.(?:md|ipynb))\)", text)
    missing = [t for t in targets if not (path.parent / t).resolve().exists()]
    assert not missing, f"{path.name}: broken links {missing}"
