"""Harness for the tests that drive a real Docker engine (everything under tests/docker/).

- Every test here is marked ``docker`` and depends on ``docker_engine``: with no engine the
  tests skip with one line saying why, or fail when ``CI`` is set (CI must never skip them).
- ``test_images`` builds (or reuses) the local images by running scripts/build-test-images.sh.
- ``compose_variant`` runs a test once with Compose v2 (``docker compose``) and once with v1
  (``docker-compose``), and points devstack at it through ``DEVSTACK_COMPOSE``.
- ``project_name`` is a unique Compose project name; whatever carries its project label
  (containers, networks, volumes) is removed after the test, however it ended.
- ``bind_mount_dir`` is a host directory for a bind mount, emptied through a container
  afterwards (the files there belong to container users such as mysql, uid 999).
- ``free_port`` and ``http_get`` are fixtures returning the helpers of the same name.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-test-images.sh"
BUSYBOX_IMAGE = "devstack-test/busybox:latest"
PROJECT_LABEL = "com.docker.compose.project"


def in_ci() -> bool:
    """True when the CI variable is set to anything but empty, 0 or false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, where a missing prerequisite is a broken setup."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def run_cmd(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; never raises on a non-zero exit."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Requests go straight to the published port, never through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 30) -> tuple[int, str]:
    """GET url until something answers, then return (status, body).

    Any HTTP answer counts, 4xx and 5xx included; refused or dropped connections are retried
    until ``timeout`` seconds have passed, then TimeoutError names the last error.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no HTTP answer from {url} within {timeout:g} s: {last_error!r}")
        try:
            with _opener.open(url, timeout=min(remaining, 5)) as response:
                body = response.read().decode("utf-8", errors="replace")
                return int(response.status), body
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException) as e:
            # Not listening yet, or docker-proxy accepted the connection on the published port
            # and dropped it because the service behind it is still starting.
            last_error = e
        time.sleep(0.2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/docker/ with ``docker``."""
    for item in items:
        if Path(item.path).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> str:
    """The engine's version; skips (or fails under CI) when no engine answers."""
    try:
        result = run_cmd(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    except FileNotFoundError:
        skip_or_fail("no Docker engine: the docker CLI is not installed (run scripts/ensure-docker.sh)")
    except subprocess.TimeoutExpired:
        skip_or_fail("no Docker engine: `docker info` did not answer in 30 s (run scripts/ensure-docker.sh)")
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        skip_or_fail(f"no Docker engine: run scripts/ensure-docker.sh ({detail})")
    return version


@pytest.fixture(scope="session")
def test_images(docker_engine: str) -> None:
    """Build, or reuse from cache, the images the tests run (see scripts/build-test-images.sh)."""
    try:
        result = run_cmd(["bash", str(BUILD_SCRIPT)], timeout=2400)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{BUILD_SCRIPT.name} did not finish within {e.timeout:g} s", pytrace=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        pytest.fail(
            f"{BUILD_SCRIPT.name} failed (exit {result.returncode}); last lines:\n{tail}",
            pytrace=False,
        )


@dataclass(frozen=True)
class ComposeVariant:
    """One Compose implementation: its name and the argv that runs it."""

    name: str  # "v2" or "v1"
    argv: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)

    @property
    def env_value(self) -> str:
        """The value of DEVSTACK_COMPOSE that selects this variant."""
        return " ".join(self.argv)

    def command(self, *args: str) -> list[str]:
        """argv for a compose subcommand, e.g. ``variant.command("-p", name, "up", "-d")``."""
        return [*self.argv, *args]


COMPOSE_VARIANTS = {
    "v2": ComposeVariant("v2", ("docker", "compose")),
    "v1": ComposeVariant("v1", ("docker-compose",)),
}
_compose_available: dict[str, str | None] = {}


