"""Folders of GeoParquet parts (no heavy imports: a no-op build lists them to hash them)."""

from __future__ import annotations

from pathlib import Path

PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}


def parquet_parts(path: Path) -> list[Path]:
    """The GeoParquet parts of a partitioned folder, in the order of their relative paths.

    Subfolders (``year=2024/part-0.parquet``) are searched too. Files or folders whose
    name starts with ``.`` or ``_`` (``_metadata``, ``_SUCCESS``, checksums, hidden files)
    are not parts. An empty list for a folder without parts, or for a file.
    """
    path = Path(path)
    if not path.is_dir():
        return []
    return sorted((p for p in path.rglob("*") if p.is_file()
                   and p.suffix.lower() in PARQUET_SUFFIXES
                   and not any(part.startswith((".", "_"))
                               for part in p.relative_to(path).parts)),
                  key=lambda p: p.relative_to(path).as_posix())
