"""The click layer: parse options, call the library, render. Nothing else lives here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from devstack import DISTRIBUTION, __version__, report
from devstack.errors import EXIT_FAILED, EXIT_INTERRUPTED, ChecksFailed, DevstackError, UsageError

# The lazy-import rule (written here once for the whole package): start-up time is a budget
# (`devstack --help` within 1.5x of `python -c "import click"`, measured by benchmarks/bench.py).
# Modules that cost import time (the Docker SDK, cookiecutter, jinja2, jsonschema, yaml, json,
# pathlib) are imported inside the functions and commands that use them, never at the top of
# cli.py or of a module that cli.py imports at start-up.
if TYPE_CHECKING:
    from pathlib import Path

    from devstack.project import Project
    from devstack.terminal import View


class _Options:
    """Global options main() needs after the command has ended (click's context is gone then)."""

    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="devstack",
    message=f"%(prog)s %(version)s (PyPI package {DISTRIBUTION}: pipx install {DISTRIBUTION})",
)
@click.option("--debug", is_flag=True, envvar="DEVSTACK_DEBUG", help="Show tracebacks for every error.")
def cli(debug: bool) -> None:
    """Reproducible local development environments on Docker Compose.

    Create a project with `devstack new STACK DIR`; start it with `devstack up`.
    """
    _Options.debug = debug


# Shell completion (click's own mechanism; README): names from the library, items made here.


