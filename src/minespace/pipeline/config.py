"""Pipeline configuration: frozen dataclasses read from TOML, validated up front.

The whole config is checked in one pass and every problem is raised together in
one :class:`~minespace.errors.ConfigError` (key, bad value, allowed values, one line
each). Unknown keys are errors, with a suggestion for typos: a typo must not
silently fall back to a default. Relative paths are relative to the config file's
folder.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigProblem
from ._config_engine import EngineConfig, parse_engine
from ._config_innovation import InnovationConfig, parse_innovation

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "AccessibilityConfig",
    "ConcentrationConfig",
    "Config",
    "EngineConfig",
    "InnovationConfig",
    "LayerSource",
    "MapsConfig",
    "RasterSource",
    "TerritoriesConfig",
    "kuzbass_config",
    "load_config",
]

DATASETS = ("kuzbass",)
LAYER_ROLES = ("deposits", "agglomerations", "corridors", "facilities", "institutions",
               "projects", "boundary")
#: Optional raster inputs: population counts (population-weighted territory origins)
#: and elevation in metres (slope penalty of the raster travel time).
RASTER_ROLES = ("population", "elevation")
TERRITORY_KINDS = ("hex", "square", "polygons")
DECAYS = ("exponential", "power")

# reader keyword arguments allowed per layer role (besides path)
_COMMON_KEYS: dict[str, tuple[type, ...]] = {
    "layer": (str, int), "where": (str,), "id": (str, bool), "duplicate_ids": (str,),
    "name": (str,), "keep": (str, list), "crs": (str, int), "encoding": (str,)}
_LAYER_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "deposits": {**_COMMON_KEYS, "commodity": (str, list), "weight": (str, list, dict),
                 "status": (str,), "method": (str,), "lon": (str,), "lat": (str,)},
    "agglomerations": {**_COMMON_KEYS, "population": (str,), "density_per_km2": (int, float),
                       "lon": (str,), "lat": (str,), "on_invalid": (str,)},
    "corridors": {**_COMMON_KEYS, "kind": (str,), "speed": (str,), "speeds": (dict,),
                  "on_invalid": (str,)},
    "facilities": {**_COMMON_KEYS, "kind": (str,), "capacity": (str,), "status": (str,),
                   "value_chain": (str,), "value_chains": (dict,), "lon": (str,),
                   "lat": (str,)},
    "institutions": {**_COMMON_KEYS, "kind": (str,), "kinds": (dict,), "field": (str,),
                     "size": (str,), "size_unit": (str,), "lon": (str,), "lat": (str,)},
    "projects": {**_COMMON_KEYS, "category": (str,), "investment": (str,),
                 "currency": (str,), "unit": (str,), "jobs": (str,), "year": (str,),
                 "deposit": (str,), "town": (str,), "lon": (str,), "lat": (str,)},
    "boundary": {"layer": (str, int), "encoding": (str,)},
}


@dataclass(frozen=True)
class LayerSource:
    """One raw layer: its file and the reader's column mapping."""

    role: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RasterSource:
    """One optional raster input: its file and band (1-based)."""

    role: str
    path: Path
    band: int = 1
    crs: str | None = None   # only for a file without a CRS of its own


@dataclass(frozen=True)
class TerritoriesConfig:
    kind: str = "hex"
    cell_km: float = 15.0
    path: Path | None = None
    id: str | None = None
    where: str | None = None
    name: str | None = None   # territory-name column (None: a "name" column when present)


@dataclass(frozen=True)
class ConcentrationConfig:
    by: tuple[str, ...] = ("commodity",)
    weight: str | None = None
    permutations: int | str = "auto"
    random_state: int = 0
    hotspot_band_km: float | None = None
    alpha: float = 0.05


@dataclass(frozen=True)
class AccessibilityConfig:
    snap_m: float = 25.0
    access_speed_kmh: float = 20.0
    beta: float = 0.05
    decay: str = "exponential"
    speeds: dict[str, float] = field(default_factory=dict)
    raster_cell_m: float = 1000.0
    offroad_speed_kmh: float = 10.0


