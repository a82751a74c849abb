"""Canonical layer schemas, as data.

Each reader maps the user's columns onto one of these schemas. The id column
becomes the index; the canonical columns come first, in this order, followed
by the source's other columns unchanged (unless ``keep=`` narrows them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "AGGLOMERATIONS",
    "CORRIDORS",
    "DEFAULT_SPEEDS_KMH",
    "DEPOSITS",
    "FACILITIES",
    "LayerSchema",
    "normalise_category",
]


@dataclass(frozen=True)
class LayerSchema:
    """Description of one canonical layer.

    Attributes
    ----------
    layer : str
        Role of the layer (``"deposits"``...).
    id_column : str
        Name of the id (index) column.
    id_prefix : str
        Prefix of generated ids when the source has no id column.
    geometry_types : tuple of str
        Accepted geometry types (``Multi*`` variants included by the reader).
    aliases : dict
        Canonical column -> source column names tried, in order, when the user
        does not name the source column.
    required : tuple of str
        Canonical columns that must be present.
    """

    layer: str
    id_column: str
    id_prefix: str
    geometry_types: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    required: tuple[str, ...] = ()


DEPOSITS = LayerSchema(
    layer="deposits",
    id_column="deposit_id",
    id_prefix="D",
    geometry_types=("Point",),
    aliases={
        "deposit_id": ("deposit_id", "id", "mine_id", "gem_mine_id", "fid"),
        "name": ("name", "mine_name", "deposit_name", "title", "project"),
        "commodity": ("commodity", "mineral", "commodities", "resource", "coal_grade"),
        "status": ("status",),
        "method": ("method", "mining_method", "mine_type", "type"),
    },
    required=("commodity",),
)

AGGLOMERATIONS = LayerSchema(
    layer="agglomerations",
    id_column="agglomeration_id",
    id_prefix="A",
    geometry_types=("Polygon", "Point"),
    aliases={
        "agglomeration_id": ("agglomeration_id", "id", "city_id", "fid"),
        "name": ("name", "city", "town", "name_en"),
        "population": ("population", "pop", "pop_max", "inhabitants"),
    },
    required=("population",),
)

CORRIDORS = LayerSchema(
    layer="corridors",
    id_column="corridor_id",
    id_prefix="C",
    geometry_types=("LineString",),
    aliases={
        "corridor_id": ("corridor_id", "id", "fid"),
        "kind": ("kind", "class", "type", "fclass", "highway", "railway"),
        "speed_kmh": ("speed_kmh", "speed", "maxspeed"),
        "name": ("name", "name_en", "ref"),
    },
    required=("kind",),
)

FACILITIES = LayerSchema(
    layer="facilities",
    id_column="facility_id",
    id_prefix="F",
    geometry_types=("Point",),
    aliases={
        "facility_id": ("facility_id", "id", "plant_id", "fid"),
        "name": ("name", "plant_name", "title"),
        "kind": ("kind", "type", "category", "sector"),
        "capacity": ("capacity", "capacity_mw", "capacity_kt"),
        "status": ("status",),
    },
    required=("kind",),
)

#: Default speeds (km/h) per corridor kind, used when the layer has no speed.
#: Rail: mean freight train speed incl. stops on Russian lines (~40-60 km/h);
#: roads: typical free-flow truck/car averages per road class.
DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "rail": 50.0,
    "road_motorway": 100.0,
    "road_trunk": 80.0,
    "road_primary": 70.0,
    "road_secondary": 60.0,
    "road_tertiary": 50.0,
    "road": 50.0,
}

#: Spellings of the mining method mapped onto canonical values.
METHOD_ALIASES: dict[str, str] = {
    "surface": "open_pit",
    "open_pit": "open_pit",
    "openpit": "open_pit",
    "open_cast": "open_pit",
    "opencast": "open_pit",
    "strip": "open_pit",
    "razrez": "open_pit",
    "underground": "underground",
    "shaft": "underground",
    "deep": "underground",
    "surface_underground": "mixed",
    "underground_surface": "mixed",
    "surface_and_underground": "mixed",
    "mixed": "mixed",
}

_NON_WORD = re.compile(r"[^0-9a-zа-яё]+")


def normalise_category(value: object) -> object:
    """Normalise a category label: lower case, runs of other characters -> ``_``.

    Missing values stay missing.

    Examples
    --------
    >>> normalise_category("  Open Pit ")
    'open_pit'
    >>> normalise_category("Thermal & Met")
    'thermal_met'
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = _NON_WORD.sub("_", str(value).strip().lower()).strip("_")
    return text or None