def _complete_stacks(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from devstack import stacks

    return [
        CompletionItem(s.name, help=s.description)
        for s in stacks.available()
        if s.name.startswith(incomplete)
    ]


def _project_args(ctx: click.Context) -> tuple[list[str], str | None, dict[str, Any]]:
    """-f/-p as typed so far (on the command or before it), and the command's other values."""
    files: list[str] = []
    name: str | None = None
    here: click.Context | None = ctx
    while here is not None:
        files = [*(here.params.get("files") or ()), *files]
        name = name or here.params.get("project_name")
        here = here.parent
    return files, name, ctx.params


def _complete_services(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Service names of the project here, without those already on the command line."""
    from click.shell_completion import CompletionItem

    from devstack import completion

    files, name, params = _project_args(ctx)
    typed = params.get("services") or ()
    typed = (typed,) if isinstance(typed, str) else tuple(typed)
    return [
        CompletionItem(service)
        for service in completion.service_names(files, name)
        if service.startswith(incomplete) and service not in typed
    ]


def _complete_tools(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from devstack import completion

    files, name, _ = _project_args(ctx)
    return [
        CompletionItem(tool, help=text)
        for tool, text in completion.tool_names(files, name)
        if tool.startswith(incomplete)
    ]


def _complete_addons(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from devstack import completion

    return [
        CompletionItem(addon, help=text)
        for addon, text in completion.addon_names()
        if addon.startswith(incomplete)
    ]


def complete_snapshots(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Snapshot names for `devstack db` commands (attach with `shell_complete=complete_snapshots`)."""
    from click.shell_completion import CompletionItem

    from devstack import completion

    files, name, params = _project_args(ctx)
    return [
        CompletionItem(snapshot)
        for snapshot in completion.snapshot_names(files, name, params.get("service"))
        if snapshot.startswith(incomplete)
    ]


@cli.command()
def stacks() -> None:
    """List the stacks `devstack new` can create."""
    from devstack import stacks as catalogue

    click.echo(report.stacks_table(catalogue.available()))


@cli.command()
@click.argument("stack", shell_complete=_complete_stacks)
@click.argument("directory", required=False, type=click.Path())
@click.option("--name", help="Project name (default: from the directory name).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Set a template variable.")
@click.option("--no-input", is_flag=True, help="Do not prompt (also when stdin is not a terminal).")
@click.option("--force", is_flag=True, help="Write into a non-empty directory; existing files are kept.")
@click.option("--dry-run", is_flag=True, help="Show the files that would be written; write nothing.")
@click.option(
    "--certs",
    type=click.Path(file_okay=False),
    help="Copy the CA certificates (*.crt) of this directory into docker/certs/ (default: new.certs).",
)
def new(
    stack: str,
    directory: str | None,
    name: str | None,
    settings: tuple[str, ...],
    no_input: bool,
    force: bool,
    dry_run: bool,
    certs: str | None,
) -> None:
    """Create a project from STACK in DIRECTORY (default: ./STACK).

    Default answers come from `new.answers` in the user config or DEVSTACK_NEW_ANSWERS_KEY
    (`devstack config`); --set wins over both.
    """
    from pathlib import Path

    from devstack import config, scaffold, stacks
    from devstack.errors import InvalidValue

    target = Path(directory or name or stack)
    values = scaffold.parse_settings(settings)
    chosen = stacks.find(stack)
    user = config.Config()
    defaults: dict[str, str] = {}
    for key, configured in user.answers(chosen.name, [v.name for v in chosen.variables]).items():
        try:
            defaults[key] = chosen.variable(key).validate(str(configured.value))
        except InvalidValue as exc:
            raise InvalidValue(f"{configured.where}: {exc.message}", hint=exc.hint) from None
    if not no_input and sys.stdin.isatty():
        for var in chosen.variables:
            if var.name in values:
                continue
            kind = click.Choice(list(var.choices)) if var.choices else str
            label = f"{var.name} ({var.help})" if var.help else var.name
            values[var.name] = click.prompt(label, default=defaults.get(var.name, var.default), type=kind)
    else:
        values = {**defaults, **values}
    cert_dir = user.get("new.certs", flag=certs, flag_name="--certs").value
    result = scaffold.create(
        stack,
        target,
        name=name,
        settings=values,
        force=force,
        dry_run=dry_run,
        certs=Path(cert_dir) if cert_dir else None,
    )
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


def progress_options(verbose_flags: tuple[str, ...] = ("-v", "--verbose")) -> Callable[..., Any]:
    """--progress MODE, -q/--quiet and --verbose for commands that show progress (open_view)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if verbose_flags:
            fn = click.option(
                *verbose_flags, "verbose", is_flag=True, help="Show Compose's full output (build logs too)."
            )(fn)
        fn = click.option("-q", "--quiet", is_flag=True, help="No progress; only the result and errors.")(fn)
        return click.option(
            "--progress",
            type=click.Choice(["auto", "live", "plain", "quiet"]),
            help="live: a line per service, redrawn; plain: a line per change (default: auto, "
            "live on a terminal; setting `progress`).",
        )(fn)

    return decorate


def open_view(progress: str | None, quiet: bool, *, as_json: bool = False, verbose: bool = False) -> View:
    """The progress view a command draws in (a context manager; the library calls it with Events)."""
    from devstack import config, terminal

    requested = "quiet" if quiet else config.Config().get("progress", progress, "--progress").value
    return terminal.open_view(terminal.choose(requested, as_json=as_json, verbose=verbose))


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
@click.argument("services", nargs=-1, shell_complete=_complete_services)
@click.option("--build", is_flag=True, help="Rebuild images before starting.")
@click.option(
    "--timeout",
    type=click.IntRange(min=1),
    help="Seconds to wait for healthy (default: the setting up.timeout, else 300).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON result; progress as JSON lines on stderr.")
@progress_options()
def up(
    files: tuple[str, ...],
    project_name: str | None,
    services: tuple[str, ...],
    build: bool,
    timeout: int | None,
    as_json: bool,
    progress: str | None,
    quiet: bool,
    verbose: bool,
) -> int:
    """Check, build if needed, start and wait until every service is healthy.

    On a terminal each service gets a live line (building, starting, waiting for health, ready
    in N s); elsewhere a plain line per change. -v shows Compose's own output too.
    """
    from devstack import lifecycle

    project = _project(files, project_name)
    try:
        with open_view(progress, quiet, as_json=as_json, verbose=verbose) as view:
            result = lifecycle.up(project, services, build=build, timeout=timeout, progress=view)
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
@progress_options(verbose_flags=("--verbose",))
def down(
    files: tuple[str, ...],
    project_name: str | None,
    volumes: bool,
    yes: bool,
    progress: str | None,
    quiet: bool,
    verbose: bool,
) -> None:
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
    with open_view(progress, quiet, verbose=verbose) as view:
        lifecycle.down(project, volumes=volumes, progress=view)
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
@click.argument("services", nargs=-1, shell_complete=_complete_services)
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
@click.argument("service", shell_complete=_complete_services)
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
    result = envfile.sync(project.root, compose_files=project.files)
    if not (project.root / ".env.example").is_file() and not result.changed:
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
    for key, before, after in result.updated:
        why = f" ({result.host_user.reason})" if result.host_user else ""
        click.echo(f"Updated {key} in .env: {before or '(empty)'} -> {after}{why}.")


# -- devstack run: the project's tools (x-devstack.tools) -------------------------------------


@cli.command(name="run", context_settings={"allow_interspersed_args": False})
@project_options
@click.option("--json", "as_json", is_flag=True, help="List the tools as JSON.")
@click.argument("tool", required=False, shell_complete=_complete_tools)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_tool(
    files: tuple[str, ...], project_name: str | None, as_json: bool, tool: str | None, args: tuple[str, ...]
) -> int:
    """Run a project tool in its service's container: devstack run npm install express

    Without TOOL, list the tools the project declares (x-devstack.tools in its compose file).
    Everything after TOOL goes to the tool unchanged, options included; its output, input and
    exit code pass through.
    """
    from devstack import tools

    project = _project(files, project_name)
    if tool is None:
        found = tools.declared(project)
        if as_json:
            click.echo(report.as_json("tools", {"tools": [t.to_dict() for t in found.tools.values()]}))
        else:
            click.echo(report.tools_table(list(found.tools.values())))
        return 0
    if as_json:
        raise UsageError("--json lists the tools; it does not run one", hint=f"devstack run {tool} ...")
    chosen = tools.find(project, tool)
    tools.ensure_running(project, chosen)
    from devstack.compose import ComposeRunner

    tty = sys.stdin.isatty() and sys.stdout.isatty()
    return ComposeRunner(project).passthrough(*tools.exec_args(chosen, args, tty=tty))


# -- add / remove: backing services from the catalogue (issue 11) ------------------------------


@cli.command()
@project_options
@click.argument("service", required=False, shell_complete=_complete_addons)
@click.option("--as", "as_name", metavar="NAME", help="Service name (default: the catalogue's).")
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="SERVICE",
    shell_complete=_complete_services,
    help="The service to wire it into (repeatable; needed when several could use it).",
)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Change a setting (port, ...).")
@click.option("--dry-run", is_flag=True, help="Show the change as a diff; write nothing.")
def add(
    files: tuple[str, ...],
    project_name: str | None,
    service: str | None,
    as_name: str | None,
    to: tuple[str, ...],
    settings: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Add SERVICE (redis, postgres, ...) to the project, wired into the app; no SERVICE: list them."""
    from devstack import addons

    if service is None:
        click.echo(report.addons_table(list(addons.catalogue().values())))
        return
    plan = addons.plan_add(
        _project(files, project_name),
        service,
        name=as_name,
        to=to,
        settings=addons.parse_settings(settings),
    )
    if dry_run:
        click.echo(plan.diff(), nl=False)
        click.echo(report.added(addons.Result(plan, [c.label for c in plan.changes], dry_run=True)))
        return
    try:
        result = addons.apply(plan)
    except ChecksFailed as exc:
        click.echo(report.findings_text(exc.findings), err=True)
        raise
    click.echo(report.added(result))


@cli.command()
@project_options
@click.argument("service", shell_complete=_complete_services)
@click.option("-v", "--volumes", is_flag=True, help="Also delete its data under data/ (asks first).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting data.")
@click.option("--dry-run", is_flag=True, help="Show the change as a diff; write nothing.")
def remove(
    files: tuple[str, ...], project_name: str | None, service: str, volumes: bool, yes: bool, dry_run: bool
) -> None:
    """Remove SERVICE, its wiring and its keys; its data is kept unless --volumes."""
    from devstack import addons

    plan = addons.plan_remove(_project(files, project_name), service, volumes=volumes)
    if dry_run:
        click.echo(plan.diff(), nl=False)
        click.echo(report.removed(addons.Result(plan, [c.label for c in plan.changes], dry_run=True)))
        return
    doomed = report.data_of(plan)
    if volumes and doomed and not yes:
        if not sys.stdin.isatty():
            raise UsageError("--volumes deletes data: confirm with --yes when not on a terminal")
        typed = click.prompt(
            f"This deletes {', '.join(doomed)} for good. Type the service name ({service}) to confirm"
        )
        if typed.strip() != service:
            raise UsageError("the name did not match; nothing was changed or deleted")
    try:
        result = addons.apply(plan)
    except ChecksFailed as exc:
        click.echo(report.findings_text(exc.findings), err=True)
        raise
    click.echo(report.removed(result))


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
@click.option("--port", type=int, help="Port the proxy publishes (default: proxy.port, else 80).")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address the proxy publishes on.")
@click.option("--domain", help="Projects answer at PROJECT.DOMAIN (default: proxy.domain, else localhost).")
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
@progress_options(verbose_flags=())
def proxy_start(
    port: int | None,
    listen: str,
    domain: str | None,
    engines: tuple[str, ...],
    api: str | None,
    token: str | None,
    grace: float,
    projects: str,
    name: str,
    progress: str | None,
    quiet: bool,
) -> None:
    """Start the proxy (nginx + a watcher container); it keeps running after the terminal closes."""
    from devstack import config
    from devstack.proxy import control
    from devstack.proxy import report as proxy_report

    user = config.Config()
    port = user.get("proxy.port", flag=port, flag_name="--port").value
    domain = user.get("proxy.domain", flag=domain, flag_name="--domain").value
    options = control.StartOptions(port, listen, domain, engines, api, token, grace, projects, name)
    with open_view(progress, quiet) as view:
        result = control.start(options, progress=view.step)
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


# -- devstack config, shell completion (issue 12) --------------------------------------------


def _complete_config_keys(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from devstack import config

    keys = [(s.key, s.help) for s in config.SETTINGS] + [
        (f"{config.ANSWERS}.", "a default answer for `devstack new` (new.answers[.STACK].KEY)")
    ]
    return [CompletionItem(key, help=text) for key, text in keys if key.startswith(incomplete)]


@cli.group(name="config", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@project_options
@click.pass_context
def config_(ctx: click.Context, as_json: bool, files: tuple[str, ...], project_name: str | None) -> None:
    """Show devstack's settings: each effective value and where it came from.

    Precedence: flag > environment (DEVSTACK_*) > project (x-devstack.config) > user config
    file > built-in. `devstack config set KEY VALUE` writes the user config file.
    """
    if ctx.invoked_subcommand is not None:
        return
    from devstack import config

    model, where = _project_config(files, project_name)
    current = config.Config.for_model(model, project_where=where)
    values = current.values()
    if as_json:
        click.echo(
            report.as_json(
                "config",
                {
                    "file": str(current.path),
                    "file_exists": current.path.is_file(),
                    "values": [v.to_dict() for v in values],
                    "problems": current.problems(),
                },
            )
        )
    else:
        click.echo(report.config_table(values, current.path, current.problems()))


def _project_config(files: tuple[str, ...], project_name: str | None) -> tuple[Any, str]:
    """The project's model (for x-devstack.config) and how to name it; (None, "") outside one."""
    from devstack.errors import ComposeNotFound, ProjectNotFound

    try:
        project = _project(files, project_name)
    except ProjectNotFound:
        return None, ""
    where = f"{project.files[0].name} x-devstack.config"
    try:
        from devstack.compose import ComposeRunner

        model = ComposeRunner(project).model().data
    except ComposeNotFound:
        model = None
    if model is None:  # no Compose, or it rejects the project: the files as written
        import yaml

        model = {}
        for path in project.files:
            try:
                data = yaml.safe_load(path.read_text("utf-8"))
            except (OSError, ValueError, yaml.YAMLError):
                continue
            if isinstance(data, dict) and isinstance(data.get("x-devstack"), dict):
                model = {"x-devstack": data["x-devstack"]}
    return model, where


@config_.command("get")
@click.argument("key", shell_complete=_complete_config_keys)
def config_get(key: str) -> None:
    """Print the effective value of KEY (empty when unset)."""
    from devstack import config

    model, where = _project_config((), None)
    value = config.Config.for_model(model, project_where=where).get(key).value
    click.echo("" if value is None else value)


@config_.command("set")
@click.argument("key", shell_complete=_complete_config_keys)
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Write KEY = VALUE into the user config file (checked; comments are kept)."""
    from devstack import config

    written = config.set_value(key, value)
    click.echo(f"{written.key} = {written.value!r} in {written.where}")
    shadow = os.environ.get(config.env_name(key))
    if shadow:
        click.echo(f"note: {config.env_name(key)}={shadow} is set and wins over the file", err=True)


@config_.command("unset")
@click.argument("key", shell_complete=_complete_config_keys)
def config_unset(key: str) -> None:
    """Remove KEY from the user config file."""
    from devstack import config

    path = config.user_file()
    if config.unset_value(key, path):
        click.echo(f"{key} removed from {path}")
    else:
        click.echo(f"{key} is not set in {path}")


@config_.command("path")
def config_path() -> None:
    """Print where the user config file is (it may not exist yet)."""
    from devstack import config

    click.echo(str(config.user_file()))


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
