"""Pure parts of up/status: URLs, readiness, dependency closure, runtime-check findings, reports."""

from __future__ import annotations

import time

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
    return base._replace(**kw)


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


# -- waiting until ready: every branch, with a clock and containers the test controls ----------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


UP_WALL = 1_800_000_000.0  # when `compose up` started (epoch)
BEFORE = "2026-11-28T04:00:00.123456789Z"  # started long before this `up`
DURING = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(UP_WALL + 1)) + ".5Z"  # started by it


def readiness(clock: Clock, wanted=("web",), timeout: float = 60.0) -> lifecycle.Readiness:
    return lifecycle.Readiness(set(wanted), clock.now, timeout, UP_WALL, clock=clock)


def failure(r: lifecycle.Readiness, *containers: ContainerInfo) -> str:
    with pytest.raises(lifecycle.ServiceFailed) as exc:
        r.pending(list(containers))
    return exc.value.what


def test_ready_when_running_and_healthy():
    clock = Clock()
    r = readiness(clock, wanted=("web", "db"))
    assert r.pending([info("web", health="starting"), info("db")]) == [("web", "starting")]
    clock.now += 2
    assert r.pending([info("web", health="healthy"), info("db")]) == []
    assert r.seconds_to_ready("id-web") == 2.0 and r.seconds_to_ready("id-db") == 0.0


def test_a_completed_one_shot_job_is_done():
    assert readiness(Clock()).pending([info("web", state="exited", exit_code=0)]) == []


def test_exit_code_is_a_failure():
    assert failure(readiness(Clock()), info("web", state="exited", exit_code=3)) == "exited with code 3"


def test_oom_kill_is_named():
    what = failure(readiness(Clock()), info("web", state="exited", exit_code=137, oom_killed=True))
    assert what == "ran out of memory (killed by the kernel)"


def test_a_kill_waits_a_grace_period_for_the_engine_then_fails():
    clock = Clock()
    r = readiness(clock)
    killed = info("web", state="exited", exit_code=143)
    assert r.pending([killed]) == [("web", "killed")]
    clock.now += lifecycle.KILLED_GRACE_SECONDS + 0.1
    assert failure(r, killed) == "was killed (exit 143)"


def test_unhealthy_fails_at_once():
    assert failure(readiness(Clock()), info("web", health="unhealthy")) == "is unhealthy"


def test_restarting_too_often_is_a_crash_loop():
    r = readiness(Clock())
    assert r.pending([info("web", state="restarting", restart_count=1)]) == [("web", "restarting")]
    assert failure(r, info("web", state="restarting", restart_count=3)) == "keeps crashing"


def test_without_healthcheck_running_must_last_a_moment():
    clock = Clock()
    r = readiness(clock)
    fresh = info("web", started_at=DURING)
    assert r.pending([fresh]) == [("web", "starting")]
    clock.now += lifecycle.SETTLE_SECONDS + 0.01
    assert r.pending([fresh]) == []


def test_an_unchanged_running_container_is_ready_at_once():
    assert readiness(Clock()).pending([info("web", started_at=BEFORE)]) == []


def test_timeout_names_the_state_and_a_missing_container():
    clock = Clock()
    r = readiness(clock, wanted=("web", "db"), timeout=5)
    assert r.pending([info("web", health="starting")]) == [("db", "not created"), ("web", "starting")]
    clock.now += 6
    with pytest.raises(lifecycle.ServiceFailed) as exc:
        r.pending([info("web", health="starting")])
    assert exc.value.what == "has no container after 5 s" and exc.value.info is None
    assert failure(readiness(clock, timeout=-1), info("web", health="starting")) == (
        "is not ready after -1 s (starting)"
    )


def test_poll_interval_grows_with_the_containers_looked_at():
    assert lifecycle.poll_interval(1) == lifecycle.poll_interval(5) == 0.1
    assert lifecycle.poll_interval(8) == pytest.approx(0.16)
    assert lifecycle.poll_interval(13) == lifecycle.poll_interval(200) == lifecycle.POLL_SECONDS == 0.25


def test_wait_looks_until_ready_and_turns_failures_into_errors():
    clock = Clock()
    looks = iter([[info("web", health="starting")], [info("web", health="healthy")]])
    slept = []
    got = lifecycle._wait(readiness(clock), lambda: next(looks), lambda i, w: AssertionError(w), slept.append)
    assert [c.health for c in got] == ["healthy"] and slept == [lifecycle.POLL_SECONDS_MIN]

    with pytest.raises(DevstackError, match="web exited with code 1"):
        lifecycle._wait(
            readiness(clock),
            lambda: [info("web", state="exited", exit_code=1)],
            lambda i, w: DevstackError(f"service {i.service} {w}"),
            slept.append,
        )


