"""Size estimates of the heavy steps, checked against a memory budget before they run.

A parameter such as ``cell_km = 0.001`` over a coal basin asks for trillions of
grid cells; run as asked, the step would fill the machine's memory (or run for
hours) before failing. Each heavy step therefore first estimates its size from
its parameters and the study area (no allocation), and

- refuses with a :class:`~minespace.errors.ResourceError` when the estimate
  exceeds the budget, naming the estimate, the budget and the parameter to
  change (with a value that fits);
- warns with a :class:`~minespace.errors.SizeWarning` when the estimate exceeds
  :data:`WARN_FRACTION` of the budget.

The budget is ``max_memory_gb`` when given (deterministic), else
:data:`MEMORY_FRACTION` of the memory available when the check runs (psutil's
``virtual_memory().available`` if installed, else ``MemAvailable`` of
``/proc/meminfo``, else physical pages from ``os.sysconf``).

The per-item sizes below were measured (peak RSS growth, ``benchmarks/bench_scale.py``)
and rounded up; an estimate is an order of magnitude guard, not an accounting.

Examples
--------
>>> from minespace import limits
>>> est = limits.estimate_grid((0, 0, 100_000, 50_000), cell_km=1, kind="square")
>>> est.count                     # 101 x 51 candidate squares (cells aligned on 1 km)
5151
>>> limits.check_size(est, max_memory_gb=4) == [est]
True
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ResourceError, SizeWarning

__all__ = [
    "BYTES_PER_GRID_CANDIDATE",
    "BYTES_PER_LAYER_ROW",
    "BYTES_PER_LAYER_VALUE",
    "BYTES_PER_NEIGHBOUR_PAIR",
    "BYTES_PER_RASTER_CELL",
    "BYTES_PER_TERRITORY",
    "MEMORY_FRACTION",
    "WARN_FRACTION",
    "Estimate",
    "budget",
    "check_size",
    "estimate_dbscan_pairs",
    "estimate_distance_band",
    "estimate_grid",
    "estimate_parquet_read",
    "estimate_raster",
    "grid_range",
    "memory_budget",
]

#: Default budget: this fraction of the memory available when the check runs.
MEMORY_FRACTION = 0.5
#: A :class:`~minespace.errors.SizeWarning` above this fraction of the budget.
WARN_FRACTION = 0.5

#: Bytes per candidate cell of a generated grid's bounding box (index arrays,
#: vertex arrays, polygons, before the cells outside the boundary are dropped).
BYTES_PER_GRID_CANDIDATE = 1_000
#: Bytes per territory through a pipeline build (grid, frames, weights, maps).
BYTES_PER_TERRITORY = 10_000
#: Reading a vector layer into a validated GeoDataFrame: per row, plus per value of each
#: non-geometry column (Python objects for text). Measured with ``benchmarks/bench_read.py``
#: (peak RSS growth of ``read_deposits`` over 1,000,000 points: 605 MB with 3 columns,
#: 1,477 MB with 11; these constants give 660 MB and 1,620 MB).
BYTES_PER_LAYER_ROW = 300
BYTES_PER_LAYER_VALUE = 120
#: Bytes per raster cell of the travel-time raster (friction, costs, MCP's work arrays).
BYTES_PER_RASTER_CELL = 80
#: Bytes per neighbour pair of a distance-band weights matrix (sparse matrix and
#: libpysal's neighbour lists).
BYTES_PER_NEIGHBOUR_PAIR = 120

_SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class Estimate:
    """The estimated size of one heavy step.

    Attributes
    ----------
    step : str
        Function or stage, e.g. ``"territories.hex_grid"``.
    what : str
        Items counted, e.g. ``"hexagonal cells"``.
    count : int
        Number of items.
    bytes : float
        Estimated peak memory of the step.
    parameter : str
        The parameter that sets the size, e.g. ``"cell_km"``.
    value : object
        Its value.
    scale : float
        ``bytes ∝ value ** scale`` (``-2`` for a cell size): used to suggest a value
        that fits the budget; ``0`` when the parameter cannot be rescaled.
    """

    step: str
    what: str
    count: int
    bytes: float
    parameter: str
    value: object
    scale: float = -2.0
    #: what else to do when the parameter cannot be rescaled (shown after the estimate)
    advice: str = ""

    def fitting_value(self, budget: float) -> float | None:
        """The parameter value whose estimate is *budget* (``None`` if not rescalable)."""
        if not self.scale or not isinstance(self.value, (int, float)) or self.bytes <= 0:
            return None
        return float(self.value) * (budget / self.bytes) ** (1.0 / self.scale)

    def describe(self, budget: float | None = None) -> str:
        """One line: what, how many, how much memory (and a value that would fit *budget*)."""
        text = (f"{self.step}: {self.parameter}={self.value!r} gives {self.count:,} "
                f"{self.what}, about {_human(self.bytes)}")
        if budget is not None:
            text += f" of a {_human(budget)} budget"
            hint = self.hint(budget)
            if hint:
                text += f"; {hint}"
        if self.advice:
            text += f"; {self.advice}"
        return text

    def hint(self, budget: float) -> str:
        """What to change so that the estimate fits comfortably (half of *budget*)."""
        fit = self.fitting_value(budget * WARN_FRACTION)
        if fit is None:
            return ""
        larger = self.scale < 0
        return (f"use a {'larger' if larger else 'smaller'} {self.parameter} "
                f"({'>=' if larger else '<='} {_round_sig(fit, up=larger)} fits)")


def _round_sig(x: float, *, up: bool) -> str:
    """*x* to 2 significant digits, rounded away from the limit (up or down)."""
    digits = 1 - math.floor(math.log10(abs(x))) if x else 0
    scaled = x * 10.0**digits
    value = (math.ceil(scaled) if up else math.floor(scaled)) / 10.0**digits
    return f"{value:g}"


def _human(nbytes: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:,.3g} {unit}"
    return f"{nbytes:.0f} B"


def _available_bytes() -> float:
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return float(psutil.virtual_memory().available)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # pragma: no cover - platforms without /proc
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 4.0 * 2**30


def memory_budget(max_memory_gb: float | None = None) -> float:
    """The memory budget in bytes.

    Parameters
    ----------
    max_memory_gb : float, optional
        Budget in GiB (2**30 bytes). Default: the one set by :func:`budget` around
        the call, else :data:`MEMORY_FRACTION` of the memory available now.

    Returns
    -------
    float
        Bytes.

    Raises
    ------
    ValueError
        If *max_memory_gb* is not a positive finite number.
    """
    if max_memory_gb is None:
        max_memory_gb = _BUDGET_GB.get()
    if max_memory_gb is None:
        return MEMORY_FRACTION * _available_bytes()
    if isinstance(max_memory_gb, bool) or not isinstance(max_memory_gb, (int, float)) or not (
            math.isfinite(max_memory_gb) and max_memory_gb > 0):
        raise ValueError(f"max_memory_gb must be a positive number, got {max_memory_gb!r}")
    return float(max_memory_gb) * 2**30


_BUDGET_GB: ContextVar[float | None] = ContextVar("minespace_max_memory_gb", default=None)


@contextmanager
def budget(max_memory_gb: float | None) -> Iterator[None]:
    """Within the block, checks without their own ``max_memory_gb`` use this one.

    The pipeline wraps its stages in it (``[project] max_memory_gb``), so the
    readers, which take no budget argument, are checked against the project's.
    ``None`` keeps the default (a fraction of the memory available).

    Examples
    --------
    >>> from minespace import limits
    >>> with limits.budget(2):
    ...     limits.memory_budget() == 2 * 2**30
    True
    """
    if max_memory_gb is not None:
        memory_budget(max_memory_gb)  # validate now, not at the first check
    token = _BUDGET_GB.set(max_memory_gb)
    try:
        yield
    finally:
        _BUDGET_GB.reset(token)


def check_size(*estimates: Estimate, max_memory_gb: float | None = None,
               stacklevel: int = 3) -> list[Estimate]:
    """Refuse estimates over the budget; warn about those over :data:`WARN_FRACTION` of it.

    Parameters
    ----------
    *estimates : Estimate
    max_memory_gb : float, optional
        See :func:`memory_budget`.
    stacklevel : int
        Of the warning (3: the caller of the function that checks).

    Returns
    -------
    list of Estimate
        The estimates (all within the budget).

    Raises
    ------
    ResourceError
        Listing every estimate over the budget, with the parameter to change.

    Warns
    -----
    SizeWarning
        One per estimate between ``WARN_FRACTION × budget`` and the budget.
    """
    budget = memory_budget(max_memory_gb)
    over = [e for e in estimates if e.bytes > budget]
    if over:
        raise ResourceError(over, budget)
    for e in estimates:
        if e.bytes > WARN_FRACTION * budget:
            warnings.warn(f"{e.describe(budget)} (more than {WARN_FRACTION:.0%} of it: this "
                          "may take long)", SizeWarning, stacklevel=stacklevel)
    return list(estimates)


# -- reading layers ------------------------------------------------------------------------
def estimate_parquet_read(files: list[Path], *, source: str) -> Estimate:
    """Memory to read GeoParquet *files* into one validated layer, from their metadata.

    Only the footers are read (row and column counts). *source* names the layer
    in messages (the file, or the folder of parts).
    """
    import pyarrow.parquet as pq

    rows = values = 0
    for f in files:
        try:
            meta = pq.ParquetFile(f).metadata
        except Exception:  # unreadable: the reader names the file
            continue
        rows += meta.num_rows
        values += meta.num_rows * max(meta.num_columns - 1, 0)  # less the geometry
    return Estimate(
        step="reading a layer", what="rows", count=int(rows),
        bytes=float(rows * BYTES_PER_LAYER_ROW + values * BYTES_PER_LAYER_VALUE),
        parameter="path", value=source, scale=0.0,
        advice=("or split the layer, or read deposits lazily on a Dask cluster with "
                "minespace.scale.read_deposits_parquet(path) (docs/scale.md)"))


# -- grids ---------------------------------------------------------------------------------

def grid_range(bounds, cell_m: float, kind: str) -> tuple[int, int, int, int]:
    """Column and row ranges ``(c0, c1, r0, r1)`` a generated grid spans over *bounds*.

    The same arithmetic as :func:`~minespace.territories.square_grid` and
    :func:`~minespace.territories.hex_grid`, which call it: squares are aligned on
    multiples of the side; hexagon rows are ``1.5·R`` apart (``R = w/√3``) and
    the column range covers every row's half-cell shift, with a margin of one.
    """
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    if kind == "square":
        return (math.floor(minx / cell_m), math.floor(maxx / cell_m),
                math.floor(miny / cell_m), math.floor(maxy / cell_m))
    if kind != "hex":
        raise ValueError(f"kind must be 'hex' or 'square', got {kind!r}")
    radius = cell_m / _SQRT3
    r0 = math.floor(miny / (1.5 * radius)) - 1
    r1 = math.ceil(maxy / (1.5 * radius)) + 1
    c0 = math.floor(minx / cell_m - r1 / 2) - 1
    c1 = math.ceil(maxx / cell_m - r0 / 2) + 1
    return c0, c1, r0, r1


def estimate_grid(bounds, *, cell_km: float, kind: str = "hex",
                  area_km2: float | None = None) -> Estimate:
    """Size of a generated territory grid (:func:`~minespace.territories.hex_grid`).

    Parameters
    ----------
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` of the study area in metres.
    cell_km : float
        Cell size (hexagon width across flats, or square side) in km.
    kind : {"hex", "square"}
    area_km2 : float, optional
        Area of the study area (unused by the estimate of memory, which is set
        by the candidate cells of the bounding box; kept for the count of cells
        inside, see Notes).

    Returns
    -------
    Estimate
        ``count`` = candidate cells of the bounding box (``(c1-c0+1)·(r1-r0+1)``
        from :func:`grid_range`), ``bytes`` = ``count ×``
        :data:`BYTES_PER_GRID_CANDIDATE`.

    Notes
    -----
    The cells kept are those meeting the boundary: about ``area_km2 / a`` with
    ``a = (√3/2)·cell_km²`` for hexagons and ``cell_km²`` for squares.
    """
    cell_m = float(cell_km) * 1000.0
    c0, c1, r0, r1 = grid_range(bounds, cell_m, kind)
    count = (c1 - c0 + 1) * (r1 - r0 + 1)
    what = "candidate hexagons" if kind == "hex" else "candidate squares"
    if area_km2 is not None:
        cell_area = (_SQRT3 / 2 if kind == "hex" else 1.0) * float(cell_km) ** 2
        what += f" (~{area_km2 / cell_area:,.0f} inside the area)"
    return Estimate(f"territories.{kind}_grid", what, count,
                    count * float(BYTES_PER_GRID_CANDIDATE), "cell_km", cell_km)


def estimate_raster(bounds, *, cell_m: float, step: str = "accessibility.friction_surface",
                    parameter: str = "cell_m",
                    bytes_per_cell: float = BYTES_PER_RASTER_CELL) -> Estimate:
    """Size of a raster over *bounds* with square cells of *cell_m* metres.

    Returns
    -------
    Estimate
        ``count = ceil(width / cell_m) · ceil(height / cell_m)``, ``bytes =
        count × bytes_per_cell``.
    """
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    nx = max(1, math.ceil((maxx - minx) / float(cell_m)))
    ny = max(1, math.ceil((maxy - miny) / float(cell_m)))
    count = nx * ny
    return Estimate(step, f"raster cells ({nx:,} x {ny:,})", count, count * bytes_per_cell,
                    parameter, cell_m)


def estimate_distance_band(n: int, *, area_km2: float, distance_km: float,
                           step: str = "territories.distance_band",
                           parameter: str = "distance_km") -> Estimate:
    """Neighbour pairs of a distance-band weights matrix over *n* territories.

    Territories spread evenly over *area_km2*: each has about
    ``min(n, n·π·d²/area_km2)`` neighbours within ``d = distance_km``.

    Returns
    -------
    Estimate
        ``count`` = pairs (ordered), ``bytes = count ×``
        :data:`BYTES_PER_NEIGHBOUR_PAIR`.
    """
    n = int(n)
    per = min(float(n), n * math.pi * float(distance_km) ** 2 / max(float(area_km2), 1e-12))
    count = math.ceil(n * per)
    return Estimate(step, "neighbour pairs", count, count * float(BYTES_PER_NEIGHBOUR_PAIR),
                    parameter, distance_km, scale=2.0)


def estimate_dbscan_pairs(xy: np.ndarray, *, eps: float) -> float:
    """Number of (ordered, self included) pairs of points within *eps* of each other.

    What scikit-learn's DBSCAN keeps in memory (about 20 bytes a pair: a
    neighbour index and its distance); minespace's :func:`~minespace.clustering.mining_nodes`
    never lists them. Counted on a grid of cells of side *eps*: the pairs within
    *eps* of a point lie in its 3 × 3 block of cells, of which the disc of radius
    *eps* covers ``π/9``; the estimate is ``π/9 · Σ_c n_c · N_c`` (``n_c`` points in
    cell *c*, ``N_c`` in its 3 × 3 block), exact on average for points spread
    evenly at scales below *eps*. O(n) time and memory.

    Parameters
    ----------
    xy : ndarray of shape (n, 2)
    eps : float

    Returns
    -------
    float
    """
    xy = np.asarray(xy, dtype=float)
    if len(xy) == 0:
        return 0.0
    cell = np.floor((xy - xy.min(axis=0)) / float(eps)).astype(np.int64) + 1
    height = int(cell[:, 1].max()) + 2
    keys, counts = np.unique(cell[:, 0] * height + cell[:, 1], return_counts=True)
    block = np.zeros(len(keys))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            target = keys + dx * height + dy
            pos = np.clip(np.searchsorted(keys, target), 0, len(keys) - 1)
            block += np.where(keys[pos] == target, counts[pos], 0)
    return float(math.pi / 9.0 * np.dot(counts.astype(float), block))
