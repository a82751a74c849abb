"""Config-driven regeneration of processed layers (``minespace build``).

Names are imported on first use (PEP 562): a no-op build reads the config and the
manifest without importing geopandas.
"""

from __future__ import annotations

from .._lazy import attach

_ATTRIBUTES = {
    "BuildResult": ".builder", "build": ".builder", "read_manifest": ".builder",
    "validate": ".checks", "check_build": ".sizes", "estimate_build": ".sizes",
    "Config": ".config", "kuzbass_config": ".config", "load_config": ".config",
    "STAGES": ".stages", "load_region": ".stages",
}

__getattr__, __dir__ = attach(__name__, attributes=_ATTRIBUTES)

__all__ = ["STAGES", "BuildResult", "Config", "build", "check_build", "estimate_build",
           "kuzbass_config", "load_config", "load_region", "read_manifest", "validate"]
