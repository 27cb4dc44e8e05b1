"""up's runtime checks start as soon as what they need is ready (upchecks.RuntimeChecks)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.upchecks import RuntimeChecks

MODEL = {
    "services": {
        "web": {"depends_on": {"db": {"condition": "service_healthy"}}},
        "db": {},
        "cache": {},
    }
}


@dataclass
class Info:
    service: str
    state: str = "running"
    id: str = ""
    started_at: str = "new"

    def __post_init__(self) -> None:
        self.id = self.id or f"{self.service}-1"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (kind, service, started_at seen)
        self.raw_asked = 0
        self.lock = threading.Lock()

    def raw(self) -> dict:
        with self.lock:
            self.raw_asked += 1
        return {"services": {}}

    def links(self, containers, model, raw, changed, sources) -> list[Finding]:
        (service,) = sources
        with self.lock:
            self.calls.append(("links", service, containers[service].started_at))
        return (
            [finding("DS611", f"{service} cannot connect", None, f"service {service}")]
            if service == "web"
            else []
        )

    def credentials(self, containers, model, raw, only) -> list[Finding]:
        (service,) = only
        with self.lock:
            self.calls.append(("credentials", service, containers[service].started_at))
        return [finding("DS800", "refused", None, f"service {service}")] if service == "db" else []


def _checks(recorder: Recorder, ready: set[str]) -> RuntimeChecks:
    return RuntimeChecks(
        MODEL,
        recorder.raw,
        changed=lambda info: info.started_at != "old",
        ready=lambda info: info.id in ready,
        links=recorder.links,
        credentials=recorder.credentials,
    )


def test_checks_start_while_slower_services_are_still_waited_for() -> None:
    recorder = Recorder()
    ready: set[str] = {"db-1"}
    checks = _checks(recorder, ready)
    checks.poll([Info("db"), Info("web")])  # db ready, web running but not healthy yet
    started = {(kind, service) for kind, service, _ in recorder.calls} | {
        key
        for key in checks._jobs  # started, maybe still running
    }
    assert ("links", "web") in started and ("credentials", "db") in started
    assert ("credentials", "web") not in started  # web is not ready yet
    ready.add("web-1")
    findings = checks.finish([Info("db"), Info("web")])
    assert [f.code for f in findings] == ["DS611", "DS800"]  # links first, then credentials
    assert sorted(recorder.calls) == [
        ("credentials", "db", "new"),
        ("credentials", "web", "new"),
        ("links", "db", "new"),
        ("links", "web", "new"),
    ]  # each once
    assert recorder.raw_asked == 1


def test_links_wait_for_every_service_they_reach() -> None:
    recorder = Recorder()
    checks = _checks(recorder, set())
    checks.poll([Info("db"), Info("web")])  # nothing ready: web's links cannot be checked yet
    assert ("links", "web") not in checks._jobs
    checks.finish([Info("db"), Info("web")])
    assert ("links", "web", "new") in recorder.calls


def test_a_container_that_restarted_is_checked_again() -> None:
    recorder = Recorder()
    checks = _checks(recorder, {"db-1"})
    checks.poll([Info("db"), Info("web")])
    checks.finish([Info("db"), Info("web", started_at="later")])
    assert ("links", "web", "new") in recorder.calls and ("links", "web", "later") in recorder.calls


def test_an_unchanged_stack_is_not_checked() -> None:
    recorder = Recorder()
    checks = _checks(recorder, {"db-1", "web-1"})
    unchanged = [Info("db", started_at="old"), Info("web", started_at="old")]
    checks.poll(unchanged)
    assert checks.finish(unchanged) == []
    assert recorder.calls == [] and recorder.raw_asked == 0


def test_only_links_into_a_restarted_service_are_checked_from_unchanged_ones() -> None:
    recorder = Recorder()
    checks = _checks(recorder, {"db-1", "web-1", "cache-1"})
    containers = [Info("db"), Info("web", started_at="old"), Info("cache", started_at="old")]
    checks.poll(containers)
    checks.finish(containers)
    assert sorted((kind, service) for kind, service, _ in recorder.calls) == [
        ("credentials", "db"),
        ("links", "db"),
        ("links", "web"),  # web reaches db, which restarted
    ]
