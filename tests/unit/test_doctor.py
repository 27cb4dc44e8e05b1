"""`devstack doctor` findings, each triggered and each absent when all is well."""

from __future__ import annotations

from collections import namedtuple

import pytest

from devstack import compose, doctor, engine
from devstack.compose import ComposeBinary
from devstack.errors import ComposeNotFound, EngineUnavailable

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def healthy(mocker, tmp_path):
    mocker.patch.object(engine, "ping")
    mocker.patch.object(
        engine,
        "info",
        return_value={"DockerRootDir": str(tmp_path), "OperatingSystem": "Debian", "Driver": "overlay2"},
    )
    mocker.patch.object(engine, "server_version", return_value="27.0.1")
    mocker.patch.object(
        compose, "probe", return_value=ComposeBinary(("docker", "compose"), "2.26.1", v1=False)
    )
    mocker.patch("shutil.which", return_value="/usr/bin/docker")
    mocker.patch("shutil.disk_usage", return_value=Usage(100 * 2**30, 10 * 2**30, 90 * 2**30))
    return mocker


def codes(findings):
    return sorted(f.code for f in findings)


def test_all_good_is_info_only(healthy):
    found = doctor.run(None)
    assert set(codes(found)) == {"DS700"}
    assert any("2.26.1" in f.message for f in found)


def test_engine_unreachable_ds701(healthy):
    healthy.patch.object(
        engine,
        "ping",
        side_effect=EngineUnavailable(
            "the Docker engine is not reachable: the daemon is not running", hint="start Docker"
        ),
    )
    found = doctor.run(None)
    assert "DS701" in codes(found)
    (f,) = [f for f in found if f.code == "DS701"]
    assert "not running" in f.message and f.hint == "start Docker"


def test_no_docker_cli_ds702(healthy):
    healthy.patch("shutil.which", return_value=None)
    assert "DS702" in codes(doctor.run(None))


def test_no_compose_ds703(healthy):
    healthy.patch.object(
        compose, "probe", side_effect=ComposeNotFound("Docker Compose is not installed", hint="install")
    )
    assert "DS703" in codes(doctor.run(None))


def test_compose_v1_ds704(healthy):
    healthy.patch.object(compose, "probe", return_value=ComposeBinary(("docker-compose",), "1.29.2", v1=True))
    found = doctor.run(None)
    assert "DS704" in codes(found) and "1.29.2" in str(found)


@pytest.mark.parametrize(
    ("version", "warned"),
    [
        ("24.0.7", True),
        ("20.10.24+dfsg1", True),
        ("25.0.0", False),
        ("26.1.5+dfsg1", False),
        ("garbage", False),
    ],
)
def test_engine_older_than_25_ds710(healthy, version, warned):
    healthy.patch.object(engine, "server_version", return_value=version)
    found = [f for f in doctor.run(None) if f.code == "DS710"]
    assert bool(found) is warned
    if warned:
        assert version in found[0].message and "whole `interval`" in found[0].message


def test_low_disk_ds705(healthy):
    healthy.patch("shutil.disk_usage", return_value=Usage(100 * 2**30, 99 * 2**30, 2**30))
    found = [f for f in doctor.run(None) if f.code == "DS705"]
    assert found and "1.0 GiB free" in found[0].message and "prune" in found[0].hint


def test_doctor_cli_exit_codes(healthy, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("doctor").exit_code == 0
    healthy.patch.object(engine, "ping", side_effect=EngineUnavailable("down"))
    result = run("doctor", "--json")
    assert result.exit_code == 3 and '"DS701"' in result.out  # no engine: exit 3, as the README says
