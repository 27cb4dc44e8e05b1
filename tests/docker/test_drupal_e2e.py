"""The generated drupal project, really started: page, database link, data kept across down/up.

Runs on Compose v2 (generated projects need it) against the local stand-in images.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

PROJECT_LABEL = "com.docker.compose.project"


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def container_of(project: str, service: str) -> str:
    out = docker(
        "ps",
        "-q",
        "--filter",
        f"label={PROJECT_LABEL}={project}",
        "--filter",
        f"label=com.docker.compose.service={service}",
    ).stdout.split()
    assert len(out) == 1, f"expected one running {service} container, got {out}"
    return out[0]


def sql(project: str, env: dict[str, str | None], statement: str) -> str:
    proc = docker(
        "exec",
        container_of(project, "db"),
        "mariadb",
        "-N",
        "-B",
        f"-u{env['DB_USER']}",
        f"-p{env['DB_PASSWORD']}",
        str(env["DB_NAME"]),
        "-e",
        statement,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def drupal_site(tmp_path, project_name, free_port, test_images, run, monkeypatch):
    """A generated drupal project on a free port, removed with its web image afterwards."""

    def make(db: str = "mariadb") -> tuple[Path, int]:
        port = free_port()
        site = tmp_path / "site"
        result = run(
            "new",
            "drupal",
            site,
            "--no-input",
            "--name",
            project_name,
            "--set",
            f"web_port={port}",
            "--set",
            f"db={db}",
        )
        assert result.exit_code == 0, result.err
        monkeypatch.chdir(site)
        return site, port

    yield make
    for image in (f"{project_name}-web", f"{project_name}_web"):
        docker("image", "rm", "--force", image)
    # The database files belong to the container's mysql user: remove them from inside.
    site = tmp_path / "site"
    if (site / "data").exists():
        docker(
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{site / 'data'}:/mnt",
            "devstack-test/busybox",
            "sh",
            "-c",
            "rm -rf /mnt/db",
        )


def leftovers(project: str) -> list[str]:
    found = []
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        ids = docker(*kind, "-q", "--filter", f"label={PROJECT_LABEL}={project}").stdout.split()
        found += [f"{kind[0]} {i}" for i in ids]
    return found


# Generated projects target Compose v2 (`up` refuses v1 for them: tests/unit/test_up_steps.py);
# Compose v1 keeps its scenario tests for users' own projects (test_up_scenarios.py).
@pytest.mark.parametrize("compose_variant", ["v2"], indirect=True)
def test_drupal_stack_end_to_end(compose_variant, drupal_site, project_name, run, http_get):
    site, port = drupal_site()
    env = dotenv_values(site / ".env")

    started = time.monotonic()
    result = run("up")
    first_up = time.monotonic() - started
    assert result.exit_code == 0, result.err + result.out
    assert f"http://localhost:{port}/" in result.out
    assert "web" in result.out and "healthy" in result.out

    status, body = http_get(f"http://127.0.0.1:{port}/", timeout=60)
    assert status == 200
    assert 'data-status="ok"' in body, body
    assert f"as {env['DB_USER']}" in body and "at db:3306" in body

    # Apache serves src/web, and edits show up without a rebuild (bind mount).
    (site / "src/web/hello.txt").write_text("served from src/web\n")
    assert http_get(f"http://127.0.0.1:{port}/hello.txt")[1] == "served from src/web\n"
    index = site / "src/web/index.php"
    index.write_text(index.read_text().replace("is running</h1>", "is running (edited)</h1>"))
    assert "is running (edited)" in http_get(f"http://127.0.0.1:{port}/")[1]

    sql(
        project_name,
        env,
        "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);"
        "INSERT INTO notes VALUES (1, 'survives restarts');",
    )

    result = run("down")
    assert result.exit_code == 0, result.err
    assert "data is kept" in result.out
    assert docker("ps", "-aq", "--filter", f"label={PROJECT_LABEL}={project_name}").stdout.strip() == ""
    assert (site / "data/db").is_dir() and any((site / "data/db").iterdir())

    result = run("up")
    assert result.exit_code == 0, result.err + result.out
    assert sql(project_name, env, "SELECT body FROM notes WHERE id = 1") == "survives restarts"
    assert 'data-status="ok"' in http_get(f"http://127.0.0.1:{port}/")[1]

    # Idempotent on a running stack.
    again = run("up")
    assert again.exit_code == 0, again.err

    assert run("down").exit_code == 0
    assert leftovers(project_name) == []
    print(f"\n[{compose_variant.name}] first up (build included): {first_up:.1f} s")


def test_drupal_with_mysql(drupal_site, project_name, run, http_get, monkeypatch):
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    site, port = drupal_site("mysql")
    result = run("up")
    assert result.exit_code == 0, result.err + result.out
    status, body = http_get(f"http://127.0.0.1:{port}/", timeout=60)
    assert status == 200 and 'data-status="ok"' in body, body
    assert run("down").exit_code == 0
    assert leftovers(project_name) == []