@dataclass(frozen=True)
class ClustersConfig:
    n_regions: int = 12
    travel_time_min: float = 60.0
    corridor_km: float = 10.0
    min_deposits: int = 3
    top_n: int = 5
    n_perturbations: int = 50
    random_state: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    node_eps_km: float = 10.0
    node_min_samples: int = 3


@dataclass(frozen=True)
class MapsConfig:
    tiles: bool = True
    metric: str | None = None
    scheme: str = "naturalbreaks"
    deposits_by: tuple[str, ...] = ()   # deposit colours; () = concentration.by


@dataclass(frozen=True)
class Config:
    """A validated pipeline configuration (see :func:`load_config`)."""

    name: str
    out_dir: Path
    crs: str = "auto"
    dataset: str | None = None
    layers: dict[str, LayerSource] = field(default_factory=dict)
    rasters: dict[str, RasterSource] = field(default_factory=dict)
    territories: TerritoriesConfig = TerritoriesConfig()
    concentration: ConcentrationConfig = ConcentrationConfig()
    accessibility: AccessibilityConfig = AccessibilityConfig()
    clusters: ClustersConfig = ClustersConfig()
    innovation: InnovationConfig = field(default_factory=InnovationConfig)
    maps: MapsConfig = MapsConfig()
    engine: EngineConfig = field(default_factory=EngineConfig)   # never fingerprinted
    source: Path | None = None
    max_memory_gb: float | None = None   # memory budget of the size checks (limits)

    def section(self, name: str) -> dict[str, Any]:
        """Parameters of one section as plain JSON-able data (for fingerprints)."""
        value = getattr(self, name)
        return _plain(value)


def _plain(value):
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# -- parsing helpers -----------------------------------------------------------------------

