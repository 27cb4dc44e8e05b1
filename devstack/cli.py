"""The click layer: parse options, call the library, render. Nothing else lives here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from devstack import __version__, report
from devstack.errors import EXIT_FAILED, EXIT_INTERRUPTED, ChecksFailed, DevstackError, UsageError

# The lazy-import rule (written here once for the whole package): start-up time is a budget
# (`devstack --help` within 1.5x of `python -c "import click"`, measured by benchmarks/bench.py).
# Modules that cost import time (the Docker SDK, cookiecutter, jinja2, jsonschema, yaml, json,
# pathlib) are imported inside the functions and commands that use them, never at the top of
# cli.py or of a module that cli.py imports at start-up.
if TYPE_CHECKING:
    from pathlib import Path

    from devstack.lifecycle import Event
    from devstack.project import Project


class _Options:
    """Global options main() needs after the command has ended (click's context is gone then)."""

    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="devstack")
@click.option("--debug", is_flag=True, envvar="DEVSTACK_DEBUG", help="Show tracebacks for every error.")
def cli(debug: bool) -> None:
    """Reproducible local development environments on Docker Compose.

    Create a project with `devstack new STACK DIR`; start it with `devstack up`.
    """
    _Options.debug = debug


@cli.command()
def stacks() -> None:
    """List the stacks `devstack new` can create."""
    from devstack import stacks as catalogue

    click.echo(report.stacks_table(catalogue.available()))


@cli.command()
@click.argument("stack")
@click.argument("directory", required=False, type=click.Path())
@click.option("--name", help="Project name (default: from the directory name).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Set a template variable.")
@click.option("--no-input", is_flag=True, help="Do not prompt (also when stdin is not a terminal).")
@click.option("--force", is_flag=True, help="Write into a non-empty directory; existing files are kept.")
@click.option("--dry-run", is_flag=True, help="Show the files that would be written; write nothing.")
def new(
    stack: str,
    directory: str | None,
    name: str | None,
    settings: tuple[str, ...],
    no_input: bool,
    force: bool,
    dry_run: bool,
) -> None:
    """Create a project from STACK in DIRECTORY (default: ./STACK)."""
    from pathlib import Path

    from devstack import scaffold, stacks

    target = Path(directory or name or stack)
    values = scaffold.parse_settings(settings)
    if not no_input and sys.stdin.isatty():
        chosen = stacks.find(stack)
        for var in chosen.variables:
            if var.name in values:
                continue
            kind = click.Choice(list(var.choices)) if var.choices else str
            label = f"{var.name} ({var.help})" if var.help else var.name
            values[var.name] = click.prompt(label, default=var.default, type=kind)
    result = scaffold.create(stack, target, name=name, settings=values, force=force, dry_run=dry_run)
    click.echo(report.created(result, os.path.relpath(result.root)))


def project_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """-f/--file (repeatable) and -p/--project-name, as in Compose."""
    fn = click.option("-p", "--project-name", "project_name", help="Compose project name.")(fn)
    fn = click.option(
        "-f",
        "--file",
        "files",
        multiple=True,
        type=click.Path(),
        help="Compose file (repeatable; default: discovered like Compose does).",
    )(fn)
    return fn


def _project(files: tuple[str, ...], project_name: str | None) -> Project:
    from devstack.project import Project

    return Project.load(files=files, name=project_name)


def _progress(as_json: bool) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        if as_json:
            import json

            click.echo(
                json.dumps({"event": event.kind, "service": event.service, "message": event.message}),
                err=True,
            )
        elif event.kind == "compose":
            click.echo(f"  {event.message}", err=True)
        else:
            click.echo(f"{event.kind}: {event.message}", err=True)

    return show


@cli.command()
@project_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-v", "--verbose", is_flag=True, help="Show INFO findings too.")
def check(files: tuple[str, ...], project_name: str | None, as_json: bool, verbose: bool) -> int:
    """Check the stack without starting it (exit 1 on errors)."""
    from devstack import lifecycle
    from devstack.checks import has_errors

    result = lifecycle.check(_project(files, project_name))
    if as_json:
        click.echo(report.findings_json(result.findings))
    else:
        click.echo(report.findings_text(result.findings, verbose=verbose))
    return EXIT_FAILED if has_errors(result.findings) else 0


