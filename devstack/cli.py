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
                    "proxy": result.proxy.__dict__ if result.proxy is not None else None,
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
    from devstack import envfile

    project = _project(files, project_name)
    result = envfile.sync(project.root)
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


# -- devstack events, devstack proxy (the router, issue 9) ------------------------------------


@cli.command()
@project_options
@click.option("--all", "all_projects", is_flag=True, help="Every Compose project, not only this one.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def events(files: tuple[str, ...], project_name: str | None, all_projects: bool, as_json: bool) -> None:
    """Stream lifecycle events (create, start, health_status, die, stop, destroy); Ctrl-C ends."""
    import json

    from devstack import events as lifecycle

    project = None if all_projects else _project(files, project_name).name
    click.echo(
        f"Following {'every Compose project' if project is None else project} (Ctrl-C ends).", err=True
    )
    for event in lifecycle.stream(project):
        if as_json:
            click.echo(json.dumps(event.to_dict()))
        else:
            click.echo(
                f"{event.local_time()}  {event.project}  {event.service or '-'}  {event.event}"
                + (f"  {event.detail}" if event.detail else "")
            )


def _proxy_name(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--name",
        default="devstack-proxy",
        envvar="DEVSTACK_PROXY_NAME",
        show_default=True,
        help="The proxy's name (its containers, network and volume are named after it).",
    )(fn)


@cli.group()
def proxy() -> None:
    """One shared reverse proxy: http://PROJECT.localhost/ for every running project."""


@proxy.command("start")
@click.option("--port", default=80, show_default=True, help="Port the proxy publishes.")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address the proxy publishes on.")
@click.option("--domain", default="localhost", show_default=True, help="Projects answer at PROJECT.DOMAIN.")
@click.option(
    "--engine",
    "engines",
    multiple=True,
    metavar="URL",
    help="Also follow this engine (pull mode; repeatable): unix:///path.sock or tcp://HOST:PORT, "
    "optionally ?address=HOST where its published ports are reached.",
)
@click.option(
    "--api", metavar="[ADDRESS:]PORT", help="Publish the API for `devstack proxy agent` (push mode)."
)
@click.option("--token", envvar="DEVSTACK_PROXY_TOKEN", help="Token agents must send (needed off loopback).")
@click.option("--grace", default=30.0, show_default=True, help="Seconds a lost engine's routes are kept.")
@click.option("--projects", default="*", show_default=True, help="Route only projects matching this pattern.")
@_proxy_name
def proxy_start(
    port: int,
    listen: str,
    domain: str,
    engines: tuple[str, ...],
    api: str | None,
    token: str | None,
    grace: float,
    projects: str,
    name: str,
) -> None:
    """Start the proxy (nginx + a watcher container); it keeps running after the terminal closes."""
    from devstack.proxy import control
    from devstack.proxy import report as proxy_report

    options = control.StartOptions(port, listen, domain, engines, api, token, grace, projects, name)
    result = control.start(options, progress=lambda line: click.echo(line, err=True))
    click.echo(proxy_report.started_text(result))


@proxy.command("stop")
@_proxy_name
def proxy_stop(name: str) -> None:
    """Stop and remove the proxy (projects keep running)."""
    from devstack.proxy import control

    found = control.stop(name)
    click.echo(f"The proxy {name!r} is stopped." if found else f"The proxy {name!r} was not running.")


@proxy.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_proxy_name
def proxy_status(as_json: bool, name: str) -> int:
    """What runs where: nginx, the watcher, the engines and agents followed (exit 1 when down)."""
    from devstack.proxy import control
    from devstack.proxy import report as proxy_report

    current = control.status(name)
    if as_json:
        click.echo(report.as_json("proxy-status", current.to_dict()))
    else:
        click.echo(proxy_report.status_text(current))
    return 0 if current.running else EXIT_FAILED


@proxy.command("routes")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_proxy_name
def proxy_routes(as_json: bool, name: str) -> int:
    """List the routes, and the projects that are not routed and why."""
    from devstack.proxy import control
    from devstack.proxy import report as proxy_report

    current = control.status(name)
    if as_json:
        state = current.state or {}
        click.echo(
            report.as_json(
                "proxy-routes",
                {
                    "running": current.running,
                    "routes": state.get("routes", []),
                    "unrouted": state.get("unrouted", []),
                },
            )
        )
    else:
        click.echo(proxy_report.routes_text(current))
    return 0 if current.running else EXIT_FAILED


@proxy.command("agent")
@click.option("--to", "to", required=True, metavar="URL", help="The proxy's API, e.g. http://10.0.0.1:8081.")
@click.option("--token", envvar="DEVSTACK_PROXY_TOKEN", help="The proxy's token (needed off loopback).")
@click.option(
    "--engine", "engine_url", metavar="URL", help="The engine to follow (default: as the docker CLI)."
)
@click.option("--address", help="Where the proxy reaches this host's published ports (default: detected).")
@click.option("--name", "agent_name", help="This agent's name at the proxy (default: the host name).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between heartbeats.")
@click.option("--grace", default=30.0, show_default=True, help="Seconds a lost engine's routes are kept.")
def proxy_agent(
    to: str,
    token: str | None,
    engine_url: str | None,
    address: str | None,
    agent_name: str | None,
    interval: float,
    grace: float,
) -> None:
    """Follow the engine here and push its routes to a proxy elsewhere (push mode; Ctrl-C ends)."""
    import threading
    import time as clock

    from devstack.engine import docker_host
    from devstack.proxy import agent

    settings = agent.check_settings(
        agent.AgentSettings(to, token, engine_url or docker_host(), address, agent_name, interval, grace)
    )

    def say(line: str) -> None:
        click.echo(f"{clock.strftime('%H:%M:%S')} {line}", err=True)

    say(f"agent {settings.name}: following {settings.engine_url}, pushing to {settings.to}")
    agent.run(settings, say, threading.Event())


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
