"""The pipeline stages: each a plain function of (config, upstream outputs).

DAG::

    load ─► territories ─┬─► concentration ────────────────┬─► clusters ─► maps
       │                 └─► accessibility ─► innovation ─┘
       └──────────────────────────────────────────────────────────────────►

A stage returns ``{output name: GeoDataFrame | DataFrame}``; the maps stage
writes its HTML into the folder it is given. An optional ``"_manifest"`` entry
(a JSON-able dict) is not an output: the builder adds it to the stage's manifest
record. Each stage's fingerprint covers
its config section (``section``) and its upstream fingerprints, so changing a
parameter reruns that stage and what lies downstream of it only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, CRSError, LayerError, Problem
from ._store import sha256_file
from .config import Config

if TYPE_CHECKING:  # imported where used: a no-op build never imports geopandas
    import geopandas as gpd
    import pandas as pd

    from ..io.raster import Raster
    from ..region import Region

__all__ = ["STAGES", "Stage", "describe_layers", "input_files", "load_region_with_info",
           "read_layers", "read_territory_polygons", "region_from_outputs"]


@dataclass(frozen=True)
class Stage:
    """One step of the build."""

    name: str
    needs: tuple[str, ...]
    section: str | None
    run: Callable[..., dict[str, Any]]
    description: str = ""
    rasters: tuple[str, ...] = ()   # optional raster inputs read (hashed into the fingerprint)


def slug(text: str) -> str:
    """File-name friendly version of a project name."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "project"


