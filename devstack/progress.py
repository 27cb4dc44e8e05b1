"""Progress of long operations as events, for the CLI to draw (a live view, plain lines, JSON lines).

Library code reports progress by calling a `Progress` callback with `Event`s and never draws.
`Board` turns what `up` and `down` see (Compose's output lines, looks at the engine) into one
state per service: building -> creating -> starting -> waiting for health -> ready (or failed),
and stopping -> removed, with a build summary per image instead of BuildKit's log.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from devstack.engine import ContainerInfo


class Event(NamedTuple):
    """One thing worth telling: a step of a command, a service's new state, a line of Compose."""

    kind: str  # step, service, compose (a raw line), env, mounts, warning, check, runtime
    message: str
    service: str | None = None
    state: str | None = None  # kind "service": one of the states below
    seconds: float | None = None  # how long it took (ready, built, stopped...)
    detail: str | None = None  # the current build step; for "failed", the evidence

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "service": self.service,
            "message": self.message,
            **{
                key: value
                for key, value in (("state", self.state), ("seconds", self.seconds), ("detail", self.detail))
                if value is not None
            },
        }


Progress = Callable[[Event], None]


# Service states, each with its place in the order a service goes through them. A look at the
# engine may lag behind Compose's output, so a state never goes back to an earlier one, except
# to `restarting` and `failed`, which can come at any time.
PULLING, BUILDING, BUILT = "pulling", "building", "built"
CREATING, CREATED, STARTING, RUNNING = "creating", "created", "starting", "running"
HEALTH, READY, DONE = "health", "ready", "done"
RESTARTING, FAILED = "restarting", "failed"
STOPPING, STOPPED, REMOVING, REMOVED = "stopping", "stopped", "removing", "removed"
_RANK = {
    PULLING: 1,
    BUILDING: 1,
    BUILT: 2,
    CREATING: 3,
    CREATED: 4,
    STARTING: 5,
    RUNNING: 5,
    HEALTH: 6,
    READY: 8,
    DONE: 8,
    STOPPING: 10,
    STOPPED: 11,
    REMOVING: 12,
    REMOVED: 13,
}
FINAL = {READY, DONE, FAILED, BUILT, STOPPED, REMOVED}  # states the live view shows without a spinner

# Compose's words for a container, as a state of the service. Its "Waiting"/"Healthy" (for a
# dependency) are left to the looks at the engine, which see the health itself.
_CONTAINER_ACTIONS = {
    "Creating": (CREATING, "creating"),
    "Recreate": (CREATING, "recreating"),
    "Recreating": (CREATING, "recreating"),
    "Created": (CREATED, "created"),
    "Recreated": (CREATED, "created"),
    "Starting": (STARTING, "starting"),
    "Started": (STARTING, "starting"),
    "Running": (RUNNING, "running"),
    "Stopping": (STOPPING, "stopping"),
    "Killing": (STOPPING, "stopping"),
    "Stopped": (STOPPED, "stopped"),
    "Killed": (STOPPED, "stopped"),
    "Removing": (REMOVING, "removing"),
    "Removed": (REMOVED, "removed"),
}
OUTPUT_LINES = 12  # lines of a failed build step kept for the report


@dataclass
class _Build:
    """One image build, as far as BuildKit's lines tell."""

    started: float
    steps: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # vertex -> (i, n, text)
    cached: set[int] = field(default_factory=set)
    export: int | None = None  # the vertex that exports the image
    current: str = ""
    done: bool = False


