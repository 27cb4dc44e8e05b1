"""prepare_bind_mounts: missing bind-mount source directories created by the user, inside the project only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.checks.paths import looks_like_file
from devstack.ownership import prepare_bind_mounts
from devstack.project import Project


def project_at(root: Path) -> Project:
    (root / "docker-compose.yml").write_text("services: {}\n")
    return Project.load(root, env={})


def v2_bind(source: str, target: str, create: bool = True) -> dict:
    """A bind mount as `docker compose config --format json` writes it."""
    mount: dict = {"type": "bind", "source": source, "target": target}
    if create:
        mount["bind"] = {"create_host_path": True}
    return mount


def test_creates_missing_directories_as_the_invoking_user(tmp_path):
    project = project_at(tmp_path)
    model = {
        "services": {
            "db": {"volumes": [v2_bind(str(tmp_path / "data/db"), "/var/lib/postgresql/data")]},
            "web": {
                "volumes": [
                    v2_bind(str(tmp_path / "src"), "/app"),
                    {"type": "volume", "source": "cache", "target": "/c"},
                ]
            },
        }
    }
    result = prepare_bind_mounts(project, model)
    assert (tmp_path / "data/db").is_dir() and (tmp_path / "src").is_dir()
    assert result.created == [tmp_path / "data/db", tmp_path / "src"]  # the sources (parents made too)
    assert (tmp_path / "data/db").stat().st_uid == os.getuid()
    assert not (tmp_path / "cache").exists()
    assert result.warnings() == []


def test_short_syntax_from_compose_v1_and_relative_sources(tmp_path):
    project = project_at(tmp_path)
    model = {"services": {"db": {"volumes": ["./data/mysql:/var/lib/mysql:rw", "named:/x"]}}}
    result = prepare_bind_mounts(project, model)
    assert (tmp_path / "data/mysql").is_dir()
    assert not (tmp_path / "named").exists()
    assert result.created == [tmp_path / "data/mysql"]


def test_existing_sources_are_left_alone(tmp_path):
    project = project_at(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data/db").write_text("a file where a directory is mounted: the checks' business")
    model = {"services": {"db": {"volumes": [v2_bind(str(tmp_path / "data/db"), "/var/lib/db")]}}}
    assert prepare_bind_mounts(project, model).created == []
    assert (tmp_path / "data/db").is_file()


def test_long_syntax_without_create_host_path_is_not_created(tmp_path):
    """Compose refuses such a mount when the source is missing; creating it would hide that."""
    project = project_at(tmp_path)
    model = {"services": {"db": {"volumes": [v2_bind(str(tmp_path / "data"), "/d", create=False)]}}}
    assert prepare_bind_mounts(project, model).created == []
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("source", "target"),
    [("nginx.conf", "/etc/nginx/nginx.conf"), ("conf", "/etc/app/settings.ini"), ("php.ini", "/x")],
)
def test_never_creates_what_looks_like_a_file(tmp_path, source, target):
    project = project_at(tmp_path)
    model = {"services": {"web": {"volumes": [v2_bind(str(tmp_path / source), target)]}}}
    result = prepare_bind_mounts(project, model)
    assert result.created == []
    assert not (tmp_path / source).exists()
    assert result.skipped == [(tmp_path / source, "looks like a file")]
    assert result.warnings() == []  # the checks report it, not this step


def test_directory_like_names_are_directories():
    assert not looks_like_file(Path("conf.d"), "/etc/nginx/conf.d")
    assert not looks_like_file(Path(".cache"), "/home/app/.cache")
    assert not looks_like_file(Path("data/db"), "/var/lib/postgresql/data")
    assert looks_like_file(Path("x"), "/etc/my.cnf")


def test_never_outside_the_project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    project = project_at(root)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "data").symlink_to(outside)  # a symlink that leads out of the project
    model = {
        "services": {
            "a": {"volumes": [v2_bind(str(tmp_path / "sibling"), "/a")]},
            "b": {"volumes": [v2_bind(str(root / "data/db"), "/b")]},
            "c": {"volumes": [v2_bind(str(root / "../up/db"), "/c")]},
            "d": {"volumes": ["~/cache:/d"]},
        }
    }
    result = prepare_bind_mounts(project, model)
    assert result.created == []
    assert not (tmp_path / "sibling").exists() and not (outside / "db").exists()
    assert not (tmp_path / "up").exists()
    assert {why for _path, why in result.skipped} == {"outside the project"}


def test_a_directory_that_cannot_be_created_is_reported_not_raised(tmp_path):
    project = project_at(tmp_path)
    (tmp_path / "data").write_text("a file where a directory is needed")
    model = {"services": {"db": {"volumes": [v2_bind(str(tmp_path / "data/db"), "/d")]}}}
    result = prepare_bind_mounts(project, model)
    assert result.created == []
    assert result.warnings() == [
        f"could not create {tmp_path / 'data/db'}: cannot create it: Not a directory"
    ]


def test_no_model_no_work(tmp_path):
    project = project_at(tmp_path)
    assert prepare_bind_mounts(project, None).created == []
    assert prepare_bind_mounts(project, {"services": {"x": "not a mapping"}}).created == []


def test_only_the_services_about_to_start(tmp_path):
    project = project_at(tmp_path)
    model = {
        "services": {
            "db": {"volumes": [v2_bind(str(tmp_path / "data/db"), "/d")]},
            "tool": {"volumes": [v2_bind(str(tmp_path / "tool-data"), "/t")]},
        }
    }
    assert prepare_bind_mounts(project, model, {"db"}).created == [tmp_path / "data/db"]
    assert not (tmp_path / "tool-data").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give files away")
def test_as_root_what_is_created_goes_to_the_services_user(tmp_path):
    """devstack run by root for services pinned to an ordinary uid: they must be able to write."""
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    project = Project.load(tmp_path, env={"HOST_UID": "4242", "HOST_GID": "4343"})
    model = {"services": {"db": {"volumes": [v2_bind(str(tmp_path / "data/db"), "/var/lib/mysql")]}}}
    result = prepare_bind_mounts(project, model)
    for path in (tmp_path / "data", tmp_path / "data/db"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4343), path
    assert result.warnings() == []
    # 0:0 (devstack's choice for root) leaves root as the owner.
    root_project = Project.load(tmp_path, env={"HOST_UID": "0", "HOST_GID": "0"})
    logs = {"services": {"x": {"volumes": [v2_bind(str(tmp_path / "logs"), "/l")]}}}
    prepare_bind_mounts(root_project, logs)
    assert (tmp_path / "logs").stat().st_uid == 0
