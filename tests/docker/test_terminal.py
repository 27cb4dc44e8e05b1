"""What a terminal user sees from `up` and `down` on a real engine: the live view on a pty,
plain lines without control characters in a pipe, JSON lines, and a failed service explained
by its healthcheck's outputs and its log, whichever of Compose or devstack notices first."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

BUSYBOX = "devstack-test/busybox"

# A database whose healthcheck fails, saying why, and whose log says more.
SICK_DB = f"""
  db:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "echo db starting; echo 'FATAL: bad config in my.cnf line 3' >&2; exec sleep 300"]
    healthcheck:
      test: ["CMD-SHELL", "echo 'cannot connect to 127.0.0.1:3306'; exit 1"]
      interval: 1s
      timeout: 2s
      retries: 2
"""

WEB = f"""
  web:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "echo ok > /www/index.html && exec httpd -f -p 80 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 30s
      start_interval: 500ms
      start_period: 20s
      timeout: 2s
"""

# Built locally (two steps), so the build summary shows.
BUILT = """
  app:
    build: ./app
    init: true
    command: ["sleep", "300"]
"""


def project(root: Path, name: str, services: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "compose.yaml").write_text("services:" + services)
    (root / ".env").write_text(f"COMPOSE_PROJECT_NAME={name}\n")
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "Dockerfile").write_text(
        f"FROM {BUSYBOX}\nRUN echo one > /one.txt\nRUN echo two > /two.txt && sleep 1\n"
    )
    return root


def devstack(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """devstack as a user runs it, with its output going to pipes (as in CI)."""
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def plain_text(drawn: str) -> str:
    """What a terminal drew, without its control sequences, one line per redraw."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    return "\n".join(line for line in re.split(r"[\r\n]+", text) if line.strip())


def on_a_pty(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """devstack on a real terminal (a pty): (exit code, everything it drew)."""
    main_fd, child_fd = os.openpty()
    os.set_blocking(main_fd, False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", *args],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        cwd=cwd,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40", **(env or {})},
    )
    os.close(child_fd)
    seen = b""
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([main_fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(main_fd, 65536)
                except OSError:
                    break
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main_fd)
    return code, seen.decode("utf-8", "replace")


CONTROL = [chr(c) for c in range(32) if chr(c) not in "\n\t"]


def test_compose_stopping_up_for_an_unhealthy_dependency_is_explained(
    compose_variant, tmp_path, project_name, test_images
):
    """`dependency failed to start: container ... is unhealthy`: which service, and why."""
    root = project(
        tmp_path / "app",
        project_name,
        SICK_DB
        + f"""
  web:
    image: {BUSYBOX}
    command: ["sleep", "300"]
    depends_on:
      db: {{condition: service_healthy}}
""",
    )
    result = devstack("up", "--timeout", "120", cwd=root)
    assert result.returncode == 1, result.stderr
    err = result.stderr
    assert "error: service db is unhealthy" in err
    assert "cannot connect to 127.0.0.1:3306" in err  # the healthcheck's own output
    assert "FATAL: bad config in my.cnf line 3" in err and "db starting" in err  # the log tail
    assert "Compose stopped `up`" in err  # the path: Compose noticed first
    assert "hint:" in err and "Traceback" not in err
    devstack("down", cwd=root)


def test_a_one_shot_dependency_that_fails_is_explained(compose_variant, tmp_path, project_name, test_images):
    """`service "migrate" didn't complete successfully: exit 3` (v2); v1 starts web anyway."""
    root = project(
        tmp_path / "app",
        project_name,
        f"""
  migrate:
    image: {BUSYBOX}
    command: ["sh", "-c", "echo applying 0042_add_index; echo 'relation users does not exist' >&2; exit 3"]
  web:
    image: {BUSYBOX}
    command: ["sleep", "300"]
    depends_on:
      migrate: {{condition: service_completed_successfully}}
""",
    )
    result = devstack("up", "--timeout", "120", cwd=root)
    assert result.returncode == 1, result.stderr
    assert "error: service migrate exited with code 3" in result.stderr
    assert "relation users does not exist" in result.stderr and "applying 0042_add_index" in result.stderr
    if compose_variant.name == "v2":
        assert "Compose stopped `up`" in result.stderr and "didn't complete successfully" in result.stderr
    devstack("down", cwd=root)


def test_devstacks_own_wait_explains_an_unhealthy_service(
    compose_variant, tmp_path, project_name, test_images
):
    root = project(tmp_path / "app", project_name, SICK_DB)
    result = devstack("up", "--timeout", "120", cwd=root)
    assert result.returncode == 1, result.stderr
    err = result.stderr
    assert "error: service db is unhealthy" in err
    assert "cannot connect to 127.0.0.1:3306" in err
    assert "FATAL: bad config in my.cnf line 3" in err
    assert "Compose stopped" not in err  # devstack's wait noticed
    devstack("down", cwd=root)


def test_piped_up_and_down_print_plain_lines(tmp_path, project_name, test_images):
    root = project(tmp_path / "app", project_name, WEB + BUILT)
    try:
        result = devstack("up", "--build", cwd=root)
        assert result.returncode == 0, result.stderr
        for stream in (result.stdout, result.stderr):
            assert not [c for c in CONTROL if c in stream], repr(stream)
        lines = result.stderr.splitlines()
        assert "web: waiting for health" in lines
        assert any(line.startswith("web: ready in ") for line in lines)
        assert any(line.startswith("app: built in ") and "(3 steps" in line for line in lines), lines
        assert not any(line.lstrip().startswith("#") for line in lines)  # no BuildKit log
        assert len(lines) == len(set(lines))  # one line per change, none repeated
        verbose = devstack("up", "--build", "-v", cwd=root)
        assert verbose.returncode == 0
        assert any(
            line.lstrip().startswith("#") and "RUN echo two" in line for line in verbose.stderr.splitlines()
        )
        down = devstack("down", cwd=root)
        assert down.returncode == 0, down.stderr
        assert "web: removed" in down.stderr.splitlines()
        assert not [c for c in CONTROL if c in down.stderr]
    finally:
        devstack("down", cwd=root)


def test_json_lines_carry_the_states(tmp_path, project_name, test_images):
    root = project(tmp_path / "app", project_name, WEB)
    try:
        result = devstack("up", "--json", cwd=root)
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stderr.splitlines()]
        states = [e["state"] for e in events if e["event"] == "service" and e["service"] == "web"]
        assert states[-1] == "ready" and "health" in states
        assert json.loads(result.stdout)["kind"] == "up"
    finally:
        devstack("down", cwd=root)