def input_files(config: Config) -> list[Path]:
    """Every raw file the load stage reads (hashed into its fingerprint)."""
    if config.dataset == "kuzbass":
        from ..datasets import kuzbass_dir

        return sorted(p for p in kuzbass_dir().iterdir() if p.is_file())
    from ..io._parts import parquet_parts

    # a folder of GeoParquet parts is hashed part by part (a changed part is a new input)
    files = [f for src in config.layers.values() for f in (parquet_parts(src.path)
                                                           or [src.path])]
    if config.territories.path is not None:
        files.append(config.territories.path)
    return files


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (the one hash the manifest uses)."""
    return sha256_file(path)


# -- load --------------------------------------------------------------------------------

_READERS = {"deposits": "read_deposits", "agglomerations": "read_agglomerations",
            "corridors": "read_corridors", "facilities": "read_facilities",
            "institutions": "read_institutions", "projects": "read_projects"}


def read_layers(config: Config) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, dict]]:
    """Read and validate the configured layer files (no dataset, no writing).

    Returns the layers by role and, per role, what its reader did (file, rows read,
    ``where`` filter and rows kept, column mapping source -> canonical, category
    counts), as recorded in the manifest and printed by ``minespace validate``.
    The readers' memory checks use the project's ``max_memory_gb``.
    """
    from .. import limits

    layers, info = {}, {}
    with limits.budget(config.max_memory_gb):
        for role, src in config.layers.items():
            if role in _READERS:
                layers[role], info[role] = _read_layer(role, src)
    return layers, info


def _read_layer(role: str, src) -> tuple[gpd.GeoDataFrame, dict]:
    """One configured layer, read and validated, and its manifest record."""
    import pandas as pd

    from ..io import readers, readers_extra
    from ..io.readers import READ_INFO

    empty = LayerError([Problem(
        src.path.name, None, None, f"the {role} layer has no features",
        f"check [input.{role}] path and layer (a filter may have removed every row)"
        + (f", or remove [input.{role}]" if role in _OPTIONAL else ""))])
    module = readers_extra if role in ("institutions", "projects") else readers
    try:
        frame = getattr(module, _READERS[role])(src.path, **src.options)
    except LayerError:
        # an empty file often has no columns either: say it is empty, not what it lacks
        if _feature_count(src.path, src.options.get("layer")) == 0:
            raise empty from None
        raise
    if len(frame) == 0 and role != "facilities":
        raise empty
    record = frame.attrs.pop(READ_INFO, {})
    record["categories"] = {col: {"(missing)" if pd.isna(k) else str(k): int(v) for k, v in
                                  frame[col].value_counts(dropna=False).items()}
                            for col in _CATEGORY_COLUMNS.get(role, ()) if col in frame}
    return frame, record


def _feature_count(path: Path, layer) -> int | None:
    """Features in a vector file from its metadata (None when unknown or unreadable)."""
    from ..io._load import CSV_SUFFIXES, PARQUET_SUFFIXES

    if path.suffix.lower() in CSV_SUFFIXES | PARQUET_SUFFIXES or path.is_dir():
        return None
    try:
        import pyogrio

        return int(pyogrio.read_info(path, layer=layer)["features"])
    except Exception:  # unreadable: the reader's own error stands
        return None


#: canonical category columns summarised per layer (manifest, ``minespace validate``)
_CATEGORY_COLUMNS = {"deposits": ("commodity", "status", "method"), "corridors": ("kind",),
                     "facilities": ("kind", "value_chain", "status"),
                     "institutions": ("kind",), "projects": ("category",)}
#: layers a build can do without (an empty file of these is still reported)
_OPTIONAL = ("facilities", "institutions", "projects")


def load_region(config: Config) -> Region:
    """Read and validate the configured layers into a :class:`Region` (no writing).

    Raises :class:`~minespace.errors.LayerError` naming the file for unreadable
    files, invalid rows, and a deposits, agglomerations or corridors layer without
    features (nothing could be computed from it).
    """
    return load_region_with_info(config)[0]


def describe_layers(info: dict[str, dict]) -> str:
    """Per-layer summary of what the readers did (as ``minespace validate`` prints it).

    Examples
    --------
    >>> print(describe_layers({"deposits": {
    ...     "source": "mines.csv", "rows_read": 6, "rows_kept": 4, "where": "status == 'a'",
    ...     "columns": {"deposit_id": "mine_id", "commodity": "mineral"},
    ...     "categories": {"commodity": {"coal": 3, "iron": 1}}}}))
    deposits: mines.csv, 6 rows, kept 4 (where status == 'a')
      columns: mine_id -> deposit_id (index), mineral -> commodity
      commodity: coal 3, iron 1

    A reader's record names its index column; a link such as a project's
    ``deposit_id`` is then not marked as the index:

    >>> print(describe_layers({"projects": {
    ...     "source": "projects.csv", "rows_read": 3, "rows_kept": 3, "index": "project_id",
    ...     "columns": {"name": "project", "deposit_id": "mine"}}}))
    projects: projects.csv, 3 rows
      columns: project -> name, mine -> deposit_id
    """
    lines = []
    for role, rec in info.items():
        head = f"{role}: {rec.get('source')}, {rec.get('rows_read')} rows"
        if rec.get("where"):
            head += f", kept {rec.get('rows_kept')} (where {rec['where']})"
        elif rec.get("rows_kept") != rec.get("rows_read"):
            head += f", kept {rec.get('rows_kept')}"
        lines.append(head)
        cols = rec.get("columns", {})
        if cols:
            # the layer's own id column is the index; other *_id columns (a project's
            # deposit_id) are links, not the index
            index = rec.get("index")
            shown = [f"{src} -> {canonical}"
                     + (" (index)" if canonical == index
                        or (index is None and canonical.endswith("_id")) else "")
                     for canonical, src in cols.items()]
            lines.append("  columns: " + ", ".join(shown))
        for col, counts in rec.get("categories", {}).items():
            lines.append(f"  {col}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines)


def load_region_with_info(config: Config) -> tuple[Region, dict[str, dict]]:
    """:func:`load_region` plus, per layer read from a file, what its reader did (file,
    rows read and kept, ``where``, column mapping, category counts; see
    :func:`describe_layers`). Empty for a bundled dataset."""
    try:
        return _read_region(config)
    except CRSError as exc:
        if getattr(exc, "distortion", None) is None:
            raise
        # the CRS the user set in the config distorts the study area: name the key
        raise ConfigError("project.crs", config.crs, message=str(exc)) from exc


def _read_region(config: Config) -> tuple[Region, dict[str, dict]]:
    if config.dataset == "kuzbass":
        from ..datasets import kuzbass

        return kuzbass(crs=config.crs), {}
    from .._checks import SOURCE_ATTR
    from ..io._load import read_polygon_file
    from ..region import Region

    layers, info = read_layers(config)
    boundary = None
    if "boundary" in config.layers:
        src = config.layers["boundary"]
        boundary = read_polygon_file(src.path, what="boundary", **src.options)
        boundary.attrs[SOURCE_ATTR] = src.path.name
    region = Region.from_layers(boundary=boundary, crs=config.crs, name=config.name, **layers)
    return region, info


def read_territory_polygons(config: Config, crs) -> gpd.GeoDataFrame:
    """The ``territories.path`` polygons in *crs*, their ids checked (``kind = "polygons"``).

    Raises :class:`~minespace.errors.ConfigError` for a ``territories.id`` the file
    lacks, :class:`~minespace.errors.LayerError` (naming the file and rows) for an
    unreadable file, no features, no CRS, non-polygons, or missing or duplicate ids.
    """
    import difflib

    from ..io._load import read_polygon_file
    from ..io.readers import READ_INFO

    tc = config.territories
    polygons = read_polygon_file(tc.path, what="territory")
    name = tc.path.name
    if tc.where is not None:  # feature numbers in messages stay those of the file
        from ..io._where import where_mask

        rows_read = len(polygons)
        polygons = polygons[where_mask(polygons, tc.where, source=name, layer="territories")]
        if polygons.empty:
            raise LayerError([Problem(name, None, "where", f"territories.where {tc.where!r} "
                                      f"keeps none of the {rows_read} polygons",
                                      "loosen the filter")])
        polygons.attrs[READ_INFO] = {"source": name, "rows_read": rows_read,
                                     "rows_kept": len(polygons), "where": tc.where}
    if tc.id is not None:
        columns = [str(c) for c in polygons.columns if c != polygons.geometry.name]
        if tc.id not in polygons.columns:
            close = difflib.get_close_matches(tc.id, columns, n=1)
            raise ConfigError("territories.id", tc.id, allowed=columns,
                              message=f"{name} has no such column"
                              + (f"; did you mean {close[0]!r}?" if close else ""),
                              source=config.source.name if config.source else None)
        ids = polygons[tc.id]
        problems = [Problem(name, f"feature {p}", tc.id, "territory id is empty",
                            "give every territory an id")
                    for p in ids.index[ids.isna()][:10]]
        dup = ids[ids.duplicated(keep=False) & ids.notna()]
        for value, group in list(dup.groupby(dup))[:10]:
            problems.append(Problem(name, ", ".join(f"feature {p}" for p in group.index[:5]),
                                    tc.id, f"duplicate territory id {value!r} "
                                    f"({len(group)} features)",
                                    "make the ids unique, or set territories.id to a column "
                                    "with unique values"))
        if problems:
            raise LayerError(problems)
    return polygons.reset_index(drop=True).to_crs(crs)


def _load(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    region, info = load_region_with_info(config)
    out: dict[str, Any] = dict(region.layers)
    if info:  # kept in the stage's manifest record: rows read/kept, filters, mappings
        out["_manifest"] = {"layers": info}
    return out


def region_from_outputs(config: Config, loaded: dict[str, gpd.GeoDataFrame]) -> Region:
    """Rebuild the :class:`Region` from the load stage's outputs (the institutions and
    the located projects, unplaced rows included, when the load stage read them)."""
    from ..region import Region

    attribution: tuple[str, ...] = ()
    if config.dataset == "kuzbass":
        from ..datasets import KUZBASS_ATTRIBUTION

        attribution = KUZBASS_ATTRIBUTION
    return Region(name=config.name, boundary=loaded["boundary"], deposits=loaded["deposits"],
                  agglomerations=loaded["agglomerations"], corridors=loaded["corridors"],
                  facilities=loaded.get("facilities"), neighbours=loaded.get("neighbours"),
                  institutions=loaded.get("institutions"), projects=loaded.get("projects"),
                  attribution=attribution)


# -- territories ---------------------------------------------------------------------------

def _territories(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from .. import territories as terr
    from ..io.readers import READ_INFO
    from .sizes import check_build

    loaded = inputs["load"]
    boundary = loaded["boundary"]
    tc = config.territories
    # size checks (as in the dry run), here so that their warnings reach the manifest
    check_build(config, boundary=boundary, n_deposits=len(loaded["deposits"]),
                deposits=loaded["deposits"])
    if tc.kind == "hex":
        result = terr.hex_grid(boundary, cell_km=tc.cell_km, max_memory_gb=config.max_memory_gb)
    elif tc.kind == "square":
        result = terr.square_grid(boundary, cell_km=tc.cell_km,
                                  max_memory_gb=config.max_memory_gb)
    else:
        polygons = read_territory_polygons(config, boundary.crs)
        info = polygons.attrs.pop(READ_INFO, None)
        result = terr.from_polygons(polygons, id=tc.id)
        if info:  # kept in the stage's manifest record: rows read and kept by the filter
            return {"territories": result, "_manifest": {"filter": info}}
    return {"territories": result}


# -- concentration -----------------------------------------------------------------------

def _concentration(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from ._concentration_stage import run_concentration

    return run_concentration(config, inputs, workdir)


# -- accessibility -----------------------------------------------------------------------

#: How each raster role is resampled when it is in another CRS (see reproject_raster).
RASTER_ROLE_KINDS = {"population": "count", "elevation": "continuous"}


def _input_raster(config: Config, role: str, crs, bounds) -> tuple[Raster | None, dict | None]:
    """The configured raster of *role* in the project CRS *crs*, cropped to *bounds*.

    Only the window of the file covering *bounds* is read. A raster in the project
    CRS keeps its values and grid (whole cells, the window rounded outwards). A
    raster in another CRS (WorldPop, GHSL, SRTM come in EPSG:4326) is windowed to
    *bounds* transformed to its CRS with a 2-cell margin, reprojected with
    :func:`~minespace.io.reproject_raster` (population as ``"count"``, totals kept;
    elevation as ``"continuous"``, bilinear), cropped likewise, and a
    :class:`~minespace.errors.MinespaceWarning` says so. Returns the raster and the
    record the manifest keeps of it (``None, None`` without that input).
    """
    import warnings

    import pyproj

    from ..errors import MinespaceWarning
    from ..io.raster import RASTER_KINDS, _crop_raster, _read_raster_window, reproject_raster

    src = config.rasters.get(role)
    if src is None:
        return None, None
    crs = pyproj.CRS(crs)
    raster = _read_raster_window(src.path, bounds, crs, band=src.band, margin_cells=2,
                                 crs=src.crs)
    if raster is None:
        raise raster_outside(config, role)
    source_crs = raster.crs.to_string()
    record: dict[str, Any] = {"crs": source_crs, "reprojected": False}
    if not raster.crs.equals(crs):
        kind = RASTER_ROLE_KINDS[role]
        raster = reproject_raster(raster, crs, kind=kind)
        record = {"crs": source_crs, "reprojected": True, "reprojected_from": source_crs,
                  "reprojected_to": crs.to_string(), "kind": kind,
                  "resampling": RASTER_KINDS[kind], "res_m": list(raster.res)}
        warnings.warn(
            f"input.{role}: {src.path.name} is in {source_crs}, reprojected to the project's "
            f"{crs.to_string()} ({RASTER_KINDS[kind]} resampling"
            f"{', population totals kept' if kind == 'count' else ''}; "
            f"{raster.res[0]:.0f} x {raster.res[1]:.0f} m cells); warp it beforehand to "
            "choose the grid yourself", MinespaceWarning, stacklevel=2)
    raster = _crop_raster(raster, bounds)
    if raster is None:
        raise raster_outside(config, role)
    return raster, record


def raster_outside(config: Config, role: str) -> LayerError:
    """The error for a raster input that does not cover the study area."""
    src = config.rasters[role]
    return LayerError([Problem(src.path.name, None, None,
                               f"the {role} raster ([input.{role}]) does not overlap the "
                               "study area",
                               "check that the file covers the region and that its CRS is "
                               "right")])


def _accessibility(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from .. import accessibility as acc
    from ..io.raster import clip_raster

    loaded = inputs["load"]
    territories = inputs["territories"]["territories"]
    ac = config.accessibility
    aggl, corridors = loaded["agglomerations"], loaded["corridors"]
    bounds = tuple(loaded["boundary"].total_bounds)
    # territories travel from their population-weighted point with input.population
    pop, pop_record = _input_raster(config, "population", territories.crs,
                                    tuple(territories.total_bounds))
    network = acc.build_network(corridors, speeds_kmh=ac.speeds or None, snap_m=ac.snap_m)
    from ._engine import current

    session = current()
    dask = session.kwargs()   # {} with pandas: the steps with a Dask engine route to it
    split = session.partitioning()
    out = acc.corridor_distances(territories, corridors, population=pop, **dask, **split)
    out = acc.agglomeration_distances(out, aggl, population=pop, **dask, **split)
    out = acc.network_travel_time(out, aggl, network, access_speed_kmh=ac.access_speed_kmh,
                                  population=pop)
    cost = acc.travel_time_matrix(territories, aggl, network,
                                  access_speed_kmh=ac.access_speed_kmh, population=pop)
    out = acc.hansen_potential(out, aggl, beta=ac.beta, decay=ac.decay, cost=cost)
    out["origin"] = (acc.population_weighted_points(territories, pop)["origin"]
                     if pop is not None else "representative")
    # raster travel time: corridors burnt into an off-road friction grid over the study
    # area; with input.elevation, the grid is the elevation raster's (cropped to the study
    # area) and off-road speeds get the Tobler slope penalty
    elevation, elevation_record = _input_raster(config, "elevation", territories.crs, bounds)
    friction = acc.friction_surface(corridors, cell_m=ac.raster_cell_m, bounds=bounds,
                                    offroad_speed_kmh=ac.offroad_speed_kmh,
                                    speeds_kmh=ac.speeds or None, elevation=elevation,
                                    max_memory_gb=config.max_memory_gb)
    minutes = clip_raster(acc.travel_time_raster(friction, aggl), loaded["boundary"])
    from ._concentration_stage import engine_record

    out = acc.zonal_travel_time(out, minutes, **dask)
    (workdir / "rasters").mkdir(parents=True, exist_ok=True)
    path = acc.write_geotiff(minutes, workdir / "rasters" / "travel_time_min.tif")
    used = {role: record for role, record in
            (("population", pop_record), ("elevation", elevation_record)) if record}
    # "_manifest": kept in the stage's manifest record (how each raster was used)
    steps = dict.fromkeys(("corridor distances", "agglomeration distances",
                           "zonal travel time"), dask.get("engine", "pandas"))
    return {"accessibility": out, "travel_time_raster": path,
            "_manifest": {**({"rasters": used} if used else {}), **engine_record(steps)}}


# -- innovation --------------------------------------------------------------------------

def _innovation(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from ._innovation_stage import run_innovation

    return run_innovation(config, inputs, workdir)


# -- clusters ----------------------------------------------------------------------------------

def _clusters(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from .. import clustering as cl

    kc = config.clusters
    from .checks import n_regions_problem

    problem = n_regions_problem(config, len(inputs["concentration"]["concentration"]))
    if problem is not None:  # normally found by the dry run, before any stage ran
        raise ConfigError(problems=[problem],
                          source=config.source.name if config.source else None)
    import pandas as pd

    innov = inputs["innovation"]
    table = pd.DataFrame(innov["innovation"].drop(columns="geometry"))
    table.attrs["investment_unit"] = _investment_unit(inputs["load"].get("projects"))
    flat = _link_tables(innov)
    links = {}   # only for the components with data (else: "unavailable", not "none")
    if "value_chain_deposits" in table.columns:
        links["plants"] = flat["value_chain_links"]
    if "knowledge_potential" in table.columns:
        links["institutions"] = flat["knowledge_links"]
    ic = config.innovation
    from ..clustering._innovation_score import unavailable
    from ..clustering.candidates import _weights
    from ._checks_innovation import weights_without_data

    # normally found by the dry run; here also when no project could be placed
    problem = weights_without_data(kc.weights, unavailable(table, _weights(kc.weights or None)))
    if problem is not None:
        raise ConfigError(problems=[problem],
                          source=config.source.name if config.source else None)
    out = cl.find_candidates(inputs["concentration"]["concentration"],
                             inputs["accessibility"]["accessibility"],
                             n_regions=kc.n_regions, weights=kc.weights or None,
                             travel_time_min=kc.travel_time_min, corridor_km=kc.corridor_km,
                             min_deposits=kc.min_deposits, top_n=kc.top_n,
                             n_perturbations=kc.n_perturbations,
                             random_state=kc.random_state,
                             name=config.territories.name or "name",
                             agglomerations=inputs["load"]["agglomerations"],
                             innovation=table, links=links,
                             value_chain_min=ic.value_chain_min,
                             knowledge_min=ic.knowledge_min)
    out["_manifest"] = {"unavailable": dict(out["candidates"].attrs.get("unavailable", {}))}
    out["mining_nodes"] = cl.mining_nodes(inputs["load"]["deposits"], eps_km=kc.node_eps_km,
                                          min_samples=kc.node_min_samples)
    return out


def _link_tables(innovation: dict) -> dict[str, pd.DataFrame]:
    """The innovation stage's ``*_links`` tables with their id columns as columns (read
    back from Parquet, a table's first ``*_id`` column becomes its index)."""
    return {k: (v.reset_index() if v.index.name else v) for k, v in innovation.items()
            if k.endswith("_links")}


