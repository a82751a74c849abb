"""Offline folium maps, static overviews and screenshots."""

from .._lazy import keep_functions
from ._assets import OfflineMap
from .cluster_map import category_colors, cluster_map, region_map, save_map
from .dossier import candidate_dossier, write_dossier
from .layers import GeoJsonLayer, PointLayer, attribute_columns, popup_table
from .screenshot import open_map, screenshot
from .static import static_map

# maps.cluster_map and maps.screenshot stay the functions when their modules are imported
keep_functions(__name__, ("cluster_map", "screenshot"))

__all__ = ["GeoJsonLayer", "OfflineMap", "PointLayer", "attribute_columns", "candidate_dossier",
           "category_colors", "cluster_map", "open_map", "popup_table", "region_map", "save_map",
           "screenshot", "static_map", "write_dossier"]
