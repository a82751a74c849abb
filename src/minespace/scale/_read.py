"""Lazy reading of canonical deposits from partitioned GeoParquet."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._checks import coordinate_problems
from ..errors import CRSError, LayerError, Problem
from ._client import _import_dask

#: Canonical deposit columns a partitioned GeoParquet input must carry.
REQUIRED = ("deposit_id", "commodity")


def _geo_metadata(path: Path) -> dict:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if b"geo" not in meta:
        raise LayerError([Problem(str(path), None, None, "not a GeoParquet file (no 'geo' "
                                  "metadata)", "write it with GeoDataFrame.to_parquet")])
    return json.loads(meta[b"geo"])


def _columns(schema) -> set[str]:
    """Column names of a Parquet schema, without pandas' unnamed index columns."""
    return {n for n in schema.names if not n.startswith("__index_level_")}


def _pieces(path: Path) -> list[tuple[str, int | None, int]]:
    """(file, row group or None for the whole file, first row) per partition."""
    import pyarrow.parquet as pq

    if path.is_dir():
        from ..io._parts import parquet_parts

        files = parquet_parts(path)  # the readers' rule: no _metadata, _SUCCESS, .hidden
        if not files:
            raise FileNotFoundError(f"{path}: no *.parquet file in this directory")
        return [(str(f), None, 0) for f in files]
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    meta = pq.ParquetFile(path).metadata
    starts = np.r_[0, np.cumsum([meta.row_group(i).num_rows
                                 for i in range(meta.num_row_groups)])]
    return [(str(path), i, int(starts[i])) for i in range(meta.num_row_groups)]


def _to_frame(table, geo: dict, crs) -> gpd.GeoDataFrame:
    """GeoDataFrame from an Arrow table of a GeoParquet file (WKB geometry)."""
    name = geo["primary_column"]
    frame = table.to_pandas()
    if frame.index.name == "deposit_id":  # written by geopandas from an indexed frame
        frame = frame.reset_index()
    elif not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)
    geometry = shapely.from_wkb(frame.pop(name).to_numpy(object))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=crs, index=frame.index))


class _Piece:
    """Reads one partition (a file or a row group) and checks it (runs on workers)."""

    def __init__(self, geo: dict, crs, weights: Sequence[str]):
        self.geo, self.crs, self.weights = geo, crs, tuple(weights)

    def __call__(self, piece: tuple[str, int | None, int]) -> gpd.GeoDataFrame:
        import pyarrow.parquet as pq

        file, group, start = piece
        table = (pq.read_table(file) if group is None
                 else pq.ParquetFile(file).read_row_group(group))
        frame = _to_frame(table, self.geo, self.crs)
        source = file if group is None else f"{file} (row group {group})"
        _check_partition(frame, source, start, self.weights)
        return frame


