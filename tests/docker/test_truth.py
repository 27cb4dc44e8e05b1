"""What `up`, `status` and `down` say is true (issue 13), against a real engine on Compose v2.

Two checkouts of one project, anonymous volumes after `down`, `expose:` ports, crash loops,
a missing file behind a bind mount, one verdict after the evidence, and `status`'s exit code.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

BUSYBOX = "devstack-test/busybox"
LABEL = "com.docker.compose.project"
SLEEPER = " %SLEEPER%"  # after a service name: a container that sleeps until stopped
_SLEEPER_LINES = [
    f"image: {BUSYBOX}",
    "init: true",
    """command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]""",
]


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=False)


def container_ids(project: str) -> list[str]:
    return sorted(docker("ps", "-aq", "--filter", f"label={LABEL}={project}").stdout.split())


def write(root: Path, body: str, env: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in textwrap.dedent(body).lstrip().splitlines():
        if line.endswith(SLEEPER):
            indent = " " * (len(line) - len(line.lstrip()) + 2)
            lines += [line[: -len(SLEEPER)], *(indent + part for part in _SLEEPER_LINES)]
        else:
            lines.append(line)
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")
    (root / ".env").write_text(env)
    return root


pytestmark = pytest.mark.parametrize("compose_variant", ["v2"], indirect=True)


def test_a_second_checkout_never_takes_over_the_first(
    compose_variant, tmp_path, project_name, test_images, run, monkeypatch
):
    body = f"""
    services:
      app:{SLEEPER}
    """
    first = write(tmp_path / "first", body, f"COMPOSE_PROJECT_NAME={project_name}\n")
    second = write(tmp_path / "second", body, f"COMPOSE_PROJECT_NAME={project_name}\n")
    monkeypatch.chdir(first)
    assert run("up").exit_code == 0
    before = container_ids(project_name)

    monkeypatch.chdir(second)
    for command in (["up"], ["status"], ["down"], ["logs"], ["exec", "app", "--", "true"]):
        result = run(*command)
        assert result.exit_code == 1, (command, result.out, result.err)
        assert f"in use by another checkout, {first}" in result.err, command
        assert f"COMPOSE_PROJECT_NAME={project_name}-2" in result.err
    assert container_ids(project_name) == before  # nothing recreated, nothing removed

    (second / ".env").write_text(f"COMPOSE_PROJECT_NAME={project_name}-2\n")
    try:
        assert run("up").exit_code == 0  # with its own name, side by side
    finally:
        run("down")
        monkeypatch.chdir(first)
        run("down")


def test_down_removes_anonymous_volumes_and_keeps_named_ones(
    compose_variant, tmp_path, project_name, test_images, run, monkeypatch
):
    monkeypatch.chdir(
        write(
            tmp_path / "app",
            f"""
            services:
              app:{SLEEPER}
                volumes: ["/scratch", "keep:/keep"]
            volumes:
              keep: {{}}
            """,
            f"COMPOSE_PROJECT_NAME={project_name}\n",
        )
    )
    assert run("up").exit_code == 0
    mounts = json.loads(docker("inspect", f"{project_name}-app-1", "--format", "{{json .Mounts}}").stdout)
    (anonymous,) = [m["Name"] for m in mounts if m["Destination"] == "/scratch"]
    result = run("down")
    assert result.exit_code == 0 and "1 anonymous volume(s) removed" in result.out
    assert docker("volume", "inspect", anonymous).returncode != 0
    assert docker("volume", "inspect", f"{project_name}_keep").returncode == 0


def test_an_expose_port_with_nothing_listening_fails_the_runtime_check(
    compose_variant, tmp_path, project_name, test_images, run, monkeypatch
):
    monkeypatch.chdir(
        write(
            tmp_path / "app",
            f"""
            services:
              web:{SLEEPER}
                depends_on: [cache]
              cache:{SLEEPER}
                expose: ["6379"]
            """,
            f"COMPOSE_PROJECT_NAME={project_name}\n",
        )
    )
    try:
        result = run("up")
        assert result.exit_code == 1
        assert "DS611" in result.out and "web cannot connect to cache:6379" in result.out
        # One verdict, after the evidence: no "is up" line after an error.
        last = result.out.strip().splitlines()[-1]
        assert "is up" not in last and "failed" in last
    finally:
        run("down")


def test_a_crash_loop_is_never_reported_ready(
    compose_variant, tmp_path, project_name, test_images, run, monkeypatch
):
    monkeypatch.chdir(
        write(
            tmp_path / "app",
            f"""
            services:
              app:
                image: {BUSYBOX}
                command: ["sh", "-c", "sleep 1; exit 1"]
                restart: always
            """,
            f"COMPOSE_PROJECT_NAME={project_name}\n",
        )
    )
    try:
        for _ in range(2):  # on a fresh start, and on the running (crashing) stack
            result = run("up", "--timeout", "60")
            assert result.exit_code == 1, result.out
            assert "service app keeps crashing" in result.err
    finally:
        run("down")


def test_a_missing_file_behind_a_bind_mount_stops_up_and_its_directory_is_found(
    compose_variant, tmp_path, project_name, test_images, run, monkeypatch
):
    root = write(
        tmp_path / "app",
        f"""
        services:
          web:{SLEEPER}
            volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
        """,
        f"COMPOSE_PROJECT_NAME={project_name}\n",
    )
    monkeypatch.chdir(root)
    result = run("up")
    assert result.exit_code == 1 and "DS505" in result.err
    assert container_ids(project_name) == [] and not (root / "nginx.conf").exists()

    # What plain `docker compose up` leaves: a directory where the file was meant.
    (root / "nginx.conf").mkdir()
    found = run("check")
    assert found.exit_code == 1 and "DS509" in found.out


def test_status_tells_what_runs_and_exits_non_zero_when_something_does_not(
    compose_variant, tmp_path, project_name, test_images, run, monkeypatch
):
    monkeypatch.chdir(
        write(
            tmp_path / "app",
            f"""
            services:
              db:{SLEEPER}
              web:{SLEEPER}
                depends_on: [db]
            """,
            f"COMPOSE_PROJECT_NAME={project_name}\n",
        )
    )
    try:
        assert run("up", "db").exit_code == 0
        status = run("status")
        assert status.exit_code == 1
        assert "web" in status.out and "not created" in status.out
        assert run("up").exit_code == 0
        assert run("status").exit_code == 0
        docker("kill", f"{project_name}-db-1")
        stopped = run("status", "--json")
        assert stopped.exit_code == 1
        states = {s["service"]: s["state"] for s in json.loads(stopped.out)["services"]}
        assert states == {"db": "exited", "web": "running"}
    finally:
        run("down")


def test_a_failed_build_has_a_hint(compose_variant, tmp_path, project_name, test_images, run, monkeypatch):
    root = write(
        tmp_path / "app",
        """
        services:
          web:
            build: .
        """,
        f"COMPOSE_PROJECT_NAME={project_name}\n",
    )
    (root / "Dockerfile").write_text("FROM devstack-test/no-such-base:1\n")
    monkeypatch.chdir(root)
    result = run("up")
    assert result.exit_code == 4
    assert "hint:" in result.err and "devstack-test/no-such-base:1" in result.err
    docker("image", "rm", "-f", f"{project_name}-web")
