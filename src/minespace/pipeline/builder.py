"""Running the stages: fingerprints, incremental skips, atomic outputs, manifest.

Outputs of a build go to a private staging folder inside ``out_dir``; only when
every requested stage has succeeded are they moved into place, followed by the
GeoPackage and, last, ``manifest.json`` (each by an atomic rename). A crash,
Ctrl-C or kill part way therefore leaves the previous outputs and manifest
untouched; the staging folder is removed (or, after a hard kill, ignored and
cleaned by the next build).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from ..errors import ConfigError, CRSError, LayerError, MinespaceError, PipelineError
from ..io.write import atomic_path, write_geopackage
from .checks import run_checks
from .config import Config
from .stages import STAGE_NAMES, STAGES, Stage, file_sha256, input_files, slug

__all__ = ["BuildResult", "build", "read_manifest"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_DEPENDENCIES = ("geopandas", "shapely", "pyproj", "pyogrio", "rasterio", "numpy", "pandas",
                 "scipy", "scikit-learn", "libpysal", "esda", "folium", "scikit-image")


@dataclass
class BuildResult:
    """What a build did.

    Attributes
    ----------
    out_dir : Path
    ran : list of str
        Stages that ran, in order.
    skipped : list of str
        Stages that were up to date.
    outputs : dict
        Output name -> file path (all outputs, fresh or kept).
    results : dict
        Output name -> object, for the stages that ran in this build.
    manifest : dict
    """

    out_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)

    def read(self, name: str) -> gpd.GeoDataFrame | pd.DataFrame:
        """Read an output layer back from disk (ids restored as the index)."""
        return _read_output(self.outputs[name])

    @property
    def map_path(self) -> Path | None:
        """The overview map, if built."""
        return self.outputs.get("map_overview")


def read_manifest(out_dir: str | os.PathLike) -> dict:
    """The manifest of *out_dir*, or an empty one."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        log.warning("%s is unreadable; rebuilding everything", path)
        return {}


def _read_output(path: Path):
    if path.suffix == ".parquet":
        try:
            frame = gpd.read_parquet(path)
        except ValueError:  # a plain table
            frame = pd.read_parquet(path)
        id_cols = [c for c in frame.columns if str(c).endswith("_id")]
        if id_cols and frame.columns[0] == id_cols[0]:
            frame = frame.set_index(id_cols[0])
        return frame
    return path


def _fingerprint(payload: dict) -> str:
    import hashlib

    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stage_params(stage: Stage, config: Config, hashes: dict[str, str],
                  raster_hashes: dict[str, str] | None = None) -> dict:
    if stage.name == "load":
        return {"crs": config.crs, "name": config.name, "dataset": config.dataset,
                "layers": config.section("layers"), "files": hashes}
    params = config.section(stage.section) if stage.section else {}
    used = {role: {"path": str(src.path), "band": src.band,
                   "sha256": (raster_hashes or {})[role],
                   **({"crs": src.crs} if src.crs else {})}
            for role, src in config.rasters.items() if role in stage.rasters}
    if used:  # only then: builds without rasters keep their fingerprints
        params = {**params, "rasters": used}
    if stage.name == "maps":
        params = {**params, "name": config.name}
    return params


