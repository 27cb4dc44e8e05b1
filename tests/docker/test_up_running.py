"""`up` on a stack that already runs: `compose create` alone when that leaves it all running.

`up -d` is `create` then `start`; on a running stack `start` has nothing to start but still waits
a 500 ms tick per `depends_on` condition. devstack runs `create` first and `up -d` only when
something is not running afterwards. These scenarios check that nothing `up -d` would have done
is lost: a changed service is recreated and started, a stopped one is started, an unchanged one
is left alone.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.docker.test_up_scenarios import BUSYBOX, HTTPD, write_stack

LABEL = "com.docker.compose.project"


def _containers(project: str) -> list[list[str]]:
    """[service, id, state] of each of the project's containers (running or not)."""
    fields = '{{.Label "com.docker.compose.service"}} {{.ID}} {{.State}}'
    argv = ["docker", "ps", "-a", "--filter", f"label={LABEL}={project}", "--format", fields]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()]


def container_ids(project: str) -> dict[str, str]:
    return {service: cid for service, cid, _ in _containers(project)}


def states(project: str) -> dict[str, str]:
    return {service: state for service, _, state in _containers(project)}


@pytest.fixture
def running_stack(tmp_path, project_name, test_images, monkeypatch, free_port, run):
    """web (depends on db being healthy) and db, up and ready; returns (root, port)."""
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", project_name)
    port = free_port()
    body = f"""
    services:
      web:{HTTPD}
        environment:
          GREETING: ${{GREETING:-one}}
        ports: ["127.0.0.1:{port}:80"]
        depends_on:
          db:
            condition: service_healthy
      db:
        image: {BUSYBOX}
        init: true
        command: ["sh", "-c", "exec nc -ll -p 5432 -e cat"]
        healthcheck:
          test: ["CMD", "true"]
          interval: 1s
    """
    root = write_stack(tmp_path / "app", body, env="GREETING=one\n")
    monkeypatch.chdir(root)
    first = run("up")
    assert first.exit_code == 0, first.err + first.out
    return root, port


def test_an_unchanged_running_stack_is_neither_recreated_nor_waited_on(
    compose_variant, running_stack, project_name, run
):
    before = container_ids(project_name)
    again = run("up", "-v")
    assert again.exit_code == 0, again.err + again.out
    assert container_ids(project_name) == before
    assert states(project_name) == {"web": "running", "db": "running"}
    if compose_variant.name == "v2":
        # `start` would say it waits for db ("Container ...-db-1  Waiting", then "Healthy").
        output = again.out + again.err
        assert "Running" in output  # Compose's own lines are shown (-v): `create` ran
        assert "Waiting" not in output, output


def test_a_changed_service_is_recreated_and_started(compose_v2, running_stack, project_name, run):
    root, _ = running_stack
    before = container_ids(project_name)
    (root / ".env").write_text("GREETING=two\n")
    again = run("up")
    assert again.exit_code == 0, again.err + again.out
    after = container_ids(project_name)
    assert after["web"] != before["web"]  # its environment changed: a new container
    assert after["db"] == before["db"]
    assert states(project_name) == {"web": "running", "db": "running"}
    env = subprocess.run(
        ["docker", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", after["web"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "GREETING=two" in env.split()


def test_a_stopped_service_of_a_running_stack_is_started(
    compose_variant, running_stack, project_name, run, http_get
):
    _, port = running_stack
    web = container_ids(project_name)["web"]
    subprocess.run(["docker", "stop", "--time", "1", web], capture_output=True, check=True)
    again = run("up")
    assert again.exit_code == 0, again.err + again.out
    assert states(project_name) == {"web": "running", "db": "running"}
    assert http_get(f"http://127.0.0.1:{port}/")[1] == "hello\n"


def test_a_service_taken_out_of_the_file_is_removed_as_up_would(
    compose_v2, running_stack, project_name, free_port, run
):
    root, _ = running_stack
    write_stack(
        root,
        f"""
    services:
      web:{HTTPD}
        environment:
          GREETING: ${{GREETING:-one}}
        ports: ["127.0.0.1:{free_port()}:80"]
    """,
    )
    again = run("up")
    assert again.exit_code == 0, again.err + again.out
    assert states(project_name) == {"web": "running"}  # db: an orphan now, removed (--remove-orphans)
