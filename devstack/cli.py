"""The click layer: parse options, call the library, render. Nothing else lives here."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from devstack import DISTRIBUTION, __version__, report
from devstack.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_ENGINE,
    ChecksFailed,
    DevstackError,
    UsageError,
)

# The lazy-import rule (written here once for the whole package): start-up time is a budget
# (`devstack --help` within 1.5x of `python -c "import click"`, measured by benchmarks/bench.py).
# Modules that cost import time (the Docker SDK, cookiecutter, jinja2, jsonschema, yaml, json,
# pathlib) are imported inside the functions and commands that use them, never at the top of
# cli.py or of a module that cli.py imports at start-up. `check` and `up` get a head start
# before this module is imported (prestart.py starts `compose config`), and the entry point
# (__main__.py) exits without the interpreter's teardown.
if TYPE_CHECKING:
    from pathlib import Path

    from devstack.project import Project
    from devstack.terminal import View


class _Options:
    """Global options: main() needs --debug after the command has ended (click's context is
    gone then); -f/-p before the command name are Compose's habit (`devstack -f x.yml logs -f`)."""

    debug = False
    files: tuple[str, ...] = ()
    project_name: str | None = None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__,
    "-V",
    "--version",
    prog_name="devstack",
    message=f"%(prog)s %(version)s (PyPI package {DISTRIBUTION}: pipx install {DISTRIBUTION})",
)
@click.option("--debug", is_flag=True, envvar="DEVSTACK_DEBUG", help="Show tracebacks for every error.")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    type=click.Path(),
    help="Compose file, as in `docker compose -f FILE CMD` (repeatable).",
)
@click.option("-p", "--project-name", "project_name", help="Compose project name.")
def cli(debug: bool, files: tuple[str, ...], project_name: str | None) -> None:
    """Reproducible local development environments on Docker Compose.

    Create a project with `devstack new STACK DIR`; start it with `devstack up`. Compose files
    and the project name go before the command (`devstack -f x.yml logs -f`) or after it
    (`devstack up -f x.yml`; `logs` takes `--file` there, as its `-f` is --follow).
    """
    _Options.debug = debug
    _Options.files = files
    _Options.project_name = project_name


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

    if directory is not None and not directory.strip():
        raise UsageError(
            "the directory argument is empty",
            hint="name the directory to create, e.g. `devstack new drupal mysite` (`.` is the current one)",
        )
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


