"""`up`'s steps that need no engine: Compose v2 for generated projects, bind-mount directories,
and the CLI's --debug."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import lifecycle
from devstack.compose import ComposeBinary, ComposeRunner
from devstack.errors import ComposeNotFound
from devstack.project import Project

V1 = ComposeBinary(("docker-compose",), "1.29.2", v1=True)
V2 = ComposeBinary(("docker", "compose"), "2.26.1", v1=False)
GENERATED = "x-devstack:\n  stack: drupal\n  web: web\nservices:\n  web:\n    image: busybox\n"


def project_with(tmp_path: Path, text: str) -> Project:
    (tmp_path / "compose.yaml").write_text(text)
    return Project.load(tmp_path, env={})


def test_a_generated_project_needs_compose_v2(tmp_path):
    project = project_with(tmp_path, GENERATED)
    with pytest.raises(ComposeNotFound) as exc:
        lifecycle._require_compose_v2(project, ComposeRunner(project, V1))
    assert exc.value.exit_code == 3
    assert "needs Compose v2" in exc.value.message and "1.29.2" in exc.value.message
    assert "docker-compose-plugin" in (exc.value.hint or "")
    lifecycle._require_compose_v2(project, ComposeRunner(project, V2))  # fine on v2


def test_users_own_projects_still_run_on_compose_v1(tmp_path):
    project = project_with(tmp_path, "services:\n  web:\n    image: busybox\n")
    lifecycle._require_compose_v2(project, ComposeRunner(project, V1))


def test_up_on_a_generated_project_with_only_v1_is_a_plain_error(tmp_path, run, monkeypatch, compose_v1):
    project_with(tmp_path, GENERATED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEVSTACK_COMPOSE", "docker-compose")
    result = run("up")
    assert result.exit_code == 3
    assert result.err.startswith("error: this project needs Compose v2")
    assert "Traceback" not in result.err


def mount(source: str, target: str, create: bool = True) -> dict:
    entry = {"type": "bind", "source": source, "target": target}
    return {**entry, "bind": {"create_host_path": True}} if create else entry


def test_missing_bind_mount_directories_are_created_before_up(tmp_path):
    root = tmp_path / "proj"
    (root / "conf").mkdir(parents=True)
    project = project_with(root, "services: {}\n")
    model = {
        "services": {
            "db": {
                "volumes": [
                    mount(str(root / "data/db"), "/var/lib/mysql"),
                    {"type": "volume", "target": "/x"},
                ]
            },
            "web": {
                "volumes": [
                    mount(str(root / "conf"), "/etc/app"),  # exists
                    mount(str(root / "nginx.conf"), "/etc/nginx/nginx.conf"),  # a file is meant
                    mount(str(root / "strict"), "/strict", create=False),  # long syntax: Compose fails
                    mount(str(tmp_path / "outside"), "/outside"),  # not the project's
                    mount("./relative/dir", "/rel"),  # Compose v1 keeps relative paths
                ]
            },
            "tool": {"volumes": [mount(str(root / "tool-data"), "/data")]},  # not started
        }
    }
    events = []
    made = lifecycle._prepare_bind_mounts(project, model, {"db", "web"}, events.append)
    assert sorted(p.relative_to(root).as_posix() for p in made) == ["data/db", "relative/dir"]
    assert (root / "data/db").is_dir() and not (root / "nginx.conf").exists()
    assert not (root / "strict").exists() and not (tmp_path / "outside").exists()
    assert not (root / "tool-data").exists()
    assert [e.kind for e in events] == ["mounts"] and "data/db" in events[0].message


def test_debug_is_read_by_click_not_from_argv(tmp_path, run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quiet = run("exec", "-f", "missing.yml", "web", "--", "echo", "--debug")
    assert quiet.exit_code == 2 and "error:" in quiet.err and "Traceback" not in quiet.err
    loud = run("--debug", "check", "-f", "missing.yml")
    assert loud.exit_code == 2 and "Traceback" in loud.err
    assert "Traceback" not in run("check", "-f", "missing.yml").err