def _investment_unit(projects: pd.DataFrame | None) -> str | None:
    """``"billion RUB"`` from the placed projects' ``investment_unit`` and ``currency``
    (the frame's attrs do not survive the Parquet round trip of an incremental build)."""
    if projects is None or not {"investment_unit", "currency"} <= set(projects.columns):
        return None
    from ..investment import _unit_label

    placed = projects[projects["location"] != "unplaced"] if "location" in projects else projects
    pairs = placed[["investment_unit", "currency"]].dropna(subset=["currency"]).drop_duplicates()
    return _unit_label(*pairs.iloc[0]) if len(pairs) == 1 else None


# -- maps ----------------------------------------------------------------------------------

def _maps(config: Config, inputs: dict, workdir: Path) -> dict[str, Any]:
    from ..io.raster import read_raster
    from ..maps import cluster_map, save_map, write_dossier

    region = region_from_outputs(config, inputs["load"])
    conc = inputs["concentration"]["concentration"]
    acc = inputs["accessibility"]["accessibility"]
    territories = conc.join(acc[acc.columns.difference(conc.columns)])
    rasters = {"Deposit density (per km²)": read_raster(inputs["concentration"]["density_raster"]),
               "Travel time to a town (min, raster)":
                   read_raster(inputs["accessibility"]["travel_time_raster"])}
    metric = config.maps.metric or config.concentration.weight or "count"
    candidates = _with_weights(inputs["clusters"]["candidates"], config.clusters.weights)
    by = config.maps.deposits_by or config.concentration.by   # the analysis' categories
    # plants and institutions linked to the candidates' territories (innovation stage)
    # (the located projects, unplaced rows kept, are the load stage's: in region)
    innovation = _link_tables(inputs.get("innovation") or {})
    links = {role: innovation[name] for role, name in (("plants", "value_chain_links"),
                                                       ("institutions", "knowledge_links"))
             if name in innovation}
    m = cluster_map(region, territories=territories, metric=metric, candidates=candidates,
                    links=links or None,
                    scheme=config.maps.scheme, rasters=rasters, tiles=config.maps.tiles,
                    title=config.name, hotspot_note=_hotspot_note(config, conc),
                    deposits_by=list(by), territory_name=config.territories.name or "name")
    path = save_map(m, workdir / "maps" / f"{slug(config.name)}_overview.html")
    dossier = write_dossier(candidates, region, workdir / "maps" / "candidates_dossier.html",
                            by=list(by), links=links or None,
                            title=f"Candidate clusters: {config.name}")
    return {"map_overview": path, "candidates_dossier": dossier}


