"""The ``minespace`` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 internal error, 2 usage or configuration error,
3 invalid input data.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click

from .errors import ConfigError, CRSError, LayerError, PipelineError, ResourceError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DATA = 0, 1, 2, 3

log = logging.getLogger("minespace")


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("minespace")
    root.handlers[:] = [handler]
    root.setLevel(level)


def _fail(exc: BaseException, verbose: int) -> None:
    if isinstance(exc, (LayerError, CRSError)):
        code, label = EXIT_DATA, "invalid input data"
    elif isinstance(exc, ConfigError):
        code, label = EXIT_USAGE, "invalid configuration"
    elif isinstance(exc, PipelineError) and isinstance(exc.__cause__, (LayerError, CRSError)):
        code, label = EXIT_DATA, "invalid input data"
    elif isinstance(exc, PipelineError) and isinstance(exc.__cause__, ConfigError):
        code, label = EXIT_USAGE, "invalid configuration"
    elif isinstance(exc, ResourceError) or (isinstance(exc, PipelineError)
                                            and isinstance(exc.__cause__, ResourceError)):
        # the fix is a parameter (cell size, raster resolution) or max_memory_gb
        code, label = EXIT_USAGE, "too large for the memory budget"
    elif isinstance(exc, FileNotFoundError):
        code, label = EXIT_DATA, "missing input"
    elif isinstance(exc, OSError) and exc.filename is not None:
        # a file the user named cannot be read or written (permissions, a folder, disk full)
        code, label = EXIT_DATA, "cannot read or write a file"
    else:
        code, label = EXIT_INTERNAL, "internal error"
    if verbose:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    click.echo(f"minespace: {label}:\n{exc}", err=True)
    if code == EXIT_INTERNAL and not verbose:
        click.echo("(run again with -v for the traceback)", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="minespace")
@click.option("-v", "--verbose", count=True, help="More output; -v also shows tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """minespace: spatial analysis of mining regions."""
    ctx.obj = {"verbose": verbose, "quiet": quiet}
    _configure_logging(verbose, quiet)
    # progress bars inside long steps (permutations, travel time, network, map): only
    # on a terminal and without -q; the library functions follow this scope
    from ._progress import progress_scope

    ctx.with_resource(progress_scope(not quiet and sys.stderr.isatty()))


def _progress_bar(quiet: bool):
    """A tqdm-free progress line on a TTY; silent otherwise."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(stage: str, i: int, n: int) -> None:
        click.echo(f"[{i + 1}/{n}] {stage} ...", err=True)

    return show


def _report(result, quiet: bool) -> None:
    if quiet:
        return
    if not result.ran and not result.reasons:
        click.echo(f"nothing to do: {result.out_dir} is up to date")
    elif not result.ran:
        click.echo(f"rewrote the GeoPackage: {result.reasons['geopackage']}")
    else:
        click.echo(f"ran: {', '.join(result.ran)}"
                   + (f" (up to date: {', '.join(result.skipped)})" if result.skipped else ""))
    if "geopackage" in result.outputs:
        click.echo(f"layers: {result.outputs['geopackage'].absolute()}")
    if result.map_path is not None:
        click.echo(f"map:    {result.map_path.absolute()}")
    if "candidates_dossier" in result.outputs:
        click.echo(f"dossier: {result.outputs['candidates_dossier'].absolute()}")


def _load(config_path: Path):
    from .pipeline import load_config

    return load_config(config_path)


CONFIG_ARG = click.argument("config", type=click.Path(path_type=Path),
                            default=Path("minespace.toml"), required=False)


def _engine_options(func):
    """``--engine`` and ``--scheduler`` (over the config's ``[engine]``)."""
    func = click.option("--scheduler", metavar="ADDRESS", default=None,
                        help="Run the distributable steps on this Dask scheduler "
                        "(tcp://host:8786), or 'local' for a LocalCluster sized to the "
                        "machine; implies --engine dask.")(func)
    return click.option("--engine", type=click.Choice(["pandas", "dask"]), default=None,
                        help="Engine of the distributable steps (default: [engine] kind "
                        "of the config, else pandas); results are the same.")(func)