def _versions() -> dict[str, str]:
    out = {}
    for name in ("minespace", *_DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _write_output(name: str, value: Any, staging: Path) -> tuple[Path, int | None]:
    if isinstance(value, gpd.GeoDataFrame):
        path = staging / f"{name}.parquet"
        frame = value.reset_index() if value.index.name else value.reset_index(drop=True)
        frame.attrs = {}  # in-memory metadata (e.g. grid parameters) is not file content
        frame.to_parquet(path)
        return path, len(value)
    if isinstance(value, pd.DataFrame):
        path = staging / f"{name}.parquet"
        frame = value.reset_index() if value.index.name else value.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        frame.attrs = {}
        frame.to_parquet(path)
        return path, len(value)
    if isinstance(value, Path):
        return value, None
    raise TypeError(f"stage output {name!r} has unsupported type {type(value).__name__}")


def _run_stage(stage: Stage, config: Config, inputs: dict, staging: Path) -> tuple[dict, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # library deprecation chatter is not about the user's data
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        try:
            outputs = stage.run(config, inputs, staging)
        except (LayerError, ConfigError, CRSError, FileNotFoundError):
            raise  # the user's mistake: reported as in `minespace validate`
        except MinespaceError as exc:
            raise PipelineError(stage.name, str(exc)) from exc
        except Exception as exc:
            raise PipelineError(stage.name, f"{type(exc).__name__}: {exc}") from exc
    notes = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in notes:
            notes.append(text)
            log.warning("stage %s: %s", stage.name, text)
    return outputs, notes


def build(
    config: Config,
    *,
    force: bool = False,
    only: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BuildResult:
    """Run the pipeline for *config*, doing only the work that is out of date.

    Parameters
    ----------
    config : Config
        From :func:`~minespace.pipeline.load_config` or
        :func:`~minespace.pipeline.kuzbass_config`.
    force : bool
        Rerun every stage.
    only : str, optional
        Run just this stage (its upstream outputs must be up to date on disk).
    progress : callable, optional
        Called as ``progress(stage, i, n)`` before each stage.

    Returns
    -------
    BuildResult

    Raises
    ------
    ConfigError
        A config value to change, found by the dry run before the first stage after the
        load (see :func:`~minespace.pipeline.validate`); an unknown ``only`` stage, or
        ``only`` without upstream outputs.
    LayerError
        Invalid input data (every problem listed).
    PipelineError
        A stage failed (the cause is chained).

    Examples
    --------
    >>> import minespace as ms
    >>> config = ms.pipeline.kuzbass_config(tmp_path, tiles=False)
    >>> first = ms.pipeline.build(config)
    >>> first.ran
    ['load', 'territories', 'concentration', 'accessibility', 'clusters', 'maps']
    >>> ms.pipeline.build(config).ran   # nothing changed: nothing to do
    []
    """
    if only is not None and only not in STAGE_NAMES:
        raise ConfigError("--only", only, allowed=STAGE_NAMES)
    run_checks(config)  # the dry run's config checks (as `minespace validate`)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".staging-*"):  # left by a killed build
        shutil.rmtree(stale, ignore_errors=True)
    old = read_manifest(out_dir)
    old_stages = old.get("stages", {})
    files = input_files(config)
    hashes = {str(p): file_sha256(p) for p in files}
    raster_hashes = {role: file_sha256(src.path) for role, src in config.rasters.items()}
    staging = out_dir / f".staging-{uuid.uuid4().hex[:8]}"
    result = BuildResult(out_dir=out_dir)
    records: dict[str, dict] = {}
    fingerprints: dict[str, str] = {}
    live: dict[str, dict[str, Any]] = {}
    checked = False

    def upstream(name: str) -> dict[str, Any]:
        if name in live:
            return live[name]
        rec = old_stages[name]
        live[name] = {k: _read_output(out_dir / v["path"]) for k, v in rec["outputs"].items()}
        return live[name]

    try:
        staging.mkdir()
        for i, stage in enumerate(STAGES):
            params = _stage_params(stage, config, hashes, raster_hashes)
            fp = _fingerprint({"stage": stage.name, "params": params,
                               "needs": [fingerprints[n] for n in stage.needs],
                               "version": _versions()["minespace"]})
            fingerprints[stage.name] = fp
            prev = old_stages.get(stage.name, {})
            on_disk = bool(prev) and all((out_dir / o["path"]).exists()
                                         for o in prev.get("outputs", {}).values())
            current = prev.get("fingerprint") == fp and on_disk
            if only is not None:
                wanted = stage.name == only
                if not wanted:
                    if on_disk:
                        records[stage.name] = prev
                    continue
                missing = [n for n in stage.needs if n not in records]
                if missing:  # a usage error (exit code 2), not a failure of the stage
                    raise ConfigError("--only", only, message=f"upstream stage(s) {missing} "
                                      f"have no outputs in {out_dir} yet; run a full build "
                                      "first")
            else:
                wanted = force or not current
            if not wanted:
                records[stage.name] = prev
                result.skipped.append(stage.name)
                log.info("stage %-13s up to date", stage.name)
                continue
            if stage.name != "load" and not checked:
                # the dry run's layer checks, before the first stage after the load (their
                # warnings are those the stages give again, recorded in the manifest)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run_checks(config, upstream("load"))
                checked = True
            if progress is not None:
                progress(stage.name, i, len(STAGES))
            inputs = {n: upstream(n) for n in stage.needs}
            t0 = time.perf_counter()
            outputs, notes = _run_stage(stage, config, inputs, staging)
            seconds = time.perf_counter() - t0
            extra = outputs.pop("_manifest", {})   # e.g. how raster inputs were used
            written = {}
            for name, value in outputs.items():
                path, rows = _write_output(name, value, staging)
                written[name] = {"path": str(path.relative_to(staging)), "rows": rows}
            live[stage.name] = outputs
            records[stage.name] = {"fingerprint": fp, "params": params, "seconds":
                                   round(seconds, 3), "ran_at": _now(), "outputs": written,
                                   "warnings": notes, **extra}
            result.ran.append(stage.name)
            result.results.update(outputs)
            log.info("stage %-13s ran in %.2f s (%s)", stage.name, seconds,
                     ", ".join(f"{k}: {v['rows']} rows" if v["rows"] is not None else k
                               for k, v in written.items()))
        if not result.ran:
            log.debug("nothing to do: all stages are up to date")
            manifest = old
        else:
            inputs_hashed = {**hashes, **{str(src.path): raster_hashes[role]
                                          for role, src in config.rasters.items()}}
            manifest = _commit(config, staging, out_dir, records, inputs_hashed, result.ran)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.manifest = manifest
    for rec in manifest.get("stages", {}).values():
        for name, out in rec.get("outputs", {}).items():
            result.outputs[name] = out_dir / out["path"]
    if "geopackage" in manifest:
        result.outputs["geopackage"] = out_dir / manifest["geopackage"]
    return result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _commit(config: Config, staging: Path, out_dir: Path, records: dict, hashes: dict,
            ran: list[str]) -> dict:
    """Move fresh outputs into place, then the GeoPackage, then the manifest."""
    for name in ran:
        for out in records[name]["outputs"].values():
            src = staging / out["path"]
            dst = out_dir / out["path"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    layers = {}
    for rec in records.values():
        for name, out in rec["outputs"].items():
            path = out_dir / out["path"]
            if path.suffix == ".parquet":
                frame = _read_output(path)
                if isinstance(frame, gpd.GeoDataFrame):
                    layers[name] = frame
    gpkg_name = f"{slug(config.name)}.gpkg"
    write_geopackage(layers, out_dir / gpkg_name)
    manifest = {
        "project": config.name,
        "config": str(config.source) if config.source else None,
        "built_at": _now(),
        "inputs": [{"path": p, "sha256": h} for p, h in hashes.items()],
        "versions": _versions(),
        "geopackage": gpkg_name,
        "stages": {name: records[name] for name in STAGE_NAMES if name in records},
    }
    with atomic_path(out_dir / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return manifest
