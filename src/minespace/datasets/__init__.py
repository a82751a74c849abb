"""Bundled sample data: :func:`kuzbass`."""

from ._kuzbass import KUZBASS_ATTRIBUTION, kuzbass, kuzbass_dir

__all__ = ["KUZBASS_ATTRIBUTION", "kuzbass", "kuzbass_dir"]
