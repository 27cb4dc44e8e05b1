"""check / up / down / status as steps: pre-flight, compose, wait until ready, runtime checks.

Returns result objects for report.py; progress goes to a callback as Events. Never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from devstack.background import Background
from devstack.checks import Finding, Severity, has_errors
from devstack.compose import ComposeModel, ComposeRunner
from devstack.errors import (
    ChecksFailed,
    ComposeFailed,
    ComposeNotFound,
    DevstackError,
    EngineUnavailable,
    Interrupted,
    NotReady,
    ProjectInUse,
)
from devstack.progress import Board, Event, Progress  # Event and Progress: re-exported here
from devstack.project import Project

if TYPE_CHECKING:
    from devstack import envfile
    from devstack.checks.context import EngineView, Sources
    from devstack.engine import ContainerInfo
    from devstack.upchecks import RuntimeChecks

# How often the containers are looked at while `up` waits: each look is one request per
# container, so small projects are looked at more often (readiness is seen sooner).
POLL_SECONDS = 0.25
POLL_SECONDS_MIN = 0.1
# A container without a healthcheck counts as ready once it has stayed running this long:
# a process that dies at start (bad config, missing file) shows as "running" for a moment.
SETTLE_SECONDS = 1.0
RESTARTS_BEFORE_GIVING_UP = 3
# With a restart policy a crash is followed by a quick restart, so a crash loop looks "running"
# most of the time: such a container (without a healthcheck) must stay up longer to count as ready.
RESTART_SETTLE_SECONDS = 2.0
_RESTARTING_POLICIES = ("always", "unless-stopped", "on-failure")
# Exit 137/143 means killed by a signal: maybe the engine itself is stopping. Give it this long
# to go away (then the error is about the engine) before blaming the service.
KILLED_GRACE_SECONDS = 2.0
# Engine timestamps may run a little ahead of or behind this machine's clock (a VM-hosted engine).
CLOCK_SLACK_SECONDS = 2.0
_WEB_PORTS = {
    80: "http",
    8080: "http",
    8000: "http",
    3000: "http",
    5000: "http",
    4200: "http",
    5173: "http",
    8888: "http",
    443: "https",
    8443: "https",
}


Containers = Callable[[], "list[ContainerInfo]"]  # one look at the project's containers
Clock = Callable[[], float]  # monotonic seconds


def _quiet(_event: Event) -> None:
    return None


@dataclass
class ServiceStatus:
    """One service (or container) as `up` and `status` report it."""

    service: str
    container: str
    state: str  # running, exited, restarting, created, paused, dead, or "not created"
    health: str
    urls: list[str] = field(default_factory=list)
    ready_seconds: float | None = None  # `up`: seconds until ready (None: not started by this up)
    exit_code: int | None = None  # exited containers
    restarts: int = 0
    uptime_seconds: float | None = None  # running containers: since their (last) start

    @property
    def ok(self) -> bool:
        """Running (and healthy, where it has a healthcheck), or a job that exited with 0."""
        if self.state == "exited":
            return self.exit_code == 0
        return self.state == "running" and self.health in ("", "healthy")

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


class CheckResult(NamedTuple):
    """What `check` found, and what it read to find it."""

    findings: list[Finding]
    sources: Sources  # the compose files as written, parsed once
    compose: ComposeModel | None  # Compose's answer; None when Compose is not installed

    @property
    def model(self) -> dict[str, Any]:
        """Compose's merged model of every profile ({} without one)."""
        return (self.compose.data if self.compose is not None else None) or {}


@dataclass
class UpResult:
    """What `up` did: the services, the findings, how long it took."""

    project: str
    findings: list[Finding]
    services: list[ServiceStatus]
    runtime: list[Finding]
    seconds: float
    proxy: Any = None  # proxy.link.ProjectLink when the shared proxy runs (devstack proxy)


# -- check -----------------------------------------------------------------------------------


