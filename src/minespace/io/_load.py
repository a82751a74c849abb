"""Reading raw files (any supported format) into an unvalidated GeoDataFrame."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from ..errors import LayerError, Problem
from ._encoding import decode_text, vector_source
from ._parts import PARQUET_SUFFIXES, parquet_parts

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb", ".gml", ".kml"}
CSV_SUFFIXES = {".csv", ".tsv", ".txt"}

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "geo_lon", "lon_deg", "longitude_deg")
LAT_NAMES = ("lat", "latitude", "y", "geo_lat", "lat_deg", "latitude_deg")


class Loaded:
    """A raw layer plus what is needed to point at its rows in messages."""

    def __init__(self, frame: gpd.GeoDataFrame, source: str, row_word: str, row_offset: int):
        self.frame = frame
        self.source = source
        self.row_word = row_word
        self.row_offset = row_offset
        self.problems: list[Problem] = []
        #: source row of each frame row once a ``where`` filter has dropped rows
        self.positions: np.ndarray | None = None
        #: index in ``problems`` -> row position, for problems about one row (a
        #: ``where`` filter forgets those of the rows it drops)
        self.problem_rows: dict[int, int] = {}
        #: a folder of GeoParquet parts: the first row of each part, and the part names
        self.part_starts: np.ndarray | None = None
        self.part_names: list[str] | None = None

    def where(self, pos: int, ident: object = None) -> str:
        if self.positions is not None:
            pos = int(self.positions[pos])
        if self.part_starts is not None:
            k = int(np.searchsorted(self.part_starts, pos, side="right")) - 1
            text = f"{self.row_word} {pos - int(self.part_starts[k])} of {self.part_names[k]}"
        else:
            text = f"{self.row_word} {pos + self.row_offset}"
        if ident is not None and not (isinstance(ident, float) and np.isnan(ident)):
            text += f" (id {ident!r})"
        return text


def load(
    source: str | os.PathLike | gpd.GeoDataFrame,
    *,
    layer: str | int | None,
    lon: str | None,
    lat: str | None,
    crs: object,
    encoding: str | None = None,
) -> Loaded:
    """Read *source*; collect problems about the file as a whole.

    *encoding* is the text encoding of a CSV, GeoJSON or Shapefile (default: UTF-8,
    checked; see :mod:`minespace.io._encoding`).
    """
    if isinstance(source, gpd.GeoDataFrame):
        loaded = Loaded(source.copy(), "<GeoDataFrame>", "row", 0)
    elif isinstance(source, pd.DataFrame):
        loaded = _from_table(source.copy(), "<DataFrame>", lon=lon, lat=lat, line_offset=0)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"input file not found: {path} (check the path)")
        parts = parquet_parts(path)  # listed once: a folder of parts is read as one layer
        if parts:
            loaded = _read_parts(path, parts, encoding)
        else:
            _check_file(path)
            loaded = _read_path(path, layer=layer, lon=lon, lat=lat, encoding=encoding)
    else:
        raise TypeError(
            f"source must be a path or a (Geo)DataFrame, not {type(source).__name__}"
        )
    _settle_crs(loaded, crs)
    return loaded


def _check_file(path: Path) -> None:
    """A folder or an empty (0-byte) file is reported with its name, not as a parser error."""
    if path.is_dir() and path.suffix.lower() not in {".gdb", ".shp"}:
        raise LayerError([Problem(path.name, None, None,
                                  f"{path} is a folder, not a file, and holds no GeoParquet "
                                  "part (*.parquet)",
                                  "give the path of the layer's file, or of a folder of "
                                  "GeoParquet parts")])
    if path.is_file() and path.stat().st_size == 0:
        raise LayerError([Problem(path.name, None, None, "the file is empty (0 bytes)",
                                  "check the path, or export the layer again")])


def read_table_file(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """A CSV/TSV file as text columns; a file without a header row is a :class:`LayerError`.

    Decoded as UTF-8 (a byte-order mark dropped) or *encoding*; text that does not
    decode is a :class:`LayerError` naming the line and ``encoding=``.
    """
    import csv
    import io

    name = path.name
    sep = "\t" if path.suffix.lower() == ".tsv" else None
    text = decode_text(path.read_bytes(), name, encoding)
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, engine="python", dtype=str,
                           keep_default_na=False, na_values=[""])
    except (pd.errors.EmptyDataError, pd.errors.ParserError, csv.Error) as exc:
        raise LayerError([Problem(name, None, None, f"cannot be read as a CSV table: {exc}",
                                  "the first line must name the columns, separated by commas "
                                  "(or semicolons, tabs)")]) from exc


def read_parquet_file(path: Path) -> gpd.GeoDataFrame:
    """A GeoParquet file, read with pyarrow.

    Not through GDAL: the GDAL inside pyogrio's wheels has no Parquet driver, and its
    ADBC driver claims ``.parquet`` files and then fails to load ``libduckdb.so``.
    """
    name = path.name
    try:
        return gpd.read_parquet(path)
    except ValueError as exc:  # plain parquet without geo metadata
        raise LayerError([Problem(name, None, "geometry", f"not a GeoParquet file ({exc})",
                                  "write it with GeoDataFrame.to_parquet")]) from exc
    except (OSError, TypeError) as exc:  # pyarrow.ArrowInvalid derives from ValueError
        raise LayerError([Problem(name, None, None, f"cannot be read as GeoParquet: {exc}",
                                  "check the file format")]) from exc


def _read_parts(path: Path, parts: list[Path], encoding: str | None) -> Loaded:
    """A folder of GeoParquet parts as one layer; rows are named by part and row."""
    from ..crs import _crs_text

    name = f"{path.name}/"
    _check_memory(parts, name)
    if encoding is not None:
        vector_source(parts[0], name, encoding)  # encoding= does not apply: say so
    frames, problems = [], []
    for part in parts:
        rel = part.relative_to(path).as_posix()
        try:
            frame = read_parquet_file(part)
        except LayerError as exc:
            problems.extend(Problem(name, f"part {rel}", p.column, p.message, p.hint)
                            for p in exc.problems)
            continue
        if frames and frame.crs != frames[0][1].crs:
            problems.append(Problem(
                name, f"part {rel}", "geometry",
                f"CRS {_crs_text(frame.crs) if frame.crs else 'none'} differs from "
                f"{_crs_text(frames[0][1].crs) if frames[0][1].crs else 'none'} of part "
                f"{frames[0][0]}",
                "write every part in one CRS (layer.to_crs(...)) before partitioning"))
            continue
        frames.append((rel, frame))
    if problems:
        raise LayerError(problems)
    sizes = np.array([len(f) for _, f in frames], dtype=np.int64)
    with warnings.catch_warnings():  # empty parts: their all-NA columns are dropped anyway
        warnings.simplefilter("ignore", FutureWarning)
        frame = pd.concat([f for _, f in frames], ignore_index=True)
    loaded = Loaded(gpd.GeoDataFrame(frame, geometry=frames[0][1].geometry.name,
                                     crs=frames[0][1].crs), name, "row", 0)
    loaded.part_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    loaded.part_names = [rel for rel, _ in frames]
    return loaded


def _check_memory(files: list[Path], source: str) -> None:
    """ResourceError before reading GeoParquet that the memory budget cannot hold."""
    from .. import limits

    limits.check_size(limits.estimate_parquet_read(files, source=source), stacklevel=6)


def _read_path(path: Path, *, layer, lon, lat, encoding: str | None = None) -> Loaded:
    suffix = path.suffix.lower()
    name = path.name
    if suffix in CSV_SUFFIXES:
        table = read_table_file(path, encoding)
        return _from_table(table, name, lon=lon, lat=lat, line_offset=2)
    if suffix in PARQUET_SUFFIXES:
        vector_source(path, name, encoding)  # encoding= does not apply: say so
        _check_memory([path], name)
        return Loaded(read_parquet_file(path), name, "row", 0)
    import pyogrio

    if layer is None and suffix in {".gpkg", ".zip", ".gml", ".kml"}:
        layers = pyogrio.list_layers(path)
        if len(layers) > 1:
            names = ", ".join(repr(str(n)) for n in layers[:, 0])
            raise LayerError([Problem(name, None, None, f"the file has {len(layers)} layers "
                                      f"({names})", "choose one with layer='...'")])
    target, extra = vector_source(path, name, encoding)
    try:
        frame = gpd.read_file(target, layer=layer, engine="pyogrio", **extra)
    except Exception as exc:  # pyogrio's DataSourceError / DataLayerError
        raise LayerError([Problem(name, None, None, f"cannot be read as a vector layer: {exc}",
                                  "check the file format and layer name")]) from exc
    return Loaded(frame, name, "feature", 0)


def _pick(columns, names, explicit, what) -> tuple[str | None, str | None]:
    if explicit is not None:
        return (explicit, None) if explicit in columns else (None, explicit)
    lower = {str(c).lower(): c for c in columns}
    for cand in names:
        if cand in lower:
            return lower[cand], None
    return None, None


def _from_table(table: pd.DataFrame, name: str, *, lon, lat, line_offset: int) -> Loaded:
    problems: list[Problem] = []
    lower = {str(c).lower(): c for c in table.columns}
    if lon is None and lat is None and ("geometry" in lower or "wkt" in lower):
        col = lower.get("geometry", lower.get("wkt"))
        geom = gpd.GeoSeries.from_wkt(table[col].fillna("").replace("", None), on_invalid="warn")
        frame = gpd.GeoDataFrame(table.drop(columns=col), geometry=geom.values)
        return Loaded(frame, name, "line" if line_offset else "row", line_offset)
    lon_col, lon_missing = _pick(table.columns, LON_NAMES, lon, "longitude")
    lat_col, lat_missing = _pick(table.columns, LAT_NAMES, lat, "latitude")
    cols = ", ".join(map(str, table.columns))
    for col, missing, which, arg in ((lon_col, lon_missing, "longitude", "lon"),
                                     (lat_col, lat_missing, "latitude", "lat")):
        if col is None:
            msg = (f"column {missing!r} not found" if missing else f"no {which} column found")
            raise LayerError([Problem(name, None, missing or which, msg,
                                      f"name it with {arg}='...' (columns: {cols})")])
    x = pd.to_numeric(table[lon_col], errors="coerce")
    y = pd.to_numeric(table[lat_col], errors="coerce")
    loaded = Loaded(gpd.GeoDataFrame(), name, "line" if line_offset else "row", line_offset)
    for col, values in ((lon_col, x), (lat_col, y)):
        bad = np.flatnonzero(values.isna().to_numpy())
        for pos in bad:
            raw = table[col].iloc[pos]
            msg = "coordinate is empty" if pd.isna(raw) else f"coordinate {raw!r} is not a number"
            loaded.problem_rows[len(problems)] = int(pos)
            problems.append(Problem(name, loaded.where(pos), str(col), msg,
                                    "fill in a decimal-degree value or remove the row"))
    ok = ~(x.isna() | y.isna())
    geometry = gpd.GeoSeries([None] * len(table))
    geometry[ok.to_numpy()] = gpd.points_from_xy(x[ok], y[ok])
    frame = gpd.GeoDataFrame(table.drop(columns=[lon_col, lat_col]), geometry=geometry.values)
    loaded.frame = frame
    loaded.problems.extend(problems)
    loaded.csv_coords = True  # CSV coordinates default to EPSG:4326
    return loaded


def _settle_crs(loaded: Loaded, crs: object) -> None:
    frame = loaded.frame
    csv_coords = getattr(loaded, "csv_coords", False)
    if frame.crs is None:
        if crs is not None:
            loaded.frame = frame.set_crs(pyproj.CRS.from_user_input(crs))
        elif csv_coords:
            loaded.frame = frame.set_crs(4326)
        else:
            loaded.problems.append(Problem(
                loaded.source, None, "geometry", "the layer has no CRS",
                "give it with crs='EPSG:4326' (or the right code), or add a .prj/CRS to the file"))
    elif crs is not None and pyproj.CRS.from_user_input(crs) != frame.crs:
        loaded.problems.append(Problem(
            loaded.source, None, "geometry",
            f"the file declares {frame.crs.to_string()} but crs={crs!r} was given",
            "drop crs= (it only fills in a missing CRS) or reproject the file"))


def read_polygon_file(path: str | os.PathLike, *, layer: str | int | None = None,
                      what: str = "polygons", encoding: str | None = None) -> gpd.GeoDataFrame:
    """A polygon layer (study-area boundary, territory polygons) read and checked.

    Any format :func:`load` reads (GeoParquet through pyarrow). Every problem is
    raised in one :class:`LayerError` naming the file: no features, no CRS, null,
    empty or non-polygonal geometries (first rows listed). *what* names the layer's
    role in messages.
    """
    import shapely

    loaded = load(path, layer=layer, lon=None, lat=None, crs=None, encoding=encoding)
    frame, name = loaded.frame, loaded.source
    problems = list(loaded.problems)
    if len(frame) == 0:
        problems.append(Problem(name, None, None, f"the {what} layer has no features",
                                "check the file and layer (a filter may have removed "
                                "every feature)"))
    else:
        geoms = np.asarray(frame.geometry.values, dtype=object)
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        wrong = ~missing & ~np.isin(shapely.get_type_id(geoms), [3, 6])
        for mask, text in ((missing, "geometry is null or empty"),
                           (wrong, "geometry is not a Polygon or MultiPolygon")):
            pos = np.flatnonzero(mask)
            for p in pos[:5]:
                problems.append(Problem(name, loaded.where(int(p)), "geometry",
                                        text if mask is missing else
                                        f"geometry is a {geoms[p].geom_type}, expected "
                                        "Polygon or MultiPolygon",
                                        f"the {what} must be polygons"))
            if len(pos) > 5:
                problems.append(Problem(name, None, "geometry",
                                        f"{len(pos) - 5} more features with: {text}",
                                        f"the {what} must be polygons"))
    if problems:
        raise LayerError(problems)
    return loaded.frame
