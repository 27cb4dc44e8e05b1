"""up / down / status / check as steps: pre-flight, compose, wait until ready, runtime checks.

Returns result objects for report.py; progress goes to a callback as Events. Never prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devstack import envfile, ownership
from devstack.checks import Finding, Severity, has_errors
from devstack.compose import ComposeBinary, ComposeRunner
from devstack.errors import (
    ChecksFailed,
    ComposeFailed,
    ComposeNotFound,
    DevstackError,
    EngineUnavailable,
    Interrupted,
    NotReady,
)
from devstack.project import Project

POLL_SECONDS = 0.25
# A container without a healthcheck counts as ready once it has stayed running this long:
# a process that dies at start (bad config, missing file) shows as "running" for a moment.
SETTLE_SECONDS = 1.0
RESTARTS_BEFORE_GIVING_UP = 3
# Exit 137/143 means killed by a signal: maybe the engine itself is stopping. Give it this long
# to go away (then the error is about the engine) before blaming the service.
KILLED_GRACE_SECONDS = 2.0
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


@dataclass(frozen=True)
class Event:
    kind: str  # env, check, compose, ready, runtime, warning
    message: str
    service: str | None = None


Progress = Callable[[Event], None]


def _quiet(_event: Event) -> None:
    return None


@dataclass
class ServiceStatus:
    service: str
    container: str
    state: str
    health: str
    urls: list[str] = field(default_factory=list)
    ready_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CheckResult:
    findings: list[Finding]
    model: dict[str, Any] | None
    compose: ComposeBinary | None
    sources: list[Any] = field(default_factory=list)  # composefile.ComposeFile, parsed once


@dataclass
class UpResult:
    project: str
    env: envfile.SyncResult | None
    findings: list[Finding]
    services: list[ServiceStatus]
    runtime: list[Finding]
    seconds: float


# -- check -----------------------------------------------------------------------------------


def check(
    project: Project, runner: ComposeRunner | None = None, config_job: _Background | None = None
) -> CheckResult:
    """Static findings. Compose itself interpolates and merges when it is installed.

    `config_job` is a `runner.config` already started by the caller.
    """
    binary: ComposeBinary | None = None
    model: dict[str, Any] | None = None
    compose_error: ComposeFailed | None = None
    try:
        runner = runner or ComposeRunner(project)
        binary = runner.binary
        # `compose config` runs while the checks' modules are imported (~30 ms saved).
        config_job = config_job or _Background(runner.config)
    except ComposeNotFound:
        runner = None
    from devstack.checks import files, static

    loaded = files.load_sources(project)
    if runner is not None and config_job is not None and has_errors(loaded[1]):
        # A file that does not parse (or expands without bound, a YAML alias bomb) is reported
        # by the checks; Compose's answer adds nothing and could take all memory: stop it.
        runner.cancel()
        _settle(config_job)
        config_job = None
    if config_job is not None:
        try:
            config_job.join()
            model = config_job.value
        except ComposeNotFound:
            runner = None
        except ComposeFailed as exc:
            compose_error = exc
    tail = compose_error.stderr_tail if compose_error is not None else None
    # With Compose's error, static checks name the specific code (or DS100 if none explains it).
    findings = static.run(project, model, compose_error=tail, loaded=loaded)
    return CheckResult(findings, model, binary, loaded[0])


# -- up --------------------------------------------------------------------------------------


class _Watcher(threading.Thread):
    """Polls the engine while `up` runs, noting when each service first became ready."""

    def __init__(self, project: str, started: float) -> None:
        super().__init__(daemon=True)
        self.project = project
        self.started = started
        self.ready_at: dict[str, float] = {}
        self.first_running: dict[str, float] = {}  # container id -> when first seen running
        self.latest: list[Any] = []
        self.error: Exception | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        from devstack import engine

        while not self._stop_event.is_set():
            try:
                self.poll(engine.project_containers(self.project))
            except Exception as exc:  # reported by the caller, not lost in the thread
                self.error = exc
                return
            self._stop_event.wait(POLL_SECONDS)

    def poll(self, containers: list[Any]) -> None:
        self.latest = containers
        now = time.monotonic()
        for info in containers:
            if info.state == "running":
                self.first_running.setdefault(info.id, now)
            if _is_ready(info) and info.service not in self.ready_at:
                self.ready_at[info.service] = now - self.started

    def stop(self) -> None:
        self._stop_event.set()


def _is_ready(info: Any) -> bool:
    return info.state == "running" and info.health in ("", "healthy")


def up(
    project: Project,
    services: Sequence[str] = (),
    *,
    build: bool = False,
    timeout: float = 300.0,
    progress: Progress = _quiet,
) -> UpResult:
    """Pre-flight, `compose up -d`, wait until running and healthy, then runtime link checks."""
    from devstack import engine
    from devstack.checks import runtime

    started = time.monotonic()
    runner = ComposeRunner(project)
    # `compose config` starts at once; the .env sync and the engine ping run while it works.
    # If the sync changes .env, Compose's answer may be stale, so it is asked again.
    config_job = _Background(runner.config)
    env_result = _sync_env(project, progress)
    engine.quick_ping()  # pre-flight without importing the SDK: the socket answers /_ping
    if env_result is not None and env_result.changed:
        _settle(config_job)
        config_job = _Background(runner.config)
    if runner.binary.v1:
        progress(
            Event("warning", "Compose v1 is end of life; install the Compose v2 plugin (`docker compose`)")
        )
    result = check(project, runner, config_job=config_job)
    findings = result.findings
    if has_errors(findings):
        count = sum(1 for f in findings if f.severity >= Severity.ERROR)
        raise ChecksFailed(
            f"{count} error(s) in the stack; nothing was started",
            findings,
            hint="fix them and run `devstack up` again (`devstack check` shows the same list)",
        )
    model = result.model or {}
    wanted = _with_dependencies(model, services) if services else set(model.get("services") or {})

    # Bind-mount sources made by the user now, or Docker makes them, owned by root.
    for note in ownership.prepare_bind_mounts(project, model).warnings():
        progress(Event("warning", note))
    up_wall = time.time()
    watcher = _Watcher(project.name, started)
    watcher.start()
    args = ["up", "-d", "--remove-orphans"]
    if build:
        args.append("--build")
    try:
        runner.stream(
            *args,
            *(["--", *services] if services else []),
            on_line=lambda line: progress(Event("compose", line)),
        )
        containers = _wait_ready(project, runner, watcher, wanted, started, timeout, up_wall)
    except KeyboardInterrupt:
        watcher.stop()
        raise Interrupted(
            "interrupted: " + _started_summary(project.name),
            hint="`devstack down` stops what was started; `devstack up` carries on",
        ) from None
    finally:
        watcher.stop()

    # Runtime checks for what this `up` (re)started; an unchanged running stack was checked
    # when it started. Two seconds of slack for clocks of a VM-hosted engine.
    changed = {c.service for c in containers if _started_after(c.started_at, up_wall - 2.0)}
    runtime_findings: list[Finding] = []
    if changed:
        by_service = {c.service: c for c in containers if c.state == "running"}
        raw = _raw_services(result.sources)
        runtime_findings = runtime.check(by_service, model, raw, engine.exec_in, only=changed)
        for finding in runtime_findings:
            progress(Event("runtime", finding.message, None))
    statuses = [_status(c, watcher.ready_at.get(c.service)) for c in containers if c.service in wanted]
    return UpResult(
        project.name, env_result, findings, statuses, runtime_findings, time.monotonic() - started
    )


class _Background(threading.Thread):
    """Run a function in a thread; join() re-raises its exception here."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.value: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # handed to the caller in join()
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def _sync_env(project: Project, progress: Progress) -> envfile.SyncResult | None:
    """`.env` from `.env.example` (created, or missing keys added), reported as an event."""
    if not (project.root / ".env.example").is_file():
        return None
    result = envfile.sync(project.root)
    if result.created:
        generated = ", ".join(result.generated) or "no secrets"
        progress(
            Event("env", f"created .env from .env.example ({len(result.added)} keys, generated {generated})")
        )
    elif result.added:
        progress(Event("env", f"added to .env from .env.example: {', '.join(result.added)}"))
    return result


