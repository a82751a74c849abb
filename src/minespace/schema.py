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
    "DEFAULT_VALUE_CHAINS",
    "DEPOSITS",
    "FACILITIES",
    "INSTITUTIONS",
    "INSTITUTION_KINDS",
    "INSTITUTION_KIND_ALIASES",
    "KIND_ALIASES",
    "NON_PROCESSING_KINDS",
    "PROJECTS",
    "LayerSchema",
    "canonical_kind",
    "institution_kind_table_markdown",
    "kind_table_markdown",
    "method_table_markdown",
    "normalise_category",
    "normalise_value_chain",
    "value_chain_table_markdown",
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
        "kind": ("kind", "class", "type", "fclass", "highway", "railway", "featurecla"),
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
        "value_chain": ("value_chain", "input", "feedstock", "value_chain_input"),
    },
    required=("kind",),
)

INSTITUTIONS = LayerSchema(
    layer="institutions",
    id_column="institution_id",
    id_prefix="I",
    geometry_types=("Point", "Polygon"),
    aliases={
        "institution_id": ("institution_id", "id", "fid"),
        "name": ("name", "institution", "title", "name_en"),
        "kind": ("kind", "type", "category"),
        "field": ("field", "profile", "specialisation", "specialization"),
        "size": ("size", "students", "staff", "employees"),
        "size_unit": ("size_unit", "unit"),
    },
    required=("kind",),
)

PROJECTS = LayerSchema(
    layer="projects",
    id_column="project_id",
    id_prefix="P",
    geometry_types=("Point",),
    aliases={
        "project_id": ("project_id", "id", "fid"),
        "name": ("name", "project", "project_name", "title"),
        "category": ("category", "sector", "type"),
        "jobs": ("jobs", "jobs_created", "employment", "workforce"),
        "year": ("year", "implementation_year", "start_year"),
        "deposit_id": ("deposit_id", "gem_mine_id", "mine_id"),
        "town": ("town", "city", "agglomeration", "settlement"),
    },
)

#: Canonical kinds of knowledge and innovation institutions (``read_institutions``).
INSTITUTION_KINDS: tuple[str, ...] = (
    "university", "university_branch", "research", "technopark", "education_centre",
    "incubator", "economic_zone")

#: Spellings of institution kinds (after :func:`normalise_category`) -> canonical kind.
#: One table: the reader uses it and docs/layers.md shows it (a test checks they agree).
INSTITUTION_KIND_ALIASES: dict[str, str] = {
    "branch": "university_branch",
    "university_campus_branch": "university_branch",
    "branch_campus": "university_branch",
    "institute_branch": "university_branch",
    "college": "education_centre",
    "research_institute": "research",
    "institute": "research",
    "research_centre": "research",
    "research_center": "research",
    "laboratory": "research",
    "technology_park": "technopark",
    "science_park": "technopark",
    "tech_park": "technopark",
    "education_center": "education_centre",
    "training_centre": "education_centre",
    "training_center": "education_centre",
    "business_incubator": "incubator",
    "accelerator": "incubator",
    "sez": "economic_zone",
    "special_economic_zone": "economic_zone",
    "free_economic_zone": "economic_zone",
    "priority_development_area": "economic_zone",
    "tor": "economic_zone",
    "toser": "economic_zone",
}


def institution_kind_table_markdown() -> str:
    """The institution-kind table of docs/layers.md, generated from the code's tables."""
    lines = ["| source value (normalised) | canonical kind |", "|---|---|"]
    lines += [f"| `{kind}` | `{kind}` |" for kind in INSTITUTION_KINDS]
    lines += [f"| `{src}` | `{kind}` |" for src, kind in INSTITUTION_KIND_ALIASES.items()]
    return "\n".join(lines)