def test_quiet_prints_only_the_result(tmp_path, project_name, test_images):
    root = project(tmp_path / "app", project_name, WEB)
    try:
        result = devstack("up", "-q", cwd=root)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "is up" in result.stdout
    finally:
        devstack("down", cwd=root)


def test_live_view_on_a_terminal(tmp_path, project_name, test_images):
    root = project(tmp_path / "app", project_name, WEB + BUILT)
    try:
        code, drawn = on_a_pty(["up", "--build"], root)
        assert code == 0, drawn
        assert "\x1b[2K" in drawn and "\x1b[1A" in drawn  # lines redrawn in place
        shown = plain_text(drawn)
        assert "ready in" in shown, shown[-3000:]
        assert "built in" in shown, shown[-3000:]
        assert "#1 [" not in drawn  # BuildKit's log is summarised, not shown
        final = drawn.rsplit("\x1b[1A", 1)[-1]  # the last picture of the live rows, then the table
        assert "web" in final and "app" in final
        code, drawn = on_a_pty(["down"], root)
        assert code == 0 and "removed" in drawn
        code, plain = on_a_pty(["up"], root, env={"TERM": "dumb"})  # a terminal that cannot redraw
        assert code == 0 and "\x1b[1A" not in plain and "web: " in plain
    finally:
        devstack("down", cwd=root)


def test_live_view_failure_marks_the_service_and_shows_the_evidence(tmp_path, project_name, test_images):
    root = project(tmp_path / "app", project_name, SICK_DB)
    try:
        code, drawn = on_a_pty(["up", "--timeout", "120"], root, env={"NO_COLOR": "1"})
        assert code == 1
        assert "\x1b[31m" not in drawn and "\x1b[32m" not in drawn  # NO_COLOR: no colours
        assert "✘" in drawn and "error: service db is unhealthy" in drawn
        assert "cannot connect to 127.0.0.1:3306" in drawn
    finally:
        devstack("down", cwd=root)


@pytest.fixture(autouse=True)
def _unique_images(project_name):
    """The `app` image is named after the project: remove it afterwards."""
    yield
    subprocess.run(
        ["docker", "image", "rm", "-f", f"{project_name}-app", f"{project_name}_app"], capture_output=True
    )