def check(
    project: Project,
    runner: ComposeRunner | None = None,
    model_job: Background | None = None,
    engine_view: EngineView | None = None,
) -> CheckResult:
    """Static findings: the files as written, and Compose's merged model when Compose answers.

    `model_job` is a `runner.model` the caller started already. `engine_view` (for tests)
    replaces the engine the checks ask (its version, whether external networks exist).
    """
    no_compose = "Docker Compose is not installed"
    try:
        runner = runner or ComposeRunner(project)
        # `compose config` runs while the files are read and the checks imported.
        model_job = model_job or Background(runner.model)
    except ComposeNotFound as exc:
        runner, model_job, no_compose = None, None, exc.message
    from devstack.checks import static
    from devstack.checks.capabilities import start_interval_users
    from devstack.checks.context import load_sources

    sources = load_sources(project)
    engine = engine_view or _Engine()
    compose: ComposeModel | None = None
    if runner is not None and model_job is not None:
        if has_errors(list(sources.findings)):
            # A file that does not parse (or expands without bound, a YAML alias bomb) is reported
            # by the checks; Compose's answer adds nothing and could take all memory: stop it.
            runner.cancel()
            _settle(model_job)
            compose = ComposeModel(None, unavailable="the compose files have errors (above)")
        else:
            if (
                model_job.is_alive()
                and isinstance(engine, _Engine)
                and any(start_interval_users(source.services()) for source in sources.files)
            ):
                engine.version()  # the capabilities check will ask: ask while Compose works
            model_job.join()
            compose = model_job.value
    findings = static.run(project, sources, compose, engine=engine, no_compose=no_compose)
    return CheckResult(findings, sources, compose)


class _Engine:
    """The engine as checks see it, imported only when a check asks (most never do)."""

    def __init__(self) -> None:
        self._version: tuple[str | None] | None = None

    def version(self) -> str | None:
        if self._version is None:
            from devstack import engine

            self._version = (engine.version(),)
        return self._version[0]

    def exists(self, kind: str, name: str) -> bool | None:
        from devstack import engine

        return engine.exists(kind, name)


# -- up --------------------------------------------------------------------------------------


def up(
    project: Project,
    services: Sequence[str] = (),
    *,
    build: bool = False,
    timeout: float | None = None,
    progress: Progress = _quiet,
) -> UpResult:
    """Pre-flight, prepare bind mounts, `compose up -d`, wait until ready, runtime checks.

    `timeout` None: the setting `up.timeout` (environment, project, user file; 300 s).
    """
    from devstack import engine

    started = time.monotonic()
    runner = ComposeRunner(project)
    _require_compose_v2(project, runner)
    # `compose config` starts at once; the .env sync and the engine ping run while it works.
    # If the sync changes .env, Compose's answer may be stale, so it is asked again.
    model_job = Background(runner.model)
    env_result = _sync_env(project, progress)
    engine.quick_ping()  # pre-flight without importing the SDK: the socket answers /_ping
    # Never take over another checkout's containers: asked of the engine while the checks run.
    ownership = Background(lambda: own_containers(project))
    if env_result is not None and env_result.changed:
        _settle(model_job)
        model_job = Background(runner.model)
    checked = _preflight(project, runner, model_job, progress)
    ownership.join()
    wanted = _services_to_start(project, checked, services)
    _prepare_bind_mounts(project, checked.model, wanted, progress)
    up_wall = time.time()
    readiness = Readiness(wanted, started, _timeout(timeout, checked.model), up_wall)
    board = Board(project.name, wanted, progress, container_names=_container_names(checked.model))
    runtime = _runtime_checks(runner, checked, readiness)
    create_first = may_create_only(runner.binary.v1, build, wanted, checked.model, ownership.value)
    containers = _start_and_wait(
        project, runner, services, build, create_first, readiness, board, runtime.poll
    )
    runtime_findings = runtime.finish(containers)  # shown with the table, before the verdict
    statuses = [_status(c, readiness.seconds_to_ready(c.id)) for c in containers if c.service in wanted]
    from devstack.proxy.link import project_link  # the URL through the shared proxy, if one runs

    link = project_link(project.name)
    seconds = time.monotonic() - started
    return UpResult(project.name, checked.findings, statuses, runtime_findings, seconds, proxy=link)


