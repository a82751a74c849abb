"""Where the bundled Kuzbass files are and whom to credit (no heavy imports)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["KUZBASS_ATTRIBUTION", "kuzbass_dir"]

KUZBASS_ATTRIBUTION = (
    "Coal mines: Global Energy Monitor, Global Coal Mine Tracker (April 2024), CC BY 4.0",
    "Facilities: Global Energy Monitor, Global Coal Plant Tracker (July 2024); Global Iron "
    "and Steel Tracker (March 2025); Global Iron Ore Mines Tracker (Nov 2024), CC BY 4.0",
    "Boundaries: © OpenStreetMap contributors; geoBoundaries (Runfola et al. 2020), ODbL 1.0",
    "Rail: © OpenStreetMap contributors (ODbL); ESR tables osm.sbin.ru/esr (S. Gladilin, "
    "A. Zeinalov) via MichaelODeli/railway_materials",
    "Towns and road schematics: Города России, HFLabs/DaData.ru, CC BY-SA 4.0",
    "Urban areas: Made with Natural Earth (public domain)",
    "Institutions and processing plants: compiled from the cited pages (SOURCES.md); town "
    "points from Города России, HFLabs/DaData.ru, CC BY-SA 4.0 (adapted, CC BY-SA 4.0)",
)


def kuzbass_dir() -> Path:
    """Folder of the raw Kuzbass files (inside the wheel, or ``data/raw/kuzbass``)."""
    packaged = resources.files("minespace.datasets") / "kuzbass"
    if packaged.is_dir():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[3] / "data" / "raw" / "kuzbass"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("the bundled Kuzbass data is missing from this installation; "
                            "reinstall minespace")
