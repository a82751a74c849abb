"""Bundled sample data: :func:`kuzbass` (imported on first use, PEP 562)."""

from __future__ import annotations

from .._lazy import attach

__getattr__, __dir__ = attach(__name__, attributes={
    "KUZBASS_ATTRIBUTION": "._files", "kuzbass_dir": "._files", "kuzbass": "._kuzbass"})

__all__ = ["KUZBASS_ATTRIBUTION", "kuzbass", "kuzbass_dir"]