def _timeout(flag: float | None, model: Mapping[str, Any]) -> float:
    """--timeout, else the setting `up.timeout`: environment > x-devstack.config > user file > 300."""
    if flag is not None:
        return float(flag)
    from devstack import config

    return float(config.Config.for_model(model).get("up.timeout").value)


def _container_names(model: Mapping[str, Any]) -> dict[str, str]:
    """Services' own `container_name`s (Compose's output names containers, the view names services)."""
    from devstack import syntax

    return {
        str(service["container_name"]): name
        for name, service in syntax.services(model).items()
        if isinstance(service, Mapping) and service.get("container_name")
    }


def _require_compose_v2(project: Project, runner: ComposeRunner) -> None:
    """Projects devstack generated (with an `x-devstack:` block) use features of Compose v2."""
    if not runner.binary.v1:
        return
    for path in project.files:
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            continue  # the checks report an unreadable file
        if any(line.startswith("x-devstack:") for line in text.splitlines()):
            raise ComposeNotFound(
                f"this project needs Compose v2 (`docker compose`); only Compose v1 "
                f"({runner.binary.version or 'docker-compose'}) is installed",
                hint="install the Compose v2 plugin: https://docs.docker.com/compose/install/linux/ "
                "(Debian/Ubuntu: docker-compose-plugin); Compose v1 is end of life",
            )


def _preflight(
    project: Project, runner: ComposeRunner, model_job: Background, progress: Progress
) -> CheckResult:
    """The static checks; nothing starts when they find an error."""
    if runner.binary.v1:
        progress(
            Event("warning", "Compose v1 is end of life; install the Compose v2 plugin (`docker compose`)")
        )
    checked = check(project, runner, model_job=model_job)
    if has_errors(checked.findings):
        count = sum(1 for f in checked.findings if f.severity >= Severity.ERROR)
        raise ChecksFailed(
            f"{count} error(s) in the stack; nothing was started",
            checked.findings,
            hint="fix them and run `devstack up` again (`devstack check` shows the same list)",
        )
    return checked


def _services_to_start(project: Project, checked: CheckResult, services: Sequence[str]) -> set[str]:
    """The named services and what they depend on, or every service of the active profiles."""
    from devstack import syntax

    if services:
        return _with_dependencies(checked.model, services)
    active = syntax.active_profiles(project.interpolation_env())
    return {n for n, s in syntax.services(checked.model).items() if syntax.is_active(s, active)}


def _prepare_bind_mounts(
    project: Project, model: Mapping[str, Any], wanted: set[str], progress: Progress
) -> list[Path]:
    """Create missing bind-mount source directories before `compose up`, as the invoking user.

    Left to Docker, they are created by the engine, owned by root on Linux (see ownership.py).
    """
    from devstack import ownership

    prepared = ownership.prepare_bind_mounts(project, model, wanted)
    if prepared.created:
        root = project.root.resolve()
        shown = ", ".join(str(p.resolve().relative_to(root)) for p in prepared.created)
        progress(Event("mounts", f"created {shown}"))
    for note in prepared.warnings():
        progress(Event("warning", note))
    return prepared.created


def may_create_only(
    v1: bool, build: bool, wanted: set[str], model: Mapping[str, Any], before: Sequence[ContainerInfo]
) -> bool:
    """Whether `create` may be all `up` needs (see created_all_running): every wanted service was
    running, nothing is to be built, and no dependency restarts its dependents (`depends_on:
    {restart: true}`: Compose restarts them only within the `up` that recreated the dependency)."""
    return not (v1 or build or _restarts_dependents(model, wanted)) and all_running(before, wanted)


def all_running(containers: Sequence[ContainerInfo], wanted: set[str]) -> bool:
    """Every wanted service has containers, and all of them are running."""
    states: dict[str, list[str]] = {}
    for info in containers:
        states.setdefault(info.service, []).append(info.state)
    return all(states.get(name) and all(state == "running" for state in states[name]) for name in wanted)


def _restarts_dependents(model: Mapping[str, Any], wanted: set[str]) -> bool:
    from devstack import syntax

    for name, service in syntax.services(model).items():
        depends = service.get("depends_on") if name in wanted and isinstance(service, Mapping) else None
        if isinstance(depends, Mapping) and any(
            isinstance(spec, Mapping) and spec.get("restart") for spec in depends.values()
        ):
            return True
    return False