def _engine(base, engine: str | None, scheduler: str | None):
    """The ``[engine]`` of a build: *base* (an ``EngineConfig``) under ``--engine`` and
    ``--scheduler``."""
    import dataclasses

    if scheduler is not None:
        if engine == "pandas":
            raise ConfigError("--scheduler", scheduler, message="a Dask scheduler needs "
                              "--engine dask (or leave --engine out)")
        if scheduler != "local" and not ("://" in scheduler and scheduler.split("://")[1]):
            raise ConfigError("--scheduler", scheduler, message="not a scheduler address",
                              allowed='"local" or an address such as tcp://host:8786')
        # workers size a LocalCluster only
        return dataclasses.replace(base, kind="dask", scheduler=scheduler,
                                   workers=base.workers if scheduler == "local" else None)
    return base if engine is None else dataclasses.replace(base, kind=engine)


def _with_engine(config, engine: str | None, scheduler: str | None):
    """*config* with ``--engine``/``--scheduler`` over its ``[engine]`` section."""
    import dataclasses

    return dataclasses.replace(config, engine=_engine(config.engine, engine, scheduler))


@cli.command()
@CONFIG_ARG
@click.option("--force", is_flag=True, help="Rerun every stage.")
@click.option("--only", metavar="STAGE", help="Run only this stage "
              "(load, territories, concentration, accessibility, clusters, maps).")
@_engine_options
@click.pass_context
def build(ctx: click.Context, config: Path, force: bool, only: str | None,
          engine: str | None, scheduler: str | None) -> None:
    """Regenerate the processed layers described by CONFIG (default: minespace.toml).

    With Dask (--engine dask, --scheduler or [engine] in the config) the dashboard link
    of a cluster the build starts is printed on stderr (not with -q)."""
    from .pipeline import build as run_build

    try:
        result = run_build(_with_engine(_load(config), engine, scheduler), force=force,
                           only=only,
                           progress=_progress_bar(ctx.obj["quiet"]))
    except Exception as exc:
        _fail(exc, ctx.obj["verbose"])
    _report(result, ctx.obj["quiet"])


def _log_warnings(caught) -> None:
    """Warnings about the data, logged once each (as the build does per stage)."""
    seen = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            log.warning("%s", text)


@cli.command()
@CONFIG_ARG
@click.pass_context
def validate(ctx: click.Context, config: Path) -> None:
    """Check CONFIG and every input layer; print all problems; write nothing."""
    from .pipeline.checks import validate_with_info
    from .pipeline.stages import describe_layers

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            try:
                region, info = validate_with_info(_load(config))
            finally:
                _log_warnings(caught)
    except Exception as exc:
        _fail(exc, ctx.obj["verbose"])
    click.echo(f"ok: {config}\n{region!r}")
    if info:  # per layer: file, rows kept by the filter, column mapping, categories
        click.echo(describe_layers(info))


@cli.command(name="map")
@CONFIG_ARG
@click.pass_context
def map_(ctx: click.Context, config: Path) -> None:
    """Rebuild only the maps of CONFIG (the other outputs must exist)."""
    from .pipeline import build as run_build

    try:
        result = run_build(_load(config), only="maps")
    except Exception as exc:
        _fail(exc, ctx.obj["verbose"])
    _report(result, ctx.obj["quiet"])


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/processed"), show_default=True,
              help="Folder for the processed layers and maps.")
@click.option("--tiles/--no-tiles", default=True, show_default=True,
              help="Add the online OpenStreetMap basemap to the map (optional decoration).")
@click.option("--force", is_flag=True, help="Rerun every stage.")
@_engine_options
@click.pass_context
def demo(ctx: click.Context, out_dir: Path, tiles: bool, force: bool, engine: str | None,
         scheduler: str | None) -> None:
    """Build the bundled Kuzbass sample and print where its map is."""
    from .demo import run_demo
    from .pipeline._config_engine import EngineConfig

    try:
        result = run_demo(out_dir, tiles=tiles, force=force,
                          engine=_engine(EngineConfig(), engine, scheduler))
    except Exception as exc:
        _fail(exc, ctx.obj["verbose"])
    _report(result, ctx.obj["quiet"])


def main() -> None:
    """Entry point of the ``minespace`` console script."""
    cli(prog_name="minespace")


if __name__ == "__main__":  # pragma: no cover
    main()
