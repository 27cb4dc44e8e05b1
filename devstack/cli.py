"""The click layer: parse options, call the library, render. Nothing else lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from devstack import __version__, report
from devstack.errors import EXIT_INTERRUPTED, DevstackError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="devstack")
@click.option("--debug", is_flag=True, help="Show tracebacks for every error.")
def cli(debug: bool) -> None:
    """Reproducible local development environments on Docker Compose.

    Create a project with `devstack new STACK DIR`; start it with `devstack up`.
    """


@cli.command()
def stacks() -> None:
    """List the stacks `devstack new` can create."""
    from devstack import stacks as catalogue

    click.echo(report.stacks_table(catalogue.available()))


@cli.command()
@click.argument("stack")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--name", help="Project name (default: from the directory name).")
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="Set a template variable."
)
@click.option("--no-input", is_flag=True, help="Do not prompt (also when stdin is not a terminal).")
@click.option("--force", is_flag=True, help="Write into a non-empty directory; existing files are kept.")
@click.option("--dry-run", is_flag=True, help="Show the files that would be written; write nothing.")
def new(
    stack: str,
    directory: Path | None,
    name: str | None,
    settings: tuple[str, ...],
    no_input: bool,
    force: bool,
    dry_run: bool,
) -> None:
    """Create a project from STACK in DIRECTORY (default: ./STACK)."""
    from devstack import scaffold, stacks

    target = directory or Path(name or stack)
    values = scaffold.parse_settings(settings)
    if not no_input and sys.stdin.isatty():
        chosen = stacks.find(stack)
        for var in chosen.variables:
            if var.name in values:
                continue
            kind = click.Choice(list(var.choices)) if var.choices else str
            label = f"{var.name} ({var.help})" if var.help else var.name
            values[var.name] = click.prompt(label, default=var.default, type=kind)
    result = scaffold.create(
        stack, target, name=name, settings=values, force=force, dry_run=dry_run
    )
    click.echo(report.created(result, os.path.relpath(result.root)))


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes (the one place that does)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("DEVSTACK_DEBUG") == "1"
    try:
        rv = cli.main(args=args, prog_name="devstack", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.Abort:
        click.echo("Interrupted.", err=True)
        code = EXIT_INTERRUPTED
    except DevstackError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(report.error(exc.message, exc.hint), err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = EXIT_INTERRUPTED
    sys.exit(code)