def _start_and_wait(
    project: Project,
    runner: ComposeRunner,
    services: Sequence[str],
    build: bool,
    create_first: bool,
    readiness: Readiness,
    board: Board,
    on_look: Callable[[list[ContainerInfo]], None] = lambda containers: None,
) -> list[ContainerInfo]:
    """`compose up -d` (or `create` alone, see created_all_running), each service's state shown as
    it changes; then wait until all are ready (each look after Compose is passed to `on_look`)."""
    from devstack import engine

    def look() -> list[ContainerInfo]:
        return engine.project_containers(project.name)

    def show(containers: list[ContainerInfo]) -> None:
        board.look(
            containers,
            lambda c: readiness.seconds_to_ready(c.id),
            lambda c: _started_after(c.started_at, readiness.up_wall - CLOCK_SLACK_SECONDS),
        )

    def look_and_show() -> list[ContainerInfo]:
        containers = look()
        readiness.observe(containers)
        show(containers)
        on_look(containers)
        return containers

    watcher = _Watcher(look, readiness, show)
    watcher.start()
    named = ["--", *services] if services else []
    try:
        try:
            if not (create_first and created_all_running(runner, named, readiness.wanted, look, board)):
                up = ["up", "-d", "--remove-orphans", *(["--build"] if build else [])]
                runner.stream(*up, *named, on_line=board.compose_line)
        except ComposeFailed as exc:
            raise _compose_stopped(project, exc, readiness.wanted, board) from None
        return _wait(readiness, look_and_show, lambda info, what: _not_ready(runner, info, what, board))
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: " + _started_summary(project.name),
            hint="`devstack down` stops what was started; `devstack up` carries on",
        ) from None
    finally:
        watcher.stop()


def created_all_running(
    runner: ComposeRunner,
    named: list[str],
    wanted: set[str],
    look: Callable[[], list[ContainerInfo]],
    board: Board,
) -> bool:
    """On a running stack: `compose create` alone, when it leaves every wanted service running.

    `up -d` is `create` (Compose's convergence: recreate what changed, build or pull what is
    missing, remove orphans) then `start`, which starts what is not running, in dependency
    order. When every container is running after `create`, `start` has nothing to start, but
    it still waits one 500 ms tick per `depends_on` condition before it looks (Compose 2.x):
    most of an unchanged `up -d`. So `create` runs first and `start` only when something is
    not running (created, recreated or stopped); `up -d` then does it, as always. Readiness
    and health are then waited for and checked by devstack, as after `up -d`.
    """
    try:
        runner.stream("create", "--remove-orphans", *named, on_line=board.compose_line)
    except ComposeFailed:
        return False  # `up -d` runs next, and says what is wrong if it still is
    return all_running(look(), wanted)


def _runtime_checks(runner: ComposeRunner, checked: CheckResult, readiness: Readiness) -> RuntimeChecks:
    """Links, required variables and database credentials, checked from inside what this `up`
    (re)started, each as soon as it can be (see upchecks.py). An unchanged running stack was
    checked when it started."""
    from devstack.upchecks import RuntimeChecks

    def changed(info: ContainerInfo) -> bool:
        return _started_after(info.started_at, readiness.up_wall - CLOCK_SLACK_SECONDS)

    return RuntimeChecks(
        checked.model,
        # Which variables are required (`${VAR:?}`) is only visible before interpolation.
        lambda: runner.model("--no-interpolate").data or {},
        changed,
        lambda info: info.id in readiness.ready_at,
    )