def _compose_problem(variant: ComposeVariant) -> str | None:
    """Why this variant cannot run here, or None; probed once per session."""
    if variant.name not in _compose_available:
        problem: str | None = None
        if shutil.which(variant.argv[0]) is None:
            problem = f"{variant.argv[0]} is not installed"
        else:
            try:
                result = run_cmd([*variant.argv, "version"], timeout=30)
                if result.returncode != 0:
                    detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
                    problem = f"`{variant.env_value} version` failed: {detail}"
            except subprocess.TimeoutExpired:
                problem = f"`{variant.env_value} version` did not answer in 30 s"
        _compose_available[variant.name] = problem
    return _compose_available[variant.name]


@pytest.fixture(
    params=[
        pytest.param("v2", id="compose-v2"),
        pytest.param("v1", id="compose-v1", marks=pytest.mark.compose_v1),
    ]
)
def compose_variant(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ComposeVariant:
    """Each Compose implementation in turn; DEVSTACK_COMPOSE selects it for the test."""
    return _use_compose(request.param, monkeypatch)


@pytest.fixture
def compose_v2(monkeypatch: pytest.MonkeyPatch) -> ComposeVariant:
    """Compose v2 only, for what v1 cannot do here (v1 1.29 cannot recreate a container on
    Engine 25+: `KeyError: 'ContainerConfig'`, with or without devstack)."""
    return _use_compose("v2", monkeypatch)


def _use_compose(name: str, monkeypatch: pytest.MonkeyPatch) -> ComposeVariant:
    variant = COMPOSE_VARIANTS[name]
    problem = _compose_problem(variant)
    if problem is not None:
        skip_or_fail(f"Compose {variant.name}: {problem} (scripts/ensure-docker.sh installs it)")
    monkeypatch.setenv("DEVSTACK_COMPOSE", variant.env_value)
    return variant


def remove_project(name: str) -> list[str]:
    """Remove containers, networks and volumes labelled with project ``name``; return leftovers."""
    selector = ["--filter", f"label={PROJECT_LABEL}={name}"]

    def ids(*list_argv: str) -> list[str]:
        return run_cmd([*list_argv, *selector]).stdout.split()

    containers = ids("docker", "ps", "--all", "--quiet")
    if containers:
        # -v: anonymous volumes (an image's VOLUME) go with their container.
        run_cmd(["docker", "rm", "--force", "--volumes", *containers], timeout=120)
    networks = ids("docker", "network", "ls", "--quiet")
    if networks:
        run_cmd(["docker", "network", "rm", *networks])
    volumes = ids("docker", "volume", "ls", "--quiet")
    if volumes:
        run_cmd(["docker", "volume", "rm", "--force", *volumes])
    return [
        f"{kind} {ident}"
        for kind, listing in (
            ("container", ("docker", "ps", "--all", "--quiet")),
            ("network", ("docker", "network", "ls", "--quiet")),
            ("volume", ("docker", "volume", "ls", "--quiet")),
        )
        for ident in ids(*listing)
    ]


@pytest.fixture
def project_name() -> Iterator[str]:
    """A unique Compose project name; everything labelled with it is removed afterwards.

    Containers started with plain ``docker run`` can join the cleanup by carrying the label
    ``com.docker.compose.project=<name>``.
    """
    name = f"dstest-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        leftovers = remove_project(name)
        if leftovers:
            raise RuntimeError(f"could not remove project {name}: {', '.join(leftovers)}")


@pytest.fixture
def bind_mount_dir(tmp_path: Path, test_images: None) -> Iterator[Path]:
    """An empty host directory for a bind mount, emptied through a container afterwards.

    Containers leave files there that belong to their own users (uid 999 for the database
    images) and that the user running the tests may not be allowed to delete. Request it
    before ``project_name`` so that the containers using it are removed first.
    """
    path = tmp_path / "bind"
    path.mkdir()
    try:
        yield path
    finally:
        docker_run = ["docker", "run", "--rm", "--network", "none", "-v", f"{path}:/mnt"]
        run_cmd([*docker_run, BUSYBOX_IMAGE, "sh", "-c", "rm -rf /mnt/* /mnt/.[!.]* /mnt/..?*"], timeout=120)


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    """The ``free_port()`` helper."""
    return free_port


@pytest.fixture(name="http_get")
def http_get_fixture() -> Callable[..., tuple[int, str]]:
    """The ``http_get(url, timeout)`` helper."""
    return http_get
