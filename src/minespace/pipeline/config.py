"""Pipeline configuration: frozen dataclasses read from TOML, validated up front.

Every problem names the dotted key, the bad value and the allowed values
(:class:`~minespace.errors.ConfigError`). Unknown keys are errors: a typo must
not silently fall back to a default. Relative paths are relative to the config
file's folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "AccessibilityConfig",
    "ConcentrationConfig",
    "Config",
    "LayerSource",
    "MapsConfig",
    "RasterSource",
    "TerritoriesConfig",
    "kuzbass_config",
    "load_config",
]

DATASETS = ("kuzbass",)
LAYER_ROLES = ("deposits", "agglomerations", "corridors", "facilities", "boundary")
#: Optional raster inputs: population counts (population-weighted territory origins)
#: and elevation in metres (slope penalty of the raster travel time).
RASTER_ROLES = ("population", "elevation")
TERRITORY_KINDS = ("hex", "square", "polygons")
DECAYS = ("exponential", "power")

# reader keyword arguments allowed per layer role (besides path)
_LAYER_KEYS: dict[str, dict[str, tuple[type, ...]]] = {
    "deposits": {"layer": (str, int), "id": (str,), "name": (str,), "commodity": (str, list),
                 "weight": (str, list, dict), "status": (str,), "method": (str,),
                 "crs": (str, int), "lon": (str,), "lat": (str,)},
    "agglomerations": {"layer": (str, int), "id": (str,), "name": (str,),
                       "population": (str,), "density_per_km2": (int, float),
                       "crs": (str, int), "lon": (str,), "lat": (str,),
                       "on_invalid": (str,)},
    "corridors": {"layer": (str, int), "id": (str,), "name": (str,), "kind": (str,),
                  "speed": (str,), "speeds": (dict,), "crs": (str, int),
                  "on_invalid": (str,)},
    "facilities": {"layer": (str, int), "id": (str,), "name": (str,), "kind": (str,),
                   "capacity": (str,), "status": (str,), "crs": (str, int),
                   "lon": (str,), "lat": (str,)},
    "boundary": {"layer": (str, int)},
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


@dataclass(frozen=True)
class TerritoriesConfig:
    kind: str = "hex"
    cell_km: float = 15.0
    path: Path | None = None
    id: str | None = None


@dataclass(frozen=True)
class ConcentrationConfig:
    by: tuple[str, ...] = ("commodity",)
    weight: str | None = None
    permutations: int = 999
    random_state: int = 0
    hotspot_band_km: float | None = None


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
    maps: MapsConfig = MapsConfig()
    source: Path | None = None

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

class _Section:
    """Reads keys from one TOML table, tracking unknown keys and types."""

    def __init__(self, data: Any, key: str):
        if not isinstance(data, dict):
            raise ConfigError(key, data, message=f"must be a table, got {type(data).__name__}")
        self.data = data
        self.key = key
        self.seen: set[str] = set()

    def get(self, name: str, types: tuple[type, ...], default: Any = None, *,
            required: bool = False, allowed: tuple | None = None) -> Any:
        self.seen.add(name)
        full = f"{self.key}.{name}" if self.key else name
        if name not in self.data:
            if required:
                raise ConfigError(full, None, allowed=allowed, message="missing required key")
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in types:
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            names = " or ".join(t.__name__ for t in types)
            raise ConfigError(full, value, message=f"must be {names}, got {type(value).__name__}"
                              f" {value!r}")
        if allowed is not None and value not in allowed:
            raise ConfigError(full, value, allowed=allowed)
        return value

    def positive(self, name: str, default: float) -> float:
        value = self.get(name, (int, float), default)
        if not value > 0:
            raise ConfigError(f"{self.key}.{name}", value, allowed="a number > 0")
        return float(value)

    def finish(self, allowed_keys=None) -> None:
        known = set(allowed_keys) if allowed_keys is not None else self.seen
        unknown = sorted(set(self.data) - known)
        if unknown:
            where = self.key or "top level"
            raise ConfigError(f"{self.key + '.' if self.key else ''}{unknown[0]}", None,
                              allowed=sorted(known),
                              message=f"unknown key in {where}")


def _int_at_least(sec: _Section, name: str, default: int, low: int) -> int:
    value = sec.get(name, (int,), default)
    if value < low:
        raise ConfigError(f"{sec.key}.{name}", value, allowed=f"an integer >= {low}")
    return value


def _path(base: Path, value: str, key: str, *, must_exist: bool = True) -> Path:
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    if must_exist and not path.exists():
        raise ConfigError(key, value, message=f"file not found: {path}")
    return path


def _layer(base: Path, role: str, data: Any) -> LayerSource:
    sec = _Section(data, f"input.{role}")
    path = _path(base, sec.get("path", (str,), required=True), f"input.{role}.path")
    options = {}
    for name, types in _LAYER_KEYS[role].items():
        value = sec.get(name, types)
        if value is not None:
            options[name] = value
    sec.finish()
    if "on_invalid" in options and options["on_invalid"] not in ("fix", "raise", "drop"):
        raise ConfigError(f"input.{role}.on_invalid", options["on_invalid"],
                          allowed=("fix", "raise", "drop"))
    return LayerSource(role=role, path=path, options=options)


def _raster(base: Path, role: str, data: Any) -> RasterSource:
    sec = _Section(data, f"input.{role}")
    raw = sec.get("path", (str,), required=True)
    path = _path(base, raw, f"input.{role}.path")
    band = sec.get("band", (int,), 1)
    sec.finish()
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            count = src.count
    except RasterioIOError as exc:
        raise ConfigError(f"input.{role}.path", raw,
                          message=f"not a readable raster (GeoTIFF or another GDAL format): "
                          f"{exc}") from exc
    if not 1 <= band <= count:
        raise ConfigError(f"input.{role}.band", band, allowed=f"an integer from 1 to {count} "
                          f"({path.name} has {count} band{'s' if count != 1 else ''})")
    return RasterSource(role=role, path=path, band=band)


def parse_config(data: dict, *, base: Path, source: Path | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML *data* (paths relative to *base*)."""
    top = _Section(data, "")
    top.finish(("project", "input", "territories", "concentration", "accessibility",
                "clusters", "maps"))

    project = _Section(data.get("project", {}), "project")
    name = project.get("name", (str,), "minespace project")
    out_dir = _path(base, project.get("out_dir", (str,), "data/processed"), "project.out_dir",
                    must_exist=False)
    crs = project.get("crs", (str, int), "auto")
    crs = f"EPSG:{crs}" if isinstance(crs, int) else crs
    project.finish()

    inp = _Section(data.get("input", {}), "input")
    dataset = inp.get("dataset", (str,), None, allowed=DATASETS)
    layers = {}
    for role in LAYER_ROLES:
        if role in inp.data:
            inp.seen.add(role)
            layers[role] = _layer(base, role, inp.data[role])
    rasters = {}
    for role in RASTER_ROLES:
        if role in inp.data:
            inp.seen.add(role)
            rasters[role] = _raster(base, role, inp.data[role])
    inp.finish()
    if dataset is None:
        for role in ("deposits", "agglomerations", "corridors"):
            if role not in layers:
                raise ConfigError(f"input.{role}", None, message="missing: give input.dataset "
                                  "or the path of every required layer",
                                  allowed=("deposits", "agglomerations", "corridors"))
    elif layers:
        raise ConfigError("input.dataset", dataset, message="give either a bundled dataset or "
                          f"layer files, not both (found {sorted(layers)})")

    ter = _Section(data.get("territories", {}), "territories")
    kind = ter.get("kind", (str,), "hex", allowed=TERRITORY_KINDS)
    cell_km = ter.positive("cell_km", 15.0)
    t_path = ter.get("path", (str,), None)
    t_id = ter.get("id", (str,), None)
    ter.finish()
    if kind == "polygons" and t_path is None:
        raise ConfigError("territories.path", None,
                          message="required when territories.kind = 'polygons'")
    territories = TerritoriesConfig(kind=kind, cell_km=cell_km, id=t_id,
                                    path=_path(base, t_path, "territories.path")
                                    if t_path else None)

    con = _Section(data.get("concentration", {}), "concentration")
    by = con.get("by", (str, list), "commodity")
    by = (by,) if isinstance(by, str) else tuple(by)
    if not by or not all(isinstance(b, str) and b for b in by):
        raise ConfigError("concentration.by", by, allowed="a column name or a list of names")
    weight = con.get("weight", (str,), None) or None
    permutations = con.get("permutations", (int,), 999)
    if permutations < 0:
        raise ConfigError("concentration.permutations", permutations, allowed="an integer >= 0")
    random_state = con.get("random_state", (int,), 0)
    band = con.get("hotspot_band_km", (int, float), None)
    if band is not None and not band > 0:
        raise ConfigError("concentration.hotspot_band_km", band, allowed="a distance in km > 0")
    con.finish()

    acc = _Section(data.get("accessibility", {}), "accessibility")
    accessibility = AccessibilityConfig(
        snap_m=acc.positive("snap_m", 25.0),
        access_speed_kmh=acc.positive("access_speed_kmh", 20.0),
        beta=acc.positive("beta", 0.05),
        decay=acc.get("decay", (str,), "exponential", allowed=DECAYS),
        speeds={str(k): float(v) for k, v in acc.get("speeds", (dict,), {}).items()},
        raster_cell_m=acc.positive("raster_cell_m", 1000.0),
        offroad_speed_kmh=acc.positive("offroad_speed_kmh", 10.0),
    )
    acc.finish()
    for k, v in accessibility.speeds.items():
        if not v > 0:
            raise ConfigError(f"accessibility.speeds.{k}", v, allowed="a speed in km/h > 0")

    kl = _Section(data.get("clusters", {}), "clusters")
    from ..clustering import DEFAULT_WEIGHTS

    weights = kl.get("weights", (dict,), {})
    for name, value in weights.items():
        if name not in DEFAULT_WEIGHTS:
            raise ConfigError(f"clusters.weights.{name}", value, allowed=sorted(DEFAULT_WEIGHTS),
                              message="unknown score component")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"clusters.weights.{name}", value, allowed="a number >= 0")
    clusters = ClustersConfig(
        n_regions=_int_at_least(kl, "n_regions", 12, 2),
        travel_time_min=kl.positive("travel_time_min", 60.0),
        corridor_km=kl.positive("corridor_km", 10.0),
        min_deposits=_int_at_least(kl, "min_deposits", 3, 1),
        top_n=_int_at_least(kl, "top_n", 5, 1),
        n_perturbations=_int_at_least(kl, "n_perturbations", 50, 0),
        random_state=kl.get("random_state", (int,), 0),
        weights={str(k): float(v) for k, v in weights.items()},
        node_eps_km=kl.positive("node_eps_km", 10.0),
        node_min_samples=_int_at_least(kl, "node_min_samples", 3, 1),
    )
    kl.finish()

    maps_sec = _Section(data.get("maps", {}), "maps")
    maps = MapsConfig(tiles=maps_sec.get("tiles", (bool,), True),
                      metric=maps_sec.get("metric", (str,), None),
                      scheme=maps_sec.get("scheme", (str,), "naturalbreaks",
                                          allowed=("quantiles", "naturalbreaks",
                                                   "equalinterval", "fisherjenks")))
    maps_sec.finish()

    return Config(name=name, out_dir=out_dir, crs=str(crs), dataset=dataset, layers=layers,
                  rasters=rasters, territories=territories,
                  concentration=ConcentrationConfig(by=by, weight=weight,
                                                    permutations=permutations,
                                                    random_state=random_state,
                                                    hotspot_band_km=band),
                  accessibility=accessibility, clusters=clusters, maps=maps, source=source)


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
        Naming the key, the bad value and the allowed values; also for a missing
        file or invalid TOML.

    Examples
    --------
    >>> import minespace as ms
    >>> cfg = tmp_path / "minespace.toml"
    >>> _ = cfg.write_text('[input]\\ndataset = "kuzbass"\\n[territories]\\ncell_km = 20\\n')
    >>> ms.pipeline.load_config(cfg).territories
    TerritoriesConfig(kind='hex', cell_km=20.0, path=None, id=None)
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError("config", str(path), message=f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(path), message=f"invalid TOML in {path.name}: {exc}") \
            from exc
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