def _sync_env(project: Project, progress: Progress) -> envfile.SyncResult | None:
    """`.env` from `.env.example` (created, or missing keys added) and HOST_UID/HOST_GID for
    compose files that use them (see ownership.py); each change reported as an event."""
    from devstack import envfile

    def hold(keys: Sequence[str]) -> Mapping[str, str]:  # asked only when secrets are generated
        from devstack import dbcheck

        return dbcheck.held_secrets(project, keys)

    result = envfile.sync(project.root, compose_files=project.files, hold=hold)
    if result.held:  # a fresh secret would not open a database that already has data
        from devstack import dbcheck

        raise ChecksFailed(
            f"{len(result.held)} database secret(s) not generated; nothing was started",
            [dbcheck.held_finding(key, why) for key, why in result.held.items()],
            hint="put the old value(s) in .env, or `devstack db reset` to start that database afresh",
        )
    source = " from .env.example" if (project.root / ".env.example").is_file() else ""
    if result.created:
        generated = ", ".join(result.generated) or "no secrets"
        progress(Event("env", f"created .env{source} ({len(result.added)} keys, generated {generated})"))
    elif result.added:
        progress(Event("env", f"added to .env{source}: {', '.join(result.added)}"))
    for key, before, after in result.updated:
        why = f" ({result.host_user.reason})" if result.host_user else ""
        progress(Event("env", f"updated {key} in .env: {before or '(empty)'} -> {after}{why}"))
    return result


def _settle(job: Background) -> None:
    """Wait for a job whose result is no longer wanted; its errors do not matter either."""
    try:
        job.join()
    except Exception:  # a stale `compose config`: the next one reports what is wrong
        pass


def _started_after(started_at: str, moment: float) -> bool:
    """Whether an engine timestamp (RFC 3339, nanoseconds) is later than `moment` (epoch)."""
    from datetime import datetime, timezone

    text = started_at.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        when = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        return True  # unknown: check it rather than skip it
    return when.timestamp() >= moment


def _with_dependencies(model: Mapping[str, Any], services: Sequence[str]) -> set[str]:
    from devstack import syntax

    defined = syntax.services(model)
    wanted: set[str] = set()
    todo = list(services)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in defined:
            from devstack.errors import UsageError

            raise UsageError(
                f"no service {name!r} in this project",
                hint=f"services: {', '.join(sorted(defined)) or 'none'}",
            )
        wanted.add(name)
        todo.extend(d.service for d in syntax.dependencies(defined[name]) if d.service in defined)
    return wanted


# -- waiting until ready ---------------------------------------------------------------------


class ServiceFailed(Exception):
    """A wanted service failed while `up` waited for it (raised by Readiness)."""

    def __init__(self, info: ContainerInfo | None, service: str, what: str) -> None:
        super().__init__(f"service {service} {what}")
        self.info = info
        self.service = service
        self.what = what