def _with_weights(candidates: gpd.GeoDataFrame, weights) -> gpd.GeoDataFrame:
    """*candidates* with ``attrs["weights"]`` the weights their scores used (from the
    config, not from attrs: a frame read back from Parquet has none, and the map must be
    the same either way): the configured weights normalised over the components that
    have a score (an unavailable component's weight goes to the others)."""
    from ..clustering.candidates import _weights

    w = _weights(weights or None)
    present = [c for c in w.index if f"score__{c}" in candidates
               and candidates[f"score__{c}"].notna().any()]
    w = w[present]
    out = candidates.copy()
    out.attrs = {"weights": (w / w.sum()).to_dict() if w.sum() > 0 else {}}
    return out


def _hotspot_note(config: Config, conc: pd.DataFrame) -> str:
    """The hot-spot legend's note, e.g. "Gi*, FDR 5 %, 90,999 permutations"."""
    from ..hotspots import auto_permutations, inference_label

    cc = config.concentration
    n_tested = int(conc["gi_star_p"].notna().sum()) if "gi_star_p" in conc else len(conc)
    permutations = (auto_permutations(max(n_tested, 1), alpha=cc.alpha)
                    if cc.permutations == "auto" else cc.permutations)
    return "Gi*, " + inference_label({"permutations": permutations, "alpha": cc.alpha,
                                      "fdr": "benjamini-hochberg"})


STAGES: tuple[Stage, ...] = (
    Stage("load", (), "input", _load, "read and validate the raw layers"),
    Stage("territories", ("load",), "territories", _territories, "build the territories"),
    Stage("concentration", ("load", "territories"), "concentration", _concentration,
          "counts, location quotients, specialization, concentration"),
    Stage("accessibility", ("load", "territories"), "accessibility", _accessibility,
          "distances, network travel time, gravity potential",
          rasters=("population", "elevation")),
    Stage("innovation", ("load", "territories", "accessibility"), "innovation",
          _innovation, "value chain, knowledge and investment per territory",
          rasters=("population",)),
    Stage("clusters", ("load", "concentration", "accessibility", "innovation"), "clusters",
          _clusters, "contiguous regions, mining nodes, ranked candidate innovation clusters"),
    Stage("maps", ("load", "concentration", "accessibility", "innovation", "clusters"), "maps",
          _maps,
          "offline HTML maps"),
)

STAGE_NAMES = tuple(s.name for s in STAGES)


def outputs_to_frames(outputs: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Only the tabular outputs of a stage."""
    import pandas as pd

    return {k: v for k, v in outputs.items() if isinstance(v, pd.DataFrame)}
