"""`devstack restart`: a configuration edit applied without a rebuild.

The drupal project's web server reads docker/apache-site.conf from a read-only mount; editing
it and running `devstack restart web` reloads Apache gracefully (same container, same start
time, new behaviour). A broken edit is refused by the configuration test and the old
configuration keeps serving. A service without a server that reloads gets a container restart.
"""

from __future__ import annotations

import http.client
import subprocess
import textwrap
import time

import pytest

PROJECT_LABEL = "com.docker.compose.project"
SITE_CONF = "/etc/apache2/sites-available/000-default.conf"


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def container(project: str, service: str) -> tuple[str, str]:
    """(id, StartedAt) of the service's container."""
    ids = docker(
        "ps", "-q", "--filter", f"label={PROJECT_LABEL}={project}",
        "--filter", f"label=com.docker.compose.service={service}",
    ).stdout.split()  # fmt: skip
    assert len(ids) == 1, ids
    started = docker("inspect", "--format", "{{.State.StartedAt}}", ids[0]).stdout.strip()
    return ids[0], started


def header(port: int, name: str) -> str | None:
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            return response.getheader(name)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def drupal(tmp_path, project_name, free_port, test_images, run, monkeypatch):
    port = free_port()
    site = tmp_path / "site"
    result = run("new", "drupal", site, "--no-input", "--name", project_name, "--set", f"web_port={port}")
    assert result.exit_code == 0, result.err
    monkeypatch.chdir(site)
    compose = (site / "docker-compose.yml").read_text()
    if "apache-site.conf" not in compose:
        # Until the template mounts its configuration itself, an override file does.
        (site / "docker-compose.override.yml").write_text(
            textwrap.dedent(f"""
            services:
              web:
                volumes:
                  - ./docker/apache-site.conf:{SITE_CONF}:ro
            """).lstrip()
        )
    yield site, port
    for image in (f"{project_name}-web", f"{project_name}_web"):
        docker("image", "rm", "--force", image)
    if (site / "data").exists():
        docker("run", "--rm", "-v", f"{site / 'data'}:/mnt", "devstack-test/busybox:latest",
               "sh", "-c", "rm -rf /mnt/* /mnt/.[!.]*")  # fmt: skip


def test_an_apache_config_edit_is_applied_by_restart_without_a_rebuild(drupal, run, project_name):
    site, port = drupal
    result = run("up", "--timeout", "240")
    assert result.exit_code == 0, result.err + result.out
    before = container(project_name, "web")
    assert header(port, "X-Restart-Test") is None

    conf = site / "docker" / "apache-site.conf"
    text = conf.read_text()
    assert "</VirtualHost>" in text
    conf.write_text(
        text.replace("</VirtualHost>", '    Header set X-Restart-Test "applied"\n</VirtualHost>', 1)
    )
    result = run("restart", "web")
    assert result.exit_code == 0, result.err
    assert "web (apache graceful)" in result.out
    assert header(port, "X-Restart-Test") == "applied"
    assert container(project_name, "web") == before  # same container, not restarted

    # A broken edit: the test fails, nothing is reloaded, the site keeps its configuration.
    conf.write_text(conf.read_text().replace("</VirtualHost>", "    NoSuchDirective on\n</VirtualHost>", 1))
    result = run("restart", "web")
    assert result.exit_code == 1
    assert "configuration test failed" in result.err and "NoSuchDirective" in result.err
    assert header(port, "X-Restart-Test") == "applied"
    assert container(project_name, "web") == before

    # The database has no reload: its container is restarted, and the command waits for it.
    db_before = container(project_name, "db")
    result = run("restart", "db")
    assert result.exit_code == 0, result.err
    assert "db (container restart)" in result.out
    db_after = container(project_name, "db")
    assert db_after[0] == db_before[0] and db_after[1] != db_before[1]
    health = docker("inspect", "--format", "{{.State.Health.Status}}", db_after[0]).stdout.strip()
    assert health == "healthy"


def test_restart_names_unknown_services(drupal, run):
    result = run("restart", "nosuch")
    assert result.exit_code == 2 and "no service 'nosuch'" in result.err
