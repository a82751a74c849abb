"""The walking skeleton: bundled Kuzbass layers -> processed layers + map."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .datasets import kuzbass
from .io.write import write_geopackage, write_layer
from .maps.region_map import region_map, save_map

__all__ = ["run_demo"]

log = logging.getLogger(__name__)


def run_demo(out_dir: str | os.PathLike = "data/processed", *, tiles: bool = True) -> dict:
    """Load the Kuzbass sample and write validated layers and the overview map.

    Writes ``<out_dir>/<layer>.parquet`` (GeoParquet) per layer,
    ``<out_dir>/kuzbass.gpkg`` with all layers, and
    ``<out_dir>/maps/kuzbass_overview.html``.

    Returns
    -------
    dict
        Paths written: ``{"layers": {...}, "geopackage": Path, "map": Path}``.
    """
    out = Path(out_dir)
    region = kuzbass()
    log.info("loaded %s", region.name)
    layers = region.layers
    written = {}
    for name, layer in layers.items():
        written[name] = write_layer(layer, out / f"{name}.parquet")
        log.info("wrote %s (%d rows)", written[name], len(layer))
    gpkg = write_geopackage(layers, out / "kuzbass.gpkg")
    m = region_map(region, tiles=tiles)
    html = save_map(m, out / "maps" / "kuzbass_overview.html")
    log.info("wrote %s", html)
    return {"layers": written, "geopackage": gpkg.resolve(), "map": html.resolve()}
