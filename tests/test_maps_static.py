"""The static overview: a real PNG with the layers named in its legend."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.image import imread

import minespace as ms
from minespace.concentration import totals
from minespace.territories import hex_grid


def test_static_map_png_and_legend(tmp_path):
    region = ms.datasets.kuzbass()
    hexes = totals(hex_grid(region.boundary, cell_km=25), region.deposits)
    cand = gpd.GeoDataFrame({"rank": [1], "score": [0.9]},
                            geometry=[shapely.box(*hexes.total_bounds).buffer(-60_000)],
                            crs=region.crs, index=pd.Index(["C1"], name="candidate_id"))
    out = tmp_path / "overview.png"
    fig = ms.maps.static_map(region, territories=hexes, metric="count", candidates=cand,
                             path=out, dpi=60)
    image = imread(out)
    assert image.shape[0] == 9 * 60 and image.shape[1] == 8 * 60
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 50  # drawn
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "candidate cluster (#rank)" in labels and "rail" in labels
    assert set(region.deposits["commodity"]) <= set(labels)
    assert any(t.get_text() == "#1" for t in ax.texts)
    assert any(t.get_text().endswith("km") for t in ax.texts)  # scale bar
    assert ax.get_title() == region.name


def test_static_map_does_not_touch_pyplot_state(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    ms.maps.static_map(ms.datasets.kuzbass(), dpi=40)
    assert plt.get_fignums() == before