class Readiness:
    """Decides, from successive looks at the project's containers, when the wanted services are
    ready, and which one failed and how. Time comes from `clock`, so every branch is testable.

    One look can lie: a container that crashes every second and is restarted by its restart
    policy looks "running" most of the time. So restarts are counted over the whole wait, and a
    container that (re)started recently must stay running for a while before it counts as ready.
    """

    def __init__(
        self, wanted: set[str], started: float, timeout: float, up_wall: float, clock: Clock = time.monotonic
    ) -> None:
        self.wanted = wanted
        self.started = started  # clock() when `up` started
        self.timeout = timeout
        self.up_wall = up_wall  # epoch seconds when `compose up` started (engine timestamps)
        self.clock = clock
        # Per container id:
        self.ready_at: dict[str, float] = {}  # clock() when first seen ready (since its last start)
        self.running_since: dict[str, float] = {}  # clock() when seen running since its last start
        self.started_at: dict[str, str] = {}  # the engine's StartedAt last seen
        self.first_restarts: dict[str, int] = {}  # RestartCount at the first look
        self.restarted: set[str] = set()  # restarted while `up` waited
        self.killed_seen: dict[str, float] = {}  # clock() when first seen killed

    def seconds_to_ready(self, container_id: str) -> float | None:
        """Seconds from the start of `up` until this container was ready (None: not seen ready)."""
        seen = self.ready_at.get(container_id)
        return None if seen is None else max(0.0, seen - self.started)

    def observe(self, containers: list[ContainerInfo]) -> None:
        """Note starts, restarts and readiness of each container."""
        now = self.clock()
        for info in containers:
            self.first_restarts.setdefault(info.id, info.restart_count)
            if self.started_at.get(info.id, info.started_at) != info.started_at:
                # Started again (a restart policy, or `compose up` recreated nothing but restarted it)
                self.running_since.pop(info.id, None)
                self.ready_at.pop(info.id, None)
                if info.restart_count > self.first_restarts[info.id]:
                    self.restarted.add(info.id)
            self.started_at[info.id] = info.started_at
            if info.state == "running":
                self.running_since.setdefault(info.id, now)
            else:
                self.running_since.pop(info.id, None)
            if _is_ready(info) and self._stable(info, now):
                self.ready_at.setdefault(info.id, now)

    def pending(self, containers: list[ContainerInfo]) -> list[tuple[str, str]]:
        """(service, state) of what is not ready yet; raises ServiceFailed for a failure."""
        self.observe(containers)
        now = self.clock()
        by_service: dict[str, list[ContainerInfo]] = {}
        for info in containers:
            by_service.setdefault(info.service, []).append(info)
        waiting = []
        for service in sorted(self.wanted):
            infos = by_service.get(service, [])
            if not infos:
                waiting.append((service, "not created"))
            for info in infos:
                state = self._judge(info, now)
                if state is not None:
                    waiting.append((service, state))
        if waiting and now > self.started + self.timeout:
            service, state = waiting[0]
            late = by_service.get(service)
            if not late:
                raise ServiceFailed(None, service, f"has no container after {self.timeout:.0f} s")
            raise ServiceFailed(late[0], service, f"is not ready after {self.timeout:.0f} s ({state})")
        return waiting

    def _judge(self, info: ContainerInfo, now: float) -> str | None:
        """None when the container is ready (or done); else its state; raises on failure."""
        if info.state in ("exited", "dead"):
            if info.exit_code == 0:
                return None  # a one-shot job that completed
            if info.oom_killed:
                raise ServiceFailed(info, info.service, "ran out of memory (killed by the kernel)")
            if info.exit_code in (137, 143):
                if now - self.killed_seen.setdefault(info.id, now) < KILLED_GRACE_SECONDS:
                    return "killed"
                raise ServiceFailed(info, info.service, f"was killed (exit {info.exit_code})")
            raise ServiceFailed(info, info.service, f"exited with code {info.exit_code}")
        if info.health == "unhealthy":
            raise ServiceFailed(info, info.service, "is unhealthy")
        during_wait = info.restart_count - self.first_restarts.get(info.id, info.restart_count)
        if during_wait >= RESTARTS_BEFORE_GIVING_UP or (
            info.state == "restarting" and info.restart_count >= RESTARTS_BEFORE_GIVING_UP
        ):
            raise ServiceFailed(info, info.service, "keeps crashing")
        if not _is_ready(info):
            return info.health or info.state
        if not self._stable(info, now):
            return "restarted" if info.id in self.restarted else "starting"
        return None

    def _stable(self, info: ContainerInfo, now: float) -> bool:
        """Running long enough to believe it: a container that (re)started recently must stay up
        for a moment, longer when a restart policy would hide a crash behind a quick restart;
        one with a healthcheck needs only that (unless it restarted while `up` waited)."""
        if info.health == "healthy" and info.id not in self.restarted:
            return True
        window = RESTART_SETTLE_SECONDS if info.restart_policy in _RESTARTING_POLICIES else SETTLE_SECONDS
        recent = info.id in self.restarted or _started_after(info.started_at, self.up_wall - window)
        if not recent:
            return True  # running since before this `up`, and not restarted since
        return now - self.running_since.get(info.id, now) >= window


def _wait(
    readiness: Readiness,
    look: Containers,
    failed: Callable[[ContainerInfo, str], DevstackError],
    sleep: Callable[[float], None] = time.sleep,
) -> list[ContainerInfo]:
    """Look at the containers until every wanted service is ready; raise what `failed` makes."""
    while True:
        containers = look()
        try:
            if not readiness.pending(containers):
                return containers
        except ServiceFailed as exc:
            if exc.info is None:
                raise NotReady(f"service {exc.service} {exc.what}") from None
            raise failed(exc.info, exc.what) from None
        sleep(poll_interval(len(containers)))


