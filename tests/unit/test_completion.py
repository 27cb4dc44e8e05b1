"""Shell completion through click's own mechanism, in real bash, zsh and fish.

The README's one line per shell writes the script; each test then completes in the real shell:
commands, options, stack names, the project's services (every profile, -f respected), config keys.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import in_ci

BIN = Path(sys.executable).parent  # the virtualenv's bin: `devstack` is there

PROJECT = """\
x-devstack:
  tools:
    migrate: {service: web, command: [sh, -c, "echo migrate"], description: "apply migrations"}
services:
  web:
    image: devstack-test/busybox
  db:
    image: devstack-test/busybox
  debug:
    image: devstack-test/busybox
    profiles: [tools]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text(PROJECT)
    (tmp_path / "other.yml").write_text("services:\n  worker:\n    image: devstack-test/busybox\n")
    return tmp_path


def shell(name: str) -> str:
    found = shutil.which(name)
    if not found:
        if in_ci():
            pytest.fail(f"{name} is missing under CI (scripts/test.sh installs it)", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return found


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "TERM": "xterm"}


def protocol(shell_name: str, words: str, cword: str, cwd: Path) -> list[str]:
    """What the completion script asks devstack and gets back (click's protocol)."""
    proc = subprocess.run(
        [str(BIN / "devstack")],
        env={
            **env(),
            "_DEVSTACK_COMPLETE": f"{shell_name}_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": cword,
        },
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def script(shell_name: str, tmp_path: Path) -> Path:
    """The README's line: `_DEVSTACK_COMPLETE=SHELL_source devstack > FILE`."""
    proc = subprocess.run(
        [str(BIN / "devstack")],
        env={**env(), "_DEVSTACK_COMPLETE": f"{shell_name}_source"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    path = tmp_path / f"devstack-completion.{shell_name}"
    path.write_text(proc.stdout)
    return path


def interactive(argv: list[str], cwd: Path, setup: list[str], typed: str, expect: list[str]) -> str:
    """Run an interactive shell on a pty, type a command line with Tab, return what it drew."""
    main_fd, child_fd = os.openpty()
    proc = subprocess.Popen(argv, stdin=child_fd, stdout=child_fd, stderr=child_fd, cwd=cwd, env=env())
    os.close(child_fd)
    seen = b""

    def read_for(seconds: float, until: list[str] | None = None) -> None:
        nonlocal seen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([main_fd], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(main_fd, 65536)
                except OSError:
                    return
            if until and all(word.encode() in seen for word in until):
                return

    try:
        read_for(2)
        for line in setup:
            os.write(main_fd, line.encode() + b"\n")
            read_for(2)
        mark = len(seen)
        os.write(main_fd, typed.encode())
        read_for(30, expect)
        os.write(main_fd, b"\x03")  # Ctrl-C the half-typed line
        os.write(main_fd, b"exit\n")
        read_for(2)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        os.close(main_fd)
    return seen[mark:].decode(errors="replace")


@pytest.mark.parametrize("shell_name", ["bash", "zsh", "fish"])
def test_protocol_commands_services_stacks(shell_name, project):
    if shell_name == "fish":  # fish passes the current token, not its index
        services = protocol("fish", "devstack up ", "", project)
        commands = protocol("fish", "devstack co", "co", project)
    else:
        services = protocol(shell_name, "devstack up ", "2", project)
        commands = protocol(shell_name, "devstack co", "1", project)
    text = "\n".join(services)
    for name in ("web", "db", "debug"):  # every profile
        assert name in text
    assert "worker" not in text
    assert "config" in "\n".join(commands)


def test_services_follow_dash_f_and_skip_those_typed(project):
    assert protocol("bash", "devstack up -f other.yml ", "4", project) == ["plain,worker"]
    assert protocol("bash", "devstack up web ", "3", project) == ["plain,db", "plain,debug"]


def test_services_without_compose_come_from_the_files(project, monkeypatch):
    monkeypatch.setenv("DEVSTACK_COMPOSE", "/nonexistent/docker-compose")
    assert protocol("bash", "devstack logs ", "2", project) == ["plain,db", "plain,debug", "plain,web"]


def test_stacks_options_choices_and_config_keys(project):
    assert "plain,drupal" in protocol("bash", "devstack new ", "2", project)
    assert "plain,--build" in protocol("bash", "devstack up --", "2", project)
    assert protocol("bash", "devstack up --progress ", "3", project) == [
        "plain,auto",
        "plain,live",
        "plain,plain",
        "plain,quiet",
    ]
    assert "plain,proxy.port" in protocol("bash", "devstack config set pro", "3", project)


def test_tools_and_the_add_catalogue(project):
    assert protocol("zsh", "devstack run ", "2", project) == ["plain", "migrate", "apply migrations"]
    catalogue = protocol("bash", "devstack add ", "2", project)
    assert "plain,redis" in catalogue and "plain,postgres" in catalogue
    assert protocol("bash", "devstack remove ", "2", project) == ["plain,db", "plain,debug", "plain,web"]


def test_outside_a_project_services_complete_nothing(tmp_path):
    assert protocol("bash", "devstack up ", "2", tmp_path) == []


def test_real_bash(project, tmp_path):
    bash = shell("bash")
    path = script("bash", tmp_path)
    drawn = interactive(
        [bash, "--norc", "--noprofile", "-i"], project, [f"source {path}"], "devstack up \t\t", ["debug"]
    )
    for name in ("web", "db", "debug"):
        assert name in drawn, drawn


def test_real_zsh(project, tmp_path):
    zsh = shell("zsh")
    path = script("zsh", tmp_path)
    drawn = interactive(
        [zsh, "-f", "-i"],
        project,
        ["autoload -Uz compinit && compinit -u", f"source {path}"],
        "devstack new dru\t",
        ["drupal"],
    )
    assert "drupal" in drawn and "dru\x07" not in drawn, drawn  # the only match: completed in place
    drawn = interactive(
        [zsh, "-f", "-i"],
        project,
        ["autoload -Uz compinit && compinit -u", f"source {path}"],
        "devstack up \t",
        ["debug"],
    )
    for name in ("web", "db", "debug"):
        assert name in drawn, drawn


def test_real_fish(project, tmp_path):
    fish = shell("fish")
    path = script("fish", tmp_path)
    proc = subprocess.run(
        [
            fish,
            "--no-config",
            "-c",
            f"source {path}; complete -C 'devstack up '; complete -C 'devstack new '",
        ],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert {"web", "db", "debug"} <= {line.split("\t")[0] for line in lines}
    assert any(line.startswith("drupal\t") for line in lines)  # with the stack's description


def test_snapshot_names_hook_for_devstack_db(project, monkeypatch):
    """`devstack db restore NAME` completes the project's snapshot names (devstack.datadir's)."""
    import types

    import click

    from devstack import cli, completion, datadir

    monkeypatch.chdir(project)
    assert completion.snapshot_names() == []  # no snapshots yet: nothing, and no error
    seen = {}

    def list_snapshots(found_project, service):
        seen["args"] = (found_project.root, service)
        snap = types.SimpleNamespace
        return [snap(name="main-2026-11-28"), snap(name="feature-x"), snap(name="main-2026-11-28")]

    monkeypatch.setattr(datadir, "list_snapshots", list_snapshots)

    @click.command()
    @click.option("--service")
    @click.argument("name", shell_complete=cli.complete_snapshots)
    def restore(service, name):
        pass

    ctx = click.Context(restore, info_name="restore")
    ctx.params = {"service": "db"}
    items = cli.complete_snapshots(ctx, restore.params[1], "main")
    assert [i.value for i in items] == ["main-2026-11-28"]
    assert seen["args"] == (project, "db")
