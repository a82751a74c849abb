"""Offline folium maps and screenshots."""

from ._assets import OfflineMap
from .layers import GeoJsonLayer, PointLayer, popup_table
from .region_map import category_colors, region_map, save_map
from .screenshot import open_map, screenshot

__all__ = [
           "GeoJsonLayer",
           "OfflineMap",
           "PointLayer",
           "category_colors",
           "open_map",
           "popup_table",
           "region_map",
           "save_map",
           "screenshot",
]