def poll_interval(containers: int) -> float:
    """0.1 s for up to 5 containers, growing to 0.25 s at 13 and more."""
    return min(POLL_SECONDS, max(POLL_SECONDS_MIN, 0.02 * containers))


class _Watcher(threading.Thread):
    """Looks at the containers while `compose up` runs, so ready times are known from the start."""

    def __init__(
        self,
        look: Containers,
        readiness: Readiness,
        show: Callable[[list[ContainerInfo]], None] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.look = look
        self.readiness = readiness
        self.show = show  # the service states, for the progress view
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                containers = self.look()
                self.readiness.observe(containers)
                if self.show is not None:
                    self.show(containers)
            except Exception:  # the wait loop after `compose up` reports engine failures
                return
            self._stop_event.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()


def _is_ready(info: ContainerInfo) -> bool:
    return info.state == "running" and info.health in ("", "healthy")


def _not_ready(
    runner: ComposeRunner, info: ContainerInfo, what: str, board: Board | None = None
) -> DevstackError:
    """devstack's own wait saw a service fail: say which, and show why (healthcheck, log tail)."""
    from devstack import engine, evidence

    try:
        engine.quick_ping()  # an engine that went away explains everything
    except EngineUnavailable as exc:
        return exc
    if info.health == "unhealthy" and what == "is unhealthy":
        what = evidence.problem(info)  # with the length of the failing streak
    restarts = f" (restarted {info.restart_count} times)" if info.restart_count else ""
    details = evidence.report(info)
    if board is not None:
        board.fail(info.service, what, details)
    return NotReady(
        f"service {info.service} {what}{restarts}",
        hint=f"see `devstack logs {info.service}`; fix it and run `devstack up` again",
        details=details,
    )


def _compose_stopped(
    project: Project, failure: ComposeFailed, wanted: set[str], board: Board
) -> DevstackError:
    """`compose up` failed. When Compose stopped because a dependency became unhealthy or exited
    (`dependency failed to start: ...`), name that service and show why, as devstack's own wait
    does; when a build failed, keep the failed step's output (the progress view hid the log)."""
    from devstack import composeoutput, engine, evidence
    from devstack.progress import FAILED

    named = composeoutput.failed_dependency(failure.stderr_tail)
    if named is None:
        for service in sorted(board.compose_errors):
            board.set(service, FAILED, "failed to start")
        if failure.details is None:
            for service, state in board.states.items():
                output = board.details.get(service)
                if state == FAILED and output:
                    failure.details = output
                    break
        return failure
    try:
        info = evidence.culprit(engine.project_containers(project.name), wanted, named)
    except EngineUnavailable as exc:
        return exc
    if info is None:
        return failure
    what = evidence.problem(info)
    details = evidence.report(info)
    board.fail(info.service, what, details)
    said = next(
        (line.strip() for line in failure.stderr_tail.splitlines() if composeoutput.failed_dependency(line)),
        failure.message,
    )
    return NotReady(
        f"service {info.service} {what}; Compose stopped `up` ({said})",
        hint=f"fix it (`devstack logs {info.service}` has its whole log) and run `devstack up` again",
        details=details,
    )


def _started_summary(project_name: str) -> str:
    from devstack import engine

    try:
        running = [c.service for c in engine.project_containers(project_name) if c.state == "running"]
    except EngineUnavailable:
        return "could not ask the engine what was started"
    return "running now: " + (", ".join(sorted(running)) if running else "nothing")


def _status(info: ContainerInfo, ready: float | None) -> ServiceStatus:
    return ServiceStatus(
        service=info.service,
        container=info.name,
        state=info.state,
        health=info.health,
        urls=_urls(info.ports),
        ready_seconds=round(ready, 1) if ready is not None else None,
        exit_code=info.exit_code if info.state in ("exited", "dead") else None,
        restarts=info.restart_count,
        uptime_seconds=_uptime(info.started_at) if info.state == "running" else None,
    )


def _uptime(started_at: str) -> float | None:
    from datetime import datetime, timezone

    text = started_at.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        when = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return max(0.0, round(time.time() - when.timestamp(), 1))


def _urls(ports: Sequence[tuple[str, int, int, str]]) -> list[str]:
    urls = []
    seen = set()
    for host_ip, host_port, container_port, proto in ports:
        if proto != "tcp" or host_port in seen:
            continue
        seen.add(host_port)
        host = "localhost" if host_ip in ("", "0.0.0.0", "::", "127.0.0.1", "::1") else host_ip
        scheme = _WEB_PORTS.get(container_port)
        urls.append(f"{scheme}://{host}:{host_port}/" if scheme else f"{host}:{host_port}")
    return urls


# -- one checkout, one project ---------------------------------------------------------------


def own_containers(project: Project, look: Containers | None = None) -> list[ContainerInfo]:
    """The project's containers, after making sure they belong to this checkout.

    Two checkouts of one project (a clone, a git worktree) get the same project name from the
    committed files. Compose would treat the other checkout's containers as this one's: `up`
    would recreate them with this checkout's bind mounts, `down` would remove them. Compose
    labels each container with the directory it was created from; a container from another
    directory stops the command (ProjectInUse).
    """
    from devstack import engine

    containers = (look or (lambda: engine.project_containers(project.name)))()
    here = _real(str(project.root))
    others: dict[str, list[ContainerInfo]] = {}
    for info in containers:
        if info.working_dir and _real(info.working_dir) != here:
            others.setdefault(info.working_dir, []).append(info)
    if others:
        where, infos = next(iter(others.items()))
        running = sorted({i.service for i in infos if i.state == "running"})
        state = f"running: {', '.join(running)}" if running else "stopped"
        raise ProjectInUse(
            f"project name {project.name!r} is in use by another checkout, {where} ({state})",
            hint=f"give this checkout its own name: COMPOSE_PROJECT_NAME={project.name}-2 in this "
            "checkout's .env (or -p NAME), and its own ports if both run at once; or run "
            f"`devstack down` in {where} first",
        )
    return containers


def _real(path: str) -> str:
    import os

    return os.path.realpath(path)


# -- down / status ---------------------------------------------------------------------------


class DownResult(NamedTuple):
    """What `down` removed besides containers and networks."""

    removed_anonymous: int  # anonymous volumes (an image's VOLUME) removed with the containers
    kept_anonymous: tuple[str, ...] = ()  # anonymous volumes still in use elsewhere


def down(project: Project, *, volumes: bool = False, progress: Progress = _quiet) -> DownResult:
    """Stop and remove containers and networks, and the anonymous volumes only they used.

    Bind-mounted data is never touched; named volumes only with `volumes=True`. Anonymous
    volumes (an image's `VOLUME`, or `- /path` without a name) cannot be reached once their
    container is gone, so they go with it (`docker compose down` alone leaves them behind).
    """
    from devstack import engine

    try:
        containers = own_containers(project)  # which service each container is
    except EngineUnavailable:
        containers = []  # Compose says what is wrong
    anonymous = sorted({name for c in containers for name in c.anonymous_volumes})
    board = Board(
        project.name,
        {c.service for c in containers},
        progress,
        container_names={c.name: c.service for c in containers},
    )
    runner = ComposeRunner(project)
    args = ["down", "--remove-orphans", *(["--volumes"] if volumes else [])]
    runner.stream(*args, on_line=board.compose_line)
    kept = tuple(name for name in anonymous if engine.remove_volume(name) is not True)
    return DownResult(len(anonymous) - len(kept), kept)


def status(project: Project) -> list[ServiceStatus]:
    """Every service `up` would start (those without a container as "not created"), and every
    container of the project."""
    from devstack import syntax

    statuses = [_status(c, None) for c in own_containers(project)]
    try:
        model = ComposeRunner(project).model().data or {}
    except ComposeNotFound:
        model = {}  # the containers alone, then
    active = syntax.active_profiles(project.interpolation_env())
    have = {s.service for s in statuses}
    for name, service in sorted(syntax.services(model).items()):
        if name not in have and syntax.is_active(service, active):
            statuses.append(ServiceStatus(name, "", "not created", ""))
    return sorted(statuses, key=lambda s: (s.service, s.container))