def _check_partition(frame: gpd.GeoDataFrame, source: str, start: int,
                     weights: Sequence[str]) -> None:
    """Raise LayerError listing every problem of one partition (the checks of read_deposits
    that need only the partition's rows)."""
    problems: list[Problem] = []
    ids = frame["deposit_id"]

    def rows(mask, column, message, hint):
        for pos in np.flatnonzero(mask)[:50]:
            problems.append(Problem(source, f"row {start + pos} (id {ids.iloc[pos]!r})",
                                    column, message, hint))

    empty_id = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    rows(empty_id, "deposit_id", "id is empty", "give every deposit a unique id")
    rows(ids.duplicated(keep=False).to_numpy() & ~empty_id, "deposit_id",
         "id is repeated in this partition", "make the ids unique (read_deposits "
         "duplicate_ids='suffix' numbers the repeats)")
    com = frame["commodity"]
    rows(com.isna().to_numpy() | (com.astype(str).str.strip() == "").to_numpy(), "commodity",
         "commodity is empty", "fill it, e.g. with 'unknown'")
    for w in weights:
        values = pd.to_numeric(frame[w], errors="coerce")
        rows((values.isna() & frame[w].notna()).to_numpy(), w, f"weight {w!r} is not a number",
             "write numbers (empty cells are read as unknown)")
        rows((values < 0).to_numpy(), w, f"weight {w!r} is negative", "weights must be >= 0")
    geoms = np.asarray(frame.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    rows(missing, "geometry", "geometry is missing or empty", "give the deposit a point")
    rows(~missing & (shapely.get_type_id(geoms) != 0), "geometry", "geometry is not a Point",
         "deposits are points; reduce other shapes with .representative_point()")
    if not missing.all():
        problems += coordinate_problems(geoms[~missing], frame.crs, source=source,
                                        ids=ids.to_numpy()[~missing], full=False)
    if problems:
        raise LayerError(problems)


def read_deposits_parquet(path, *, weight: str | Sequence[str] = (),
                          spatial_partitioning: str | None = "hilbert",
                          npartitions: int | None = None, level: int = 16):
    """Read canonical deposits from partitioned GeoParquet, lazily, as a Dask GeoDataFrame.

    Parameters
    ----------
    path : str or Path
        A directory of GeoParquet files (one partition per file, searched
        recursively, in sorted order; names starting with ``_`` or ``.`` such as
        ``_metadata`` are skipped) or one GeoParquet file (one partition per
        row group). The files hold the canonical deposit columns, as written by
        ``deposits.reset_index().to_parquet(...)`` after
        :func:`minespace.read_deposits`: ``deposit_id``, ``commodity``, point
        geometry in one metric CRS, and any weight and category columns.
    weight : str or list of str
        Weight columns to check (numbers >= 0, NaN = unknown).
    spatial_partitioning : {"hilbert", None}
        ``"hilbert"`` (default): sort the points along a Hilbert curve
        (dask-geopandas ``hilbert_distance`` + ``set_index``, a shuffle) so each
        partition covers a compact area and its partial aggregates stay small;
        the index becomes the Hilbert distance (``deposit_id`` stays a column).
        ``None`` keeps the files' partitions and order.
    npartitions : int, optional
        Partitions after the spatial shuffle (default: as many as the input).
    level : int
        Precision of the Hilbert curve (1–16).

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Lazy; ``deposit_id`` is a column.

    Raises
    ------
    FileNotFoundError
        If *path* does not exist or holds no ``.parquet`` file.
    LayerError
        At once (from the files' metadata only): a file that is not GeoParquet
        or not WKB-encoded, files with different CRS or columns, a missing
        ``deposit_id``/``commodity``/weight column. When a partition is
        computed (lazily): empty or repeated ids within the partition, empty
        commodity, non-numeric or negative weights, missing/empty/non-point
        geometry, non-finite coordinates or outside the CRS's domain; each
        problem names the file, row group and row.
    CRSError
        If the files have no CRS or a geographic one.
    ImportError
        Without the ``dask`` extra (names the install command).

    Notes
    -----
    Not checked lazily: ids repeated *across* partitions (that needs a shuffle
    of the ids; :func:`aggregate` does not need unique ids), and the
    ``where``/column-mapping features of :func:`minespace.read_deposits`
    (normalise the inputs with it when writing the partitions). With
    ``spatial_partitioning="hilbert"`` dask computes the Hilbert distances and
    their quantiles when this function runs (one pass over the data, which
    runs the checks), and the total bounds first unless every file's GeoParquet
    metadata has a ``bbox``.
    """
    _, dask_geopandas, _ = _import_dask()
    import dask.dataframe as dd
    import pyarrow.parquet as pq
    import pyproj

    path = Path(path)
    weights = [weight] if isinstance(weight, str) else list(weight)
    pieces = _pieces(path)
    files = sorted({p[0] for p in pieces})
    geos = {f: _geo_metadata(Path(f)) for f in files}
    problems = []
    first = geos[files[0]]
    name = first["primary_column"]
    crs_json = first["columns"][name].get("crs", "OGC:CRS84")
    schema = pq.read_schema(files[0])
    for f, geo in geos.items():
        col = geo["columns"].get(geo["primary_column"], {})
        if col.get("encoding", "WKB").upper() != "WKB":
            problems.append(Problem(f, None, geo["primary_column"], "geometry encoding "
                                    f"{col.get('encoding')!r} is not supported",
                                    "write WKB (GeoDataFrame.to_parquet's default)"))
        if col.get("crs", "OGC:CRS84") != crs_json:
            problems.append(Problem(f, None, "geometry", f"CRS differs from {files[0]}",
                                    "reproject every partition to one metric CRS"))
        if _columns(pq.read_schema(f)) != _columns(schema):
            problems.append(Problem(f, None, None, f"columns {sorted(_columns(pq.read_schema(f)))}"
                                    f" differ from {files[0]}'s",
                                    "write every partition with one schema"))
    names = set(schema.names) | {
        c for f in files for c in (json.loads((pq.read_schema(f).metadata or {}).get(
            b"pandas", b"{}")).get("index_columns") or []) if isinstance(c, str)}
    for col in (*REQUIRED, *weights):
        if col not in names:
            problems.append(Problem(files[0], None, col, f"required column {col!r} not found",
                                    f"available: {sorted(schema.names)}"))
    if problems:
        raise LayerError(problems)
    crs = pyproj.CRS.from_user_input(crs_json) if crs_json is not None else None
    if crs is None or not crs.is_projected:
        raise CRSError(f"{path}: deposits for the Dask engine need a metric (projected) CRS, "
                       f"got {crs.to_string() if crs else None}; reproject the partitions, "
                       "e.g. with deposits.to_crs(ms.choose_metric_crs(deposits))")
    meta = _to_frame(schema.empty_table(), first, crs)
    frame = dd.from_map(_Piece(first, crs, weights), pieces, meta=meta,
                        label="read-deposits-parquet", enforce_metadata=False)
    if spatial_partitioning is None:
        return frame
    if spatial_partitioning != "hilbert":
        raise ValueError(f"spatial_partitioning must be 'hilbert' or None, got "
                         f"{spatial_partitioning!r}")
    bboxes = [geo["columns"][geo["primary_column"]].get("bbox") for geo in geos.values()]
    bounds = None
    if all(b is not None and len(b) == 4 for b in bboxes):
        b = np.array(bboxes, float)
        bounds = np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])
        # a zero width or height (points on one line) would divide by zero in the curve
        bounds[2:] = np.maximum(bounds[2:], bounds[:2] + 1.0)
    distance = frame.hilbert_distance(total_bounds=bounds, level=level)
    out = frame.set_index(distance, sorted=False, npartitions=npartitions)
    assert isinstance(out, dask_geopandas.GeoDataFrame)
    return out