def stamp(offset: float) -> str:
    """An engine StartedAt `offset` seconds after `compose up` started."""
    whole = int(UP_WALL + offset)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((UP_WALL + offset - whole) * 1e9):09d}Z"
    )


def test_a_crash_loop_on_a_running_stack_is_not_ready():
    """restart: always, a command that exits after a second: running at most looks, restarting
    in between. Judged over the wait, it keeps crashing (it was reported ready before)."""
    clock = Clock()
    r = readiness(clock)
    looks = [  # every look happens to catch it running (a restart takes a moment)
        info("web", restart_policy="always", restart_count=4, started_at=stamp(-0.5)),
        info("web", restart_policy="always", restart_count=4, started_at=stamp(-0.5)),
        info("web", restart_policy="always", restart_count=5, started_at=stamp(1.2)),
        info("web", restart_policy="always", restart_count=6, started_at=stamp(2.4)),
    ]
    for look in looks:
        assert r.pending([look]) == [("web", "restarted" if look.restart_count > 4 else "starting")]
        clock.now += 0.4
    assert failure(r, info("web", restart_policy="always", restart_count=7, started_at=stamp(3.6))) == (
        "keeps crashing"
    )
    assert failure(readiness(clock), info("web", state="restarting", restart_count=3)) == "keeps crashing"


def test_a_restart_policy_hides_a_crash_so_the_wait_is_longer():
    clock = Clock()
    r = readiness(clock)
    fresh = info("web", restart_policy="unless-stopped", started_at=stamp(0.1))
    assert r.pending([fresh]) == [("web", "starting")]
    clock.now += lifecycle.SETTLE_SECONDS + 0.1
    assert r.pending([fresh]) == [("web", "starting")]  # a plain container would count by now
    restarted = info("web", restart_policy="unless-stopped", restart_count=1, started_at=stamp(1.3))
    assert r.pending([restarted]) == [("web", "restarted")]
    clock.now += lifecycle.RESTART_SETTLE_SECONDS + 0.1
    assert r.pending([restarted]) == []  # stayed up after its restart: ready


def test_a_healthy_container_that_restarted_must_stay_up():
    clock = Clock()
    r = readiness(clock)
    assert r.pending([info("web", health="healthy", restart_count=0, started_at=BEFORE)]) == []
    again = info("web", health="healthy", restart_count=1, started_at=stamp(0.5))
    assert r.pending([again]) == [("web", "restarted")]


def test_ready_time_belongs_to_the_container_not_the_service():
    """A recreated container's ready time is its own (the old one was ready at once)."""
    clock = Clock()
    r = readiness(clock)
    r.observe([info("web", id="old", health="healthy")])
    clock.now += 13.3
    assert r.pending([info("web", id="new", health="healthy", started_at=stamp(1))]) == []
    assert r.seconds_to_ready("new") == pytest.approx(13.3) and r.seconds_to_ready("old") == 0.0


def test_up_summary_gives_one_verdict_after_the_evidence():
    statuses = [lifecycle.ServiceStatus("app", "p-app-1", "running", "", [], 1.2)]
    failed = Finding("DS611", Severity.ERROR, "app cannot connect to db:5432", "see logs", "service app")
    text = report.up_summary(lifecycle.UpResult("linkcheck", [], statuses, [failed], 1.8))
    lines = text.splitlines()
    assert lines[-1] == (
        "linkcheck started, but 1 runtime check(s) failed (1.8 s): fix them and run `devstack up` again."
    )
    assert "is up" not in text and text.index("DS611") < text.index("linkcheck started")
    ok = report.up_summary(lifecycle.UpResult("linkcheck", [], statuses, [], 1.8))
    assert ok.splitlines()[-1] == "linkcheck is up (1.8 s)."


def test_status_rows_say_what_is_true():
    rows = [
        lifecycle.ServiceStatus("db", "p-db-1", "exited", "", exit_code=137, restarts=2),
        lifecycle.ServiceStatus(
            "web", "p-web-1", "running", "healthy", ["http://localhost:8080/"], uptime_seconds=75
        ),
        lifecycle.ServiceStatus("worker", "", "not created", ""),
        lifecycle.ServiceStatus("job", "p-job-1", "exited", "", exit_code=0),
    ]
    text = report.status_table(rows, uptime=True)
    assert text.splitlines()[0].split() == ["SERVICE", "STATE", "HEALTH", "URL", "UPTIME"]
    assert "exited (137), 2 restarts" in text and "1m15s" in text and "not created" in text
    assert [r.ok for r in rows] == [False, True, False, True]


