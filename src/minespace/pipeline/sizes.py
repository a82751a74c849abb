"""Size checks of a pipeline build, before its first heavy step (see :mod:`minespace.limits`).

:func:`estimate_build` estimates, from the configuration and the study area
only (no grid, raster or weights is made), the memory of the build's heavy
steps; :func:`check_build` refuses a build whose estimate exceeds the budget
with a :class:`~minespace.errors.ConfigError` naming the key to change, and
warns (:class:`~minespace.errors.SizeWarning`) above half of it. The budget is
``[project] max_memory_gb`` when set, else half the memory available.
The dry run (:mod:`minespace.pipeline.checks`) runs :func:`size_problems` with
the other checks of the territories stage, so both ``minespace validate`` and
``minespace build`` stop before the territories stage (exit code 2); the
territories stage calls :func:`check_build` again, so its warnings are recorded
in the manifest.
"""

from __future__ import annotations

import math
import warnings

from .. import limits
from ..errors import ConfigError, ConfigProblem, ResourceError, SizeWarning
from .config import Config

__all__ = ["BYTES_PER_DEPOSIT", "SLOW_TERRITORIES", "check_build", "estimate_build",
           "size_problems"]

#: Bytes per deposit through a build (frames, mining nodes, map sample, GeoPackage).
BYTES_PER_DEPOSIT = 3_000
#: Above this many territories (estimated) a SizeWarning says the build takes minutes.
SLOW_TERRITORIES = 50_000


def estimate_build(config: Config, *, bounds, area_km2: float,
                   n_deposits: int | None = None, deposits=None,
                   n_territories: int | None = None) -> list[limits.Estimate]:
    """Estimates of the heavy steps of a build of *config*.

    Parameters
    ----------
    config : Config
    bounds : tuple of float
        ``(minx, miny, maxx, maxy)`` of the study area in the project CRS (metres).
    area_km2 : float
        Area of the study area.
    n_deposits : int, optional
        Number of deposits (an estimate of their share when given).
    deposits : GeoDataFrame, optional
        The loaded deposits: then the kernel-density grid too (its cell follows
        from the bandwidth rule on them; no config key sets it).
    n_territories : int, optional
        Number of ``territories.path`` polygons (``kind = "polygons"``): then
        the territories and, with ``concentration.hotspot_band_km``, the Gi*
        distance band over them.

    Returns
    -------
    list of Estimate
        Grid candidates and territories (generated grids), distance-band pairs
        of the hot-spot weights, raster cells of the travel-time raster, deposits,
        kernel-density cells; each ``parameter`` is the config key to change.

    Examples
    --------
    >>> import minespace as ms
    >>> cfg = ms.pipeline.kuzbass_config(tmp_path)
    >>> est = estimate_build(cfg, bounds=(0, 0, 100_000, 50_000), area_km2=5_000)
    >>> [e.parameter for e in est][-2:]
    ['territories.cell_km', 'accessibility.raster_cell_m']
    >>> est[3].count                  # 100 x 50 cells of 1 km
    5000
    """
    tc = config.territories
    out: list[limits.Estimate] = []
    if tc.kind in ("hex", "square"):
        grid = limits.estimate_grid(bounds, cell_km=tc.cell_km, kind=tc.kind)
        out.append(limits.Estimate("territories", grid.what, grid.count, grid.bytes,
                                   "territories.cell_km", tc.cell_km))
        cell_area = (math.sqrt(3.0) / 2 if tc.kind == "hex" else 1.0) * tc.cell_km ** 2
        # cells inside, plus those cut by the boundary of a compact area (a margin)
        n_terr = math.ceil(area_km2 * 1.1 / cell_area - 1e-9) + 1
        out.append(limits.Estimate("territories and their metrics", "territories (estimated)",
                                   n_terr, n_terr * float(limits.BYTES_PER_TERRITORY),
                                   "territories.cell_km", tc.cell_km))
        band = config.concentration.hotspot_band_km
        pairs = limits.estimate_distance_band(n_terr, area_km2=area_km2,
                                              distance_km=band or 3 * tc.cell_km,
                                              step="concentration (hot-spot weights)")
        if band is None:  # default band: three cell widths, ~33 neighbours per cell
            pairs = limits.Estimate(pairs.step, pairs.what + " (band = 3 x cell_km)",
                                    pairs.count, pairs.bytes, "territories.cell_km",
                                    tc.cell_km)
        else:
            pairs = limits.Estimate(pairs.step, pairs.what, pairs.count, pairs.bytes,
                                    "concentration.hotspot_band_km", band, scale=2.0)
        out.append(pairs)
    elif n_territories is not None:
        n_terr = int(n_territories)
        out.append(limits.Estimate("territories and their metrics", "territory polygons",
                                   n_terr, n_terr * float(limits.BYTES_PER_TERRITORY),
                                   "territories.path", n_terr, scale=0.0))
        band = config.concentration.hotspot_band_km
        if band is not None:   # else queen contiguity: a few neighbours each
            pairs = limits.estimate_distance_band(n_terr, area_km2=area_km2, distance_km=band,
                                                  step="concentration (hot-spot weights)")
            out.append(limits.Estimate(pairs.step, pairs.what, pairs.count, pairs.bytes,
                                       "concentration.hotspot_band_km", band, scale=2.0))
    ac = config.accessibility
    raster = limits.estimate_raster(bounds, cell_m=ac.raster_cell_m,
                                    step="accessibility (travel-time raster)")
    out.append(limits.Estimate(raster.step, raster.what, raster.count, raster.bytes,
                               "accessibility.raster_cell_m", ac.raster_cell_m))
    if n_deposits is not None:
        out.append(limits.Estimate("deposits through the build", "deposits", int(n_deposits),
                                   int(n_deposits) * float(BYTES_PER_DEPOSIT),
                                   "input.deposits", int(n_deposits), scale=0.0))
    if deposits is not None:
        kde = _kde_estimate(config, deposits)
        if kde is not None:
            out.append(kde)
    return out


