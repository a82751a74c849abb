"""Running the stages: fingerprints, incremental skips, transactional outputs, manifest.

A build writes every output into a private staging folder inside ``out_dir``;
only when every requested stage has succeeded does it add the GeoPackage and the
manifest (with each file's size and SHA-256) and switch the whole set into place
with one atomic rename (:mod:`minespace.pipeline._store`). A crash, Ctrl-C or
kill at any instant leaves either the previous build or the new one, complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, CRSError, LayerError, MinespaceError, PipelineError
from ._engine import engine_session
from ._store import (
    STAGING_PREFIX,
    build_lock,
    carry_over,
    check_output,
    cleanup,
    commit,
    current_generation,
    fault,
    file_record,
    new_staging,
)
from .checks import run_checks
from .config import Config
from .stages import STAGE_NAMES, STAGES, Stage, file_sha256, input_files, slug

if TYPE_CHECKING:  # imported where used: a no-op build never imports geopandas
    import geopandas as gpd
    import pandas as pd

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
    reasons : dict
        Why each stage in ``ran`` ran (``"not built yet"``, ``"parameters or input
        files changed"``, ``"upstream stage load reran"``, ``"deposits.parquet changed
        on disk (SHA-256 differs from the manifest)"``, ...), and ``"geopackage"`` when
        only the GeoPackage was rewritten.
    """

    out_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

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
    import geopandas as gpd
    import pandas as pd

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
    if stage.name == "innovation":   # the value-chain share is weighted like concentration
        params = {**params, "weight": config.concentration.weight}
    return params


