"""DS402 against a real engine: a port held by another project's container is named; a port
held by this project's own container is not a finding (checking a running stack is clean)."""

from __future__ import annotations

import subprocess
import uuid

from devstack import lifecycle
from devstack.engine import PROJECT_LABEL
from devstack.project import Project

BUSYBOX_IMAGE = "devstack-test/busybox:latest"  # built by the test_images fixture


def publish(project: str, port: int) -> str:
    """A busybox httpd publishing 127.0.0.1:port, labelled as a container of `project`."""
    name = f"{project}-web-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--label",
            f"{PROJECT_LABEL}={project}",
            "--label",
            "com.docker.compose.service=web",
            "-p",
            f"127.0.0.1:{port}:80",
            BUSYBOX_IMAGE,
            "httpd",
            "-f",
            "-p",
            "80",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return name


def project_on(tmp_path, name: str, port: int) -> Project:
    (tmp_path / "compose.yaml").write_text(
        f"name: {name}\nservices:\n  web:\n    image: {BUSYBOX_IMAGE}\n    ports: ['127.0.0.1:{port}:80']\n"
    )
    return Project.load(tmp_path, env={"PATH": "/usr/bin:/bin:/usr/local/bin"})


def test_own_container_is_not_a_finding(tmp_path, test_images, project_name, free_port):
    port = free_port()
    publish(project_name, port)
    project = project_on(tmp_path, project_name, port)
    assert "DS402" not in [f.code for f in lifecycle.check(project).findings]


def test_other_projects_container_is_named(tmp_path, test_images, project_name, free_port):
    port = free_port()
    container = publish(project_name, port)
    project = project_on(tmp_path, "someone-else", port)
    (taken,) = [f for f in lifecycle.check(project).findings if f.code == "DS402"]
    assert f"container {container} (project {project_name}, service web)" in taken.message
