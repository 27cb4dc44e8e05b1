"""`devstack restart`: which services reload, which restart, and a broken configuration."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from devstack import restart
from devstack.project import Project


@dataclass
class Info:
    id: str
    service: str
    state: str = "running"
    health: str = ""
    exit_code: int = 0


class FakeRunner:
    def __init__(self, project, binary=None) -> None:
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args, **kwargs):
        FakeRunner.last = self
        self.calls.append(args)


@pytest.fixture
def project(tmp_path, mocker):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    mocker.patch("devstack.compose.ComposeRunner", FakeRunner)
    return Project.load(tmp_path, env={})


def _engine(mocker, containers, answers):
    mocker.patch("devstack.engine.project_containers", return_value=containers)
    calls = []

    def exec_env(container_id, argv, env=None, user=""):
        calls.append(container_id)
        return answers[container_id]

    mocker.patch("devstack.engine.exec_env", side_effect=exec_env)
    return calls


def test_servers_that_reload_are_reloaded_the_rest_restarted(project, mocker):
    containers = [Info("w1", "web"), Info("d1", "db", health="healthy"), Info("f1", "fpm")]
    _engine(
        mocker,
        containers,
        {"w1": (0, "apache graceful\n", ""), "d1": (21, "", ""), "f1": (0, "php-fpm reload", "")},
    )
    done = restart.restart(project, step=lambda m: None)
    assert [(r.service, r.how) for r in done] == [
        ("fpm", "php-fpm reload"),
        ("web", "apache graceful"),
        ("db", "container restart"),
    ]
    assert FakeRunner.last.calls == [("restart", "db")]


def test_a_broken_configuration_is_reported_and_nothing_restarts(project, mocker):
    _engine(mocker, [Info("w1", "web")], {"w1": (20, "AH00526: Syntax error on line 3\n", "")})
    with pytest.raises(restart.ConfigInvalid, match="configuration test failed") as info:
        restart.restart(project, ["web"])
    assert "AH00526" in (info.value.details or "")


def test_a_service_without_a_container(project, mocker):
    _engine(mocker, [Info("w1", "web")], {})
    mocker.patch("devstack.db.project_model", return_value={"services": {"web": {}, "worker": {}}})
    with pytest.raises(restart.DevstackError, match="worker has no container"):
        restart.restart(project, ["worker"])
    with pytest.raises(restart.UsageError, match="no service 'nope'"):
        restart.restart(project, ["nope"])


def test_the_reload_script_is_valid_sh():
    assert subprocess.run(["sh", "-n", "-c", restart.RELOAD], check=False).returncode == 0
