"""Checks that ask the real engine: an external network or volume that does not exist (DS217)."""

from __future__ import annotations

import subprocess

from devstack import lifecycle
from devstack.engine import PROJECT_LABEL
from devstack.project import Project


def project_using(tmp_path, network: str, volume: str) -> Project:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    networks: [edge]\n    volumes: ['shared:/shared']\n"
        f"networks:\n  edge:\n    external: true\n    name: {network}\n"
        f"volumes:\n  shared:\n    external: true\n    name: {volume}\n"
    )
    return Project.load(tmp_path, env={"PATH": "/usr/bin:/bin:/usr/local/bin"})


def test_missing_external_network_and_volume_are_named(tmp_path, project_name):
    project = project_using(tmp_path, f"{project_name}-edge", f"{project_name}-shared")
    found = [f for f in lifecycle.check(project).findings if f.code == "DS217"]
    assert sorted(f.message.split(" is ")[0] for f in found) == ["network `edge`", "volume `shared`"]
    assert all(f"{project_name}-" in f.message and f.location for f in found)

    label = ["--label", f"{PROJECT_LABEL}={project_name}"]  # removed by the project_name fixture
    subprocess.run(
        ["docker", "network", "create", *label, f"{project_name}-edge"], check=True, capture_output=True
    )
    subprocess.run(
        ["docker", "volume", "create", *label, f"{project_name}-shared"], check=True, capture_output=True
    )
    assert "DS217" not in [f.code for f in lifecycle.check(project).findings]


def test_engine_version_from_ping_matches_version() -> None:
    """engine.version() reads /_ping's Server header; /version says the same."""
    import json

    from devstack import engine

    status, body = engine._local_get("/version", timeout=3.0)
    assert status == 200
    assert engine.version() == json.loads(body)["Version"]
