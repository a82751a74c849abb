"""The ``minespace`` command line: a thin layer over the Python API.

Exit codes: 0 success, 1 internal error, 2 usage or configuration error,
3 invalid input data.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .errors import ConfigError, CRSError, LayerError, MinespaceError, PipelineError

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
    elif isinstance(exc, FileNotFoundError):
        code, label = EXIT_DATA, "missing input"
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


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/processed"), show_default=True,
              help="Folder for the processed layers and maps.")
@click.option("--tiles/--no-tiles", default=True, show_default=True,
              help="Add the online OpenStreetMap basemap to the map (optional decoration).")
@click.pass_context
def demo(ctx: click.Context, out_dir: Path, tiles: bool) -> None:
    """Process the bundled Kuzbass sample and write its layers and map."""
    from .demo import run_demo

    try:
        result = run_demo(out_dir, tiles=tiles)
    except (MinespaceError, OSError) as exc:
        _fail(exc, ctx.obj["verbose"])
    except Exception as exc:  # noqa: BLE001 - one readable block for any failure
        _fail(exc, ctx.obj["verbose"])
    if not ctx.obj["quiet"]:
        click.echo(f"layers: {result['geopackage']}")
        click.echo(f"map:    {result['map']}")


def main() -> None:
    """Entry point of the ``minespace`` console script."""
    cli(prog_name="minespace")


if __name__ == "__main__":  # pragma: no cover
    main()
