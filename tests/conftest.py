"""Shared test fixtures: isolate HOME, run the CLI in-process, find the Compose binaries.

Tests that run Compose use the `compose_v2` or `compose_v1` fixture (or a fixture built on
them) and get the `compose` marker automatically, so `pytest -m "not docker and not compose"`
is the fast loop. Without the binary they skip, and fail under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import compose
from devstack.cli import main
from devstack.compose import ComposeBinary

# Fixtures that run Compose; a test using any of them is marked `compose`.
COMPOSE_FIXTURES = {"compose_v2", "compose_v1", "findings", "check_project"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if COMPOSE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.compose)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def missing(what: str) -> None:
    if in_ci():
        pytest.fail(f"{what} is missing under CI", pytrace=False)
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def compose_v2() -> ComposeBinary:
    """Compose v2, run as devstack runs it (the plugin directly, when it is found)."""
    plugin = compose._compose_plugin()
    if plugin:
        return ComposeBinary((plugin,), "", v1=False, shown=("docker", "compose"))
    if shutil.which("docker"):
        proc = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
        version = proc.stdout.strip().lstrip("v")
        if proc.returncode == 0 and not version.startswith("1."):
            return ComposeBinary(("docker", "compose"), version, v1=False)
    missing("Compose v2 (`docker compose`)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def compose_v1() -> ComposeBinary:
    """Compose v1 (`docker-compose` 1.x), which users' own projects may still use."""
    if shutil.which("docker-compose"):
        proc = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True)
        version = proc.stdout.strip()
        if proc.returncode == 0 and version.startswith("1."):
            return ComposeBinary(("docker-compose",), version, v1=True)
    missing("Compose v1 (`docker-compose`)")
    raise AssertionError("unreachable")


@dataclass
class Result:
    exit_code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real home directory (cookiecutter would, given the chance)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("COMPOSE_FILE", raising=False)
    monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    monkeypatch.delenv("DEVSTACK_DEBUG", raising=False)
    # The user's own devstack settings (devstack/config.py) must not change what a test sees.
    for key in list(os.environ):
        if key.startswith("DEVSTACK_") and key not in ("DEVSTACK_COMPOSE",):
            monkeypatch.delenv(key)
    return home


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `devstack ARGS...` in-process through the real entry point (exit-code mapping included)."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        code = exc.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return invoke
