"""`devstack run` on a small busybox project, with Compose v2 and v1: the tool runs in the
service's container, in its workdir, with arguments verbatim, stdin and the exit code passed
through; a service that is not running is named with the way out; a tool whose fields use a
variable comes from Compose's merged model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COMPOSE = """\
x-devstack:
  tools:
    sh: {service: box, command: [sh, -c], workdir: /tmp, description: a shell}
    cat: {service: box}
    where: {service: box, command: [pwd], workdir: "${TOOL_DIR:-/etc}"}
services:
  box:
    image: devstack-test/busybox:latest
    command: [sleep, "600"]
    init: true
    stop_grace_period: 1s
"""


def devstack(*args: str, cwd: Path, input: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def box(tmp_path, project_name, test_images) -> Path:
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    (tmp_path / ".env").write_text(f"COMPOSE_PROJECT_NAME={project_name}\n")
    return tmp_path


def test_run_tools_through_compose(compose_variant, box):
    if compose_variant.name == "v1":
        # v1 drops x- keys from `config`; the variable-free tools are read from the file.
        (box / "docker-compose.yml").write_text(COMPOSE.replace('"${TOOL_DIR:-/etc}"', "/etc"))
    stopped = devstack("run", "sh", "echo hi", cwd=box)
    assert stopped.returncode == 1
    assert "error: service box is not running, so tool sh cannot run" in stopped.stderr
    assert "devstack up" in stopped.stderr

    if compose_variant.name == "v1":
        # `devstack up` wants Compose v2 for a project with x-devstack; `run` works with v1 too.
        up = subprocess.run(compose_variant.command("up", "-d"), cwd=box, capture_output=True, text=True)
    else:
        up = devstack("up", cwd=box)
    assert up.returncode == 0, up.stdout + up.stderr

    args = devstack("run", "sh", 'echo "[$0] [$1] [$(pwd)]"', "--version", "-f", cwd=box)
    assert args.returncode == 0, args.stderr
    assert args.stdout == "[--version] [-f] [/tmp]\n"
    assert devstack("run", "sh", "exit 9", cwd=box).returncode == 9
    piped = devstack("run", "cat", cwd=box, input="line one\nline two\n")
    assert piped.returncode == 0 and piped.stdout == "line one\nline two\n", piped.stderr
    assert devstack("run", "where", cwd=box).stdout == "/etc\n"

    unknown = devstack("run", "nope", cwd=box)
    assert unknown.returncode == 2
    assert (
        unknown.stderr.splitlines()[0] == "error: unknown tool 'nope'; this project's tools: cat, sh, where"
    )

    down = devstack("down", cwd=box)
    assert down.returncode == 0, down.stderr


def test_a_tool_with_a_variable_comes_from_compose(box, monkeypatch):
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    (box / ".env").write_text((box / ".env").read_text() + "TOOL_DIR=/bin\n")
    listed = devstack("run", "--json", cwd=box)
    assert listed.returncode == 0, listed.stderr
    assert '"workdir": "/bin"' in listed.stdout
    assert devstack("up", cwd=box).returncode == 0
    assert devstack("run", "where", cwd=box).stdout == "/bin\n"
    assert devstack("down", cwd=box).returncode == 0
