"""Tiny hand-checkable layers, built in code.

Deposits: five points near Kemerovo (lon/lat), two commodities; agglomerations:
two 1 km squares and one point town; corridors: two lines (rail, road).
"""

from __future__ import annotations

import functools
from pathlib import Path

import geopandas as gpd
import pytest
import shapely


@pytest.fixture
def deposits_ll() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "mine_id": ["M1", "M2", "M3", "M4", "M5"],
            "mine_name": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"],
            "mineral": ["Coal", "coal", "Iron Ore", "COAL", "iron ore"],
            "output": [1.5, 2.0, 0.5, None, 3.0],
            "mine_type": ["Surface", "underground", "surface", "Underground", "open pit"],
        },
        geometry=[shapely.Point(86.0 + 0.1 * i, 55.0 + 0.05 * i) for i in range(5)],
        crs="EPSG:4326",
    )


@pytest.fixture
def agglomerations_m() -> gpd.GeoDataFrame:
    """Two 1 km squares and one town centre, in UTM 45N."""
    x0, y0 = 500_000, 6_000_000
    return gpd.GeoDataFrame(
        {"name": ["North", "South", "Village"], "pop": [120_000, 45_000, 5_000]},
        geometry=[shapely.box(x0, y0 + 10_000, x0 + 1_000, y0 + 11_000),
                  shapely.box(x0, y0, x0 + 1_000, y0 + 1_000),
                  shapely.Point(x0 + 5_000, y0 + 5_000)],
        crs="EPSG:32645",
    )


@pytest.fixture
def corridors_m() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["Rail", "road trunk"], "name": ["main line", "highway"]},
        geometry=[shapely.LineString([(500_000, 6_000_000), (500_000, 6_011_000)]),
                  shapely.LineString([(500_000, 6_005_000), (505_000, 6_005_000)])],
        crs="EPSG:32645",
    )


_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
               "all_proxy")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture
def no_network(monkeypatch):
    """Block the network for this test, in-process and in the processes it starts.

    HTTP(S) proxies point at the closed discard port (so a child process -- a Jupyter
    kernel, a CLI subprocess -- fails at once instead of hanging), and in this process any
    socket connection to a non-loopback address raises ``OSError``. Loopback stays open
    (kernel and browser driver sockets).
    """
    import socket

    for var in _PROXY_VARS:
        monkeypatch.setenv(var, "http://127.0.0.1:9")   # discard port: refused at once
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "localhost,127.0.0.1")
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _check(address) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in _LOOPBACK:
            raise OSError(f"network access blocked in tests: {address!r}")

    def guarded_connect(self, address):
        _check(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _check(address)
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


_SMALL_PROJECT_TOML = """
[project]
name = "{name}"
out_dir = "processed"

[input.deposits]
path = "raw/mines.gpkg"
layer = "mines"
id = "mine_id"
commodity = "mineral"
{weight}
[input.agglomerations]
path = "raw/towns.geojson"
name = "town"

[input.corridors]
path = "raw/lines.geojson"

[input.boundary]
path = "raw/area.geojson"
{extra}
[territories]
kind = "square"
cell_km = 5

[concentration]
by = "commodity"

[maps]
tiles = false
"""


def _write_small_project(folder: Path, *, name: str = "Test area", weight: bool = True,
                         extra: str = "") -> Path:
    """The files of :func:`small_project` in *folder*; returns its ``minespace.toml``."""
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)
    gpd.GeoDataFrame(
        {"mine_id": [f"M{i}" for i in range(6)],
         "mineral": ["coal", "coal", "iron", "coal", "iron", "coal"],
         "production": [1.0, 2.0, 0.5, 3.0, 1.5, 0.7]},
        geometry=[shapely.Point(86.02 + 0.05 * i, 55.02 + 0.03 * (i % 3))
                  for i in range(6)],
        crs=4326).to_file(raw / "mines.gpkg", layer="mines")
    gpd.GeoDataFrame({"town": ["Alpha", "Beta"], "pop": [50_000, 12_000]},
                     geometry=[shapely.box(86.05, 55.05, 86.08, 55.07),
                               shapely.box(86.25, 55.0, 86.27, 55.02)],
                     crs=4326).to_file(raw / "towns.geojson")
    gpd.GeoDataFrame({"class": ["rail", "road_primary"]},
                     geometry=[shapely.LineString([(86.0, 55.06), (86.35, 55.01)]),
                               shapely.LineString([(86.15, 55.0), (86.15, 55.1)])],
                     crs=4326).to_file(raw / "lines.geojson")
    gpd.GeoDataFrame({"name": ["area"]}, geometry=[shapely.box(85.98, 54.98, 86.4, 55.12)],
                     crs=4326).to_file(raw / "area.geojson")
    config = folder / "minespace.toml"
    config.write_text(_SMALL_PROJECT_TOML.format(
        name=name, extra=extra,
        weight='weight = { output_mt = "production" }\n' if weight else ""))
    return config


@pytest.fixture
def small_project(tmp_path):
    """Writes a small pipeline project of our own files into *tmp_path* (6 mines, 2
    towns, 2 corridors, a boundary, in lon/lat) and returns a function giving its
    ``minespace.toml``: ``small_project(name=..., weight=True, extra="[input.x] ...")``."""
    return functools.partial(_write_small_project, tmp_path)


@pytest.fixture(scope="module")
def small_project_module(tmp_path_factory):
    """:func:`small_project` in a folder shared by the tests of one module (for expensive
    set-ups such as the kill harness's reference builds)."""
    return functools.partial(_write_small_project, tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="session")
def dask_client():
    """A real Dask cluster for the engine="dask" tests: a LocalCluster of two worker
    processes (1 GiB each), started once per test process."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask_geopandas")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", memory_limit="1GiB") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


def _cli_on_terminal(args: list[str], cwd) -> str:
    """The real CLI with stdout and stderr on a pseudo-terminal of 120 columns (progress
    bars on); returns what it printed, after checking that it exited 0."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    src = str(Path(__file__).parents[1] / "src")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "minespace.cli", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.wait(timeout=600) == 0, text
    return text


@pytest.fixture
def cli_on_terminal():
    """:func:`_cli_on_terminal`: ``cli_on_terminal(["build", path], cwd)`` -> output."""
    return _cli_on_terminal