@cli.command()
@project_options
@click.argument("services", nargs=-1)
@click.option("--build", is_flag=True, help="Rebuild images before starting.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for healthy.")
@click.option("--json", "as_json", is_flag=True, help="JSON result; progress as JSON lines on stderr.")
def up(
    files: tuple[str, ...],
    project_name: str | None,
    services: tuple[str, ...],
    build: bool,
    timeout: int,
    as_json: bool,
) -> int:
    """Check, build if needed, start and wait until every service is healthy."""
    from devstack import lifecycle

    try:
        result = lifecycle.up(
            _project(files, project_name),
            services,
            build=build,
            timeout=timeout,
            progress=_progress(as_json),
        )
    except ChecksFailed as exc:
        click.echo(report.findings_text(exc.findings), err=True)
        raise
    if as_json:
        click.echo(
            report.as_json(
                "up",
                {
                    "project": result.project,
                    "services": [s.to_dict() for s in result.services],
                    "findings": [f.to_dict() for f in result.findings + result.runtime],
                    "seconds": round(result.seconds, 2),
                },
            )
        )
    else:
        click.echo(report.up_summary(result))
    from devstack.checks import has_errors

    return EXIT_FAILED if has_errors(result.runtime) else 0


@cli.command()
@project_options
@click.option("-v", "--volumes", is_flag=True, help="Also delete named volumes (asks first).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting volumes.")
def down(files: tuple[str, ...], project_name: str | None, volumes: bool, yes: bool) -> None:
    """Stop and remove the containers; data in bind mounts (data/) is always kept."""
    from devstack import lifecycle

    project = _project(files, project_name)
    if volumes and not yes:
        if not sys.stdin.isatty():
            raise UsageError("--volumes deletes data: confirm with --yes when not on a terminal")
        typed = click.prompt(
            f"This deletes the named volumes of {project.name}. Type the project name to confirm"
        )
        if typed.strip() != project.name:
            raise UsageError("project name did not match; nothing was deleted")
    lifecycle.down(project, volumes=volumes, progress=_progress(False))
    click.echo(f"{project.name} is down" + (" (named volumes deleted)." if volumes else "; data is kept."))


@cli.command()
@project_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(files: tuple[str, ...], project_name: str | None, as_json: bool) -> None:
    """Show services, state, health and URLs."""
    from devstack import lifecycle

    statuses = lifecycle.status(_project(files, project_name))
    if as_json:
        click.echo(report.as_json("status", {"services": [s.to_dict() for s in statuses]}))
    else:
        click.echo(report.status_table(statuses))


@cli.command()
@project_options
@click.option("-f", "--follow", is_flag=True, help="Follow the output.")
@click.option("-n", "--tail", default="200", show_default=True, help="Lines from the end ('all').")
@click.argument("services", nargs=-1)
def logs(
    files: tuple[str, ...],
    project_name: str | None,
    follow: bool,
    tail: str,
    services: tuple[str, ...],
) -> int:
    """Show the logs of the stack or of SERVICES."""
    from devstack.compose import ComposeRunner

    runner = ComposeRunner(_project(files, project_name))
    args = ["logs", "--tail", tail] + (["--follow"] if follow else [])
    return runner.passthrough(*args, *(["--", *services] if services else []))


@cli.command(name="exec", context_settings={"ignore_unknown_options": True})
@project_options
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(files: tuple[str, ...], project_name: str | None, service: str, command: tuple[str, ...]) -> int:
    """Run COMMAND in SERVICE's container: devstack exec web -- bash"""
    from devstack.compose import ComposeRunner

    runner = ComposeRunner(_project(files, project_name))
    tty = [] if sys.stdin.isatty() and sys.stdout.isatty() else ["-T"]
    return runner.passthrough("exec", *tty, service, *command)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json: bool) -> int:
    """Check this machine: engine, Compose, disk, port clashes of the current project."""
    from devstack import doctor as diagnose
    from devstack.checks import has_errors
    from devstack.errors import ProjectNotFound
    from devstack.project import Project

    try:
        here: Path | None = Project.load().root
    except ProjectNotFound:
        here = None
    findings = diagnose.run(here)
    if as_json:
        click.echo(report.findings_json(findings))
    else:
        click.echo(report.findings_text(findings, verbose=True))
    return EXIT_FAILED if has_errors(findings) else 0


