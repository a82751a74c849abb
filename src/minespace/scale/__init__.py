"""Scale out on Dask: deposits -> territories and per-territory aggregates.

This module is the ``engine="dask"`` side of
:func:`minespace.territories.assign_deposits` and
:func:`minespace.concentration.totals` (``pip install "minespace[dask]"``).
The deposits are a dask-geopandas GeoDataFrame (millions of points, read lazily
from partitioned GeoParquet by :func:`read_deposits_parquet`); the territories
stay an ordinary in-memory GeoDataFrame, copied once to every worker.

Each partition is assigned with the same code as the pandas engine (grid
arithmetic for generated grids, a polygon STRtree otherwise; a point on a shared
edge goes to the same territory, decided by territory order, never by partition)
and reduced to a small table of per-territory × category sums; the partial
tables are summed in a tree (:func:`aggregate`). That table is all that
:func:`~minespace.concentration.location_quotient`,
:func:`~minespace.concentration.specialization` and the Gini/Hoover columns of
:func:`~minespace.concentration.concentration` need, and they accept it as it
is. See ``docs/scale.md``.
"""

from ._assign import aggregate, assign_deposits_dask
from ._client import INSTALL, PARTITION_ROWS, TREE_WIDTH, get_client, to_dask, tree_reduce
from ._grid import GRID_PARTITION_CELLS, grid, territory_table
from ._read import REQUIRED, read_deposits_parquet

__all__ = ["GRID_PARTITION_CELLS", "INSTALL", "PARTITION_ROWS", "REQUIRED", "TREE_WIDTH",
           "aggregate", "assign_deposits_dask", "get_client", "grid", "read_deposits_parquet",
           "territory_table", "to_dask", "tree_reduce"]
