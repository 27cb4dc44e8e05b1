"""Compose's progress output understood (v2 and v1), one state per service, and the views that
draw it: plain lines without control characters, JSON lines, the choice of mode."""

from __future__ import annotations

import io
import json

import pytest

from devstack import terminal
from devstack.composeoutput import failed_dependency, progress_line
from devstack.engine import ContainerInfo
from devstack.progress import Board, Event

# Recorded from Compose 2.26.1 (COMPOSE_ANSI=never) on `up -d --build` of a two-stage build.
V2_UP = """\
#0 building with "default" instance using docker driver

#1 [web internal] load build definition from Dockerfile
#1 transferring dockerfile: 265B 0.0s done
#1 DONE 0.0s

#4 [web base 1/2] FROM docker.io/devstack-test/busybox:latest
#4 CACHED

#5 [web base 2/2] RUN echo base > /b.txt
#5 DONE 0.4s

#6 [web stage-1 1/1] RUN echo building > /built.txt
#6 0.512 building
#6 DONE 0.8s

#7 [web] exporting to image
#7 exporting layers 0.0s done
#7 naming to docker.io/library/termprobe-web done
#7 DONE 0.1s
 Network termprobe_default  Creating
 Network termprobe_default  Created
 Container termprobe-db-1  Creating
 Container termprobe-cache-1  Creating
 Container termprobe-db-1  Created
 Container termprobe-web-1  Creating
 Container termprobe-cache-1  Created
 Container termprobe-web-1  Created
 Container termprobe-cache-1  Starting
 Container termprobe-db-1  Starting
 Container termprobe-db-1  Started
 Container termprobe-db-1  Waiting
 Container termprobe-cache-1  Started
 Container termprobe-db-1  Error
dependency failed to start: container termprobe-db-1 is unhealthy
"""

V2_BUILD_FAILS = """\
#7 [web stage-1 2/2] RUN for i in 1 2 3; do echo line $i; done; exit 3
#7 0.828 line 1
#7 0.830 line 2
#7 0.830 to-stderr
#7 ERROR: process "/bin/sh -c for i in 1 2 3; do echo $i; done" did not complete successfully: exit code: 3
------
 > [web stage-1 2/2] RUN for i in 1 2 3; do echo line $i; done; exit 3:
0.828 line 1
------
failed to solve: process "/bin/sh -c ..." did not complete successfully: exit code: 3
"""

# Compose 1.29.2 on the same project.
V1_UP = """\
Creating network "termprobev1_default" with the default driver
Building web
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#5 [2/3] RUN echo building > /built.txt
#5 CACHED
#6 [3/3] RUN sleep 1 && echo step2
#6 1.635 step2
#6 DONE 1.7s
#7 exporting to image
#7 naming to docker.io/library/termprobev1_web done
#7 DONE 0.1s
Creating termprobev1_db_1 ...
Creating termprobev1_cache_1 ...
Creating termprobev1_cache_1 ... done
Creating termprobev1_db_1    ... done

ERROR: for web  Container "122b91854d07" is unhealthy.
Encountered errors while bringing up the project.
"""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def feed(board: Board, output: str) -> None:
    for line in output.splitlines():
        board.compose_line(line)


def service_events(events: list[Event], service: str) -> list[tuple[str, str]]:
    return [(e.state or "", e.message) for e in events if e.kind == "service" and e.service == service]


def test_v2_output_becomes_one_state_per_service():
    events: list[Event] = []
    board = Board("termprobe", ["web", "db", "cache"], events.append, clock=Clock())
    feed(board, V2_UP)
    web = service_events(events, "web")
    assert web[0] == ("building", "building")
    assert ("building", "building") in web and web[-1] == ("created", "created")
    built = next(e for e in events if e.state == "built")
    assert built.service == "web" and "(3 steps, 1 cached)" in built.message  # stages together
    steps = [e.detail for e in events if e.service == "web" and e.detail]
    assert steps[:2] == [
        "step 1/2: FROM docker.io/devstack-test/busybox:latest",
        "step 2/2: RUN echo base > /b.txt",
    ]
    assert [s for s, _ in service_events(events, "db")] == ["creating", "created", "starting"]
    assert board.compose_errors == {"db"}  # the failure is said once, by whoever can explain it
    assert [s for s, _ in service_events(events, "cache")] == ["creating", "created", "starting"]
    assert "dependency failed to start: container termprobe-db-1 is unhealthy" in board.other
    raw = [e.message for e in events if e.kind == "compose"]
    assert len(raw) == len(V2_UP.splitlines())  # every line is passed on, for --verbose and --json


def test_a_failed_build_step_keeps_its_output():
    events: list[Event] = []
    board = Board("termprobe", ["web"], events.append, clock=Clock())
    feed(board, V2_BUILD_FAILS)
    failed = [e for e in events if e.state == "failed"]
    assert len(failed) == 1
    assert failed[0].message.startswith("build failed at step 2/2: RUN for i in 1 2 3")
    assert failed[0].detail is not None
    assert failed[0].detail.splitlines()[:3] == ["line 1", "line 2", "to-stderr"]
    assert "exit code: 3" in failed[0].detail