def _settle(job: _Background) -> None:
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
    defined = model.get("services") or {}
    wanted: set[str] = set()
    todo = list(services)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in defined:
            raise DevstackError(
                f"no service {name!r} in this project",
                hint=f"services: {', '.join(sorted(defined)) or 'none'}",
            )
        wanted.add(name)
        todo.extend(str(d) for d in (defined[name].get("depends_on") or {}))
    return wanted


def _wait_ready(
    project: Project,
    runner: ComposeRunner,
    watcher: _Watcher,
    wanted: set[str],
    started: float,
    timeout: float,
    up_wall: float,
) -> list[Any]:
    from devstack import engine

    deadline = started + timeout
    killed_seen: dict[str, float] = {}
    while True:
        containers = engine.project_containers(project.name)
        watcher.poll(containers)
        now = time.monotonic()
        by_service: dict[str, list[Any]] = {}
        for info in containers:
            by_service.setdefault(info.service, []).append(info)
        pending = []
        for service in sorted(wanted):
            infos = by_service.get(service, [])
            if not infos:
                pending.append((service, "not created"))
                continue
            for info in infos:
                if info.state in ("exited", "dead"):
                    if info.exit_code == 0:
                        continue  # a one-shot job that completed
                    if info.exit_code in (137, 143) and not info.oom_killed:
                        if now - killed_seen.setdefault(info.id, now) < KILLED_GRACE_SECONDS:
                            pending.append((service, "killed"))
                            continue
                        raise _not_ready(runner, info, f"was killed (exit {info.exit_code})")
                    if info.oom_killed:
                        raise _not_ready(runner, info, "ran out of memory (killed by the kernel)")
                    raise _not_ready(runner, info, f"exited with code {info.exit_code}")
                if info.health == "unhealthy":
                    raise _not_ready(runner, info, "is unhealthy")
                if info.state == "restarting" and info.restart_count >= RESTARTS_BEFORE_GIVING_UP:
                    raise _not_ready(runner, info, "keeps crashing")
                if not _is_ready(info):
                    pending.append((service, info.health or info.state))
                elif not info.health and _started_after(info.started_at, up_wall - SETTLE_SECONDS):
                    # Started by this `up` and no healthcheck: running must last a moment.
                    seen = watcher.first_running.get(info.id, now)
                    if now - seen < SETTLE_SECONDS:
                        pending.append((service, "starting"))
        if not pending:
            return containers
        if time.monotonic() > deadline:
            service, state = pending[0]
            late = by_service.get(service)
            if late:
                raise _not_ready(runner, late[0], f"is not ready after {timeout:.0f} s ({state})")
            raise NotReady(f"service {service} has no container after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def _not_ready(runner: ComposeRunner, info: Any, what: str) -> DevstackError:
    from devstack import engine

    try:
        engine.quick_ping()  # an engine that went away explains everything
    except EngineUnavailable as exc:
        return exc
    tail = ""
    try:
        tail = runner.run("logs", "--no-color", "--tail", "15", info.service, check=False).stdout
    except DevstackError:
        pass
    restarts = f" (restarted {info.restart_count} times)" if info.restart_count else ""
    return NotReady(
        f"service {info.service} {what}{restarts}",
        hint=f"see `devstack logs {info.service}`; fix it and run `devstack up` again",
        details=tail.rstrip() or None,
    )


def _started_summary(project_name: str) -> str:
    from devstack import engine

    try:
        running = [c.service for c in engine.project_containers(project_name) if c.state == "running"]
    except EngineUnavailable:
        return "could not ask the engine what was started"
    return "running now: " + (", ".join(sorted(running)) if running else "nothing")


def _raw_services(sources: Sequence[Any]) -> dict[str, Any]:
    """Services as written (before interpolation), merged over the -f files check() parsed."""
    from devstack.composefile import plain

    merged: dict[str, Any] = {}
    for source in sources:
        for name, svc in plain(source.services()).items():
            if isinstance(svc, dict):
                merged.setdefault(name, {}).update(svc)
    return merged


def _status(info: Any, ready: float | None) -> ServiceStatus:
    return ServiceStatus(
        service=info.service,
        container=info.name,
        state=info.state,
        health=info.health,
        urls=_urls(info.ports),
        ready_seconds=round(ready, 1) if ready is not None else None,
    )


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


# -- down / status ---------------------------------------------------------------------------


def down(project: Project, *, volumes: bool = False, progress: Progress = _quiet) -> None:
    """Stop and remove containers and networks. Bind-mounted data is never touched."""
    runner = ComposeRunner(project)
    args = ["down", "--remove-orphans"]
    if volumes:
        args.append("--volumes")
    runner.stream(*args, on_line=lambda line: progress(Event("compose", line)))


def status(project: Project) -> list[ServiceStatus]:
    from devstack import engine

    return [_status(c, None) for c in engine.project_containers(project.name)]