@cli.group()
def env() -> None:
    """Manage the project's .env."""


@env.command("sync")
@project_options
def env_sync(files: tuple[str, ...], project_name: str | None) -> None:
    """Create .env from .env.example, or add the keys it lacks (values are never changed)."""
    from devstack import dbcheck, envfile

    project = _project(files, project_name)
    result = envfile.sync(project.root, hold=lambda keys: dbcheck.held_secrets(project, keys))
    for key, reason in result.held.items():
        click.echo(f"warning: {key} was not generated: {reason}.", err=True)
        click.echo(
            f"  hint: put the old value of {key} in .env; or `devstack db reset` (deletes that "
            "database) and `devstack up` to start afresh",
            err=True,
        )
    if not (project.root / ".env.example").is_file():
        click.echo("No .env.example here: nothing to do.")
    elif result.created:
        click.echo(
            f"Created .env with {len(result.added)} keys; generated: {', '.join(result.generated) or 'none'}."
        )
    elif result.added:
        click.echo(
            f"Added to .env: {', '.join(result.added)}"
            + (f" (generated: {', '.join(result.generated)})" if result.generated else "")
            + "."
        )
    else:
        click.echo(".env already has every key of .env.example.")


# -- devstack db, restart (issue 8, helper "data") ----------------------------------------------
# Thin commands over devstack/db.py, datadir.py and restart.py.


def _service_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-s", "--service", help="The database service (when the project has more than one).")(
        fn
    )


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


class _Meter:
    """A progress line on stderr, rewritten in place, only when stderr is a terminal."""

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.live = sys.stderr.isatty()
        self.shown = False

    def __call__(self, transfer: Any) -> None:
        if not self.live:
            return
        import time

        elapsed = max(time.monotonic() - transfer.started, 1e-6)
        rate = transfer.done / elapsed
        line = f"  {self.verb} {_size(transfer.done)}"
        if transfer.total:
            share = min(transfer.done / transfer.total, 1.0)
            line += f" of {_size(transfer.total)} ({share:4.0%})"
            if rate > 0 and share < 1:
                line += f", {(transfer.total - transfer.done) / rate:.0f} s left"
        line += f", {_size(rate)}/s"
        click.echo(f"\r{line:<72}", nl=False, err=True)
        self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("\r" + " " * 72 + "\r", nl=False, err=True)
            self.shown = False


def _steps(message: str) -> None:
    click.echo(f"  {message}", err=True)


def _db_target(files: tuple[str, ...], project_name: str | None, service: str | None) -> Any:
    from devstack import db as dbmod

    return dbmod.load(_project(files, project_name), service)


@cli.group()
def db() -> None:
    """Export, import, snapshot, restore and reset the project's database.

    Works with MariaDB, MySQL and PostgreSQL services, found by image or by the official
    images' variables (MARIADB_*, MYSQL_*, POSTGRES_*), or named under x-devstack.databases.
    """


@db.command("export")
@project_options
@_service_option
@click.argument("file", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["sql", "gz", "zst"]), help="Override the format the name implies."
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def db_export(
    files: tuple[str, ...],
    project_name: str | None,
    service: str | None,
    file: str | None,
    fmt: str | None,
    force: bool,
) -> None:
    """Dump the database to FILE (.sql, .sql.gz, .sql.zst; default: a dated .sql.gz) or - (stdout)."""
    from pathlib import Path

    from devstack import dump

    target = _db_target(files, project_name, service)
    meter = _Meter("exported")
    try:
        if file == "-":
            if sys.stdout.isatty():
                raise UsageError(
                    "will not write a dump to a terminal", hint="redirect it (> dump.sql.gz) or give a FILE"
                )
            result = dump.export(target, sys.stdout.buffer, fmt or "gz", meter)
            sys.stdout.buffer.flush()
            where = "stdout"
        else:
            path = Path(file or dump.default_export_name(target, fmt or "gz"))
            result = dump.export_to_file(target, path, fmt, force=force, progress=meter)
            where = str(path)
    finally:
        meter.done()
    rate = result.sql_bytes / max(result.seconds, 1e-6)
    click.echo(
        f"Exported {target.db.name} ({target.db.service}) to {where}: {_size(result.sql_bytes)} of SQL, "
        f"{_size(result.written)} written, {result.seconds:.1f} s ({_size(rate)}/s).",
        err=file == "-",
    )