def test_v1_output_names_the_building_service_once():
    events: list[Event] = []
    board = Board("termprobev1", ["web", "db", "cache"], events.append, clock=Clock())
    feed(board, V1_UP)
    assert service_events(events, "web")[0] == ("building", "building")
    built = next(e for e in events if e.state == "built")
    assert built.service == "web" and "2 steps, 1 cached" in built.message
    assert [s for s, _ in service_events(events, "db")] == ["creating", "created"]
    assert failed_dependency(V1_UP) == "122b91854d07"


@pytest.mark.parametrize(
    ("line", "kind", "name", "action"),
    [
        (" Container proj-db-1  Recreate", "container", "proj-db-1", "Recreate"),
        (' Volume "proj_data"  Creating', "volume", "proj_data", "Creating"),
        (" db Pulling", "service", "db", "Pulling"),
        ("Stopping proj_db_1    ... done", "container", "proj_db_1", "Stopped"),
        ("Removing network proj_default", "network", "proj_default", "Removing"),
        ("Pulling db (mariadb:11.8)...", "service", "db", "Pulling"),
    ],
)
def test_progress_lines(line, kind, name, action):
    parsed = progress_line(line)
    assert parsed is not None and (parsed.kind, parsed.name, parsed.action) == (kind, name, action)


@pytest.mark.parametrize(
    "line",
    ["", "WARN[0000] a warning", " 8a1e25ce7c4f Pulling fs layer", "Encountered errors while bringing up"],
)
def test_lines_that_are_not_progress(line):
    assert progress_line(line) is None


@pytest.mark.parametrize(
    ("output", "culprit"),
    [
        ("dependency failed to start: container proj-db-1 is unhealthy", "proj-db-1"),
        ("dependency failed to start: container proj-db-1 exited (1)", "proj-db-1"),
        ('service "migrate" didn\'t complete successfully: exit 1', "migrate"),
        ("dependency failed to start: container proj-db-1 has no healthcheck configured", "proj-db-1"),
        ('ERROR: for web  Container "122b91854d07" is unhealthy.', "122b91854d07"),
        ('ERROR: for web  Container "42d62221b08a" exited with code 3.', "42d62221b08a"),
        ("Error response from daemon: driver failed programming external connectivity", None),
    ],
)
def test_failed_dependency(output, culprit):
    assert failed_dependency(output) == culprit


def info(service: str, state: str = "running", health: str = "", exit_code: int = 0, restarts: int = 0):
    return ContainerInfo(
        id=f"id-{service}",
        name=f"proj-{service}-1",
        service=service,
        state=state,
        health=health,
        exit_code=exit_code,
        started_at="",
        restart_count=restarts,
        env={},
        ports=(),
        exposed=(),
    )


def test_looks_at_the_engine_move_services_forward_never_back():
    events: list[Event] = []
    board = Board("proj", ["db", "job", "app"], events.append, clock=Clock())
    ready: dict[str, float] = {}

    def look(*containers):
        board.look(containers, lambda c: ready.get(c.service), lambda c: True)

    look(info("db", health="starting"), info("job"), info("app", "created"))
    board.compose_line(" Container proj-db-1  Starting")  # Compose's line comes after the look
    ready["db"] = 3.14
    look(info("db", health="healthy"), info("job", "exited"), info("app", "restarting", restarts=2))
    look(info("app", "exited", exit_code=3))
    assert service_events(events, "db") == [("health", "waiting for health"), ("ready", "ready in 3.1 s")]
    assert service_events(events, "job") == [("starting", "starting"), ("done", "completed (exit 0)")]
    assert service_events(events, "app") == [
        ("created", "created"),
        ("restarting", "restarting (2 restarts)"),
        ("failed", "exited with code 3"),
    ]
    assert next(e for e in events if e.state == "ready").seconds == 3.1


def test_down_states_from_v2_output():
    events: list[Event] = []
    board = Board("proj", ["db"], events.append, container_names={"custom-name": "db"})
    for line in (
        " Container custom-name  Stopping",
        " Container custom-name  Stopped",
        " Container custom-name  Removed",
    ):
        board.compose_line(line)
    assert [s for s, _ in service_events(events, "db")] == ["stopping", "stopped", "removed"]


# -- the views ---------------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("requested", "tty", "env", "as_json", "verbose", "mode"),
    [
        ("auto", True, {"TERM": "xterm-256color"}, False, False, "live"),
        ("auto", False, {"TERM": "xterm-256color"}, False, False, "plain"),  # a pipe, CI
        ("auto", True, {"TERM": "dumb"}, False, False, "plain"),
        ("auto", True, {"TERM": "xterm", "NO_COLOR": "1"}, False, False, "live"),  # live, in no colour
        ("live", False, {}, False, False, "plain"),  # no terminal: live cannot work
        ("plain", True, {"TERM": "xterm"}, False, False, "plain"),
        ("quiet", True, {"TERM": "xterm"}, False, False, "quiet"),
        ("auto", True, {"TERM": "xterm"}, True, False, "json"),
        ("auto", True, {"TERM": "xterm"}, False, True, "verbose"),
    ],
)
def test_choose_the_mode(requested, tty, env, as_json, verbose, mode):
    stream = FakeTTY() if tty else io.StringIO()
    assert terminal.choose(requested, as_json=as_json, verbose=verbose, stream=stream, environ=env) == mode


