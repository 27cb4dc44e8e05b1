"""`devstack up/down/check/status` against a real engine, on small busybox stacks.

Each scenario is one a teammate meets: a port already taken, a service that crashes, a broken
link, a missing setting, the engine going away. Runs for Compose v2 and v1.
"""

from __future__ import annotations

import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

BUSYBOX = "devstack-test/busybox"
LABEL = "com.docker.compose.project"

HTTPD = f"""
        image: {BUSYBOX}
        init: true  # PID 1 that forwards SIGTERM: `down` takes a moment, not 10 s
        command: ["sh", "-c", "echo hello > /www/index.html && exec httpd -f -p 80 -h /www"]
        healthcheck:
          test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
          interval: 1s
          timeout: 2s
          retries: 10
"""


def write_stack(root: Path, body: str, env: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "docker-compose.yml").write_text(textwrap.dedent(body).lstrip())
    if env is not None:
        (root / ".env").write_text(env)
    return root


def containers(project: str) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={LABEL}={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


@pytest.fixture
def stack(tmp_path, project_name, test_images, monkeypatch):
    """Write a compose project named project_name into tmp_path/app and chdir there."""
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", project_name)

    def make(body: str, env: str | None = None) -> Path:
        root = write_stack(tmp_path / "app", body, env)
        monkeypatch.chdir(root)
        return root

    return make


def test_up_status_down_happy_path(compose_variant, stack, project_name, free_port, run, http_get):
    port = free_port()
    stack(f"""
    services:
      web:{HTTPD}
        ports: ["127.0.0.1:{port}:80"]
        depends_on:
          cache:
            condition: service_started
      cache:
        image: {BUSYBOX}
        command: ["sh", "-c", "exec nc -ll -p 6379 -e cat"]
        init: true
        expose: ["6379"]
    """)
    result = run("up")
    assert result.exit_code == 0, result.err + result.out
    assert f"http://localhost:{port}/" in result.out
    assert http_get(f"http://127.0.0.1:{port}/")[1] == "hello\n"
    assert "DS61" not in result.out  # the web -> cache link was probed and works

    status = run("status", "--json")
    import json

    services = {s["service"]: s for s in json.loads(status.out)["services"]}
    assert services["web"]["health"] == "healthy" and services["cache"]["state"] == "running"

    again = run("up")
    assert again.exit_code == 0, again.err
    assert run("down").exit_code == 0
    assert containers(project_name) == []


def test_port_taken_by_a_process_stops_up_before_anything_starts(
    compose_variant, stack, project_name, free_port, run
):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack(f"""
        services:
          web:
            image: {BUSYBOX}
            command: ["httpd", "-f", "-p", "80"]
            ports: ["127.0.0.1:{port}:80"]
        """)
        result = run("up")
    assert result.exit_code == 1
    assert str(port) in result.err and "DS4" in result.err
    assert "nothing was started" in result.err
    assert containers(project_name) == []


def test_crashing_service_is_named_with_its_log_tail(compose_variant, stack, run):
    stack(f"""
    services:
      worker:
        image: {BUSYBOX}
        command: ["sh", "-c", "echo 'fatal: cannot open config' >&2; exit 3"]
    """)
    result = run("up", "--timeout", "60")
    assert result.exit_code == 1
    assert "service worker exited with code 3" in result.err
    assert "fatal: cannot open config" in result.err
    assert "Traceback" not in result.err


def test_broken_link_is_found_before_start(compose_variant, stack, project_name, run):
    stack(f"""
    services:
      web:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
        depends_on: [database]
      db:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    """)
    check = run("check")
    assert check.exit_code == 1
    assert "database" in check.out and "DS2" in check.out
    result = run("up")
    assert result.exit_code == 1
    assert containers(project_name) == []


def test_link_across_separate_networks_fails_at_runtime(compose_variant, stack, run):
    stack(f"""
    services:
      web:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
        networks: [front]
        depends_on: [db]
      db:
        image: {BUSYBOX}
        command: ["sh", "-c", "exec nc -ll -p 5432 -e cat"]
        init: true
        expose: ["5432"]
        networks: [back]
    networks:
      front: {{}}
      back: {{}}
    """)
    result = run("up")
    assert result.exit_code == 1, result.out
    assert "DS610" in result.out and "cannot resolve 'db'" in result.out
    run("down")


def test_missing_variable_is_an_error_where_empty_breaks_the_project(
    compose_variant, stack, project_name, run
):
    stack(
        f"""
    services:
      app:
        image: {BUSYBOX}:${{BUSYBOX_TAG}}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    """,
        env="OTHER=1\n",
    )
    result = run("up")
    assert result.exit_code == 1
    assert "BUSYBOX_TAG" in result.err and "DS301" in result.err
    assert containers(project_name) == []


def test_missing_optional_variable_is_a_warning_and_up_starts(compose_variant, stack, project_name, run):
    """Compose only warns; an empty environment entry is a legitimate value (DS308)."""
    stack(
        f"""
    services:
      app:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
        environment:
          SENTRY_DSN: ${{SENTRY_DSN}}
    """,
        env="OTHER=1\n",
    )
    try:
        result = run("up")
        assert result.exit_code == 0, result.err + result.out
        assert "DS308" in result.out and "SENTRY_DSN" in result.out
    finally:
        run("down")


def test_env_example_keys_are_added_on_up(compose_variant, stack, run):
    root = stack(f"""
    services:
      app:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
        environment:
          API_TOKEN: ${{API_TOKEN:?set API_TOKEN}}
    """)
    (root / ".env.example").write_text("# Token for the API. devstack:secret\nAPI_TOKEN=\n")
    result = run("up")
    assert result.exit_code == 0, result.err + result.out
    assert "created .env" in result.err
    from dotenv import dotenv_values

    assert len(dotenv_values(root / ".env")["API_TOKEN"] or "") == 32
    run("down")


def test_down_volumes_needs_confirmation_off_a_terminal(compose_variant, stack, run):
    stack(f"""
    services:
      app:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
        volumes: ["keep:/data"]
    volumes:
      keep: {{}}
    """)
    assert run("up").exit_code == 0
    refused = run("down", "--volumes")
    assert refused.exit_code == 2 and "--yes" in refused.err
    assert run("down", "--volumes", "--yes").exit_code == 0