@db.command("import")
@project_options
@_service_option
@click.argument("file")
@click.option("--keep", is_flag=True, help="Do not empty the database first.")
def db_import(
    files: tuple[str, ...], project_name: str | None, service: str | None, file: str, keep: bool
) -> None:
    """Load a dump from FILE (.sql, .gz, .zst, .xz, .bz2) or - (stdin); empties the database first."""
    import os

    from devstack import dump

    target = _db_target(files, project_name, service)
    if file == "-":
        if sys.stdin.isatty():
            raise UsageError("no dump on stdin", hint="pipe one in: devstack db import - < dump.sql.gz")
        source = dump.SqlSource(sys.stdin.buffer, "stdin")
        handle = None
    else:
        try:
            handle = open(file, "rb")  # closed below
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
        source = dump.SqlSource(handle, file, total=os.fstat(handle.fileno()).st_size)
    meter = _Meter("read")
    try:
        result = dump.import_(target, source, keep=keep, progress=meter)
    finally:
        meter.done()
        if handle is not None:
            handle.close()
    rate = result.read / max(result.seconds, 1e-6)
    tuned = f"; tuned for the load and restored: {', '.join(result.tuned)}" if result.tuned else ""
    click.echo(
        f"Imported {file if file != '-' else 'stdin'} into {target.db.name} ({target.db.service}): "
        f"{_size(result.read)} read, {_size(result.sql_bytes)} of SQL, {result.seconds:.1f} s "
        f"({_size(rate)}/s){'' if result.emptied else ', added to what was there'}{tuned}."
    )


@db.command("snapshot")
@project_options
@_service_option
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Replace a snapshot of the same name.")
def db_snapshot(
    files: tuple[str, ...], project_name: str | None, service: str | None, name: str | None, force: bool
) -> None:
    """Stop the database, archive its files as NAME (default: BRANCH-DATE-TIME), start it again."""
    from devstack import datadir

    target = _db_target(files, project_name, service)
    result = datadir.snapshot(target, name, force=force, step=_steps)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    snap = result.snapshot
    click.echo(
        f"Snapshot {snap.name} of {snap.service}: {_size(snap.data_bytes)} of files in "
        f"{_size(snap.size)}, {result.seconds:.1f} s"
        + (f" (branch {snap.branch})" if snap.branch else "")
        + "."
        + (f" {snap.service} is starting again." if result.restarted else "")
    )


@db.command("restore")
@project_options
@_service_option
@click.argument("name", required=False)
@click.option("--latest", is_flag=True, help="The newest snapshot of any branch.")
def db_restore(
    files: tuple[str, ...], project_name: str | None, service: str | None, name: str | None, latest: bool
) -> None:
    """Put a snapshot's files back (default: the newest snapshot of the current git branch)."""
    from devstack import datadir

    if name and latest:
        raise UsageError("give a NAME or --latest, not both")
    target = _db_target(files, project_name, service)
    branch = datadir.current_branch(target.project.root)
    snap = datadir.find_snapshot(target.project, target.db.service, name, latest=latest, branch=branch)
    result = datadir.restore(target, snap, step=_steps)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"Restored {snap.service} from snapshot {snap.name}"
        + (f" (branch {snap.branch})" if snap.branch else "")
        + f" in {result.seconds:.1f} s."
        + (f" {snap.service} is starting again." if result.restarted else "")
    )