def sample_events() -> list[Event]:
    events: list[Event] = []
    board = Board("termprobe", ["web", "db", "cache"], events.append, clock=Clock())
    events.append(Event("env", "created .env from .env.example (3 keys)"))
    feed(board, V2_UP + "\x1b[1mbold\x1b[0m line with a control character\n")
    board.look([info("db", health="starting")], lambda c: None, lambda c: True)
    board.fail("db", "is unhealthy: its healthcheck failed 2 times in a row", "exit 1: cannot connect")
    return events


def test_plain_lines_one_per_change_without_control_characters():
    out = io.StringIO()
    with terminal.open_view("plain", out) as view:
        for event in sample_events():
            view(event)
        view.step("building devstack-proxy-nginx (once)")
    text = out.getvalue()
    assert not any(ord(ch) < 32 and ch != "\n" for ch in text)
    lines = text.splitlines()
    assert lines[0] == "env: created .env from .env.example (3 keys)"
    assert "db: waiting for health" in lines
    assert "db: unhealthy: its healthcheck failed 2 times in a row" in lines  # once, with the reason
    assert "cannot connect" not in text  # the evidence belongs to the error, printed once
    assert "web: building (step 2/2: RUN echo base > /b.txt)" in lines
    assert any(line.startswith("web: built in ") for line in lines)
    assert not any(line.startswith("#") for line in lines)  # no BuildKit log
    assert lines[-1] == "building devstack-proxy-nginx (once)"


def test_verbose_adds_composes_own_lines():
    out = io.StringIO()
    view = terminal.open_view("verbose", out)
    for event in sample_events():
        view(event)
    assert "  #5 [web base 2/2] RUN echo base > /b.txt" in out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()


def test_json_lines():
    out = io.StringIO()
    view = terminal.open_view("json", out)
    for event in sample_events():
        view(event)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    ready = [r for r in records if r.get("state") == "health"]
    assert ready == [
        {"event": "service", "service": "db", "message": "waiting for health", "state": "health"}
    ]
    assert any(r["event"] == "compose" for r in records)


def test_quiet_draws_nothing():
    out = io.StringIO()
    with terminal.open_view("quiet", out) as view:
        for event in sample_events():
            view(event)
    assert out.getvalue() == ""


def test_live_view_draws_marks_names_and_failures(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = FakeTTY()
    view = terminal.open_view("live", out)
    assert isinstance(view, terminal.LiveView)
    with pytest.raises(RuntimeError), view:
        for event in sample_events():
            view(event)
        view(Event("service", "ready in 1.2 s", "cache", "ready", 1.2))
        raise RuntimeError("up failed")
    drawn = out.getvalue()
    last = drawn.rsplit("\x1b[1A", 1)[-1]
    assert "✔" in last and "cache" in last and "ready in 1.2 s" in last
    assert "✘" in last and "unhealthy: its healthcheck failed 2 times in a row" in last
    assert "env: created .env from .env.example (3 keys)" in drawn  # printed above the rows
    assert "\x1b[31m" in drawn or "\x1b[1;31m" in drawn  # red for the failure


def test_live_view_without_colour_or_utf8(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("NO_COLOR", "1")

    class AsciiTTY(FakeTTY):
        encoding = "ascii"  # a terminal without UTF-8 (LANG=C)

    out = AsciiTTY()
    with terminal.open_view("live", out) as view:
        view(Event("service", "ready in 1.2 s", "cache", "ready", 1.2))
        view(Event("service", "exited with code 3", "job", "failed"))
    drawn = out.getvalue()
    import re

    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", drawn)
    assert "+ cache ready in 1.2 s" in plain and "x job   exited with code 3" in plain
    assert not any(f"\x1b[{code}m" in drawn for code in ("31", "32", "1;31", "36"))


def test_live_view_keeps_a_build_summary_above_the_rows(monkeypatch):
    """A build that ends between two refreshes is still told: its summary is printed for good."""
    import re

    monkeypatch.setenv("TERM", "xterm-256color")
    out = FakeTTY()
    with terminal.open_view("live", out) as view:
        view(Event("service", "building", "app", "building"))
        view(Event("service", "built in 0.3 s (3 steps, 2 cached)", "app", "built", 0.3))
        view(Event("service", "creating", "app", "creating"))
        view(Event("service", "ready in 1.0 s", "app", "ready", 1.0))
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())
    assert "app: built in 0.3 s (3 steps, 2 cached)" in plain