class Board:
    """One state per service for one `up` or `down`, reported to `progress` when it changes.

    Compose's output arrives on one thread and looks at the engine on another: every method
    takes the lock.
    """

    def __init__(
        self,
        project: str,
        services: Iterable[str],
        progress: Progress,
        container_names: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.project = project
        self.services = set(services)
        self.progress = progress
        self.clock = clock
        self.names: dict[str, str] = dict(container_names or {})  # container name -> service
        self.states: dict[str, str] = {}
        self.messages: dict[str, str] = {}
        self.details: dict[str, str] = {}  # service -> what explains its failure (build output...)
        self.builds: dict[str, _Build] = {}
        self.vertices: dict[int, str] = {}  # BuildKit vertex -> service
        self.output: dict[int, deque[str]] = {}  # BuildKit vertex -> its last lines
        self.v1_building: str | None = None
        # Compose v2 hands BuildKit's lines over in bursts: a build is timed from the start of
        # `compose up` (v1 says "Building web" when it starts one).
        self.created = clock()
        self.other: deque[str] = deque(maxlen=20)  # Compose's own messages (warnings, errors)
        self.compose_errors: set[str] = set()  # services whose container Compose marked "Error"
        self._lock = threading.RLock()

    # -- Compose's output ------------------------------------------------------------------

    def compose_line(self, line: str) -> None:
        """A line of `compose up/down` output: passed on raw, and understood where possible."""
        from devstack.composeoutput import progress_line

        self.progress(Event("compose", line))
        parsed = progress_line(line)
        with self._lock:
            if parsed is None:
                if line.strip():
                    self.other.append(line.strip())
                return
            if parsed.kind == "container":
                service = self.service_of(parsed.name)
                if service is not None:
                    self._close_build(service)
                    if parsed.action == "Error":  # said once, with its reason, by whoever explains it
                        self.compose_errors.add(service)
                    state = _CONTAINER_ACTIONS.get(parsed.action)
                    if state is not None:
                        self.set(service, *state)
            elif parsed.kind == "service" and parsed.name in self.services:
                if parsed.action == "Pulling":
                    self.set(parsed.name, PULLING, "pulling the image")
                elif parsed.action == "Error":
                    self.set(parsed.name, FAILED, "the image cannot be pulled")
            elif parsed.kind == "build":
                self._build_header(parsed.name, parsed.action, parsed.vertex, parsed.step)
            elif parsed.kind == "build-state":
                self._build_state(parsed.vertex, parsed.action, parsed.detail)
            elif parsed.kind == "build-output":
                self.output.setdefault(parsed.vertex, deque(maxlen=OUTPUT_LINES)).append(parsed.detail)

    def service_of(self, container: str) -> str | None:
        """The service of a container Compose names: known names, then Compose's naming rule."""
        name = container.lstrip("/")
        if name in self.names:
            return self.names[name]
        for separator in ("-", "_"):  # v2: proj-svc-1, v1: proj_svc_1
            prefix = self.project + separator
            if name.startswith(prefix):
                middle, _, number = name[len(prefix) :].rpartition(separator)
                if number.isdigit() and middle in self.services:
                    return middle
        return None

    def _build_header(self, target: str, text: str, vertex: int, step: tuple[int, int] | None) -> None:
        if text == "Building":  # v1: "Building web"
            self.v1_building = target
            service: str | None = target
        elif target in self.services:
            service = target
        else:
            service = self.v1_building  # v1 names no service in BuildKit's lines
        if service is None:
            return
        self.vertices[vertex] = service
        build = self.builds.get(service)
        if build is None or build.done:
            start = self.clock() if text == "Building" or build is not None else self.created
            build = self.builds[service] = _Build(start)
            self.set(service, BUILDING, "building")
        if step is not None:
            build.steps[vertex] = (step[0], step[1], text)
            build.current = f"step {step[0]}/{step[1]}: {text}"
            self.set(service, BUILDING, "building", detail=build.current, force=True)
        elif text.startswith("exporting to image"):
            build.export = vertex
            build.current = "exporting the image"
            self.set(service, BUILDING, "building", detail=build.current, force=True)

    def _build_state(self, vertex: int, word: str, detail: str) -> None:
        service = self.vertices.get(vertex)
        build = self.builds.get(service) if service else None
        if service is None or build is None:
            return
        if word == "CACHED":
            build.cached.add(vertex)
        elif word == "ERROR":
            step = build.steps.get(vertex)
            where = f"step {step[0]}/{step[1]}: {step[2]}" if step else "the build"
            lines = list(self.output.get(vertex, ()))
            build.done = True
            self.set(
                service,
                FAILED,
                f"build failed at {where}",
                detail="\n".join([*lines, detail]).strip() or None,
            )
        elif word == "DONE" and vertex == build.export:
            self._close_build(service)

    def _close_build(self, service: str) -> None:
        build = self.builds.get(service)
        if build is None or build.done:
            return
        build.done = True
        if self.v1_building == service:
            self.v1_building = None
        seconds = self.clock() - build.started
        count = len(build.steps)
        cached = len(build.cached & set(build.steps))
        summary = f"{count} step{'s' if count != 1 else ''}" + (f", {cached} cached" if cached else "")
        self.set(service, BUILT, f"built in {seconds:.1f} s ({summary})", seconds=round(seconds, 1))

    def build_output(self, service: str) -> list[str]:
        """The last lines BuildKit printed for a service's build steps (for a failure report)."""
        with self._lock:
            lines: list[str] = []
            for vertex, owner in sorted(self.vertices.items()):
                if owner == service:
                    lines.extend(self.output.get(vertex, ()))
            return lines[-OUTPUT_LINES:]

    # -- the engine ------------------------------------------------------------------------

    def look(
        self,
        containers: Iterable[ContainerInfo],
        ready_seconds: Callable[[ContainerInfo], float | None],
        started_by_up: Callable[[ContainerInfo], bool],
    ) -> None:
        """A look at the project's containers: each wanted service's state, as `up` judges it."""
        with self._lock:
            for info in containers:
                if info.name:
                    self.names[info.name] = info.service
                if info.service not in self.services:
                    continue
                self._close_build(info.service)
                self.set(info.service, *self._judge(info, ready_seconds(info), started_by_up(info)))

    @staticmethod
    def _judge(info: ContainerInfo, ready: float | None, fresh: bool) -> tuple[str, str, float | None]:
        if info.state in ("exited", "dead"):
            if info.exit_code == 0:
                return DONE, "completed (exit 0)", None
            return FAILED, f"exited with code {info.exit_code}", None
        if info.state == "restarting":
            return RESTARTING, f"restarting ({info.restart_count} restarts)", None
        if info.state == "created":
            return CREATED, "created", None
        if info.state != "running":
            return STARTING, info.state, None
        if info.health == "unhealthy":
            return HEALTH, "unhealthy", None  # the failure, with its evidence, comes from fail()
        if info.health == "starting":
            return HEALTH, "waiting for health", None
        if ready is None:
            return STARTING, "starting", None
        if not fresh:
            return READY, "running (unchanged)", None
        return READY, f"ready in {ready:.1f} s", round(ready, 1)

    # -- states ----------------------------------------------------------------------------

    def set(
        self,
        service: str,
        state: str,
        message: str,
        seconds: float | None = None,
        detail: str | None = None,
        force: bool = False,
    ) -> None:
        """Move a service to a state (never back to an earlier one) and report it if it changed."""
        with self._lock:
            current = self.states.get(service)
            if current is not None and state not in (RESTARTING, FAILED) and current != RESTARTING:
                if current == FAILED or _RANK.get(state, 0) < _RANK.get(current, 0):
                    return
            if current == state and self.messages.get(service) == message:
                if detail and state == FAILED:
                    self.details[service] = detail
                if not force or state == FAILED:
                    return
            self.states[service] = state
            self.messages[service] = message
            if state == FAILED and detail:
                self.details[service] = detail
            self.progress(Event("service", message, service, state, seconds, detail))

    def fail(self, service: str, message: str, evidence: str | None = None) -> None:
        """Report a service's failure with what explains it (health check outputs, log tail)."""
        self.set(service, FAILED, message.removeprefix("is "), detail=evidence, force=True)
