"""Public layer readers: ``read_deposits``, ``read_agglomerations``,
``read_corridors``, ``read_facilities``.

Every reader accepts a path (GeoPackage, GeoJSON, Shapefile or zipped
Shapefile, GeoParquet, FlatGeobuf, CSV with longitude/latitude columns) or an
in-memory (Geo)DataFrame, maps the user's columns onto the canonical schema
(:mod:`minespace.schema`), validates everything and raises one
:class:`~minespace.errors.LayerError` listing **every** problem found. The
input file is only read, never modified.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .._checks import SOURCE_ATTR
from ..crs import choose_metric_crs
from ..errors import Problem
from ..schema import (
    AGGLOMERATIONS,
    CORRIDORS,
    DEFAULT_SPEEDS_KMH,
    DEPOSITS,
    FACILITIES,
    KIND_ALIASES,
    METHOD_ALIASES,
    canonical_kind,
)
from ._load import Loaded, load
from ._validate import Mapper
from ._where import where_mask

log = logging.getLogger(__name__)

#: Key of ``GeoDataFrame.attrs`` where each reader records what it did (file, rows
#: read and kept, filter, column mapping); the pipeline copies it into the manifest.
READ_INFO = "minespace_read"

__all__ = ["READ_INFO", "read_agglomerations", "read_corridors", "read_deposits",
           "read_facilities"]

Source = str | os.PathLike | gpd.GeoDataFrame | pd.DataFrame
Weights = str | Sequence[str] | Mapping[str, str] | None

#: People per km2 used to turn an agglomeration given as a point into a disc.
DEFAULT_DENSITY_PER_KM2 = 2000.0
#: Smallest disc radius for point agglomerations.
MIN_RADIUS_KM = 1.0


def _weights(weight: Weights) -> dict[str, str]:
    """Canonical name -> source column for the weight argument."""
    if weight is None:
        return {}
    if isinstance(weight, str):
        return {weight: weight}
    if isinstance(weight, Mapping):
        return dict(weight)
    return {w: w for w in weight}


def _assemble(mapper: Mapper, ids: pd.Series, columns: dict[str, pd.Series],
              geometry: gpd.GeoSeries, keep: str | Sequence[str] | None) -> gpd.GeoDataFrame:
    frame = mapper.frame.reset_index(drop=True)
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    if keep == "all":
        # every source column under its own name, also those read into a canonical
        # column (the raw values stay usable, e.g. by="mine_type"), except the id
        # (a mapped column whose name differs from its canonical one only in case,
        # "Name" -> name, is not repeated: GeoPackage column names ignore case)
        id_col = mapper.mapping.get(mapper.schema.id_column)
        taken = {str(c).lower() for c in out.columns}
        extra = [c for c in mapper.columns if c != id_col and c not in out.columns
                 and not (c in mapper.used and str(c).lower() in taken)]
    elif keep is None:
        extra = []
    else:
        extra = [c for c in keep if c not in out.columns]
    for col in extra:
        out[col] = frame[col].to_numpy()
    out.index = pd.Index(ids.to_numpy(dtype=object), name=mapper.schema.id_column)
    result = gpd.GeoDataFrame(out, geometry=geometry.to_numpy(), crs=geometry.crs)
    if not mapper.loaded.source.startswith("<"):  # a file: named in later messages
        result.attrs[SOURCE_ATTR] = mapper.loaded.source
    dropped = getattr(mapper, "dropped", None)
    if dropped is not None:
        result = result[~dropped]
    info = getattr(mapper.loaded, "info", {"rows_read": len(frame), "where": None})
    result.attrs[READ_INFO] = {"layer": mapper.schema.layer, "source": mapper.loaded.source,
                               **info, "rows_kept": len(result),
                               "columns": dict(mapper.mapping),
                               "index": mapper.schema.id_column}
    return result


def _filter(loaded: Loaded, where: str | None, layer: str) -> Loaded:
    """Keep the rows of *loaded* passing *where* (see :mod:`minespace.io._where`).

    A filter that does not parse, names an unknown column or compares a column
    with a value of another type raises one :class:`LayerError` before anything
    else is checked. Messages about the kept rows still name their source rows.
    """
    n = len(loaded.frame)
    loaded.info = {"rows_read": n, "where": where}
    if where is None:
        return loaded
    keep = where_mask(loaded.frame, where, source=loaded.source, layer=layer)
    # problems about single rows the filter drops (e.g. a CSV row without coordinates)
    # no longer matter
    loaded.problems[:] = [p for i, p in enumerate(loaded.problems)
                          if i not in loaded.problem_rows or keep[loaded.problem_rows[i]]]
    loaded.frame = loaded.frame[keep]
    loaded.positions = np.flatnonzero(keep)
    return loaded


def read_deposits(
    source: Source,
    *,
    layer: str | int | None = None,
    where: str | None = None,
    id: str | bool | None = None,
    duplicate_ids: str = "raise",
    name: str | None = None,
    commodity: str | Sequence[str] | None = None,
    weight: Weights = None,
    status: str | None = None,
    method: str | None = None,
    keep: str | Sequence[str] | None = "all",
    crs: object = None,
    lon: str | None = None,
    lat: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate a layer of mineral deposits or mines (points).

    Parameters
    ----------
    source : path or GeoDataFrame
        File (``.gpkg``, ``.geojson``, ``.shp``, ``.zip``, ``.parquet``, ``.fgb``,
        ``.csv``), a folder of GeoParquet parts (read in part-name order, as one
        layer; problems name the part and its row) or an in-memory frame.
    layer : str or int, optional
        Layer name in a multi-layer file (GeoPackage).
    where : str, optional
        Row filter on the source columns, applied before anything else, e.g.
        ``"status in ('operating', 'mothballed') and production >= 1"``
        (comparisons, ``in``, ``is null``, ``and``/``or``/``not``, parentheses;
        grammar in ``docs/layers.md``; never evaluated as Python). The number of
        rows kept is logged (``deposits: kept 20 of 47 rows (where ...)``).
    id : str or False, optional
        Source column of the unique ids; when omitted, common names are tried
        (``id``, ``mine_id``, ``gem_mine_id``...). ``False`` numbers the rows
        (``D0001``...) instead, e.g. when a tracker repeats an id across the units
        of one mine. Ids are also generated when no id column is found.
    duplicate_ids : {"raise", "suffix"}
        What to do with an id found on several rows: report it (default), or keep
        the first and number the repeats ``M1-2``, ``M1-3``... in row order.
    name, status, method : str, optional
        Source columns for the canonical columns; when omitted, common names are
        tried (``name``/``mine_name``, ``status``, ``method``/``mine_type``).
    commodity : str or list of str, optional
        Source column(s) of the activity category. Values are normalised
        (lower case, ``_`` separators); several columns are joined with ``_``
        (e.g. ``["coal_grade", "mine_type"]`` -> ``"met_surface"``).
    weight : str, list of str or dict, optional
        Numeric columns to keep as weights (reserves, output, jobs). A dict maps
        new names to source columns, e.g. ``{"output_mt": "production_mtpa"}``.
        Values must be numbers >= 0; empty cells become NaN (unknown).
    keep : "all", list of str or None
        Source columns to carry along under their own names (default: all of them
        except the id, including those also read into a canonical column, so
        ``mine_type`` keeps its raw values next to ``method``).
    crs : CRS-like, optional
        CRS to assume when the file has none (CSV defaults to EPSG:4326).
    lon, lat : str, optional
        Coordinate columns of a CSV (default: lon/lng/longitude/x, lat/latitude/y).
    encoding : str, optional
        Text encoding of a CSV, GeoJSON or Shapefile ``.dbf`` (e.g. ``"cp1251"``).
        Default: UTF-8, checked (a byte-order mark is dropped); a file that is not
        valid UTF-8 raises a :class:`~minespace.errors.LayerError` naming the line
        and this option, and a Shapefile's ``.cpg`` is used when there is one.

    Returns
    -------
    GeoDataFrame
        Indexed by ``deposit_id``; columns ``name``, ``commodity``, ``status``
        (if found), ``method`` (``open_pit``/``underground``/``mixed``/..., if
        found), the weights, the kept columns, and point ``geometry`` in the
        source CRS.

    Raises
    ------
    LayerError
        Listing every problem: missing columns, null/empty/wrong-type geometry,
        coordinates out of range or swapped, no CRS, duplicate ids (the message
        says how to number the rows instead), non-numeric or negative weights,
        empty commodity. A ``where`` filter that does not parse, names an unknown
        column (the file's columns are listed) or compares a column with a value
        of another type is reported first, alone.
    FileNotFoundError
        If the path does not exist.

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, shapely
    >>> mines = gpd.GeoDataFrame(
    ...     {"mineral": ["Coal", "Iron ore"], "output": [2.5, "1,200"]},
    ...     geometry=[shapely.Point(86.1, 54.4), shapely.Point(87.9, 52.9)], crs=4326)
    >>> deposits = ms.read_deposits(mines, commodity="mineral", weight={"output_mt": "output"})
    >>> deposits[["commodity", "output_mt"]]
               commodity  output_mt
    deposit_id
    D0001           coal        2.5
    D0002       iron_ore     1200.0
    """
    loaded = _filter(load(source, layer=layer, lon=lon, lat=lat, crs=crs,
                          encoding=encoding), where, "deposits")
    m = Mapper(loaded, DEPOSITS)
    ids = m.ids_from(id, duplicate_ids)
    cols: dict[str, pd.Series] = {}
    name_col = m.resolve("name", name, required=False, arg="name")
    if isinstance(commodity, (list, tuple)):
        com_cols = [m.resolve("commodity", c, required=True, arg="commodity") for c in commodity]
    else:
        com_cols = [m.resolve("commodity", commodity, required=True, arg="commodity")]
    status_col = m.resolve("status", status, required=False, arg="status")
    method_col = m.resolve("method", method, required=False, arg="method")
    weight_cols = {k: m.resolve(k, v, required=True, arg="weight") for k, v in
                   _weights(weight).items()}
    cols["name"] = m.text(name_col)
    if all(c is not None for c in com_cols):
        cols["commodity"] = m.category(com_cols, required_value=True, label="commodity")
    if status_col:
        cols["status"] = m.category([status_col], required_value=False, label="status")
    if method_col:
        cols["method"] = m.category([method_col], required_value=False, label="method",
                                    aliases=METHOD_ALIASES)
    for key, col in weight_cols.items():
        if col is not None:
            cols[key] = m.numeric(col, required_value=False, label=f"weight {key!r}")
    geometry = m.geometry("raise")
    m.raise_if_problems()
    return _assemble(m, ids, cols, geometry, keep)