def _kde_estimate(config: Config, deposits) -> limits.Estimate | None:
    """The concentration stage's kernel density grid (default bandwidth and cell)."""
    from ..density import estimate_kernel_density

    weight = config.concentration.weight
    if weight is not None:
        if weight not in deposits.columns:
            return None           # reported by the column checks
        deposits = deposits[deposits[weight].notna()]
    try:
        est = estimate_kernel_density(deposits, weight=weight)
    except (ValueError, KeyError):   # no points, bad weights: the stage's own errors
        return None
    return limits.Estimate("concentration (kernel density)", est.what, est.count, est.bytes,
                           "project.max_memory_gb", None, scale=0.0)


def size_problems(config: Config, *, boundary, n_deposits: int | None = None,
                  deposits=None, n_territories: int | None = None) -> list[ConfigProblem]:
    """The config keys to change so that a build of *config* over *boundary* fits the budget.

    Parameters
    ----------
    config : Config
    boundary : GeoDataFrame
        The study area in the project CRS (e.g. ``region.boundary``).
    n_deposits : int, optional
        Number of deposits.
    deposits : GeoDataFrame, optional
        The loaded deposits (for the kernel-density grid).
    n_territories : int, optional
        Number of territory polygons (``kind = "polygons"``).

    Returns
    -------
    list of ConfigProblem
        One per config key whose steps exceed the budget (``[project]
        max_memory_gb``, default half the available memory), naming the estimate
        and a value that fits; empty when everything fits.

    Warns
    -----
    SizeWarning
        For an estimate over half the budget, and for more than
        :data:`SLOW_TERRITORIES` territories (the clusters stage grows faster than
        linearly with them: minutes).
    """
    area_km2 = float(boundary.geometry.area.sum()) / 1e6
    estimates = estimate_build(config, bounds=tuple(boundary.total_bounds), area_km2=area_km2,
                               n_deposits=n_deposits, deposits=deposits,
                               n_territories=n_territories)
    try:
        limits.check_size(*estimates, max_memory_gb=config.max_memory_gb, stacklevel=4)
    except ResourceError as exc:
        worst: dict[str, limits.Estimate] = {}   # one line per key: its largest estimate
        for e in exc.estimates:
            if e.parameter not in worst or e.bytes > worst[e.parameter].bytes:
                worst[e.parameter] = e
        problems = [ConfigProblem(e.parameter, e.value if e.scale else None,
                                  message=_message(e, exc.budget)) for e in worst.values()]
        last = problems[-1]
        problems[-1] = ConfigProblem(last.key, last.value, message=last.message + _RAISE)
        return problems
    many = [e for e in estimates if e.what == "territories (estimated)"
            and e.count > SLOW_TERRITORIES]
    if many:
        warnings.warn(f"territories.cell_km = {config.territories.cell_km:g} gives about "
                      f"{many[0].count:,} territories: the build will take minutes (the "
                      "clusters stage took 266 s at 71,000 territories on the benchmark "
                      "machine); a larger cell_km is faster", SizeWarning, stacklevel=4)
    return []


def check_build(config: Config, *, boundary, n_deposits: int | None = None,
                deposits=None) -> None:
    """Raise :func:`size_problems` as one :class:`~minespace.errors.ConfigError`, if any.

    Raises
    ------
    ConfigError
        One problem per config key to change.

    Warns
    -----
    SizeWarning
        For an estimate over half the budget.
    """
    problems = size_problems(config, boundary=boundary, n_deposits=n_deposits,
                             deposits=deposits)
    if problems:
        raise ConfigError(problems=problems,
                          source=config.source.name if config.source else None)


_RAISE = " (or raise the budget: [project] max_memory_gb)"


def _message(e: limits.Estimate, budget: float) -> str:
    text = (f"{e.step} would need about {limits._human(e.bytes)} for {e.count:,} {e.what}, "
            f"more than the {limits._human(budget)} memory budget")
    hint = e.hint(budget)
    if hint:
        return f"{text}; {hint}"
    if e.parameter == "input.deposits":
        return f"{text}; filter the layer (where = ...) or use a larger machine"
    return f"{text}; raise the budget or use a larger machine"
