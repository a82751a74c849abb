"""The dry run: every stage's parameter checks, run before the first stage computes.

``minespace validate`` and ``minespace build`` run the same checks in the same order,
so they accept exactly the same configs and fail with the same message:

1. **config checks** (``needs="config"``): the config alone and file metadata
   (``project.out_dir`` usable, ...), before anything is read;
2. the load stage reads and validates the input layers (the readers' own checks);
3. **layer checks** (``needs="layers"``): each later stage's parameters against the
   loaded layers -- the columns each stage asks for (after the readers' renames),
   missing categories, ``maps.metric``, ``clusters.n_regions``
   against the number of territories, raster coverage -- before the territories stage.

A check is a function registered with :func:`check` that yields
:class:`~minespace.errors.ConfigProblem` (a config value to change: exit code 2) or
:class:`~minespace.errors.Problem` (the data to fix: exit code 3). Every problem of
every check is collected; config problems are raised first, in one
:class:`~minespace.errors.ConfigError`, else data problems in one
:class:`~minespace.errors.LayerError`. A new config key or reader option registers its
check here, next to the others (see ``docs/pipeline.md``, *Dry run*).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from ..errors import ConfigError, ConfigProblem, LayerError, Problem, ResourceError
from .config import Config

if TYPE_CHECKING:  # imported where used: a no-op build runs the config checks only
    import geopandas as gpd
    import numpy as np
    import pandas as pd

__all__ = ["CHECKS", "Check", "DryRun", "check", "metric_columns", "run_checks", "validate",
           "validate_with_info"]

Finding = ConfigProblem | Problem


@dataclass(frozen=True)
class Check:
    """One registered check: *run(dry_run)* yields the problems it finds."""

    name: str
    stage: str
    needs: str                      # "config" or "layers"
    run: Callable[[DryRun], Iterable[Finding]]


#: Every check, in the order they run (registration order).
CHECKS: list[Check] = []


def check(stage: str, *, needs: str = "layers") -> Callable:
    """Register a check of *stage*'s parameters (decorator).

    Parameters
    ----------
    stage : str
        The stage whose parameters are checked (for the docs and messages).
    needs : {"config", "layers"}
        ``"config"``: runs on the config alone, before anything is read;
        ``"layers"``: runs on the loaded layers (``dry_run.layers``).
    """
    if needs not in ("config", "layers"):
        raise ValueError(f"needs must be 'config' or 'layers', got {needs!r}")

    def register(func: Callable[[DryRun], Iterable[Finding]]):
        CHECKS.append(Check(func.__name__.lstrip("_"), stage, needs, func))
        return func

    return register


@dataclass
class DryRun:
    """What the checks look at: the config and, for layer checks, the loaded layers.

    Attributes
    ----------
    config : Config
    layers : mapping of str to GeoDataFrame
        The load stage's outputs (``boundary``, ``deposits``, ``agglomerations``,
        ``corridors``, ...), in the project CRS; empty for config checks.
    """

    config: Config
    layers: Mapping[str, gpd.GeoDataFrame] = field(default_factory=dict)

    def source(self, role: str) -> str:
        """File name of an input layer, for messages."""
        src = self.config.layers.get(role)
        return src.path.name if src is not None else f"the bundled {role}"

    @cached_property
    def territory_polygons(self) -> gpd.GeoDataFrame | None:
        """The ``territories.path`` polygons in the project CRS (``kind = "polygons"``)."""
        if self.config.territories.kind != "polygons":
            return None
        from .stages import read_territory_polygons

        return read_territory_polygons(self.config, self.layers["boundary"].crs)

    @cached_property
    def territory_count(self) -> tuple[int, str]:
        """Number of territories the territories stage will make, and how it was found."""
        polygons = self.territory_polygons
        if polygons is not None:
            n = len(polygons)
            return n, f"{self.config.territories.path.name} has {n} polygon{'s' * (n != 1)}"
        return territory_count(self.config, self.layers["boundary"])

    @cached_property
    def counted_area(self):
        """Where deposits count: the territories' union (polygons) or the boundary (grids,
        which cover it)."""
        import numpy as np
        import shapely

        frame = self.territory_polygons
        if frame is None:
            frame = self.layers["boundary"]
        return shapely.union_all(np.asarray(frame.geometry.values))

    def counted(self, deposits: gpd.GeoDataFrame) -> np.ndarray:
        """Which deposits lie in a territory (are counted by the concentration stage)."""
        import numpy as np
        import shapely

        return shapely.intersects(self.counted_area, np.asarray(deposits.geometry.values))


def run_checks(config: Config, layers: Mapping[str, gpd.GeoDataFrame] | None = None) -> None:
    """Run the config checks (``layers=None``) or the layer checks on *layers*.

    Raises
    ------
    ConfigError
        Every config problem found (exit code 2).
    LayerError
        Else every data problem found (exit code 3).
    """
    needs = "config" if layers is None else "layers"
    dry = DryRun(config, layers or {})
    found: list[Finding] = []
    for c in CHECKS:
        if c.needs == needs:
            found.extend(c.run(dry))
    config_problems = [f for f in found if isinstance(f, ConfigProblem)]
    if config_problems:
        raise ConfigError(problems=config_problems,
                          source=config.source.name if config.source else None)
    data_problems = [f for f in found if isinstance(f, Problem)]
    if data_problems:
        raise LayerError(data_problems)


def validate(config: Config):
    """The dry run of :func:`~minespace.pipeline.build`: every check, nothing written.

    Runs the config checks, reads and validates every input layer (as the load
    stage does), then runs every stage's parameter checks on them. A config that
    passes builds (barring failures of the machine); one that fails, fails
    ``build`` with the same error before any stage after the load.

    Returns
    -------
    Region
        The loaded study area.

    Raises
    ------
    ConfigError
        A config value to change (every one found).
    LayerError
        The input data to fix (every problem found).
    CRSError
        A layer's CRS is missing or unusable.

    Examples
    --------
    >>> import minespace as ms
    >>> region = ms.pipeline.validate(ms.pipeline.kuzbass_config(tmp_path))
    >>> len(region.deposits) > 0
    True
    """
    return validate_with_info(config)[0]


def validate_with_info(config: Config):
    """:func:`validate`, plus what each reader did (see
    :func:`~minespace.pipeline.stages.describe_layers`)."""
    from .stages import load_region_with_info

    run_checks(config)
    region, info = load_region_with_info(config)
    run_checks(config, dict(region.layers))
    return region, info


# -- helpers ----------------------------------------------------------------------------

def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _columns(frame: pd.DataFrame) -> list[str]:
    import geopandas as gpd

    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    return [str(c) for c in frame.columns if c != geom]


def _consumed_columns(config: Config, role: str) -> set[str]:
    """Source columns of a layer file that its reader turns into canonical columns
    (renamed, e.g. ``mine_type`` -> ``method``) or into the geometry: the reader is
    run on the file's header alone (0 rows), so the set is exactly the reader's."""
    src = config.layers.get(role)
    if src is None:
        return set()
    from ..io.readers import read_agglomerations, read_corridors, read_deposits, read_facilities

    reader = {"deposits": read_deposits, "agglomerations": read_agglomerations,
              "corridors": read_corridors, "facilities": read_facilities}[role]
    kwargs = {k: v for k, v in src.options.items() if k not in ("layer", "crs", "encoding")}
    try:
        header = _header_only(src.path, src.options.get("layer"), src.options.get("encoding"))
        frame = reader(header, **kwargs)
    except Exception:  # only a hint: the load stage reports unreadable files
        return set()
    return set(_columns(header)) - set(_columns(frame))


def _header_only(path, layer, encoding=None) -> gpd.GeoDataFrame:
    """A 0-row frame with the columns of a layer file (read cheaply)."""
    import geopandas as gpd

    from ..io._load import CSV_SUFFIXES, PARQUET_SUFFIXES, read_table_file
    from ..io._parts import parquet_parts

    path = (parquet_parts(path) or [path])[0]  # a folder of parts: its first part
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        table = read_table_file(path, encoding).iloc[:0]
        return table
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        return gpd.GeoDataFrame({c: [] for c in names if c != "geometry"}, geometry=[],
                                crs=4326)
    import pyogrio

    info = pyogrio.read_info(path, layer=layer, encoding=encoding)
    return gpd.GeoDataFrame({str(c): [] for c in info["fields"]}, geometry=[], crs=4326)


def metric_columns(config: Config, layers: Mapping[str, gpd.GeoDataFrame]) -> list[str]:
    """The territory columns ``maps.metric`` may name: the numeric columns of the
    concentration and accessibility outputs, derived from the config and layers
    (categories of ``concentration.by``, corridor kinds) without running the stages."""
    cc = config.concentration
    deposits = layers["deposits"]
    labels = None
    if all(b in deposits.columns for b in cc.by):
        labels = deposits[cc.by[0]].astype(str)
        for b in cc.by[1:]:
            labels = labels + "/" + deposits[b].astype(str)
    categories = sorted(set(labels)) if labels is not None else []
    cols = ["area_km2", "rep_x", "rep_y"]
    if config.territories.kind != "polygons":
        cols += ["grid_col", "grid_row"]
    for measure in ["count"] + ([cc.weight] if cc.weight else []):
        cols += [measure, f"{measure}_per_km2"]
        for c in categories:
            cols += [f"{measure}__{c}", f"{measure}_per_km2__{c}"]
    cols += [f"lq__{c}" for c in categories]
    cols += ["krugman", "hhi", "hhi_norm", "gi_star", "gi_star_z", "gi_star_p", "gi_star_q"]
    kinds = sorted(set(layers["corridors"]["kind"].dropna().astype(str)))
    cols += [f"dist_{k}_km" for k in kinds]
    cols += ["dist_corridor_km", "dist_agglomeration_km", "dist_agglomeration_centre_km",
             "time_to_agglomeration_min", "access_km", "hansen_potential",
             "travel_time_mean_min", "travel_time_min_min"]
    return cols


def territory_count(config: Config, boundary: gpd.GeoDataFrame) -> tuple[int, str]:
    """Territories the territories stage will make: exact for polygons and small grids,
    an estimate (boundary area / cell area) for grids of more than 100,000 cells."""
    tc = config.territories
    if tc.kind == "polygons":
        from .stages import read_territory_polygons

        n = len(read_territory_polygons(config, boundary.crs))
        return n, f"{tc.path.name} has {n} polygon{'s' if n != 1 else ''}"
    cell_m = tc.cell_km * 1000.0
    cell_area = cell_m * cell_m if tc.kind == "square" else cell_m * cell_m * math.sqrt(3) / 2
    area = float(boundary.area.sum())
    estimate = area / cell_area
    how = (f"territories.kind = {tc.kind!r} with cell_km = {tc.cell_km:g} over the "
           f"{area / 1e6:,.0f} km² study area")
    if estimate > 100_000:
        return int(estimate), how + " (estimate)"
    from .. import territories as terr

    try:
        grid = (terr.hex_grid if tc.kind == "hex" else terr.square_grid)(
            boundary, cell_km=tc.cell_km, max_memory_gb=config.max_memory_gb)
    except ResourceError:  # too large for the budget: reported by _sizes_fit_memory
        return int(estimate), how + " (estimate)"
    return len(grid), how


def n_regions_problem(config: Config, n_territories: int, how: str = "") -> ConfigProblem | None:
    """The problem with ``clusters.n_regions`` for *n_territories* territories, if any."""
    n_regions = config.clusters.n_regions
    if n_regions <= n_territories:
        return None
    return ConfigProblem(
        "clusters.n_regions", n_regions,
        message=f"more regions than territories: there are {n_territories} territories"
        + (f" ({how})" if how else "")
        + "; lower clusters.n_regions"
        + (", or use a smaller territories.cell_km" if config.territories.kind != "polygons"
           else ""),
        allowed=f"an integer from 2 to {n_territories}" if n_territories >= 2 else None)


# -- config checks ------------------------------------------------------------------------

@check("build", needs="config")
def _engine_installed(dry: DryRun) -> Iterable[Finding]:
    # found when parsing [engine] too; here for an engine set after parsing (--engine)
    from ._config_engine import engine_problems

    yield from engine_problems(dry.config.engine)


@check("build", needs="config")
def _engine_weight_name(dry: DryRun) -> Iterable[Finding]:
    # the Dask engine's reduced table has a deposit count column called "count"
    if dry.config.engine.kind == "dask" and dry.config.concentration.weight == "count":
        yield ConfigProblem("concentration.weight", "count", message=(
            'with [engine] kind = "dask" the weight column cannot be called "count" (the '
            "name of the reduced table's deposit count); give it another name, e.g. "
            '[input.deposits] weight = { output_mt = "<your column>" } and [concentration] '
            'weight = "output_mt"'))


@check("build", needs="config")
def _out_dir_usable(dry: DryRun) -> Iterable[Finding]:
    out = dry.config.out_dir
    for parent in (out, *out.parents):
        if parent.exists():
            if not parent.is_dir():
                what = "is" if parent == out else f"is inside {parent}, which is"
                yield ConfigProblem("project.out_dir", str(out),
                                    message=f"{out} {what} a file, not a folder; choose "
                                    "another out_dir or move the file away")
            break


# -- layer checks -------------------------------------------------------------------------

def _deposit_column(dry: DryRun, key: str, column: str) -> ConfigProblem | None:
    deposits = dry.layers["deposits"]
    if column in deposits.columns:
        return None
    available = sorted(_columns(deposits))
    source = dry.source("deposits")
    if column in _consumed_columns(dry.config, "deposits"):
        return ConfigProblem(key, column, allowed=available, message=(
            f"column {column!r} of {source} is read by the deposits reader into a canonical "
            "column or the geometry (see docs/layers.md) and is not kept under its own name; "
            "use one of the columns below"))
    return ConfigProblem(key, column, allowed=available, message=(
        f"the deposits layer ({source}) has no column {column!r}"
        + _did_you_mean(column, available)))


@check("concentration")
def _concentration_columns(dry: DryRun) -> Iterable[Finding]:
    import pandas as pd

    cc = dry.config.concentration
    deposits = dry.layers["deposits"]
    for column in cc.by:
        problem = _deposit_column(dry, "concentration.by", column)
        if problem is not None:
            yield problem
            continue
        empty = deposits[column].isna().to_numpy()
        if empty.any():
            ids = ", ".join(map(repr, deposits.index[empty][:5].tolist()))
            yield Problem(dry.source("deposits"), f"deposits {ids}"
                          + (f" and {int(empty.sum()) - 5} more" if empty.sum() > 5 else ""),
                          column, f"no value in {column!r}, which concentration.by uses "
                          f"({int(empty.sum())} of {len(deposits)} deposits)",
                          "fill it in (e.g. 'unknown'), filter those rows out, or choose "
                          "another concentration.by")
    if cc.weight is not None:
        problem = _deposit_column(dry, "concentration.weight", cc.weight)
        if problem is not None:
            yield problem
        elif not (pd.api.types.is_numeric_dtype(deposits[cc.weight])
                  and not pd.api.types.is_bool_dtype(deposits[cc.weight])):
            yield ConfigProblem("concentration.weight", cc.weight, message=(
                f"column {cc.weight!r} of the deposits layer is not numeric; declare it as a "
                f"weight in [input.deposits] weight = {cc.weight!r} (its values are then "
                "checked as numbers)"))


@check("accessibility")
def _rasters_cover_study_area(dry: DryRun) -> Iterable[Finding]:
    import numpy as np
    import pyproj
    import rasterio

    from .stages import raster_outside

    boundary = dry.layers["boundary"]
    minx, miny, maxx, maxy = boundary.total_bounds
    for role, src in dry.config.rasters.items():
        with rasterio.open(src.path) as r:
            crs = r.crs.to_wkt() if r.crs is not None else src.crs
            left, bottom, right, top = r.bounds
        tx = pyproj.Transformer.from_crs(boundary.crs, pyproj.CRS.from_user_input(crs),
                                         always_xy=True)
        bx0, by0, bx1, by1 = tx.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)
        if not np.all(np.isfinite([bx0, by0, bx1, by1])) or (
                bx0 >= right or bx1 <= left or by0 >= top or by1 <= bottom):
            yield from raster_outside(dry.config, role).problems


#: Fewest territories the stages can work with (Gi* hot spots need three).
MIN_TERRITORIES = 3


@check("territories")
def _sizes_fit_memory(dry: DryRun) -> Iterable[Finding]:
    """Grid, territories, hot-spot weights, raster and deposits fit the memory budget
    (:mod:`minespace.pipeline.sizes`): else the config key to change."""
    from .sizes import size_problems

    deposits = dry.layers["deposits"]
    n_polygons = (dry.territory_count[0] if dry.config.territories.kind == "polygons"
                  else None)
    yield from size_problems(dry.config, boundary=dry.layers["boundary"],
                             n_deposits=len(deposits), deposits=deposits,
                             n_territories=n_polygons)


@check("territories")
def _enough_territories(dry: DryRun) -> Iterable[Finding]:
    n, how = dry.territory_count
    if n < MIN_TERRITORIES:
        tc = dry.config.territories
        key, value = (("territories.path", None) if tc.kind == "polygons"
                      else ("territories.cell_km", tc.cell_km))
        yield ConfigProblem(key, value, message=(
            f"{n} territor{'y' if n == 1 else 'ies'} ({how}); the analysis needs at least "
            f"{MIN_TERRITORIES} (hot-spot statistics, regions)"
            + ("; use a smaller cell_km" if tc.kind != "polygons" else
               "; give a file with more polygons")))


@check("load")
def _layers_not_emptied(dry: DryRun) -> Iterable[Finding]:
    """A required layer the region emptied (features outside the boundary are dropped)."""
    for role in ("deposits", "agglomerations", "corridors"):
        if role in dry.layers and len(dry.layers[role]) == 0:
            yield Problem(dry.source(role), None, "geometry",
                          f"no {role} left in the study area: every feature lies outside the "
                          "boundary (or was dropped with a warning above)",
                          "check that the layer and the boundary cover the same area and "
                          "their CRS")


@check("concentration")
def _deposits_in_study_area(dry: DryRun) -> Iterable[Finding]:
    deposits = dry.layers["deposits"]
    if not len(deposits) or dry.counted(deposits).any():
        return
    if dry.territory_polygons is not None:
        where = f"any territory ({dry.config.territories.path.name})"
        hint = "check that territories.path covers the deposits (and its CRS)"
    else:
        src = dry.config.layers.get("boundary")
        where = f"the boundary ({src.path.name})" if src is not None else "the study area"
        hint = ("check the layer's CRS and coordinates (longitude and latitude swapped?), or "
                "the boundary file")
    yield Problem(dry.source("deposits"), None, "geometry",
                  f"none of the {len(deposits)} deposits lies inside {where}", hint)


@check("concentration")
def _density_has_two_places(dry: DryRun) -> Iterable[Finding]:
    """The kernel density's bandwidth rule needs deposits at two places or more (those
    inside the study area, with a weight > 0 when ``concentration.weight`` is set)."""
    import numpy as np
    import pandas as pd
    import shapely

    cc = dry.config.concentration
    deposits = dry.layers["deposits"]
    if cc.weight is not None and cc.weight not in deposits.columns:
        return  # reported by _concentration_columns
    geoms = np.asarray(deposits.geometry.values)
    used = dry.counted(deposits)
    if not used.any():
        return  # reported by _deposits_in_study_area
    if cc.weight is not None:
        weight = pd.to_numeric(deposits[cc.weight], errors="coerce").to_numpy(float)
        used &= np.nan_to_num(weight) > 0
    xy = shapely.get_coordinates(geoms[used])
    places = len(np.unique(np.round(xy, 0), axis=0))   # metres: distinct to 1 m
    if places < 2:
        what = f" with {cc.weight} > 0" if cc.weight is not None else ""
        yield Problem(dry.source("deposits"), None, cc.weight or "geometry",
                      f"{int(used.sum())} deposit(s){what} in the territories, at "
                      f"{places} place(s): the deposit density needs at least two places",
                      "add deposits, check their weights"
                      + (" (or drop concentration.weight)" if cc.weight else "")
                      + ", or widen the boundary")


@check("accessibility")
def _agglomerations_on_the_grid(dry: DryRun) -> Iterable[Finding]:
    """The raster travel time spreads from the agglomerations on its grid (the study
    area's bounding box): at least one must lie there."""
    import numpy as np
    import shapely

    aggl, boundary = dry.layers["agglomerations"], dry.layers["boundary"]
    box = shapely.box(*boundary.total_bounds)
    if len(aggl) and not shapely.intersects(box, np.asarray(aggl.geometry.values)).any():
        yield Problem(dry.source("agglomerations"), None, "geometry",
                      f"none of the {len(aggl)} agglomerations lies within the study area's "
                      "extent, so the travel time to a town cannot be computed",
                      "include the towns of the study area, or check the layer's CRS and "
                      "coordinates")


@check("clusters")
def _n_regions(dry: DryRun) -> Iterable[Finding]:
    n, how = dry.territory_count
    if n < MIN_TERRITORIES:
        return  # reported by _enough_territories
    problem = n_regions_problem(dry.config, n, how)
    if problem is not None:
        yield problem


@check("maps")
def _map_metric(dry: DryRun) -> Iterable[Finding]:
    import pandas as pd

    metric = dry.config.maps.metric
    if metric is None:
        return
    allowed = metric_columns(dry.config, dry.layers)
    polygons = dry.territory_polygons
    if polygons is not None:
        allowed += [c for c in _columns(polygons)
                    if pd.api.types.is_numeric_dtype(polygons[c]) and c not in allowed]
    if metric not in allowed:
        yield ConfigProblem("maps.metric", metric, allowed=allowed, message=(
            "not a numeric territory column the build makes" + _did_you_mean(metric, allowed)))


@check("territories")
def _territory_name(dry: DryRun) -> Iterable[Finding]:
    name = dry.config.territories.name
    if name is None or dry.config.territories.kind != "polygons":
        return  # a name with a grid is a config error already
    from .stages import read_territory_polygons

    polygons = read_territory_polygons(dry.config, dry.layers["boundary"].crs)
    allowed = _columns(polygons)
    if name not in allowed:
        yield ConfigProblem("territories.name", name, allowed=allowed, message=(
            f"not a column of {dry.config.territories.path.name}"
            + _did_you_mean(name, allowed)))


@check("maps")
def _map_deposits_by(dry: DryRun) -> Iterable[Finding]:
    allowed = [str(c) for c in dry.layers["deposits"].columns if c != "geometry"]
    for column in dry.config.maps.deposits_by:
        if column not in allowed:
            yield ConfigProblem("maps.deposits_by", column, allowed=allowed, message=(
                "not a column of the deposits (after the reader's renames)"
                + _did_you_mean(column, allowed)))


# the [innovation] checks live in their own module (registered on import, after these)
from . import _checks_innovation  # noqa: E402, F401
