"""Config-driven regeneration of processed layers (``minespace build``)."""

from .builder import BuildResult, build, read_manifest
from .checks import validate
from .config import Config, kuzbass_config, load_config
from .sizes import check_build, estimate_build
from .stages import STAGES, load_region

__all__ = ["STAGES", "BuildResult", "Config", "build", "check_build", "estimate_build",
           "kuzbass_config", "load_config", "load_region", "read_manifest", "validate"]