def _probe_answers(answers):
    def run_in(container_id, argv):
        return answers.get((argv[4], argv[5]), (11, ""))

    return run_in


def test_runtime_check_one_image_exposed_port_answering_is_enough():
    """rabbitmq's image EXPOSEs 4369 5671 5672 15672; 5671 (AMQP over TLS) is off by default."""
    model = {"services": {"app": {"depends_on": {"mq": {"condition": "service_healthy"}}}, "mq": {}}}
    containers = {"app": info("app"), "mq": info("mq", exposed=(4369, 5671, 5672, 15672))}
    answers = {("mq", "4369"): (0, ""), ("mq", "5672"): (0, "")}
    assert runtime.check(containers, model, {}, _probe_answers(answers)) == []
    # None answers: one finding naming the ports tried, not one per port.
    findings = runtime.check(containers, model, {}, _probe_answers({}))
    assert [f.code for f in findings] == ["DS611"]
    assert "4369, 5671, 5672, 15672" in findings[0].message


def test_runtime_check_every_declared_port_must_answer():
    """Ports the project declares (`ports:` targets, `expose:`) are each promised to answer."""
    model = {
        "services": {
            "app": {"depends_on": ["cache"]},
            "cache": {
                "expose": ["6379", "16379/tcp", "53/udp"],
                "ports": [{"target": 8001, "published": "8001"}],
            },
        }
    }
    assert runtime.declared_ports(model["services"]["cache"]) == [8001, 6379, 16379]
    containers = {"app": info("app"), "cache": info("cache", exposed=(6379, 8001, 16379))}
    answers = {("cache", "6379"): (0, ""), ("cache", "8001"): (0, "")}
    findings = runtime.check(containers, model, {}, _probe_answers(answers))
    assert [(f.code, "cache:16379" in f.message) for f in findings] == [("DS611", True)]


def test_declared_ports_short_syntax_and_ranges():
    service = {"ports": ["127.0.0.1:8080:80", "[::1]:9000:9000/tcp", "5353:53/udp", "3000-3001:3000-3001"]}
    assert runtime.declared_ports(service) == [80, 9000, 3000, 3001]


def test_up_writes_host_user_without_an_env_example(tmp_path):
    """A project whose compose file uses ${HOST_UID} but has no .env.example still gets its
    HOST_UID/HOST_GID in .env at `up`, and the event does not speak of a .env.example."""
    from devstack.envfile import read_keys
    from devstack.project import Project

    (tmp_path / "compose.yaml").write_text(
        'services:\n  app:\n    image: busybox\n    user: "${HOST_UID:-1000}:${HOST_GID:-1000}"\n'
    )
    project = Project.load(files=(str(tmp_path / "compose.yaml"),))
    events = []
    result = lifecycle._sync_env(project, events.append)
    assert result is not None and result.created
    keys = read_keys(tmp_path / ".env")
    assert set(keys) == {"HOST_UID", "HOST_GID"} and keys["HOST_UID"].isdigit()
    assert [e.message for e in events] == [f"created .env ({len(result.added)} keys, generated no secrets)"]
    events.clear()
    assert not lifecycle._sync_env(project, events.append).changed and events == []


# -- up on a running stack: `create` alone when it leaves everything running -------------------


def test_all_running_needs_every_wanted_service_with_all_its_containers_running():
    web, db = info("web"), info("db")
    assert lifecycle.all_running([web, db], {"web", "db"})
    assert lifecycle.all_running([web, db], {"web"})  # others are not looked at
    assert not lifecycle.all_running([web], {"web", "db"})  # db has no container yet
    assert not lifecycle.all_running([web, info("db", state="exited")], {"web", "db"})
    assert not lifecycle.all_running([web, db, info("db", id="id-db-2", state="created")], {"db"})


def test_create_alone_only_on_a_running_stack_with_nothing_to_build_or_restart():
    model = {"services": {"web": {"depends_on": {"db": {"condition": "service_healthy"}}}, "db": {}}}
    running = [info("web"), info("db")]

    def may(v1=False, build=False, wanted=("web", "db"), model=model, before=running):
        return lifecycle.may_create_only(v1, build, set(wanted), model, before)

    assert may()
    assert not may(v1=True)  # v1: `up -d`, as always
    assert not may(build=True)
    assert not may(before=[info("web")])  # db is not running
    assert not may(before=[])
    restart = {"db": {"condition": "service_healthy", "restart": True}}
    restarts = {"services": {"web": {"depends_on": restart}}}
    assert not may(model=restarts)
    assert may(model=restarts, wanted={"db"}, before=[info("db")])