@db.command("snapshots")
@project_options
@_service_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--delete", "delete", metavar="NAME", multiple=True, help="Delete a snapshot (repeatable).")
def db_snapshots(
    files: tuple[str, ...],
    project_name: str | None,
    service: str | None,
    as_json: bool,
    delete: tuple[str, ...],
) -> None:
    """List the snapshots (newest last); `--delete NAME` removes one."""
    import time

    from devstack import datadir

    project = _project(files, project_name)
    if delete:
        for name in delete:
            found = [s for s in datadir.list_snapshots(project, service) if s.name == name]
            if not found:
                raise datadir.SnapshotNotFound(
                    f"no snapshot {name!r}", hint="`devstack db snapshots` lists them"
                )
            if len(found) > 1:
                raise UsageError(
                    f"snapshot {name!r} exists for several services", hint="say which with --service"
                )
            datadir.delete_snapshot(found[0])
            click.echo(f"Deleted snapshot {name} of {found[0].service}.")
        return
    snaps = datadir.list_snapshots(project, service)
    if as_json:
        click.echo(report.as_json("snapshots", {"snapshots": [s.to_dict() for s in snaps]}))
        return
    if not snaps:
        click.echo("No snapshots yet: `devstack db snapshot` takes one.")
        return
    branch = datadir.current_branch(project.root)
    rows = [("NAME", "SERVICE", "BRANCH", "CREATED", "SIZE")]
    for snap in snaps:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(snap.created))
        mark = "*" if branch is not None and snap.branch == branch else " "
        rows.append((mark + snap.name, snap.service, snap.branch or "-", created, _size(snap.size)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    if branch:
        click.echo(f"(* taken on the current branch, {branch})")


@db.command("reset")
@project_options
@_service_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for the project name.")
def db_reset(files: tuple[str, ...], project_name: str | None, service: str | None, yes: bool) -> None:
    """Delete the database's files (through the engine: no sudo); `devstack up` starts it afresh."""
    from devstack import datadir

    target = _db_target(files, project_name, service)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("db reset deletes data: confirm with --yes when not on a terminal")
        typed = click.prompt(
            f"This deletes every file of {target.db.service} in {target.db.where()}. "
            "Type the project name to confirm"
        )
        if typed.strip() != target.project.name:
            raise UsageError("project name did not match; nothing was deleted")
    result = datadir.reset(target, step=_steps)
    click.echo(
        f"Deleted the files of {target.db.service} ({result.where}). "
        "`devstack up` initialises it afresh with the values in .env."
    )


@db.command("chown")
@project_options
@_service_option
def db_chown(files: tuple[str, ...], project_name: str | None, service: str | None) -> None:
    """Hand the database's files to the service's `user:` (through the engine: no sudo)."""
    from devstack import datadir

    target = _db_target(files, project_name, service)
    result = datadir.chown(target, step=_steps)
    click.echo(
        f"{result.where} now belongs to {result.owner}. "
        f"`devstack up` starts {target.db.service} again, as that user."
    )


@cli.command()
@project_options
@click.argument("services", nargs=-1)
@click.option("--timeout", default=120, show_default=True, help="Seconds to wait for restarted services.")
def restart(
    files: tuple[str, ...], project_name: str | None, services: tuple[str, ...], timeout: int
) -> None:
    """Reload SERVICES' configuration (Apache graceful, nginx reload, PHP-FPM), else restart them.

    Mounted configuration files (docker/*.conf) are read again without a rebuild; changes to
    the compose file or .env need `devstack up`.
    """
    from devstack import restart as restarting

    done = restarting.restart(_project(files, project_name), services, timeout=timeout, step=_steps)
    click.echo("Restarted: " + ", ".join(f"{r.service} ({r.how})" for r in done) + ".")


def _terminate_like_interrupt() -> None:
    """SIGTERM (a closed terminal, `kill`, a CI timeout) cleans up like Ctrl-C does."""
    import signal

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        pass  # not the main thread (embedded use): leave signals to the host program


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map errors to exit codes (the one place that does)."""
    args = list(sys.argv[1:] if argv is None else argv)
    _terminate_like_interrupt()
    _Options.debug = False
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
        if _Options.debug:
            import traceback

            traceback.print_exc()
        click.echo(report.error(exc.message, exc.hint, exc.details), err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = EXIT_INTERRUPTED
    sys.exit(code)
