"""Root conftest: names available to doctests."""

import pytest


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace, tmp_path):
    import geopandas as gpd

    doctest_namespace["tmp_path"] = tmp_path
    doctest_namespace["gpd"] = gpd