def project_options(fn: Callable[..., Any] | None = None, *, short_file: bool = True) -> Any:
    """-f/--file (repeatable) and -p/--project-name, as in Compose (`--file` only, when the
    command's own -f means something else)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option("-p", "--project-name", "project_name", help="Compose project name.")(fn)
        flags = ("-f", "--file") if short_file else ("--file",)
        return click.option(
            *flags,
            "files",
            multiple=True,
            type=click.Path(),
            help="Compose file (repeatable; default: discovered like Compose does).",
        )(fn)

    return decorate(fn) if fn is not None else decorate


def _confirm_by_name(what: str, warning: str, kind: str, name: str) -> None:
    """Deleting data: the user types the project's (or service's) name; --yes off a terminal."""
    if not sys.stdin.isatty():
        raise UsageError(f"{what} deletes data: confirm with --yes when not on a terminal")
    typed = click.prompt(f"{warning} Type the {kind} name ({name}) to confirm")
    if typed.strip() != name:
        raise UsageError(f"the {kind} name did not match; nothing was changed or deleted")


def _project(files: tuple[str, ...], project_name: str | None) -> Project:
    from devstack.project import Project

    return Project.load(files=(*_Options.files, *files), name=project_name or _Options.project_name)


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
    from devstack.background import Background
    from devstack.compose import ComposeRunner
    from devstack.errors import ComposeNotFound

    project = _project(files, project_name)
    runner: ComposeRunner | None = None
    model_job: Background | None = None
    try:  # `compose config` first: it runs while the checks are imported and the files read
        runner = ComposeRunner(project)
        model_job = Background(runner.model)
    except ComposeNotFound:
        pass  # lifecycle.check reports it
    from devstack import lifecycle
    from devstack.checks import has_errors

    result = lifecycle.check(project, runner, model_job=model_job)
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
        _confirm_by_name(
            "--volumes", f"This deletes the named volumes of {project.name}.", "project", project.name
        )
    with open_view(progress, quiet, verbose=verbose) as view:
        result = lifecycle.down(project, volumes=volumes, progress=view)
    click.echo(report.down_summary(project.name, volumes, result))


@cli.command()
@project_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(files: tuple[str, ...], project_name: str | None, as_json: bool) -> int:
    """Show services, state, health and URLs (exit 1 when one is not running or not healthy)."""
    from devstack import lifecycle

    statuses = lifecycle.status(_project(files, project_name))
    if as_json:
        click.echo(report.as_json("status", {"services": [s.to_dict() for s in statuses]}))
    else:
        click.echo(report.status_table(statuses, uptime=True))
    return 0 if statuses and all(s.ok for s in statuses) else EXIT_FAILED


class _TailLines(click.ParamType):
    """A number of lines (0 or more), or 'all'."""

    name = "N|all"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip().lower()
        if text == "all" or (text.isdigit() and int(text) >= 0):
            return text
        self.fail(f"{value!r} is not a number of lines (or 'all')", param, ctx)


@cli.command()
@project_options(short_file=False)
@click.option("-f", "--follow", is_flag=True, help="Follow the output (as `docker compose logs -f`).")
@click.option("-n", "--tail", default="200", show_default=True, type=_TailLines(), help="Lines from the end.")
@click.argument("services", nargs=-1, shell_complete=_complete_services)
def logs(
    files: tuple[str, ...],
    project_name: str | None,
    follow: bool,
    tail: str,
    services: tuple[str, ...],
) -> int:
    """Show the logs of the stack or of SERVICES.

    As in Compose, -f after `logs` is --follow; name compose files before the command
    (`devstack -f x.yml logs -f`) or with --file.
    """
    from devstack import lifecycle
    from devstack.compose import ComposeRunner

    for name in services:
        if name.endswith((".yml", ".yaml")):
            raise UsageError(
                f"{name} looks like a compose file, not a service",
                hint=f"after `logs`, -f is --follow (as in Compose): name the file before the command, "
                f"`devstack -f {name} logs`, or with `--file {name}`",
            )
    project = _project(files, project_name)
    lifecycle.own_containers(project)
    args = ["logs", "--tail", tail] + (["--follow"] if follow else [])
    return ComposeRunner(project).passthrough(*args, *(["--", *services] if services else []))


# A shell in the container: bash where the image has it, else sh.
SHELL = ["sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"]


@cli.command(name="exec", context_settings={"ignore_unknown_options": True})
@project_options
@click.argument("service", shell_complete=_complete_services)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def exec_(files: tuple[str, ...], project_name: str | None, service: str, command: tuple[str, ...]) -> int:
    """Run COMMAND in SERVICE's container (`devstack exec web -- ls -l`); without one, a shell.

    It runs as the service's user: the host user for services with
    `user: "${HOST_UID}:${HOST_GID}"`, so files it writes in bind mounts are yours.
    """
    from devstack import lifecycle
    from devstack.compose import ComposeRunner

    project = _project(files, project_name)
    lifecycle.own_containers(project)
    tty = [] if sys.stdin.isatty() and sys.stdout.isatty() else ["-T"]
    return ComposeRunner(project).passthrough("exec", *tty, service, *(command or SHELL))


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
    if any(f.code in ("DS701", "DS703") for f in findings):
        return EXIT_NO_ENGINE  # no engine, or no Compose: as the README's table says
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
    result = envfile.sync(
        project.root, compose_files=project.files, hold=lambda keys: dbcheck.held_secrets(project, keys)
    )
    for key, reason in result.held.items():
        click.echo(f"warning: {key} was not generated: {reason}.", err=True)
        click.echo(
            f"  hint: put the old value of {key} in .env; or `devstack db reset` (deletes that "
            "database) and `devstack up` to start afresh",
            err=True,
        )
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
        _confirm_by_name("--volumes", f"This deletes {', '.join(doomed)} for good.", "service", service)
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
    sql = f", {_size(result.sql_bytes)} of SQL" if result.sql_bytes is not None else ""
    click.echo(
        f"Imported {file if file != '-' else 'stdin'} into {target.db.name} ({target.db.service}): "
        f"{_size(result.read)} read{sql}, {result.seconds:.1f} s "
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
@click.argument("name", required=False, shell_complete=complete_snapshots)
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
@click.option(
    "--delete",
    "delete",
    metavar="NAME",
    multiple=True,
    shell_complete=complete_snapshots,
    help="Delete a snapshot (repeatable).",
)
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
        _confirm_by_name(
            "db reset",
            f"This deletes every file of {target.db.service} in {target.db.where()}.",
            "project",
            target.project.name,
        )
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
@click.argument("services", nargs=-1, shell_complete=_complete_services)
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


def _usage_hint(exc: click.ClickException) -> str:
    """Where to read how the command is used, in the same shape as every other error."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "devstack"
    return f"`{command} --help` shows the options and arguments"


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
        click.echo(report.error(exc.format_message(), _usage_hint(exc)), err=True)
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