def _did_you_mean(word: object, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"; did you mean {json.dumps(close[0])}?" if close else ""


class _Section:
    """Reads keys from one TOML table, recording every problem in a shared list.

    A bad value is recorded and replaced by its default, so the rest of the config
    is still checked; :func:`parse_config` raises once at the end.
    """

    def __init__(self, data: Any, key: str, problems: list[ConfigProblem]):
        self.key = key
        self.problems = problems
        self.seen: set[str] = set()
        self.is_table = isinstance(data, dict)
        if not self.is_table:
            problems.append(ConfigProblem(key, data,
                                          message=f"must be a table, got {type(data).__name__}"))
            data = {}
        self.data = data

    def report(self, name: str, value: object = None, allowed=None, message: str = "") -> None:
        key = f"{self.key}.{name}" if self.key else name
        self.problems.append(ConfigProblem(key, value, allowed, message))

    def get(self, name: str, types: tuple[type, ...], default: Any = None, *,
            required: bool = False, allowed: tuple | None = None) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if required and self.is_table:  # a non-table was reported already
                self.report(name, allowed=allowed, message="missing required key")
            return default
        value = self.data[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            self.report(name, value, message=f"must be {names}, got {type(value).__name__}")
            return default
        if allowed is not None and value not in allowed:
            self.report(name, value, allowed=allowed,
                        message="invalid value" + _did_you_mean(value, allowed))
            return default
        return value

    def positive(self, name: str, default: float) -> float:
        value = self.get(name, (int, float), default)
        if not value > 0:
            self.report(name, value, message="must be > 0")
            return float(default)
        return float(value)

    def int_at_least(self, name: str, default: int, low: int) -> int:
        value = self.get(name, (int,), default)
        if value < low:
            self.report(name, value, message=f"must be an integer >= {low}")
            return default
        return value

    def path(self, name: str, raw: str | None, base: Path, *,
             must_exist: bool = True, parts: bool = False) -> Path | None:
        """*raw* relative to *base*; ``None`` when not given or (recorded) not found."""
        if raw is None:
            return None
        path = Path(raw)
        if not path.is_absolute():
            path = base / path
        if must_exist and not path.exists():
            self.report(name, raw, message=f"file not found: {path}")
            return None
        if must_exist and path.is_dir() and path.suffix.lower() != ".gdb":
            from ..io._parts import parquet_parts

            if parts and parquet_parts(path):
                return path
            self.report(name, raw, message=f"{path} is a folder; give the path of a file"
                        + (", or of a folder of GeoParquet parts (*.parquet)" if parts
                           else ""))
            return None
        return path

    def finish(self, allowed_keys=None) -> None:
        known = sorted(allowed_keys if allowed_keys is not None else self.seen)
        for name in sorted(set(self.data) - set(known)):
            self.report(name, allowed=known, message="unknown key" + _did_you_mean(name, known))


_ON_INVALID = ("fix", "raise", "drop")
_ALLOWED = {"on_invalid": _ON_INVALID, "duplicate_ids": ("raise", "suffix")}


def _layer(base: Path, role: str, data: Any, problems: list) -> LayerSource:
    sec = _Section(data, f"input.{role}", problems)
    path = sec.path("path", sec.get("path", (str,), required=True), base, parts=True)
    options = {}
    for name, types in _LAYER_KEYS[role].items():
        value = sec.get(name, types, allowed=_ALLOWED.get(name))
        if value is not None:
            options[name] = value
    sec.finish()
    _check_layer_options(sec, options)
    return LayerSource(role=role, path=path, options=options)


def _check_layer_options(sec: _Section, options: dict[str, Any]) -> None:
    """Checks of the reader options that need no data: the ``where`` grammar, ``id``,
    ``keep``, corridor ``speeds`` (those needing the data run in the readers)."""
    from ..io._where import WhereSyntaxError, parse_where

    if "where" in options:
        try:
            parse_where(options["where"])
        except WhereSyntaxError as exc:
            sec.report("where", options.pop("where"),
                       message=f"{exc}; a filter looks like "
                       "status in ('operating', 'mothballed') and output_mt >= 1")
    if "encoding" in options:
        import codecs

        try:
            codecs.lookup(options["encoding"])
        except LookupError:
            sec.report("encoding", options.pop("encoding"), message="unknown encoding",
                       allowed="a Python codec name, e.g. utf-8, cp1251, cp1250, latin-1")
    if options.get("id") is True:
        sec.report("id", True, allowed="a column name, or false to number the rows")
        options.pop("id")
    keep = options.get("keep")
    if isinstance(keep, str) and keep != "all":
        sec.report("keep", keep, allowed='"all" or a list of column names')
        options.pop("keep")
    elif isinstance(keep, list) and not all(isinstance(k, str) and k for k in keep):
        sec.report("keep", keep, allowed='"all" or a list of column names')
        options.pop("keep")
    speeds = options.get("speeds")
    if speeds is not None:
        for key, value in speeds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                sec.report(f"speeds.{key}", value, message="must be a speed in km/h > 0")
                options.pop("speeds", None)
    _check_innovation_options(sec, options)


def _check_innovation_options(sec: _Section, options: dict[str, Any]) -> None:
    """``value_chains``, ``kinds``, ``currency`` and ``unit`` of the innovation layers."""
    from ..schema import INSTITUTION_KIND_ALIASES, INSTITUTION_KINDS, normalise_category

    for key, value in dict(options.get("value_chains") or {}).items():
        if not isinstance(value, str) or not value.strip(" ;,"):
            sec.report(f"value_chains.{key}", value, message="must be the kind's input(s)",
                       allowed='text such as "coking_coal" or "coking_coal;iron_ore"')
            options.pop("value_chains", None)
    for key, value in dict(options.get("kinds") or {}).items():
        norm = normalise_category(value) if isinstance(value, str) else None
        if INSTITUTION_KIND_ALIASES.get(norm, norm) not in INSTITUTION_KINDS:
            sec.report(f"kinds.{key}", value, message="is not an institution kind",
                       allowed=INSTITUTION_KINDS)
            options.pop("kinds", None)
    units = ("", "thousand", "million", "billion")
    if "unit" in options and options["unit"] not in units:
        sec.report("unit", options.pop("unit"), allowed=[f'"{u}"' for u in units])
    if "currency" in options and not re.fullmatch(r"[A-Za-z]{3}", options["currency"]):
        sec.report("currency", options.pop("currency"),
                   allowed='an ISO 4217 code such as "RUB", "USD", "EUR"')


def _raster(base: Path, role: str, data: Any, problems: list) -> RasterSource:
    sec = _Section(data, f"input.{role}", problems)
    raw = sec.get("path", (str,), required=True)
    path = sec.path("path", raw, base)
    band = sec.get("band", (int,), 1)
    crs = sec.get("crs", (str, int), None)
    crs = f"EPSG:{crs}" if isinstance(crs, int) else crs
    sec.finish()
    if path is None:
        return RasterSource(role=role, path=path, band=band, crs=crs)
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            count, file_crs = src.count, src.crs
    except RasterioIOError as exc:
        sec.report("path", raw, message="not a readable raster (GeoTIFF or another GDAL "
                   f"format): {exc}")
        return RasterSource(role=role, path=path, band=band, crs=crs)
    if not 1 <= band <= count:
        sec.report("band", band, allowed=f"an integer from 1 to {count} "
                   f"({path.name} has {count} band{'s' if count != 1 else ''})")
    if crs is not None:
        import pyproj

        try:
            pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            sec.report("crs", crs, message="not a CRS pyproj knows (use e.g. \"EPSG:4326\")")
        if file_crs is not None:
            sec.report("crs", crs, message=f"{path.name} declares its own CRS "
                       f"({file_crs.to_string()}); remove this key (it only fills in a "
                       "missing CRS)")
    elif file_crs is None:
        sec.report("crs", message=f"{path.name} has no CRS: set it here, e.g. crs = "
                   "\"EPSG:4326\" for longitude/latitude cells, or assign one to the file "
                   f"(gdal_edit.py -a_srs EPSG:4326 {path.name})")
    return RasterSource(role=role, path=path, band=band, crs=crs)


def parse_config(data: dict, *, base: Path, source: Path | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML *data* (paths relative to *base*).

    Raises one :class:`~minespace.errors.ConfigError` listing every problem found.
    """
    problems: list[ConfigProblem] = []

    def section(name: str) -> _Section:
        return _Section(data.get(name, {}), name, problems)

    _Section(data, "", problems).finish(("project", "input", "territories", "concentration",
                                         "accessibility", "innovation", "clusters", "maps",
                                         "engine"))

    project = section("project")
    name = project.get("name", (str,), "minespace project")
    out_dir = project.path("out_dir", project.get("out_dir", (str,), "data/processed"), base,
                           must_exist=False)
    crs = project.get("crs", (str, int), "auto")
    crs = f"EPSG:{crs}" if isinstance(crs, int) else crs
    if crs != "auto":
        import pyproj

        from ..crs import is_metric

        try:
            metric = is_metric(crs)
        except pyproj.exceptions.CRSError:
            project.report("crs", crs, message="not a CRS pyproj knows (use \"auto\", or a "
                           "projected CRS in metres such as \"EPSG:32645\")")
            crs, metric = "auto", True
        if not metric:
            project.report("crs", crs, message="not a projected CRS in metres: distances and "
                           "areas need one (use \"auto\" for the local UTM zone, or e.g. "
                           "\"EPSG:32645\")")
            crs = "auto"
    max_memory_gb = project.get("max_memory_gb", (int, float), None)
    if max_memory_gb is not None and not (max_memory_gb > 0 and max_memory_gb < float("inf")):
        project.report("max_memory_gb", max_memory_gb, message="must be > 0 (GiB)")
        max_memory_gb = None
    project.finish()

    inp = section("input")
    dataset = inp.get("dataset", (str,), None, allowed=DATASETS)
    layers = {role: _layer(base, role, inp.data[role], problems)
              for role in LAYER_ROLES if role in inp.data}
    rasters = {role: _raster(base, role, inp.data[role], problems)
               for role in RASTER_ROLES if role in inp.data}
    inp.finish(("dataset", *LAYER_ROLES, *RASTER_ROLES))
    if "dataset" not in inp.data:
        for role in ("deposits", "agglomerations", "corridors"):
            if role not in inp.data:
                inp.report(role, message="missing: give input.dataset or the path of every "
                           "required layer", allowed=("deposits", "agglomerations", "corridors"))
    elif layers:
        inp.report("dataset", inp.data["dataset"], message="give either a bundled dataset or "
                   f"layer files, not both (found {sorted(layers)})")

    ter = section("territories")
    kind = ter.get("kind", (str,), "hex", allowed=TERRITORY_KINDS)
    cell_km = ter.positive("cell_km", 15.0)
    t_path = ter.get("path", (str,), None)
    t_id = ter.get("id", (str,), None)
    t_where = ter.get("where", (str,), None)
    t_name = ter.get("name", (str,), None)
    ter.finish()
    if kind == "polygons" and "path" not in ter.data:
        ter.report("path", message="required when territories.kind = 'polygons'")
    if t_name is not None and kind != "polygons":
        ter.report("name", t_name, message="territory names need territories.kind = "
                   "'polygons' (grid cells have no names)")
    if t_where is not None:
        from ..io._where import WhereSyntaxError, parse_where

        if kind != "polygons":
            ter.report("where", t_where, message="a row filter of the territory polygons: "
                       "only with territories.kind = 'polygons'")
            t_where = None
        else:
            try:
                parse_where(t_where)
            except WhereSyntaxError as exc:
                ter.report("where", t_where, message=f"{exc}; a filter looks like "
                           "adm1_name == 'Silesian Voivodeship'")
                t_where = None
    territories = TerritoriesConfig(kind=kind, cell_km=cell_km, id=t_id, where=t_where,
                                    name=t_name,
                                    path=ter.path("path", t_path, base) if t_path else None)

    con = section("concentration")
    raw_by = con.get("by", (str, list), "commodity")
    by = (raw_by,) if isinstance(raw_by, str) else tuple(raw_by)
    if not by or not all(isinstance(b, str) and b for b in by):
        con.report("by", raw_by, allowed="a column name or a list of names")
    weight = con.get("weight", (str,), None) or None
    permutations = con.get("permutations", (int, str), "auto")
    if permutations != "auto" and (isinstance(permutations, str) or permutations < 0):
        con.report("permutations", permutations, allowed='"auto" or an integer >= 0')
        permutations = "auto"
    alpha = con.get("alpha", (int, float), 0.05)
    if not 0 < alpha < 1:
        con.report("alpha", alpha, message="must be between 0 and 1 (a false discovery rate)")
        alpha = 0.05
    random_state = con.get("random_state", (int,), 0)
    band = con.get("hotspot_band_km", (int, float), None)
    if band is not None and not band > 0:
        con.report("hotspot_band_km", band, message="must be > 0 (a distance in km)")
    con.finish()

    acc = section("accessibility")
    accessibility = AccessibilityConfig(
        snap_m=acc.positive("snap_m", 25.0),
        access_speed_kmh=acc.positive("access_speed_kmh", 20.0),
        beta=acc.positive("beta", 0.05),
        decay=acc.get("decay", (str,), "exponential", allowed=DECAYS),
        speeds=_numbers(acc, "speeds", "a speed in km/h > 0", strict=True),
        raster_cell_m=acc.positive("raster_cell_m", 1000.0),
        offroad_speed_kmh=acc.positive("offroad_speed_kmh", 10.0),
    )
    acc.finish()

    innovation = parse_innovation(section("innovation"))

    kl = section("clusters")
    from ..clustering import DEFAULT_WEIGHTS

    clusters = ClustersConfig(
        n_regions=kl.int_at_least("n_regions", 12, 2),
        travel_time_min=kl.positive("travel_time_min", 60.0),
        corridor_km=kl.positive("corridor_km", 10.0),
        min_deposits=kl.int_at_least("min_deposits", 3, 1),
        top_n=kl.int_at_least("top_n", 5, 1),
        n_perturbations=kl.int_at_least("n_perturbations", 50, 0),
        random_state=kl.get("random_state", (int,), 0),
        weights=_numbers(kl, "weights", "a number >= 0", names=DEFAULT_WEIGHTS),
        node_eps_km=kl.positive("node_eps_km", 10.0),
        node_min_samples=kl.int_at_least("node_min_samples", 3, 1),
    )
    merged = {**DEFAULT_WEIGHTS, **clusters.weights}
    if "weights" in kl.data and isinstance(kl.data["weights"], dict) and not sum(
            merged.values()) > 0:
        kl.report("weights", message="every score weight is 0 (with the defaults of the "
                  "components not given); set at least one > 0",
                  allowed=sorted(DEFAULT_WEIGHTS))
    kl.finish()

    maps_sec = section("maps")
    raw_dby = maps_sec.get("deposits_by", (str, list), None)
    deposits_by = (() if raw_dby is None else
                   (raw_dby,) if isinstance(raw_dby, str) else tuple(raw_dby))
    if raw_dby is not None and not (deposits_by and all(isinstance(b, str) and b
                                                        for b in deposits_by)):
        maps_sec.report("deposits_by", raw_dby, allowed="a column name or a list of names")
    maps = MapsConfig(tiles=maps_sec.get("tiles", (bool,), True),
                      metric=maps_sec.get("metric", (str,), None),
                      scheme=maps_sec.get("scheme", (str,), "naturalbreaks",
                                          allowed=("quantiles", "naturalbreaks",
                                                   "equalinterval", "fisherjenks")),
                      deposits_by=deposits_by)
    maps_sec.finish()
    engine = parse_engine(section("engine"))

    if problems:
        raise ConfigError(problems=problems, source=source.name if source else None)
    return Config(name=name, out_dir=out_dir, crs=str(crs), dataset=dataset, layers=layers,
                  rasters=rasters, territories=territories,
                  concentration=ConcentrationConfig(by=by, weight=weight,
                                                    permutations=permutations,
                                                    random_state=random_state,
                                                    hotspot_band_km=band,
                                                    alpha=float(alpha)),
                  accessibility=accessibility, clusters=clusters, innovation=innovation,
                  maps=maps, engine=engine, source=source,
                  max_memory_gb=None if max_memory_gb is None else float(max_memory_gb))


def _numbers(sec: _Section, name: str, allowed: str, *, strict: bool = False,
             names=None) -> dict[str, float]:
    """A table of numbers (> 0 if *strict*, else >= 0), keys limited to *names* if given."""
    table = sec.get(name, (dict,), {})
    out = {}
    for key, value in table.items():
        if names is not None and key not in names:
            sec.report(f"{name}.{key}", value, allowed=sorted(names),
                       message="unknown score component" + _did_you_mean(key, names))
        elif (isinstance(value, bool) or not isinstance(value, (int, float))
              or not (value > 0 if strict else value >= 0)):
            sec.report(f"{name}.{key}", value, message=f"must be {allowed}")
        else:
            out[str(key)] = float(value)
    return out


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML pipeline configuration.

    Parameters
    ----------
    path : path
        The config file (e.g. ``minespace.toml``).

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Listing every problem found (one line each: file, key, bad value, what is
        allowed); also for a missing file, or invalid TOML (with its line and column).

    Examples
    --------
    >>> import minespace as ms
    >>> cfg = tmp_path / "minespace.toml"
    >>> _ = cfg.write_text('[input]\\ndataset = "kuzbass"\\n[territories]\\ncell_km = 20\\n')
    >>> ms.pipeline.load_config(cfg).territories
    TerritoriesConfig(kind='hex', cell_km=20.0, path=None, id=None, where=None, name=None)
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(message=f"config file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(message=f"cannot read config file {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(message=f"invalid TOML: {exc}", source=path.name) from exc
    return parse_config(data, base=path.resolve().parent, source=path.resolve())


def kuzbass_config(out_dir: str | os.PathLike = "data/processed", *,
                   tiles: bool = True) -> Config:
    """The configuration of the bundled Kuzbass sample (what ``minespace demo`` builds)."""
    return parse_config({"project": {"name": "Kuzbass (Kemerovo Oblast)",
                                     "out_dir": str(Path(out_dir).resolve())},
                         "input": {"dataset": "kuzbass"},
                         "territories": {"kind": "hex", "cell_km": 15},
                         "concentration": {"by": "activity"},
                         "maps": {"tiles": tiles}},
                        base=Path.cwd())