def _versions() -> dict[str, str]:
    out = {}
    for name in ("minespace", *_DEPENDENCIES):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as object, so the Parquet schema is the same whichever way the frame
    was made (pandas' ``str`` dtype writes ``large_string``, object writes ``string``:
    a frame computed in memory and the same frame read back from Parquet differ)."""
    import pandas as pd

    text = [c for c, dtype in frame.dtypes.items()
            if isinstance(dtype, pd.StringDtype)
            or (isinstance(dtype, pd.ArrowDtype) and str(dtype).startswith(("string",
                                                                            "large_string")))]
    return frame.astype(dict.fromkeys(text, object)) if text else frame


def _write_output(name: str, value: Any, staging: Path) -> tuple[Path, int | None]:
    import geopandas as gpd
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        path = staging / f"{name}.parquet"
        frame = value.reset_index() if value.index.name else value.reset_index(drop=True)
        if not isinstance(value, gpd.GeoDataFrame):
            frame.columns = [str(c) for c in frame.columns]
        frame = _for_parquet(frame)
        frame.attrs = {}  # in-memory metadata (e.g. grid parameters) is not file content
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
    lock_timeout: float | None = None,
) -> BuildResult:
    """Run the pipeline for *config*, doing only the work that is out of date.

    A build is a transaction: its outputs appear all at once, when it has
    succeeded, or not at all (see ``docs/pipeline.md``). A stage is up to date
    when its fingerprint (parameters, input files, upstream stages) matches the
    manifest *and* its output files match the manifest's sizes and SHA-256
    hashes; otherwise it reruns, and ``BuildResult.reasons`` says why.

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
    lock_timeout : float, optional
        Seconds to wait for another build of the same ``out_dir`` to finish
        (default: wait as long as it runs).

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
        A stage failed (the cause is chained), or another build held ``out_dir`` for
        longer than ``lock_timeout``.

    Examples
    --------
    >>> import minespace as ms
    >>> config = ms.pipeline.kuzbass_config(tmp_path, tiles=False)
    >>> first = ms.pipeline.build(config)
    >>> first.ran
    ['load', 'territories', 'concentration', 'accessibility', 'innovation', 'clusters', 'maps']
    >>> ms.pipeline.build(config).ran   # nothing changed: nothing to do
    []
    """
    if only is not None and only not in STAGE_NAMES:
        raise ConfigError("--only", only, allowed=STAGE_NAMES)
    run_checks(config)  # the dry run's config checks (as `minespace validate`)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(out_dir, timeout=lock_timeout), engine_session(config.engine):
        # [engine]: one Dask client for the whole build, opened when a stage first needs
        # it (never by a no-op build) and closed here
        cleanup(out_dir, _paths(read_manifest(out_dir)))  # what killed builds left
        return _build(config, out_dir, force=force, only=only, progress=progress)


def _paths(manifest: dict) -> list[str]:
    """Every file of the build *manifest* describes (relative paths, itself included)."""
    if not manifest:
        return []
    paths = [out["path"] for rec in manifest.get("stages", {}).values()
             for out in rec.get("outputs", {}).values()]
    if "geopackage" in manifest:
        paths.append(manifest["geopackage"])
    return [*paths, MANIFEST]


def _why_rerun(stage: Stage, prev: dict, fp: str, params: dict, ran: list[str],
               out_dir: Path, legacy: bool) -> str | None:
    """Why *stage* must run again, or None when it is up to date."""
    if not prev:
        return "not built yet"
    if legacy:
        return "outputs written by an older minespace (no hashes): rebuilding"
    if prev.get("fingerprint") != fp:
        rerun = [n for n in stage.needs if n in ran]
        if rerun:
            return f"upstream stage {rerun[0]} reran"
        if prev.get("params") != json.loads(json.dumps(params, default=str)):
            return "parameters or input files changed"
        return "minespace version changed"
    for out in prev.get("outputs", {}).values():
        problem = check_output(out_dir, out["path"], out)
        if problem:
            return problem
    return None


def _build(config: Config, out_dir: Path, *, force: bool, only: str | None,
           progress: Callable[[str, int, int], None] | None) -> BuildResult:
    old = read_manifest(out_dir)
    old_gen = current_generation(out_dir)
    legacy = bool(old) and old_gen is None
    old_stages = old.get("stages", {})
    files = input_files(config)
    hashes = {str(p): file_sha256(p) for p in files}
    raster_hashes = {role: file_sha256(src.path) for role, src in config.rasters.items()}
    versions = _versions()
    result = BuildResult(out_dir=out_dir)
    records: dict[str, dict] = {}
    fingerprints: dict[str, str] = {}
    live: dict[str, dict[str, Any]] = {}
    checked = False
    staging: Path | None = None

    def upstream(name: str) -> dict[str, Any]:
        if name not in live:
            live[name] = {k: _read_output(old_gen / v["path"])
                          for k, v in old_stages[name]["outputs"].items()}
        return live[name]

    try:
        for i, stage in enumerate(STAGES):
            params = _stage_params(stage, config, hashes, raster_hashes)
            fp = _fingerprint({"stage": stage.name, "params": params,
                               "needs": [fingerprints[n] for n in stage.needs],
                               "version": versions["minespace"]})
            fingerprints[stage.name] = fp
            prev = old_stages.get(stage.name, {})
            why = _why_rerun(stage, prev, fp, params, result.ran, out_dir, legacy)
            if only is not None:
                if stage.name != only:
                    if prev and not legacy and not any(
                            check_output(out_dir, o["path"], o)
                            for o in prev.get("outputs", {}).values()):
                        records[stage.name] = prev
                    continue
                missing = [n for n in stage.needs if n not in records]
                if missing:  # a usage error (exit code 2), not a failure of the stage
                    raise ConfigError("--only", only, message=f"upstream stage(s) {missing} "
                                      f"have no outputs in {out_dir} yet; run a full build "
                                      "first")
                why = "asked for (--only)"
            elif force:
                why = "forced (--force)"
            if why is None:
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
            log.info("stage %-13s runs: %s", stage.name, why)
            result.reasons[stage.name] = why
            if staging is None:
                staging = new_staging(out_dir)
            if progress is not None:
                progress(stage.name, i, len(STAGES))
            inputs = {n: upstream(n) for n in stage.needs}
            fault(f"stage:{stage.name}:start")
            t0 = time.perf_counter()
            outputs, notes = _run_stage(stage, config, inputs, staging)
            seconds = time.perf_counter() - t0
            extra = outputs.pop("_manifest", {})   # e.g. how raster inputs were used
            extra.setdefault("engine", "pandas")   # which engine produced the outputs
            written = {}
            for name, value in outputs.items():
                path, rows = _write_output(name, value, staging)
                written[name] = {"path": path.relative_to(staging).as_posix(), "rows": rows,
                                 **file_record(path)}
            live[stage.name] = outputs
            records[stage.name] = {"fingerprint": fp, "params": params, "seconds":
                                   round(seconds, 3), "ran_at": _now(), "outputs": written,
                                   "warnings": notes, **extra}
            result.ran.append(stage.name)
            result.results.update(outputs)
            log.info("stage %-13s ran in %.2f s (%s)", stage.name, seconds,
                     ", ".join(f"{k}: {v['rows']} rows" if v["rows"] is not None else k
                               for k, v in written.items()))
            fault(f"stage:{stage.name}:written")
        gpkg_name = f"{slug(config.name)}.gpkg"
        if not result.ran:
            gpkg = old.get("geopackage_file", {})
            why = ("its name changed" if old.get("geopackage") != gpkg_name else
                   check_output(out_dir, gpkg_name, gpkg) if gpkg else "not written yet")
            if why:
                log.info("GeoPackage %s is rewritten: %s", gpkg_name, why)
                result.reasons["geopackage"] = why
        if not result.ran and "geopackage" not in result.reasons:
            log.debug("nothing to do: all stages are up to date")
            manifest = old
        else:
            if staging is None:
                staging = new_staging(out_dir)
            inputs_hashed = {**hashes, **{str(src.path): raster_hashes[role]
                                          for role, src in config.rasters.items()}}
            manifest = _stage_commit(config, staging, old_gen, records, result.ran,
                                     inputs_hashed, versions)
            commit(out_dir, staging, _paths(manifest), _paths(old))
            staging = None  # it is the current generation now
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    result.manifest = manifest
    for rec in manifest.get("stages", {}).values():
        for name, out in rec.get("outputs", {}).items():
            result.outputs[name] = out_dir / out["path"]
    if "geopackage" in manifest:
        result.outputs["geopackage"] = out_dir / manifest["geopackage"]
    for name, value in result.results.items():  # files the stages wrote: their final paths
        if isinstance(value, Path) and name in result.outputs:
            result.results[name] = result.outputs[name]
    return result


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _source_date() -> str:
    """The GeoPackage ``last_change`` timestamp: ``SOURCE_DATE_EPOCH`` (the
    reproducible-builds convention) if set, else 1970-01-01, so that two builds of
    the same inputs give the same bytes."""
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _stage_commit(config: Config, staging: Path, old_gen: Path | None, records: dict,
                  ran: list[str], hashes: dict, versions: dict) -> dict:
    """Complete the build in *staging*: the kept outputs of the previous build (hard
    links), the GeoPackage of every vector layer and, last, the manifest."""
    import geopandas as gpd

    from ..io.write import write_geopackage

    for name, rec in records.items():
        if name not in ran:
            for out in rec["outputs"].values():
                carry_over(old_gen / out["path"], staging / out["path"])
    fault("commit:start")
    layers = {}
    for name in STAGE_NAMES:
        for layer, out in records.get(name, {}).get("outputs", {}).items():
            path = staging / out["path"]
            if path.suffix == ".parquet":
                frame = _read_output(path)  # the file, not the frame in memory: same bytes
                if isinstance(frame, gpd.GeoDataFrame):   # in cold and incremental builds
                    layers[layer] = frame
    gpkg_name = f"{slug(config.name)}.gpkg"
    write_geopackage(layers, staging / gpkg_name, last_change=_source_date())
    fault("commit:geopackage")
    manifest = {
        "project": config.name,
        "config": str(config.source) if config.source else None,
        "built_at": _now(),
        "generation": staging.name[len(STAGING_PREFIX):],
        "inputs": [{"path": p, "sha256": h} for p, h in hashes.items()],
        "versions": versions,
        "geopackage": gpkg_name,
        "geopackage_file": {"path": gpkg_name, **file_record(staging / gpkg_name),
                            "layers": {name: len(frame) for name, frame in layers.items()}},
        "stages": {name: records[name] for name in STAGE_NAMES if name in records},
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str),
                                    encoding="utf-8")
    fault("commit:manifest")
    return manifest