#: Main input of a processing facility by (normalised) kind, used when the data gives
#: none (``read_facilities``): power plants burn thermal coal, blast-furnace steel plants
#: take coking coal (as coke) and iron ore, coke plants coking coal, preparation (washing)
#: plants either grade, coal-chemical plants coal as feedstock. Several inputs are
#: ``;``-joined in alphabetical order.
DEFAULT_VALUE_CHAINS: dict[str, str] = {
    "power_plant": "thermal_coal",
    "coal_power_plant": "thermal_coal",
    "chp": "thermal_coal",
    "steel_plant": "coking_coal;iron_ore",
    "integrated_steel_plant": "coking_coal;iron_ore",
    "coke": "coking_coal",
    "coke_plant": "coking_coal",
    "coking_plant": "coking_coal",
    "coal_preparation": "coking_coal;thermal_coal",
    "coal_preparation_plant": "coking_coal;thermal_coal",
    "washing_plant": "coking_coal;thermal_coal",
    "coal_chemical": "coal_chemicals",
    "coal_chemical_plant": "coal_chemicals",
    "coal_chemicals": "coal_chemicals",
    "iron_ore_concentrator": "iron_ore",
    "pelletizing_plant": "iron_ore",
}

#: Facility kinds that extract rather than process: without a value chain in the data
#: they stay without one, silently (they are not plants a mine can supply).
NON_PROCESSING_KINDS: tuple[str, ...] = (
    "iron_ore_mine", "coal_mine", "mine", "quarry", "open_pit", "underground_mine")


def value_chain_table_markdown() -> str:
    """The default value-chain table of docs/layers.md, from :data:`DEFAULT_VALUE_CHAINS`."""
    lines = ["| facility kind (normalised) | default `value_chain` |", "|---|---|"]
    lines += [f"| `{kind}` | `{chain}` |" for kind, chain in DEFAULT_VALUE_CHAINS.items()]
    return "\n".join(lines)


_VALUE_CHAIN_SEP = re.compile(r"[;,]")


