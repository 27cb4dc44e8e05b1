"""The generated drupal project passes the official validators: compose-spec schema, Compose, hadolint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import scaffold

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `pip install -e .[test]`")
    return found


@pytest.fixture(params=["mariadb", "mysql"])
def project(request, tmp_path) -> Path:
    target = tmp_path / "site"
    scaffold.create("drupal", target, settings={"db": request.param})
    return target


def test_compose_file_matches_compose_spec_schema(project):
    proc = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(project / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_accepts_the_file(project, compose_v2):
    """Generated projects target Compose v2 (`devstack up` says so on a machine with only v1)."""
    proc = subprocess.run(
        [*compose_v2.argv, "config", "-q"], cwd=project, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARN" not in proc.stderr and "not set" not in proc.stderr, proc.stderr


def test_compose_refuses_to_run_without_env(project, compose_v2):
    """Without .env the required variables stop Compose with our message, not an empty password."""
    (project / ".env").unlink()
    proc = subprocess.run(
        [*compose_v2.argv, "config", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "set DB_" in proc.stderr


def test_dockerfile_passes_hadolint(project):
    proc = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(project / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_index_php_is_valid_php_when_php_is_available(project):
    php = shutil.which("php")
    if not php:
        pytest.skip("php is not installed on the host (the docker e2e tests run it for real)")
    proc = subprocess.run(
        [php, "-l", str(project / "src/web/index.php")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout
