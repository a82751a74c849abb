"""Atomic writers: every output goes to a temporary file, then moves into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import geopandas as gpd

__all__ = ["atomic_path", "write_geopackage", "write_layer"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to *target*; move it onto *target* on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed
    and *target* keeps its previous content.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix,
                               dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL) want to create the file themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _for_file(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Ids (the index) become a column; the frame is not modified."""
    out = layer.reset_index() if layer.index.name else layer.reset_index(drop=True)
    out.attrs = {}  # in-memory metadata is not written
    return out


def write_layer(layer: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write one layer atomically; the format follows the suffix.

    ``.parquet`` -> GeoParquet; ``.gpkg``, ``.geojson``, ``.fgb``, ``.shp`` via pyogrio.
    The index (ids) is written as a column.

    Examples
    --------
    >>> import minespace as ms
    >>> region = ms.datasets.kuzbass()
    >>> out = ms.io.write_layer(region.deposits, tmp_path / "deposits.parquet")
    >>> len(gpd.read_parquet(out)) == len(region.deposits)
    True
    """
    path = Path(path)
    frame = _for_file(layer)
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            frame.to_parquet(tmp)
        else:
            frame.to_file(tmp, engine="pyogrio", driver=_driver(path))
    return path


def write_geopackage(layers: Mapping[str, gpd.GeoDataFrame], path: str | os.PathLike, *,
                     last_change: str | None = None) -> Path:
    """Write several layers into one GeoPackage, atomically (all or nothing).

    Parameters
    ----------
    layers : mapping
        Layer name -> GeoDataFrame (the index, if named, becomes a column).
    path : path-like
    last_change : str, optional
        The ``last_change`` timestamp of every layer in ``gpkg_contents``
        (``"YYYY-MM-DDTHH:MM:SS.000Z"``; GDAL's ``OGR_CURRENT_DATE``). By default
        GDAL writes the current time, so two writes of the same layers differ; a
        fixed value makes the file reproducible byte for byte.
    """
    path = Path(path)
    # the temporary file is moved into place only when complete: SQLite need not fsync
    # after every layer (a large part of the time on a busy disk)
    options = {"OGR_SQLITE_SYNCHRONOUS": "OFF"}
    if last_change is not None:
        options["OGR_CURRENT_DATE"] = last_change
    with _gdal_options(options), atomic_path(path) as tmp:
        for name, layer in layers.items():
            _for_file(layer).to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return path


@contextlib.contextmanager
def _gdal_options(options: dict[str, str]) -> Iterator[None]:
    """GDAL config options set for the duration of a block, then restored."""
    from pyogrio import get_gdal_config_option, set_gdal_config_options

    before = {key: get_gdal_config_option(key) for key in options}
    set_gdal_config_options(options)
    try:
        yield
    finally:
        set_gdal_config_options(before)


def _driver(path: Path) -> str:
    return {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".fgb": "FlatGeobuf",
            ".shp": "ESRI Shapefile"}.get(path.suffix.lower(), "GPKG")
