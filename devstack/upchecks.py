"""`up`'s runtime checks, each started as soon as what it needs is there, in threads.

Checked from inside what this `up` (re)started: the links of a service (DNS and TCP to what it
depends on) and its `${VAR:?}` variables once it runs and every service it reaches is ready; a
database's credentials once it is ready. Started while `up` still waits for slower services,
they cost no time of their own; what could not start early starts when all are ready. A check
whose container restarted since it ran is run again on the final containers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from devstack.background import Background
from devstack.checks import Finding

Containers = Mapping[str, Any]  # service -> engine.ContainerInfo (running ones)
Model = Mapping[str, Any]
# (containers, model, raw model, changed services, services checked from) -> findings
Links = Callable[[Containers, Model, Model, set[str], set[str]], list[Finding]]
# (containers, model, raw model, services checked) -> findings
Credentials = Callable[[Containers, Model, Model, set[str]], list[Finding]]


class RuntimeChecks:
    """Fed each look at the containers (`poll`); `finish` returns every finding, in a fixed order."""

    def __init__(
        self,
        model: Mapping[str, Any],
        raw_model: Callable[[], Mapping[str, Any]],
        changed: Callable[[Any], bool],
        ready: Callable[[Any], bool],
        links: Links | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        """`raw_model`: Compose's model before interpolation (asked once, in a thread, when the
        first check needs it); `changed(info)`: whether this `up` (re)started the container;
        `ready(info)`: whether it counts as ready. `links` and `credentials` (for tests) run
        the checks; by default checks/runtime.py and dbcheck.py through the engine."""
        self.model = model
        self._raw_model = raw_model
        self._raw: Background | None = None
        self.changed = changed
        self.ready = ready
        self._links = links or _links
        self._credentials = credentials or _credentials
        self._targets: dict[str, set[str]] = {}
        for name, svc in (model.get("services") or {}).items():
            deps = svc.get("depends_on") or {}
            targets = {str(t) for t in deps} if isinstance(deps, (dict, list)) else set()
            targets |= {str(link).partition(":")[0] for link in svc.get("links") or []}
            self._targets[str(name)] = targets
        self._jobs: dict[tuple[str, str], tuple[Background, Any]] = {}  # (kind, service) -> job, info

    def raw(self) -> Mapping[str, Any]:
        job = self._raw_job()
        job.join()
        return job.value or {}

    def _raw_job(self) -> Background:
        if self._raw is None:
            self._raw = Background(self._raw_model)
        return self._raw

    def poll(self, containers: list[Any]) -> None:
        """Start the checks that can run now."""
        running = {c.service: c for c in containers if c.state == "running"}
        changed = {c.service for c in containers if self.changed(c)}
        if not changed:
            return
        self._raw_job()  # asked now: the first check needs it
        ready = {c.service for c in containers if self.ready(c)}
        for service in running:
            targets = self._targets.get(service, set())
            if (service in changed or targets & changed) and targets <= ready:
                self._start("links", service, running, changed)
            if service in changed and service in ready:
                self._start("credentials", service, running, changed)

    def finish(self, containers: list[Any]) -> list[Finding]:
        """Start what has not started (or must run again), wait for all; links first, by service."""
        running = {c.service: c for c in containers if c.state == "running"}
        changed = {c.service for c in containers if self.changed(c)}
        if not changed:
            return []
        for service, info in running.items():
            reaches_changed = bool(self._targets.get(service, set()) & changed)
            for kind in ("links", "credentials"):
                if service not in changed and not (kind == "links" and reaches_changed):
                    continue
                started = self._jobs.get((kind, service))
                if started is None or not _same(started[1], info):
                    self._start(kind, service, running, changed, again=True)
        findings: list[Finding] = []
        for kind in ("links", "credentials"):
            for service in sorted(running):
                started = self._jobs.get((kind, service))
                if started is not None:
                    started[0].join()
                    findings += started[0].value or []
        return findings

    def _start(
        self, kind: str, service: str, running: Containers, changed: set[str], again: bool = False
    ) -> None:
        if (kind, service) in self._jobs and not again:
            return
        containers = dict(running)
        if kind == "links":
            job = Background(lambda: self._links(containers, self.model, self.raw(), changed, {service}))
        else:
            job = Background(lambda: self._credentials(containers, self.model, self.raw(), {service}))
        self._jobs[(kind, service)] = (job, running[service])


def _same(before: Any, now: Any) -> bool:
    return bool(before.id == now.id and before.started_at == now.started_at)


def _links(
    containers: Containers, model: Model, raw: Model, changed: set[str], sources: set[str]
) -> list[Finding]:
    from devstack import engine, syntax
    from devstack.checks import runtime

    return runtime.check(
        containers, model, syntax.services(raw), engine.exec_in, only=changed, sources=sources
    )


def _credentials(containers: Containers, model: Model, raw: Model, only: set[str]) -> list[Finding]:
    from devstack import dbcheck, engine

    return dbcheck.after_up(model, raw, containers, engine.exec_env, only=only)
