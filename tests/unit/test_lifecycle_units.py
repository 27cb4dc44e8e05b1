"""Pure parts of up/status: URLs, readiness, dependency closure, runtime-check findings, reports."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from devstack import lifecycle, report
from devstack.checks import Finding, Severity, runtime
from devstack.engine import ContainerInfo
from devstack.errors import DevstackError

MODEL = {
    "services": {
        "web": {"depends_on": {"db": {"condition": "service_healthy"}}, "links": ["cache:redis"]},
        "db": {},
        "cache": {},
        "tool": {"depends_on": ["web"]},
    }
}


def info(service: str, **kw) -> ContainerInfo:
    base = ContainerInfo(
        id=f"id-{service}",
        name=f"p-{service}-1",
        service=service,
        state="running",
        health="",
        exit_code=0,
        started_at="2026-11-28T04:00:00.123456789Z",
        restart_count=0,
        env={},
        ports=(),
        exposed=(),
    )
    return replace(base, **kw)


def test_urls_for_web_ports_and_plain_ports():
    ports = (
        ("127.0.0.1", 8080, 80, "tcp"),
        ("0.0.0.0", 3306, 3306, "tcp"),
        ("", 5353, 53, "udp"),
        ("10.0.0.5", 8443, 443, "tcp"),
    )
    assert lifecycle._urls(ports) == ["http://localhost:8080/", "localhost:3306", "https://10.0.0.5:8443/"]


def test_started_after_handles_nanoseconds_and_garbage():
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now + 5)) + ".123456789Z"
    assert lifecycle._started_after(stamp, now)
    old = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 60)) + ".5Z"
    assert not lifecycle._started_after(old, now)
    assert lifecycle._started_after("garbage", now)


def test_with_dependencies_is_transitive():
    assert lifecycle._with_dependencies(MODEL, ["tool"]) == {"tool", "web", "db"}


def test_with_dependencies_unknown_service():
    with pytest.raises(DevstackError) as exc:
        lifecycle._with_dependencies(MODEL, ["nope"])
    assert "cache, db, tool, web" in (exc.value.hint or "")


def test_edges_cover_depends_on_and_links_with_alias():
    got = {(e.source, e.target, e.kind, e.hostname) for e in runtime.edges(MODEL)}
    assert got == {
        ("web", "db", "depends_on", "db"),
        ("web", "cache", "links", "redis"),
        ("tool", "web", "depends_on", "web"),
    }


def test_required_variables_from_raw_compose():
    raw = {
        "web": {"environment": {"A": "${A:?set A}", "B": "${B:-x}", "C": "${C?}", "D": None}},
        "db": {"environment": ["E=${E:?}", "F=plain"]},
    }
    assert runtime.required_variables(raw) == {"web": ["A", "C"], "db": ["E"]}


def test_runtime_check_reports_each_failure_kind():
    containers = {
        "web": info("web", env={"A": ""}),
        "db": info("db", exposed=(3306,)),
        "cache": info("cache", exposed=(6379,)),
        "tool": info("tool"),
    }
    answers = {("redis", "6379"): (10, ""), ("db", "3306"): (11, ""), ("web", ""): (12, "")}
    calls = []

    def run_in(container_id, argv):
        calls.append((container_id, argv))
        assert argv[:2] == ["sh", "-c"]
        return answers[(argv[4], argv[5])]

    raw = {"web": {"environment": {"A": "${A:?}"}}}
    findings = runtime.check(containers, MODEL, raw, run_in)
    codes = sorted(f.code for f in findings)
    assert codes == ["DS610", "DS611", "DS612", "DS620"]
    by_code = {f.code: f for f in findings}
    assert "redis" in by_code["DS610"].message
    assert "db:3306" in by_code["DS611"].message and "devstack logs db" in by_code["DS611"].hint
    assert by_code["DS612"].severity == Severity.INFO
    assert "A" in by_code["DS620"].message


def test_runtime_check_all_good_has_no_findings():
    containers = {s: info(s, exposed=(1,)) for s in MODEL["services"]}
    assert runtime.check(containers, MODEL, {}, lambda cid, argv: (0, "")) == []


def test_runtime_check_only_changed_services():
    containers = {s: info(s, exposed=(1,)) for s in MODEL["services"]}
    seen = []
    runtime.check(containers, MODEL, {}, lambda cid, argv: seen.append(cid) or (0, ""), only={"tool"})
    assert seen == ["id-tool"]


def test_findings_text_orders_errors_first_and_counts():
    findings = [
        Finding(
            "DS403", Severity.WARNING, "published on all interfaces", "bind 127.0.0.1", "docker-compose.yml:9"
        ),
        Finding("DS301", Severity.ERROR, "VAR is not set", "set it in .env", "docker-compose.yml:4"),
        Finding("DS999", Severity.INFO, "fyi"),
    ]
    text = report.findings_text(findings)
    lines = text.splitlines()
    assert lines[0].startswith("ERROR   DS301") and "[docker-compose.yml:4]" in lines[0]
    assert "hint: set it in .env" in lines[1]
    assert "fyi" not in text
    assert lines[-1] == "1 error(s), 1 warning(s)"
    assert "fyi" in report.findings_text(findings, verbose=True)


def test_findings_json_has_schema_version():
    import json

    data = json.loads(report.findings_json([Finding("DS301", Severity.ERROR, "m", "h", "l")]))
    assert data["schema_version"] == 1 and data["errors"] == 1
    assert data["findings"] == [
        {"code": "DS301", "severity": "error", "message": "m", "hint": "h", "location": "l"}
    ]


def test_status_table():
    rows = [lifecycle.ServiceStatus("web", "p-web-1", "running", "healthy", ["http://localhost:8080/"], 3.21)]
    text = report.status_table(rows)
    assert "http://localhost:8080/" in text and "3.2s" in text
    assert "not running" in report.status_table([])