def normalise_value_chain(value: object) -> object:
    """Canonical value-chain input(s): tokens split on ``;`` or ``,``, normalised
    (:func:`normalise_category`), deduplicated, sorted and ``;``-joined.

    Missing or empty values stay missing.

    Examples
    --------
    >>> normalise_value_chain("Iron ore, Coking coal")
    'coking_coal;iron_ore'
    >>> normalise_value_chain(" thermal coal ") is None, normalise_value_chain(";") is None
    (False, True)
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    tokens = {normalise_category(t) for t in _VALUE_CHAIN_SEP.split(str(value))}
    tokens.discard(None)
    return ";".join(sorted(tokens)) or None

#: Default speeds (km/h) per canonical corridor kind, used when the layer has no speed.
#: Rail: mean freight train speed incl. stops on Russian lines (~40-60 km/h);
#: roads: typical free-flow truck/car averages per road class; ferry: a slow crossing
#: including boarding (set your own with ``speeds=`` when ferries matter).
DEFAULT_SPEEDS_KMH: dict[str, float] = {
    "rail": 50.0,
    "road_motorway": 100.0,
    "road_trunk": 80.0,
    "road_primary": 70.0,
    "road_secondary": 60.0,
    "road_tertiary": 50.0,
    "road": 50.0,
    "ferry": 20.0,
}

#: Corridor kinds as public sources spell them (after :func:`normalise_category`)
#: -> canonical kind, with the vocabulary each spelling comes from. One table: the
#: readers use it, and docs/layers.md shows it (a test checks they agree).
KIND_VOCABULARY: tuple[tuple[str, str, str], ...] = (
    # Natural Earth: ne_10m_railroads featurecla, ne_10m_roads featurecla / type
    ("railroad", "rail", "Natural Earth featurecla"),
    ("ferry", "ferry", "Natural Earth featurecla"),
    ("ferry_route", "ferry", "Natural Earth type"),
    ("major_highway", "road_trunk", "Natural Earth type"),
    ("secondary_highway", "road_secondary", "Natural Earth type"),
    # OpenStreetMap railway=*, highway=*, route=ferry (also Geofabrik fclass)
    ("railway", "rail", "OSM key / generic"),
    ("narrow_gauge", "rail", "OSM railway"),
    ("motorway", "road_motorway", "OSM highway"),
    ("motorway_link", "road_motorway", "OSM highway"),
    ("trunk", "road_trunk", "OSM highway"),
    ("trunk_link", "road_trunk", "OSM highway"),
    ("primary", "road_primary", "OSM highway"),
    ("primary_link", "road_primary", "OSM highway"),
    ("secondary", "road_secondary", "OSM highway"),
    ("secondary_link", "road_secondary", "OSM highway"),
    ("tertiary", "road_tertiary", "OSM highway"),
    ("tertiary_link", "road_tertiary", "OSM highway"),
    ("unclassified", "road", "OSM highway"),
    # national classes
    ("a_road", "road_primary", "UK OS Open Roads class"),
    ("b_road", "road_secondary", "UK OS Open Roads class"),
    ("s1100", "road_motorway", "US TIGER MTFCC (primary road)"),
    ("s1200", "road_secondary", "US TIGER MTFCC (secondary road)"),
    ("r1011", "rail", "US TIGER MTFCC (railroad)"),
    ("autobahn", "road_motorway", "Germany"),
    ("bundesstraße", "road_primary", "Germany"),
    ("autoroute", "road_motorway", "France"),
    ("route_nationale", "road_primary", "France"),
    ("autostrada", "road_motorway", "Poland"),
    ("droga_ekspresowa", "road_trunk", "Poland"),
    ("droga_krajowa", "road_primary", "Poland"),
    ("droga_wojewódzka", "road_secondary", "Poland"),
    ("droga_powiatowa", "road_tertiary", "Poland"),
    ("linia_kolejowa", "rail", "Poland"),
    ("dálnice", "road_motorway", "Czechia"),
    ("silnice_i_třídy", "road_primary", "Czechia"),
    ("silnice_ii_třídy", "road_secondary", "Czechia"),
    ("silnice_iii_třídy", "road_tertiary", "Czechia"),
    ("železnice", "rail", "Czechia"),
    ("железная_дорога", "rail", "Russia"),
)

#: Source spelling -> canonical kind (from :data:`KIND_VOCABULARY`).
KIND_ALIASES: dict[str, str] = {src: kind for src, kind, _ in KIND_VOCABULARY}


def canonical_kind(value: object) -> object:
    """Canonical corridor kind of a source label (normalised, then looked up).

    Labels not in :data:`KIND_ALIASES` stay as normalised; missing stays missing.

    Examples
    --------
    >>> canonical_kind("Railroad"), canonical_kind("motorway_link"), canonical_kind("Tram")
    ('rail', 'road_motorway', 'tram')
    """
    norm = normalise_category(value)
    return KIND_ALIASES.get(norm, norm) if norm is not None else None


def kind_table_markdown() -> str:
    """The corridor-kind table of docs/layers.md, generated from the code's tables."""
    lines = ["| source value (normalised) | vocabulary | canonical kind | default km/h |",
             "|---|---|---|---|"]
    for kind, speed in DEFAULT_SPEEDS_KMH.items():
        lines.append(f"| `{kind}` | canonical | `{kind}` | {speed:g} |")
    for src, kind, vocab in KIND_VOCABULARY:
        lines.append(f"| `{src}` | {vocab} | `{kind}` | {DEFAULT_SPEEDS_KMH[kind]:g} |")
    return "\n".join(lines)


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



def method_table_markdown() -> str:
    """The mining-method table of docs/layers.md, generated from :data:`METHOD_ALIASES`."""
    lines = ["| source value (normalised) | `method` |", "|---|---|"]
    lines += [f"| `{src}` | `{method}` |" for src, method in METHOD_ALIASES.items()]
    return "\n".join(lines)


_NON_WORD = re.compile(r"[\W_]+")


def normalise_category(value: object) -> object:
    """Normalise a category label: lower case, runs of other characters -> ``_``.

    Letters of any alphabet are kept (``"Droga wojewódzka"`` ->
    ``"droga_wojewódzka"``). Missing values stay missing.

    Examples
    --------
    >>> normalise_category("  Open Pit ")
    'open_pit'
    >>> normalise_category("Thermal & Met")
    'thermal_met'
    >>> normalise_category("Silnice I. třídy")
    'silnice_i_třídy'
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = _NON_WORD.sub("_", str(value).strip().lower()).strip("_")
    return text or None
