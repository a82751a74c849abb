"""Shared argument checks used across modules."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd

from .errors import CRSError

__all__ = ["require_columns", "require_geodataframe", "require_metric_crs", "require_same_crs"]


def require_geodataframe(obj: object, name: str) -> gpd.GeoDataFrame:
    """Raise ``TypeError`` unless *obj* is a GeoDataFrame."""
    if not isinstance(obj, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame, got {type(obj).__name__}")
    return obj


def require_columns(frame, columns: Iterable[str], name: str) -> None:
    """Raise ``KeyError`` listing every column of *columns* missing from *frame*."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(
            f"{name} lacks column(s) {missing}; available: {sorted(map(str, frame.columns))}"
        )


def require_metric_crs(frame: gpd.GeoDataFrame, func: str) -> None:
    """Raise :class:`CRSError` when *frame* has no CRS or a geographic one."""
    if frame.crs is None:
        raise CRSError(
            f"{func}: the layer has no CRS; set one with .set_crs(...) "
            "or load it through minespace.read_* with crs=..."
        )
    if not frame.crs.is_projected:
        raise CRSError(
            f"{func}: distances and areas need a metric (projected) CRS, but the layer is in "
            f"{frame.crs.to_string()}; reproject first, e.g. "
            "layer.to_crs(ms.choose_metric_crs(layer)) or region.crs"
        )


def require_same_crs(func: str, **layers: gpd.GeoDataFrame) -> None:
    """Raise :class:`CRSError` when the given layers do not share one CRS."""
    crss = {name: layer.crs for name, layer in layers.items() if layer is not None}
    first_name, first = next(iter(crss.items()))
    for name, crs in crss.items():
        if crs != first:
            raise CRSError(
                f"{func}: layers are in different CRS ({first_name}: "
                f"{first.to_string() if first else None}, {name}: "
                f"{crs.to_string() if crs else None}); reproject them to one metric CRS, "
                "e.g. with region.to_crs(...) or layer.to_crs(other.crs)"
            )
