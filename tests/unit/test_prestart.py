"""`check` and `up` start `compose config` before click is imported (prestart.py); the
runner takes that process only for exactly its own command. And the entry point's fast exit
keeps exit codes and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import compose, prestart
from devstack.compose import ComposeBinary, ComposeRunner
from devstack.project import Project


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["check"], ([], None)),
        (["up", "--build", "web", "-v"], ([], None)),
        (["-f", "a.yml", "check", "-f", "b.yml", "--json"], (["a.yml", "b.yml"], None)),
        (["--file=a.yml", "-pdemo", "check"], (["a.yml"], "demo")),
        (["--debug", "up", "--project-name", "x", "--timeout", "30"], ([], "x")),
        (["check", "-fother.yml", "--project-name=n"], (["other.yml"], "n")),
        (["down"], None),
        (["status", "check"], None),
        (["check", "--help"], None),
        (["--version"], None),
        (["check", "-f"], None),
        ([], None),
    ],
)
def test_project_args(args: list[str], expected: object) -> None:
    assert prestart.project_args(args) == expected


def _project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n")
    return Project.load(tmp_path)


class _Spawns:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.argvs: list[list[str]] = []
        real = subprocess.Popen

        def popen(argv: list[str], *args: object, **kwargs: object) -> subprocess.Popen[str]:
            self.argvs.append(list(argv))
            return real(argv, *args, **kwargs)  # type: ignore[call-overload,no-any-return]

        monkeypatch.setattr(compose.subprocess, "Popen", popen)


def test_the_runner_takes_the_started_config(
    compose_v2: ComposeBinary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawns = _Spawns(monkeypatch)
    project = _project(tmp_path)
    ComposeRunner(project, compose_v2).start_config()
    assert len(compose._started) == 1
    model = ComposeRunner(project, compose_v2).model()
    assert model.data is not None and list(model.data["services"]) == ["web"]
    assert len(spawns.argvs) == 1  # the one started early, taken
    assert compose._started == {}


def test_a_different_command_is_not_given_the_started_one(
    compose_v2: ComposeBinary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawns = _Spawns(monkeypatch)
    project = _project(tmp_path)
    ComposeRunner(project, compose_v2).start_config()
    other = Project.load(tmp_path, env={**os.environ, "COMPOSE_PROFILES": "x"})
    ComposeRunner(other, compose_v2).model()  # another environment: its own process
    ComposeRunner(project, compose_v2).model("--no-interpolate")  # other flags: its own
    assert len(spawns.argvs) == 3
    (started,) = compose._started.values()
    compose._kill_unclaimed()
    assert started.returncode is not None and compose._started == {}


def _devstack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_entry_point_keeps_exit_codes_and_output(tmp_path: Path) -> None:
    version = _devstack("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("devstack ")
    unknown = _devstack("no-such-command", cwd=tmp_path)
    assert unknown.returncode == 2 and "no-such-command" in unknown.stderr
    no_project = _devstack("check", cwd=tmp_path)
    assert no_project.returncode != 0 and "no compose file" in no_project.stderr


def test_garbage_is_collected_again_after_start_up() -> None:
    code = (
        "import gc, time, devstack.__main__ as m; m._collect_later(0.2); a = gc.isenabled(); "
        "time.sleep(0.5); print(a, gc.isenabled())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.split() == ["False", "True"]