def read_agglomerations(
    source: Source,
    *,
    layer: str | int | None = None,
    where: str | None = None,
    id: str | bool | None = None,
    duplicate_ids: str = "raise",
    name: str | None = None,
    population: str | None = None,
    density_per_km2: float = DEFAULT_DENSITY_PER_KM2,
    keep: str | Sequence[str] | None = "all",
    crs: object = None,
    lon: str | None = None,
    lat: str | None = None,
    on_invalid: str = "fix",
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate urban agglomerations (polygons with population).

    Points are accepted where only centres exist: each becomes a disc whose
    area equals ``population / density_per_km2`` (radius
    ``sqrt(population / (pi * density_per_km2))`` km, at least 1 km), drawn in
    the local metric CRS (:func:`minespace.choose_metric_crs`). With the default
    2,000 people/km2, a town of 100,000 gets a 50 km2 disc (radius 4.0 km).

    Parameters
    ----------
    source : path or GeoDataFrame
        See :func:`read_deposits` for formats.
    where, id, duplicate_ids : optional
        Row filter, id column (or ``False``) and repeated ids, as in
        :func:`read_deposits`.
    encoding : str, optional
        Text encoding of a CSV, GeoJSON or Shapefile, as in :func:`read_deposits`.
    name, population : str, optional
        Source columns (defaults: ``name``/``city``, ``population``/``pop``).
    density_per_km2 : float
        Density for the point-buffer rule.
    on_invalid : {"fix", "raise", "drop"}
        Invalid polygons are repaired with ``shapely.make_valid`` (one
        :class:`GeometryRepairedWarning` with the count), reported, or dropped.

    Returns
    -------
    GeoDataFrame
        Indexed by ``agglomeration_id``; columns ``name``, ``population``,
        ``geometry_source`` (``"polygon"`` or ``"point_buffer"``), kept columns,
        polygon ``geometry`` in the source CRS.

    Raises
    ------
    LayerError
        Missing or non-numeric or negative population, and the geometry/id/CRS
        problems listed in :func:`read_deposits`.

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, shapely
    >>> towns = gpd.GeoDataFrame({"city": ["Belovo"], "pop": [76752]},
    ...                          geometry=[shapely.Point(86.3, 54.42)], crs=4326)
    >>> aggl = ms.read_agglomerations(towns)
    >>> aggl[["name", "population", "geometry_source"]]
                        name  population geometry_source
    agglomeration_id
    A0001             Belovo     76752.0    point_buffer
    """
    if not density_per_km2 > 0:
        raise ValueError(f"density_per_km2 must be > 0, got {density_per_km2!r}")
    loaded = _filter(load(source, layer=layer, lon=lon, lat=lat, crs=crs,
                          encoding=encoding), where,
                     "agglomerations")
    m = Mapper(loaded, AGGLOMERATIONS)
    ids = m.ids_from(id, duplicate_ids)
    name_col = m.resolve("name", name, required=False, arg="name")
    pop_col = m.resolve("population", population, required=True, arg="population")
    cols: dict[str, pd.Series] = {"name": m.text(name_col)}
    if pop_col is not None:
        cols["population"] = m.numeric(pop_col, required_value=True, label="population")
    geometry = m.geometry(on_invalid)
    m.raise_if_problems()
    is_point = np.asarray(geometry.geom_type == "Point")
    cols["geometry_source"] = pd.Series(np.where(is_point, "point_buffer", "polygon"))
    if is_point.any():
        metric = choose_metric_crs(geometry)
        pts = geometry[is_point].to_crs(metric)
        pop = cols["population"].to_numpy()[is_point]
        radius_m = np.maximum(np.sqrt(pop / (np.pi * density_per_km2)), MIN_RADIUS_KM) * 1000.0
        discs = pts.buffer(radius_m, quad_segs=16).to_crs(geometry.crs)
        geometry = geometry.copy()
        geometry[is_point] = discs.to_numpy()
    return _assemble(m, ids, cols, geometry, keep)


def read_corridors(
    source: Source,
    *,
    layer: str | int | None = None,
    where: str | None = None,
    id: str | bool | None = None,
    duplicate_ids: str = "raise",
    name: str | None = None,
    kind: str | None = None,
    speed: str | None = None,
    speeds: Mapping[str, float] | None = None,
    keep: str | Sequence[str] | None = "all",
    crs: object = None,
    on_invalid: str = "raise",
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate transport corridors (rail and road lines).

    Parameters
    ----------
    source : path or GeoDataFrame
        See :func:`read_deposits` for formats.
    where, id, duplicate_ids : optional
        Row filter, id column (or ``False``) and repeated ids, as in
        :func:`read_deposits`.
    encoding : str, optional
        Text encoding of a CSV, GeoJSON or Shapefile, as in :func:`read_deposits`.
    name, kind : str, optional
        Source columns. ``kind`` values are normalised (``"Road trunk"`` ->
        ``"road_trunk"``) and then mapped onto the canonical kinds by the
        vocabulary table :data:`minespace.schema.KIND_VOCABULARY` (Natural Earth
        ``"Railroad"`` -> ``rail``, OSM ``motorway_link`` -> ``road_motorway``...;
        the table is in ``docs/layers.md``).
    speed : str, optional
        Source column of speeds in km/h; empty cells fall back to the default of
        their kind.
    speeds : dict, optional
        Speeds (km/h) per kind overriding :data:`minespace.schema.DEFAULT_SPEEDS_KMH`
        (rail 50, road_motorway 100, road_trunk 80, road_primary 70,
        road_secondary 60, road_tertiary 50, road 50, ferry 20). Keys are read
        like the data (``{"Railroad": 40}`` sets ``rail``); other kinds
        (``{"tram": 25}``) are allowed.

    Returns
    -------
    GeoDataFrame
        Indexed by ``corridor_id``; columns ``name``, ``kind``, ``speed_kmh``,
        ``speed_source`` (``"data"`` or ``"default"``), kept columns, line
        ``geometry`` in the source CRS.

    Raises
    ------
    LayerError
        Besides the checks of :func:`read_deposits`: when rows of a kind have
        neither a speed in the data nor a default -- speeds are never guessed; the
        message names the kinds and the setting to add (in a config,
        ``[input.corridors] speeds = { tram = 25 }``).

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, shapely
    >>> lines = gpd.GeoDataFrame({"kind": ["Railroad", "road trunk"]},
    ...     geometry=[shapely.LineString([(86, 54), (87, 54)]),
    ...               shapely.LineString([(86, 55), (87, 55)])], crs=4326)
    >>> ms.read_corridors(lines)[["kind", "speed_kmh", "speed_source"]]
                       kind  speed_kmh speed_source
    corridor_id
    C0001              rail       50.0      default
    C0002        road_trunk       80.0      default
    """
    table = dict(DEFAULT_SPEEDS_KMH)
    if speeds:
        table.update({canonical_kind(k): float(v) for k, v in speeds.items()})
    loaded = _filter(load(source, layer=layer, lon=None, lat=None, crs=crs,
                          encoding=encoding), where, "corridors")
    m = Mapper(loaded, CORRIDORS)
    ids = m.ids_from(id, duplicate_ids)
    name_col = m.resolve("name", name, required=False, arg="name")
    kind_col = m.resolve("kind", kind, required=True, arg="kind")
    speed_col = m.resolve("speed_kmh", speed, required=False, arg="speed")
    cols: dict[str, pd.Series] = {"name": m.text(name_col)}
    if kind_col is not None:
        cols["kind"] = m.category([kind_col], required_value=True, label="kind",
                                  aliases=KIND_ALIASES)
    data_speed = (m.numeric(speed_col, required_value=False, label="speed")
                  if speed_col else pd.Series(np.nan, index=pd.RangeIndex(len(m.frame))))
    if speed_col:
        m.report_rows((data_speed == 0).to_numpy(), speed_col, "speed is 0",
                      "use a positive speed in km/h, or leave it empty for the default")
    if kind_col is not None:
        default = cols["kind"].map(table).astype(float)
        missing = data_speed.isna() & default.isna() & cols["kind"].notna()
        for k, count in cols["kind"][missing].value_counts().sort_index().items():
            m.problems.append(Problem(
                loaded.source, None, str(kind_col),
                f"{count} corridor(s) of kind {k!r} have no speed (none in the data, no "
                "default for this kind)",
                f"give the kind a speed in km/h: in the config [input.corridors] speeds = "
                f"{{ {_toml_key(k)} = 30 }} (or speeds={{{k!r}: 30}} in Python), or map it "
                f"onto a known kind ({', '.join(DEFAULT_SPEEDS_KMH)}); 30 is only an example"))
    geometry = m.geometry(on_invalid)
    m.raise_if_problems()
    speed_kmh = data_speed.where(data_speed.notna(), default)
    cols["speed_kmh"] = speed_kmh
    cols["speed_source"] = pd.Series(np.where(data_speed.notna(), "data", "default"))
    return _assemble(m, ids, cols, geometry, keep)


def _toml_key(key: str) -> str:
    """*key* as a TOML key: bare when it can be, else quoted."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return key
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_facilities(
    source: Source,
    *,
    layer: str | int | None = None,
    where: str | None = None,
    id: str | bool | None = None,
    duplicate_ids: str = "raise",
    name: str | None = None,
    kind: str | None = None,
    capacity: str | None = None,
    status: str | None = None,
    value_chain: str | None = None,
    value_chains: Mapping[str, str] | None = None,
    keep: str | Sequence[str] | None = "all",
    crs: object = None,
    lon: str | None = None,
    lat: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate processing facilities (power, steel, coke, chemicals).

    Each facility gets its **value-chain input**, the raw material it takes from
    mines (``coking_coal``, ``thermal_coal``, ``coal_chemicals``, ``iron_ore``,
    ``other``...; an open vocabulary): from the data when it has one, else from its
    kind (``value_chains=``, then :data:`minespace.schema.DEFAULT_VALUE_CHAINS`:
    power_plant -> thermal_coal, steel_plant -> coking_coal;iron_ore,
    coke_plant -> coking_coal...; table in ``docs/layers.md``).

    Parameters
    ----------
    source : path or GeoDataFrame
        See :func:`read_deposits` for formats.
    where, id, duplicate_ids : optional
        Row filter, id column (or ``False``) and repeated ids, as in
        :func:`read_deposits`.
    encoding : str, optional
        Text encoding of a CSV, GeoJSON or Shapefile, as in :func:`read_deposits`.
    name, kind, capacity, status : str, optional
        Source columns; ``kind`` is normalised (``"Power plant"`` ->
        ``"power_plant"``); ``capacity`` must be a number >= 0 (empty = unknown).
    value_chain : str, optional
        Source column of the input(s) (default: ``value_chain``, ``input``,
        ``feedstock``). Several inputs are separated by ``;`` or ``,`` in the data
        and stored sorted and ``;``-joined (``"Iron ore, coking coal"`` ->
        ``"coking_coal;iron_ore"``).
    value_chains : dict, optional
        Input per facility kind for rows without one in the data, e.g.
        ``{"cement": "other"}``; keys are read like the data (normalised) and win
        over the defaults.

    Returns
    -------
    GeoDataFrame
        Indexed by ``facility_id``; columns ``name``, ``kind``, ``value_chain``
        (NaN when unknown), ``value_chain_source`` (``"data"``, ``"kind"`` or
        NaN), ``capacity`` (if found), ``status`` (if found), kept columns, point
        ``geometry``.

    Warns
    -----
    MinespaceWarning
        Once, naming the file, the column and the rows, when facilities are left
        without an input (none in the data, no default for their kind) and their
        kind is not an extracting one (``iron_ore_mine``, ``coal_mine``...:
        :data:`minespace.schema.NON_PROCESSING_KINDS`, which stay NaN silently).
        They are kept, and do not count for value-chain access.

    Examples
    --------
    >>> import minespace as ms, geopandas as gpd, shapely
    >>> plants = gpd.GeoDataFrame({"kind": ["Power plant"], "capacity": [1260]},
    ...                           geometry=[shapely.Point(86.3, 54.4)], crs=4326)
    >>> ms.read_facilities(plants)[["kind", "value_chain", "value_chain_source", "capacity"]]
                        kind   value_chain value_chain_source  capacity
    facility_id
    F0001        power_plant  thermal_coal               kind    1260.0
    """
    from ._value_chain import user_value_chains
    from ._value_chain import value_chains as chains_of

    user_value_chains(value_chains)  # wrong Python types first
    loaded = _filter(load(source, layer=layer, lon=lon, lat=lat, crs=crs,
                          encoding=encoding), where, "facilities")
    m = Mapper(loaded, FACILITIES)
    ids = m.ids_from(id, duplicate_ids)
    name_col = m.resolve("name", name, required=False, arg="name")
    kind_col = m.resolve("kind", kind, required=True, arg="kind")
    chain_col = m.resolve("value_chain", value_chain, required=False, arg="value_chain")
    cap_col = m.resolve("capacity", capacity, required=False, arg="capacity")
    status_col = m.resolve("status", status, required=False, arg="status")
    cols: dict[str, pd.Series] = {"name": m.text(name_col)}
    if kind_col is not None:
        cols["kind"] = m.category([kind_col], required_value=True, label="kind")
    if cap_col:
        cols["capacity"] = m.numeric(cap_col, required_value=False, label="capacity")
    if status_col:
        cols["status"] = m.category([status_col], required_value=False, label="status")
    geometry = m.geometry("raise")
    m.raise_if_problems()
    chain, chain_source = chains_of(m, chain_col, cols["kind"], value_chains)
    cols = {"name": cols.pop("name"), "kind": cols.pop("kind"), "value_chain": chain,
            "value_chain_source": chain_source, **cols}
    return _assemble(m, ids, cols, geometry, keep)
